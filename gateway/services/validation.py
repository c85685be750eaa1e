"""Validating signatures sent by callers (ValidationService, ``gateway validate``).

The policy and trust store are the ones WS-Security uses (one configuration): what the gateway
accepts to authenticate a request is what it accepts to validate a signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.clock import Clock
from gateway.errors import InvalidRequest, LimitExceeded
from gateway.signatures import (
    DetachedDocument,
    SignatureFormat,
    SignaturePolicy,
    ValidationReport,
    validate,
)
from gateway.trust.certificates import TrustStore


@dataclass(frozen=True)
class DocumentToValidate:
    """One document of a batch: the signed bytes, and the signed content when detached."""

    document: bytes
    detached_content: bytes | None = None
    signature_format: SignatureFormat | None = None
    """Skips detection when given."""
    detached: tuple[DetachedDocument, ...] = ()
    """Named detached documents, matched by a detached XAdES's reference URIs."""


@dataclass(frozen=True)
class SignatureValidation:
    policy: SignaturePolicy
    trust: TrustStore
    clock: Clock
    max_documents_per_call: int = 20
    """Documents one ``validate_each`` call may carry (``Settings.max_validation_documents``)."""

    def validate(self, document: bytes, detached_content: bytes | None = None,
                 signature_format: SignatureFormat | None = None, *,
                 detached: Sequence[DetachedDocument] = ()) -> ValidationReport:
        return validate(document, detached_content=detached_content, format=signature_format,
                        policy=self.policy, trust=self.trust, now=self.clock.now(),
                        detached=detached)

    def validate_each(self, documents: Sequence[DocumentToValidate]) -> tuple[ValidationReport, ...]:
        """One report per document, in order; a bad document is a report, never a fault.

        At least one document and at most ``max_documents_per_call`` (faults NO_ITEMS,
        BATCH_TOO_LARGE on the field ``document``): each is a full validation.
        """
        if not documents:
            raise InvalidRequest("send at least one document", code="NO_ITEMS", field="document")
        if len(documents) > self.max_documents_per_call:
            raise LimitExceeded(
                f"at most {self.max_documents_per_call} documents per call",
                code="BATCH_TOO_LARGE", field="document")
        return tuple(self.validate(d.document, d.detached_content, d.signature_format,
                                   detached=d.detached)
                     for d in documents)
