"""CAdES / CMS SignedData validation, attached and detached (ETSI EN 319 122-1, EN 319 102-1).

Every SignerInfo is one signature. The content is the encapsulated eContent when present,
otherwise the caller's ``detached_content`` (neither: SIGNED_DATA_NOT_FOUND). The per-signer CMS
checks are ``cms.verify_signer``; the signature-time-stamp unsigned attribute
(id-aa-signatureTimeStampToken, imprint over the signature value, EN 319 122-1 §5.3) gives the
proof of existence; then path validation and acceptance (``assessment.conclude``). A
signature-policy-identifier attribute (CAdES-EPES) is reported, not processed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asn1crypto import core

from gateway.signatures import crypto
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.cms import PARSE_ERRORS, load_signed_data, present, verify_signer
from gateway.signatures.findings import Findings, FormatError
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    TimestampKind,
    TimestampReport,
)
from gateway.signatures.timestamps import validate_timestamp
from gateway.trust.certificates import TrustStore

SIGNATURE_POLICY_IDENTIFIER = "1.2.840.113549.1.9.16.2.15"


class _Content:
    """The signed content and its digests, computed once per algorithm."""

    def __init__(self, content: bytes | None) -> None:
        self.content = content
        self._digests: dict[str, bytes] = {}

    def digest(self, hash_name: str) -> bytes | None:
        if self.content is None:
            return None
        value = self._digests.get(hash_name)
        if value is None:
            value = self._digests[hash_name] = crypto.digest(hash_name, self.content)
        return value


def validate_cades(
    document: bytes,
    *,
    detached_content: bytes | None,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[SignatureReport, ...]:
    """Validate every signer of a DER CMS SignedData; FormatError when it cannot be read."""
    signed_data = load_signed_data(document)
    try:
        encapsulated = signed_data["encap_content_info"]
        embedded = encapsulated["content"]
        content = bytes(embedded) if present(embedded) else None
        signer_infos = list(signed_data["signer_infos"])
    except PARSE_ERRORS as exc:
        raise FormatError("The CMS SignedData is malformed") from exc
    attached = content is not None
    source = _Content(content if attached else detached_content)
    if len(signer_infos) > policy.max_signatures:
        raise FormatError("The signature holds too many signers")
    return tuple(
        _validate_signer(signed_data, signer_info, position, source, attached, policy, trust, now)
        for position, signer_info in enumerate(signer_infos, start=1)
    )


def _validate_signer(
    signed_data: Any,
    signer_info: Any,
    position: int,
    source: _Content,
    attached: bool,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> SignatureReport:
    identifier = f"signer-{position}"
    findings = Findings()
    try:
        signer = verify_signer(
            signed_data, signer_info, content_digest=source.digest, policy=policy, findings=findings
        )
        timestamps = signature_timestamps(signer_info, signer.signature_value, policy, trust, now)
        policy_identifier = _signature_policy(signer_info)
    except FormatError as exc:
        return format_failure(identifier, SignatureFormat.CADES, exc.message)
    except PARSE_ERRORS:
        return format_failure(
            identifier, SignatureFormat.CADES, "The signer information is malformed"
        )
    data_objects: tuple[SignedDataObject, ...] = ()
    if signer.content_digest is not None:
        data_objects = (
            SignedDataObject(
                kind=SignedObjectKind.ENCAPSULATED_CONTENT
                if attached
                else SignedObjectKind.DETACHED_CONTENT,
                identifier="eContent" if attached else "detached",
                digest_algorithm=signer.digest_algorithm,
                digest=signer.content_digest,
                covers_whole_document=True,
            ),
        )
    established = Established(
        identifier=identifier,
        format=SignatureFormat.CADES,
        signer_certificate=signer.certificate,
        claimed_signing_time=signer.signing_time,
        signature_algorithm=signer.signature_algorithm or None,
        signature_value=signer.signature_value,
        signed_data_objects=data_objects,
        timestamps=timestamps,
        signing_certificate_reference=signer.signing_certificate_reference,
        signature_policy_identifier=policy_identifier,
        signing_time_required=signer.signing_certificate_reference,
    )
    return conclude(established, findings, trust=trust, policy=policy, now=now)


def signature_timestamps(
    signer_info: Any,
    signature_value: bytes,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[TimestampReport, ...]:
    unsigned = signer_info["unsigned_attrs"]
    if not present(unsigned):
        return ()
    tokens = [
        value.dump()
        for attribute in unsigned
        if attribute["type"].native == "signature_time_stamp_token"
        for value in attribute["values"]
    ]
    return tuple(
        validate_timestamp(
            token,
            kind=TimestampKind.SIGNATURE_TIMESTAMP,
            imprint_of=lambda name: crypto.digest(name, signature_value),
            trust=trust,
            policy=policy,
            now=now,
        )
        for token in tokens[: policy.max_timestamps]
    )


def _signature_policy(signer_info: Any) -> str | None:
    signed = signer_info["signed_attrs"]
    if not present(signed):
        return None
    for attribute in signed:
        if attribute["type"].dotted == SIGNATURE_POLICY_IDENTIFIER:
            value = core.Asn1Value.load(attribute["values"][0].dump())
            if isinstance(value, core.Sequence) or value.tag == 16:
                identifier = core.Sequence.load(value.dump())[0]
                oid = core.ObjectIdentifier.load(identifier.dump())
                return str(oid.dotted)
            return None
    return None
