"""Validating signatures sent by callers (ValidationService, ``gateway validate``).

The policy and trust store are the ones WS-Security uses (one configuration): what the gateway
accepts to authenticate a request is what it accepts to validate a signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.clock import Clock
from gateway.signatures import SignatureFormat, SignaturePolicy, ValidationReport, validate
from gateway.wssec.certificates import TrustStore


@dataclass(frozen=True)
class SignatureValidation:
    policy: SignaturePolicy
    trust: TrustStore
    clock: Clock

    def validate(self, document: bytes, detached_content: bytes | None = None,
                 signature_format: SignatureFormat | None = None) -> ValidationReport:
        return validate(document, detached_content=detached_content, format=signature_format,
                        policy=self.policy, trust=self.trust, now=self.clock.now())
