"""The issuer status cursor (``services.issuing``): round trip, bound to the issuer, and every
defect of a token -- a changed character, another issuer's token, junk -- is INVALID_CURSOR."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.clock import SystemClock
from gateway.domain.model import Issuer
from gateway.errors import InvalidRequest
from gateway.services.issuing import IssuingService

SERVICE = IssuingService(uow_factory=None, clock=SystemClock(),  # type: ignore[arg-type]
                         publishing=None, cursor_secret=b"k" * 32)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**63 - 1), st.sampled_from(list(Issuer)))
def test_round_trip(last_id: int, issuer: Issuer) -> None:
    assert SERVICE._decode(SERVICE._encode(last_id, issuer), issuer) == last_id


@pytest.mark.parametrize("issuer, other", [(Issuer.TGSS, Issuer.INSS), (Issuer.INSS, Issuer.ISM)])
def test_another_issuers_cursor_is_refused(issuer: Issuer, other: Issuer) -> None:
    with pytest.raises(InvalidRequest) as refused:
        SERVICE._decode(SERVICE._encode(41, issuer), other)
    assert refused.value.code == "INVALID_CURSOR"


def test_one_changed_character_is_refused() -> None:
    token = SERVICE._encode(41, Issuer.TGSS)
    for position in range(len(token)):
        changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1:]
        with pytest.raises(InvalidRequest) as refused:
            SERVICE._decode(changed, Issuer.TGSS)
        assert refused.value.code == "INVALID_CURSOR"


def test_another_secret_is_refused() -> None:
    other = IssuingService(uow_factory=None, clock=SystemClock(),  # type: ignore[arg-type]
                           publishing=None, cursor_secret=b"x" * 32)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        other._decode(SERVICE._encode(41, Issuer.TGSS), Issuer.TGSS)


@given(st.text(max_size=80))
def test_junk_is_invalid_cursor_and_nothing_else(token: str) -> None:
    try:
        SERVICE._decode(token, Issuer.TGSS)
    except InvalidRequest as refused:
        assert refused.code == "INVALID_CURSOR"
