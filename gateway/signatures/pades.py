"""PAdES validation with pyHanko's PDF machinery (ETSI EN 319 142-1, EN 319 102-1).

pyHanko reads the file, finds the signature fields, digests each ``/ByteRange`` and runs its
difference analysis of the incremental updates made after each signature. The CMS inside is
checked by our own ``cms.verify_signer`` and the signer's path by our trust store, so the three
formats share one notion of trust, revocation and algorithm policy.

Per ``/Sig`` signature:

* coverage: the byte range must cover the whole revision it was added in (else FORMAT_FAILURE);
* the signature's own bytes: its byte-range digest (HASH_FAILURE when it fails, nothing else);
* later incremental updates (``pdf_changes``), judged against the DocMDP permission in force
  (certification or ``/Lock``) and the signature's FieldMDP lock: pages added or removed, a
  locked field changed, or changes beyond P=1/2/3 are TOTAL_FAILED/FORMAT_FAILURE on that
  signature with a message, its signed revision intact; other changes that no permission
  forbids pass with a warning;
* a CMS that encapsulates content (other than ``adbe.pkcs7.sha1``) is FORMAT_FAILURE: a PDF
  signature's CMS must be detached;
* the CMS checks (HASH_FAILURE / SIG_CRYPTO_FAILURE / NO_SIGNING_CERTIFICATE_FOUND /
  CRYPTO_CONSTRAINTS_FAILURE);
* proof of existence from the CMS signature-time-stamp attribute (PAdES B-T) and from every valid
  ``/DocTimeStamp`` added in a later revision (EN 319 142-1 §5.4); each document time-stamp's
  imprint must equal the digest of its own byte range;
* levels LT and LTA (``pades_ltv``): the Document Security Store's certificates, CRLs and OCSP
  responses are evidence for every path; document time-stamps are validated at the time a later
  one proves, and a signature's own time-stamps at the time the first document time-stamp after
  it proves.

The claimed signing time is the signing-time attribute when present, else the (unsigned) ``/M``
entry; PAdES baseline signatures do not carry a signed one, so it is not required.

Reading (issue 13, point 5): strictly first; a file pyHanko's strict reader refuses (small
syntax slips, or a hybrid-reference file: cross-reference table plus stream, ISO 32000-1
§7.5.8.4) is read again in its non-strict mode, every revision still analysed, and the
signatures say so in their warnings. An encrypted file is opened with the empty user password
(one that needs another is FORMAT_FAILURE). Every filled signature field is reported: the
legacy ``adbe.pkcs7.sha1`` sub-filter (the CMS signs the SHA-1 digest of the byte range, carried
as its eContent) is validated like the others; ``adbe.x509.rsa_sha1`` (a bare PKCS #1 signature
and ``/Cert``, ISO 32000-1 §12.8.3.2) by ``pdf_legacy``; a field that cannot be read is a
FORMAT_FAILURE entry of its own.

A PDF whose one signature covers the whole file (the common case: nothing signed after it, so
no later revision to analyse) is read by ``pades_fast`` instead of pyHanko's reader, and one
whose later revisions only add a DSS and document time-stamps (B-LT/B-LTA) by
``pades_fast_lta``; anything outside their narrow profiles declines to the path above, and the
report is the same either way.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signatures import crypto, pdf_tokens
from gateway.signatures.adbe_revocation import adobe_revocation_values, merged
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.cades import signature_timestamps
from gateway.signatures.chain import with_carried
from gateway.signatures.cms import PARSE_ERRORS, ContentDigest, present, verify_signer
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.pades_fast import SimpleSignature, read_simple, read_structure
from gateway.signatures.pades_fast_lta import LtaDocument, read_lta
from gateway.signatures.pades_ltv import (
    NO_VALIDATION_DATA,
    DocumentTimestamp,
    ValidationData,
    collect,
    proven_time,
    read_dss,
    validate_document_timestamps,
    validate_stamps,
)
from gateway.signatures.pdf_changes import judge
from gateway.signatures.pdf_legacy import validate_x509_rsa_sha1
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    SubIndication,
    TimestampReport,
)
from gateway.signatures.timestamps import past_or_present
from gateway.trust.certificates import TrustStore

logger = logging.getLogger(__name__)
pdf_tokens.install()


STRICT_NOTE = "The PDF has syntax a strict reader refuses; it was read leniently"
HYBRID_NOTE = "The PDF is a hybrid-reference file (xref table and stream); it was read leniently"
DECRYPTED_NOTE = "The PDF is encrypted; it was opened with the empty user password"
PKCS7_SHA1 = "/adbe.pkcs7.sha1"
ENCAPSULATED = (
    "The CMS signature in the PDF encapsulates content: it must be detached "
    "(only the adbe.pkcs7.sha1 sub-filter carries the byte range digest)"
)
X509_RSA_SHA1 = "/adbe.x509.rsa_sha1"


class _Hybrid(Exception):
    """pyHanko's strict mode refuses hybrid-reference files: read them leniently."""


@dataclass(frozen=True, slots=True)
class _Opened:
    reader: PdfFileReader
    fields: tuple[tuple[str, Any], ...]
    """(fully qualified name, field dictionary) of every filled signature field."""
    notes: tuple[str, ...]


def _read(document: bytes, *, strict: bool, notes: list[str]) -> _Opened:
    reader = PdfFileReader(BytesIO(document), strict=strict)
    if reader.encrypted:
        if reader.decrypt(b"").status is AuthStatus.FAILED:
            raise FormatError("The PDF is encrypted with a user password")
        notes.append(DECRYPTED_NOTE)
    if strict and reader.xrefs.hybrid_xrefs_present:
        raise _Hybrid
    fields = tuple(
        (str(name), field) for name, _, field in enumerate_sig_fields(reader, filled_status=True)
    )
    return _Opened(reader, fields, tuple(notes))


def _open(document: bytes) -> _Opened:
    try:
        return _read(document, strict=True, notes=[])
    except FormatError:
        raise
    except _Hybrid:
        note = HYBRID_NOTE
    except Exception:  # noqa: BLE001 - pyHanko's strict parser raises many types; retry below
        note = STRICT_NOTE
    try:
        return _read(document, strict=False, notes=[note])
    except FormatError:
        raise
    except Exception as exc:  # pyHanko's parser raises many types on hostile input
        raise FormatError("The document is not a readable PDF") from exc


def validate_pades(
    document: bytes,
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[SignatureReport, ...]:
    """Validate every signature of a PDF; FormatError when the file or its fields cannot be read."""
    structure = read_structure(document) if policy.max_signatures >= 1 else None
    simple = read_simple(document, structure) if structure is not None else None
    if simple is not None:  # one signature over the whole file: the same report, sooner
        return (_validate_simple(simple, policy, trust, now),)
    # one signature, then only DSS and document time-stamp revisions: the same report, sooner
    lta = read_lta(document, structure) if structure is not None else None
    if lta is not None and lta.field_count <= policy.max_signatures:
        validation_data = collect(lta.dss)
        if not validation_data.warnings:  # an unreadable DSS item: the full path reports it
            return (_validate_lta(lta, validation_data, policy, trust, now),)
    opened = _open(document)
    if len(opened.fields) > policy.max_signatures:
        raise FormatError("The document holds too many signatures")
    if not opened.fields:
        raise FormatError("The PDF holds no signature")
    embedded: list[EmbeddedPdfSignature] = []
    others: list[SignatureReport] = []
    for position, (name, field) in enumerate(opened.fields, start=1):
        identifier = name or f"signature-{position}"
        try:
            signature_object = field.get_object()["/V"]
            subfilter = str(signature_object.get("/SubFilter", ""))
            if subfilter == X509_RSA_SHA1:
                others.append(
                    validate_x509_rsa_sha1(
                        document, identifier, signature_object, opened.notes, policy, trust, now
                    )
                )
                continue
            embedded.append(EmbeddedPdfSignature(opened.reader, field, name))
        except Exception:  # noqa: BLE001 - pyHanko on one unreadable field: report that field
            others.append(
                format_failure(
                    identifier, SignatureFormat.PADES, "The signature field cannot be read"
                )
            )
    try:
        embedded.sort(key=lambda signature: int(signature.signed_revision))
        kinds = [str(signature.sig_object_type) for signature in embedded]
    except Exception as exc:
        raise FormatError("The signatures' revisions cannot be read") from exc
    regular = [sig for sig, kind in zip(embedded, kinds, strict=True) if kind != "/DocTimeStamp"]
    stamps = [sig for sig, kind in zip(embedded, kinds, strict=True) if kind == "/DocTimeStamp"]
    if not regular and not others:
        raise FormatError("The PDF holds no signature")
    validation_data = read_dss(opened.reader)
    # The DSS certificates join the trust store's intermediates once for the whole document
    # (``chain.with_carried``: they can complete a path, never end one).
    trust = with_carried(trust, validation_data.certificates)
    document_timestamps = validate_document_timestamps(
        stamps, opened.reader, validation_data, policy=policy, trust=trust, now=now
    )
    permissions = _permissions(regular)
    return tuple(
        _validate_one(
            signature,
            position,
            _permission_in_force(signature, permissions),
            document_timestamps,
            validation_data,
            opened.notes,
            policy,
            trust,
            now,
        )
        for position, signature in enumerate(regular, start=1)
    ) + tuple(others)


def _digest_of(signature: EmbeddedPdfSignature) -> Any:
    def digest(hash_name: str) -> bytes:
        try:
            return signature.compute_digest(hash_name)
        except Exception as exc:  # pyHanko: unknown algorithm or unreadable range
            raise crypto.UnknownAlgorithm(hash_name) from exc

    return digest


def _pkcs7_sha1_content(signature: EmbeddedPdfSignature, findings: Findings) -> ContentDigest:
    """adbe.pkcs7.sha1: the CMS signs its eContent, which must be the byte range's SHA-1."""
    findings.warnings.append(
        "Legacy adbe.pkcs7.sha1 sub-filter: the CMS signs the SHA-1 digest of the byte range"
    )
    econtent = signature.signed_data["encap_content_info"]["content"]
    if not present(econtent):
        raise FormatError("An adbe.pkcs7.sha1 signature must encapsulate the byte range digest")
    carried = bytes(econtent)
    if not hmac.compare_digest(carried, signature.compute_digest("sha1")):
        findings.add(
            Step.CRYPTO, SubIndication.HASH_FAILURE, "The signed byte range has been modified"
        )

    def digest(name: str) -> bytes:
        return crypto.digest(name, carried)

    return digest


def _claimed_time(sig_object: Any, signed_time: datetime | None) -> datetime | None:
    if signed_time is not None:
        return signed_time
    try:
        value = sig_object["/M"]
        parsed: datetime = generic.parse_pdf_date(value, strict=False)
    except Exception:  # noqa: BLE001 - /M is unsigned and optional: unreadable means absent
        return None
    return parsed


def _permissions(embedded: list[EmbeddedPdfSignature]) -> list[tuple[int, MDPPerm]]:
    """(revision, DocMDP permission) of every certification or ``/Lock`` with a ``/P``."""
    found = []
    for signature in embedded:
        try:
            level = signature.docmdp_level
        except Exception:  # noqa: BLE001 - an unreadable DocMDP /Reference: the strictest
            level = MDPPerm.NO_CHANGES
        if level is not None:
            found.append((int(signature.signed_revision), level))
    return found


def _permission_in_force(
    signature: EmbeddedPdfSignature, permissions: list[tuple[int, MDPPerm]]
) -> MDPPerm | None:
    levels = [level for revision, level in permissions if revision <= signature.signed_revision]
    return min(levels, key=lambda level: level.value) if levels else None


def _integrity(
    signature: EmbeddedPdfSignature, permission: MDPPerm | None, findings: Findings
) -> bool:
    """Coverage and modification analysis; True when the file ends with this signature.

    The signature's own bytes are judged by its digest (``verify_signer``: HASH_FAILURE); what
    later revisions changed is judged by ``pdf_changes`` against the permissions in force, and
    flagged as FORMAT_FAILURE without calling the signed bytes tampered.
    """
    try:
        signature.compute_integrity_info(  # type: ignore[no-untyped-call]  # pyHanko seam
            skip_diff=True
        )
        coverage = signature.coverage
    except Exception as exc:  # pyHanko on hostile revisions
        raise FormatError("The signature's revisions cannot be analysed") from exc
    if coverage is None or coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        findings.add(
            Step.FORMAT,
            SubIndication.FORMAT_FAILURE,
            "The byte range does not cover the revision the signature belongs to",
        )
        return False
    judgement = judge(signature, permission)
    if judgement.violation is not None:
        findings.add(Step.FORMAT, SubIndication.FORMAT_FAILURE, judgement.violation)
    if judgement.warning is not None:
        findings.warnings.append(judgement.warning)
    return bool(coverage == SignatureCoverageLevel.ENTIRE_FILE)


def _validate_one(
    signature: EmbeddedPdfSignature,
    position: int,
    permission: MDPPerm | None,
    document_timestamps: list[DocumentTimestamp],
    validation_data: ValidationData,
    notes: tuple[str, ...],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> SignatureReport:
    try:
        identifier = str(signature.field_name or f"signature-{position}")
    except Exception:  # noqa: BLE001 - a field name that cannot be decoded
        identifier = f"signature-{position}"
    findings = Findings()
    findings.warnings.extend(notes)
    findings.warnings.extend(validation_data.warnings)
    try:
        whole_file = _integrity(signature, permission, findings)
        content_digest = _digest_of(signature)
        legacy = str(signature.sig_object.get("/SubFilter", "")) == PKCS7_SHA1
        if legacy:
            content_digest = _pkcs7_sha1_content(signature, findings)
    except FormatError as exc:
        return format_failure(identifier, SignatureFormat.PADES, exc.message)
    except PARSE_ERRORS:
        return format_failure(identifier, SignatureFormat.PADES, "The signature is malformed")
    later_stamps = tuple(
        stamp.report for stamp in document_timestamps if stamp.revision > signature.signed_revision
    )
    return _report(
        _Signed(
            identifier,
            signature.signed_data,
            signature.signer_info,
            content_digest,
            detached_required=not legacy,
            byte_range=signature.byte_range,
            whole_file=whole_file,
            later_stamps=later_stamps,
            sig_object=signature.sig_object,
            timestamps_at=proven_time(document_timestamps, signature.signed_revision, now),
            validation_data=validation_data,
        ),
        findings,
        policy,
        trust,
        now,
    )


def _validate_simple(
    simple: SimpleSignature, policy: SignaturePolicy, trust: TrustStore, now: datetime
) -> SignatureReport:
    """The one signature ``pades_fast`` read: covering the whole file, nothing after it."""
    signed = _fast_signed(
        simple,
        whole_file=True,
        later_stamps=(),
        timestamps_at=now,
        validation_data=NO_VALIDATION_DATA,
    )
    return _report(signed, Findings(), policy, trust, now)


def _validate_lta(
    lta: LtaDocument,
    validation_data: ValidationData,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> SignatureReport:
    """The signature ``pades_fast_lta`` read, then only DSS and document time-stamp revisions:
    what the full path does, with the pieces it found."""
    trust = with_carried(trust, validation_data.certificates)
    document_timestamps = validate_stamps(
        list(lta.stamps), validation_data, policy=policy, trust=trust, now=now
    )
    signed = _fast_signed(
        lta.signature,
        whole_file=False,
        later_stamps=tuple(stamp.report for stamp in document_timestamps),
        timestamps_at=proven_time(document_timestamps, lta.signed_revision, now),
        validation_data=validation_data,
    )
    return _report(signed, Findings(), policy, trust, now)


def _fast_signed(
    simple: SimpleSignature,
    *,
    whole_file: bool,
    later_stamps: tuple[TimestampReport, ...],
    timestamps_at: datetime,
    validation_data: ValidationData,
) -> _Signed:
    """The pieces a fast reader found, as the full path hands them to ``_report``."""
    return _Signed(
        simple.field_name or "signature-1",
        simple.signed_data,
        simple.signer_info,
        simple.digest,
        detached_required=True,
        byte_range=simple.byte_range,
        whole_file=whole_file,
        later_stamps=later_stamps,
        sig_object={} if simple.signing_time_entry is None else {"/M": simple.signing_time_entry},
        timestamps_at=timestamps_at,
        validation_data=validation_data,
    )


@dataclass(frozen=True, slots=True)
class _Signed:
    """One signature's pieces, whichever reader found them."""

    identifier: str
    signed_data: Any
    signer_info: Any
    content_digest: ContentDigest
    detached_required: bool
    """Every sub-filter but adbe.pkcs7.sha1: a CMS that encapsulates content is refused."""
    byte_range: Any
    whole_file: bool
    later_stamps: tuple[TimestampReport, ...]
    sig_object: Any
    """The signature dictionary (or a mapping with its ``/M``)."""
    timestamps_at: datetime
    """When its signature time-stamps are validated: the genTime of the first valid document
    time-stamp after it, else the validation time (``pades_ltv.proven_time``)."""
    validation_data: ValidationData
    """The document's DSS (``pades_ltv.read_dss``)."""


def _report(
    signed: _Signed, findings: Findings, policy: SignaturePolicy, trust: TrustStore, now: datetime
) -> SignatureReport:
    identifier = signed.identifier
    try:
        if signed.detached_required and present(
            signed.signed_data["encap_content_info"]["content"]
        ):
            raise FormatError(ENCAPSULATED)
        signer = verify_signer(
            signed.signed_data,
            signed.signer_info,
            content_digest=signed.content_digest,
            policy=policy,
            findings=findings,
        )
        adobe = adobe_revocation_values(signed.signer_info, warnings=findings.warnings)
        evidence = merged(signed.validation_data.revocation, adobe)
        timestamps = past_or_present(
            lambda at: signature_timestamps(
                signed.signer_info,
                signer.signature_value,
                policy,
                trust,
                at,
                revocation_values=evidence,
            ),
            signed.timestamps_at,
            now,
        )
        byte_range = tuple(int(value) for value in signed.byte_range)
    except FormatError as exc:
        return format_failure(identifier, SignatureFormat.PADES, exc.message)
    except PARSE_ERRORS:
        return format_failure(identifier, SignatureFormat.PADES, "The signature is malformed")
    data_objects: tuple[SignedDataObject, ...] = ()
    if signer.content_digest is not None:
        data_objects = (
            SignedDataObject(
                kind=SignedObjectKind.PDF_BYTE_RANGE,
                identifier="/ByteRange",
                digest_algorithm=signer.digest_algorithm,
                digest=signer.content_digest,
                covers_whole_document=signed.whole_file,
                byte_range=byte_range,
            ),
        )
    established = Established(
        identifier=identifier,
        format=SignatureFormat.PADES,
        signer_certificate=signer.certificate,
        claimed_signing_time=_claimed_time(signed.sig_object, signer.signing_time),
        signature_algorithm=signer.signature_algorithm or None,
        signature_value=signer.signature_value,
        signed_data_objects=data_objects,
        timestamps=timestamps + signed.later_stamps,
        signing_certificate_reference=signer.signing_certificate_reference,
        signing_time_required=False,
        revocation_values=signed.validation_data.revocation,
        signed_revocation_values=adobe,
    )
    return conclude(established, findings, trust=trust, policy=policy, now=now)
