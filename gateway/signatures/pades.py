"""PAdES validation with pyHanko's PDF machinery (ETSI EN 319 142-1, EN 319 102-1).

pyHanko reads the file, finds the signature fields, digests each ``/ByteRange`` and runs its
difference analysis of the incremental updates made after each signature. The CMS inside is
checked by our own ``cms.verify_signer`` and the signer's path by our trust store, so the three
formats share one notion of trust, revocation and algorithm policy.

Per ``/Sig`` signature:

* coverage: the byte range must cover the whole revision it was added in (else FORMAT_FAILURE);
* later incremental updates must be ones the signature permits -- pyHanko's default diff policy
  judged against the DocMDP level (certification) or, for approval signatures, "form filling and
  annotations, nothing else". Anything more (new page content, replaced objects) is
  TOTAL_FAILED/HASH_FAILURE: the bytes that were signed no longer make up the document shown;
* the CMS checks (HASH_FAILURE / SIG_CRYPTO_FAILURE / NO_SIGNING_CERTIFICATE_FOUND /
  CRYPTO_CONSTRAINTS_FAILURE);
* proof of existence from the CMS signature-time-stamp attribute (PAdES B-T) and from every valid
  ``/DocTimeStamp`` added in a later revision (EN 319 142-1 §5.4); each document time-stamp's
  imprint must equal the digest of its own byte range.

The claimed signing time is the signing-time attribute when present, else the (unsigned) ``/M``
entry; PAdES baseline signatures do not carry a signed one, so it is not required.
"""

from __future__ import annotations

import logging
from datetime import datetime
from io import BytesIO
from typing import Any

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signatures import crypto
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.cades import signature_timestamps
from gateway.signatures.cms import PARSE_ERRORS, verify_signer
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    SubIndication,
    TimestampKind,
    TimestampReport,
)
from gateway.signatures.timestamps import validate_timestamp
from gateway.trust.certificates import TrustStore

logger = logging.getLogger(__name__)


def validate_pades(
    document: bytes,
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[SignatureReport, ...]:
    """Validate every signature of a PDF; FormatError when the file or its fields cannot be read."""
    try:
        reader = PdfFileReader(BytesIO(document), strict=True)
        embedded: list[EmbeddedPdfSignature] = list(reader.embedded_signatures)
        kinds = [str(signature.sig_object_type) for signature in embedded]
    except Exception as exc:  # pyHanko's parser raises many types on hostile input
        raise FormatError("The document is not a readable PDF") from exc
    if len(embedded) > policy.max_signatures:
        raise FormatError("The document holds too many signatures")
    regular = [sig for sig, kind in zip(embedded, kinds, strict=True) if kind == "/Sig"]
    stamps = [sig for sig, kind in zip(embedded, kinds, strict=True) if kind == "/DocTimeStamp"]
    if not regular:
        raise FormatError("The PDF holds no signature")
    document_timestamps = [
        (stamp.signed_revision, _document_timestamp(stamp, policy, trust, now)) for stamp in stamps
    ]
    return tuple(
        _validate_one(signature, position, document_timestamps, policy, trust, now)
        for position, signature in enumerate(regular, start=1)
    )


def _digest_of(signature: EmbeddedPdfSignature) -> Any:
    def digest(hash_name: str) -> bytes:
        try:
            return signature.compute_digest(hash_name)
        except Exception as exc:  # pyHanko: unknown algorithm or unreadable range
            raise crypto.UnknownAlgorithm(hash_name) from exc

    return digest


def _document_timestamp(
    stamp: EmbeddedPdfSignature, policy: SignaturePolicy, trust: TrustStore, now: datetime
) -> TimestampReport:
    try:
        token = cms.ContentInfo.load(stamp.pkcs7_content).dump()  # drop the /Contents padding
    except PARSE_ERRORS:
        token = b""
    return validate_timestamp(
        token,
        kind=TimestampKind.DOCUMENT_TIMESTAMP,
        imprint_of=_digest_of(stamp),
        trust=trust,
        policy=policy,
        now=now,
    )


def _claimed_time(signature: EmbeddedPdfSignature, signed_time: datetime | None) -> datetime | None:
    if signed_time is not None:
        return signed_time
    try:
        value = signature.sig_object["/M"]
        parsed: datetime = generic.parse_pdf_date(value, strict=False)
    except Exception:  # noqa: BLE001 - /M is unsigned and optional: unreadable means absent
        return None
    return parsed


def _integrity(signature: EmbeddedPdfSignature, findings: Findings) -> bool:
    """Coverage and modification analysis; True when the file ends with this signature."""
    try:
        signature.compute_integrity_info(  # type: ignore[no-untyped-call]  # pyHanko seam
            diff_policy=DEFAULT_DIFF_POLICY, skip_diff=False
        )
        summary = signature.summarise_integrity_info()
    except Exception as exc:  # pyHanko's diff analysis on hostile revisions
        raise FormatError("The signature's revisions cannot be analysed") from exc
    coverage = summary["coverage"]
    if coverage is None or coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        findings.add(
            Step.FORMAT,
            SubIndication.FORMAT_FAILURE,
            "The byte range does not cover the revision the signature belongs to",
        )
        return False
    if summary["docmdp_ok"] is False:
        diff = summary["diff_result"]
        level = diff.modification_level.name if isinstance(diff, DiffResult) else "OTHER"
        findings.add(
            Step.CRYPTO,
            SubIndication.HASH_FAILURE,
            f"The document was modified after signing beyond what the signature permits ({level})",
        )
    return bool(coverage == SignatureCoverageLevel.ENTIRE_FILE)


def _validate_one(
    signature: EmbeddedPdfSignature,
    position: int,
    document_timestamps: list[tuple[int, TimestampReport]],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> SignatureReport:
    try:
        identifier = str(signature.field_name or f"signature-{position}")
    except Exception:  # noqa: BLE001 - a field name that cannot be decoded
        identifier = f"signature-{position}"
    findings = Findings()
    try:
        whole_file = _integrity(signature, findings)
        signer = verify_signer(
            signature.signed_data,
            signature.signer_info,
            content_digest=_digest_of(signature),
            policy=policy,
            findings=findings,
        )
        timestamps = signature_timestamps(
            signature.signer_info, signer.signature_value, policy, trust, now
        )
        byte_range = tuple(int(value) for value in signature.byte_range)
    except FormatError as exc:
        return format_failure(identifier, SignatureFormat.PADES, exc.message)
    except PARSE_ERRORS:
        return format_failure(identifier, SignatureFormat.PADES, "The signature is malformed")
    later_stamps = tuple(
        report for revision, report in document_timestamps if revision > signature.signed_revision
    )
    data_objects: tuple[SignedDataObject, ...] = ()
    if signer.content_digest is not None:
        data_objects = (
            SignedDataObject(
                kind=SignedObjectKind.PDF_BYTE_RANGE,
                identifier="/ByteRange",
                digest_algorithm=signer.digest_algorithm,
                digest=signer.content_digest,
                covers_whole_document=whole_file,
                byte_range=byte_range,
            ),
        )
    established = Established(
        identifier=identifier,
        format=SignatureFormat.PADES,
        signer_certificate=signer.certificate,
        claimed_signing_time=_claimed_time(signature, signer.signing_time),
        signature_algorithm=signer.signature_algorithm or None,
        signature_value=signer.signature_value,
        signed_data_objects=data_objects,
        timestamps=timestamps + later_stamps,
        signing_certificate_reference=signer.signing_certificate_reference,
        signing_time_required=False,
    )
    return conclude(established, findings, trust=trust, policy=policy, now=now)
