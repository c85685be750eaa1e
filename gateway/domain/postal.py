"""The recipient's postal channel: whether a paper copy is also sent, and where.

Electronic notification does not stop the administration from also posting a copy; the recipient
can consult and change this (DESIGN.md §1). ``ELECTRONIC_ONLY`` is the opt-out from paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from gateway.errors import InvalidRequest

from .clock import require_aware


class PostalMode(str, Enum):
    PAPER_COPY = "PAPER_COPY"
    ELECTRONIC_ONLY = "ELECTRONIC_ONLY"


@dataclass(frozen=True, slots=True)
class PostalAddress:
    address_line: str
    postal_code: str
    municipality: str
    province: str = ""
    country: str = "ES"

    def __post_init__(self) -> None:
        limits = {"address_line": 300, "postal_code": 16, "municipality": 100, "province": 100}
        for name, limit in limits.items():
            if len(getattr(self, name)) > limit:
                raise InvalidRequest(f"{name} is longer than {limit} characters",
                                     code="INVALID_ADDRESS", field=name)
        for name in ("address_line", "postal_code", "municipality"):
            if not getattr(self, name).strip():
                raise InvalidRequest(f"{name} is required for a paper copy",
                                     code="INVALID_ADDRESS", field=name)
        if self.country == "ES" and not (len(self.postal_code) == 5 and self.postal_code.isdigit()
                                         and 1 <= int(self.postal_code[:2]) <= 52):
            raise InvalidRequest("a Spanish postal code has five digits starting 01 to 52",
                                 code="INVALID_ADDRESS", field="postal_code")
        if len(self.country) != 2 or not self.country.isalpha() or not self.country.isupper():
            raise InvalidRequest("country is an ISO 3166-1 alpha-2 code",
                                 code="INVALID_ADDRESS", field="country")


@dataclass(frozen=True, slots=True)
class PostalChannel:
    recipient: str
    mode: PostalMode
    address: PostalAddress | None
    updated_at: datetime | None

    def __post_init__(self) -> None:
        if self.updated_at is not None:
            require_aware(self.updated_at, "updated_at")
        if self.mode is PostalMode.PAPER_COPY and self.address is None:
            raise InvalidRequest("a paper copy needs an address", code="INVALID_ADDRESS",
                                 field="address")

    @classmethod
    def default_for(cls, recipient: str) -> PostalChannel:
        """Nobody chose yet: electronic only, no address on file."""
        return cls(recipient, PostalMode.ELECTRONIC_ONLY, None, None)
