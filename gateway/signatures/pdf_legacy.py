"""The ``adbe.x509.rsa_sha1`` PDF signature (ISO 32000-1 §12.8.3.2), which pyHanko does not read.

No CMS: ``/Contents`` is a DER OCTET STRING holding a PKCS #1 v1.5 RSA signature over the SHA-1
digest of the ``/ByteRange``, and ``/Cert`` the signer's certificate (a string, or an array whose
first string is the signer's). What is checked:

* the byte range: four non-negative integers, starting at 0, in order, inside the file (else
  FORMAT_FAILURE); whether it reaches the end of the file is the whole-document coverage;
* the signature value with the certificate's RSA key over that digest (SIG_CRYPTO_FAILURE: with
  no signed digest of its own, a changed byte and a bad signature look the same);
* no signed attribute binds the certificate (NO_SIGNING_CERTIFICATE_FOUND when the policy asks
  for one, as for any non-ETSI CMS) and SHA-1 is not accepted (CRYPTO_CONSTRAINTS_FAILURE);
* the certificate's path, as for every format (``assessment.conclude``).

Later incremental updates are not analysed for this sub-filter: a warning says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asn1crypto import core
from pyhanko.pdf_utils import generic

from gateway.signatures import crypto
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.cms import PARSE_ERRORS
from gateway.signatures.findings import Findings, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    SubIndication,
)
from gateway.trust.certificates import TrustStore

LEGACY_NOTE = (
    "Legacy adbe.x509.rsa_sha1 sub-filter: a PKCS #1 signature without CMS; later revisions "
    "were not analysed"
)


def _byte_range(signature_object: Any, size: int) -> tuple[int, int, int, int] | None:
    values = [int(value) for value in signature_object["/ByteRange"]]
    if len(values) != 4 or any(value < 0 for value in values):
        return None
    start, first, second, length = values
    if start != 0 or second < first or second + length > size:
        return None
    return start, first, second, length


def _certificate_der(signature_object: Any) -> bytes:
    value = signature_object["/Cert"]
    if isinstance(value, generic.ArrayObject):
        value = value[0]
    return bytes(value)


def validate_x509_rsa_sha1(
    document: bytes,
    identifier: str,
    signature_object: Any,
    notes: tuple[str, ...],
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> SignatureReport:
    """One ``adbe.x509.rsa_sha1`` signature, checked as the module docstring says."""
    try:
        byte_range = _byte_range(signature_object, len(document))
        contents = bytes(signature_object["/Contents"])
        signature_value = bytes(core.OctetString.load(contents, strict=False).native)
        certificate = crypto.load_certificate(_certificate_der(signature_object))
    except (*PARSE_ERRORS, KeyError):
        byte_range = None
        certificate = None
    if byte_range is None or certificate is None:
        return format_failure(
            identifier,
            SignatureFormat.PADES,
            "The adbe.x509.rsa_sha1 signature has no usable byte range, value or certificate",
        )
    findings = Findings()
    findings.warnings.extend(notes)
    findings.warnings.append(LEGACY_NOTE)
    start, first, second, length = byte_range
    digest = crypto.digest("sha1", document[start : start + first] + document[second:][:length])
    if not crypto.verify(
        certificate.public_key(),
        signature_value,
        digest,
        key_kind="rsa",
        hash_name="sha1",
        prehashed=True,
    ):
        findings.add(
            Step.CRYPTO, SubIndication.SIG_CRYPTO_FAILURE, "The signature value does not verify"
        )
    if policy.require_signing_certificate_reference:
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "No signed attribute binds the signer's certificate (adbe.x509.rsa_sha1)",
        )
    if not policy.allows_digest("sha1") or not policy.allows_signature("rsa", "sha1"):
        # SHA-1 may be dated by the policy: a document time-stamp before its date excuses it.
        findings.add_weak_algorithm(
            "sha1", "The algorithm rsa-sha1 (adbe.x509.rsa_sha1) is not accepted"
        )
    established = Established(
        identifier=identifier,
        format=SignatureFormat.PADES,
        signer_certificate=certificate,
        claimed_signing_time=None,
        signature_algorithm="rsa-sha1",
        signature_value=signature_value,
        signed_data_objects=(
            SignedDataObject(
                kind=SignedObjectKind.PDF_BYTE_RANGE,
                identifier="/ByteRange",
                digest_algorithm="sha1",
                digest=digest,
                covers_whole_document=second + length == len(document),
                byte_range=byte_range,
            ),
        ),
        timestamps=(),
        signing_certificate_reference=False,
        signing_time_required=False,
    )
    return conclude(established, findings, trust=trust, policy=policy, now=now)
