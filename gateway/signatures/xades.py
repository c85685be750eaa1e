"""XAdES validation: enveloped, enveloping and detached (ETSI EN 319 132-1, EN 319 102-1).

Per ``ds:Signature`` of the document, counter-signatures inside QualifyingProperties included:

1. XMLDSig structure and references (``xmldsig``); an Id defined twice refuses the document.
2. Qualifying properties: at most one ``xades:QualifyingProperties`` among the signature's
   Objects, targeting this signature, with at most one ``SignedProperties`` -- which a Reference
   must designate *as that very element* (a reference to another element with the same role, or
   no reference at all, is FORMAT_FAILURE: unsigned or substituted properties).
3. Signing certificate: the first ``Cert`` of ``SigningCertificateV2`` (else v1
   ``SigningCertificate``) selects the certificate among ``KeyInfo/X509Data`` by digest (and serial
   when ``IssuerSerial(V2)`` is present); none matching is NO_SIGNING_CERTIFICATE_FOUND. Without
   qualifying properties (plain XMLDSig) the first KeyInfo certificate is used and the signature is
   reported as XML-NOT-ETSI.
4. ``SignatureValue`` over the canonical ``SignedInfo`` (SIG_CRYPTO_FAILURE), every reference's
   digest (HASH_FAILURE; detached content missing: SIGNED_DATA_NOT_FOUND), algorithms against the
   policy (CRYPTO_CONSTRAINTS_FAILURE).
5. ``SigningTime`` (claimed) and ``SignaturePolicyIdentifier`` (EPES, reported).
6. ``SignatureTimeStamp`` tokens over the canonicalised ``ds:SignatureValue`` (EN 319 132-1
   §5.3; C14N 1.0 when the element names none), then path validation and acceptance
   (``assessment.conclude``).

What was signed is reported per reference with the exact element path; ``covers_whole_document``
is true only for ``URI=""``, a reference to the root element, the signature's own Objects in an
enveloping signature, or the detached content.
"""

from __future__ import annotations

import functools
import hmac
import logging
from dataclasses import replace
from datetime import datetime

from asn1crypto import tsp
from lxml import etree

from gateway import namespaces as ns
from gateway.errors import GatewayError
from gateway.signatures import c14n, crypto
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.cms import PARSE_ERRORS
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.nodeset import WorkBudget
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SubIndication,
    TimestampKind,
    TimestampReport,
)
from gateway.signatures.timestamps import validate_timestamp
from gateway.signatures.transforms import DEFAULT_C14N, c14n_method
from gateway.signatures.xml_references import (
    SIGNED_PROPERTIES,
    data_objects,
)
from gateway.signatures.xmldsig import (
    SignatureStructure,
    base64_text,
    build_index,
    canonical_octets,
    elements,
    parse_signature,
    x509_certificates,
)
from gateway.wssec.certificates import TrustStore
from gateway.wssec.references import IdIndex
from gateway.wssec.signature import SIGNATURE
from gateway.xmlsafe import parse_xml

QUALIFYING_PROPERTIES = ns.qname(ns.XADES, "QualifyingProperties")
INTERNAL_ERROR = "internal error"
logger = logging.getLogger(__name__)
_X = f"{{{ns.XADES}}}"
_DS = f"{{{ns.DS}}}"


def validate_xades(
    document: bytes,
    *,
    detached_content: bytes | None,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[SignatureReport, ...]:
    """Validate every signature of an XML document; FormatError when none can be found.

    Every ``ds:Signature`` gets an entry, in document order (issue 12 point 8): counter-signatures
    inside QualifyingProperties too (``counter_signature_of`` names the signature they sign);
    the ones that cannot be validated -- a document-level refusal such as a duplicated Id, more
    than ``policy.max_signatures`` signatures, an unexpected error -- as FORMAT_FAILURE with the
    reason."""
    try:
        root = parse_xml(
            document, max_bytes=policy.max_document_bytes, max_depth=policy.max_xml_depth
        )
    except GatewayError as exc:
        raise FormatError("The document is not acceptable XML") from exc
    signatures = list(root.iter(SIGNATURE))
    if not signatures:
        raise FormatError("The XML document holds no signature")
    identifiers = {
        signature: signature.get("Id") or f"signature-{position}"
        for position, signature in enumerate(signatures, start=1)
    }
    try:
        index = build_index(root)
    except FormatError as exc:
        return tuple(
            _as_counter_signature(
                format_failure(identifiers[signature], SignatureFormat.XADES, exc.message),
                signature,
                identifiers,
            )
            for signature in signatures
        )
    # Decided once per document: whether references are canonicalised by the text-node walk.
    text_heavy = c14n.worth_walking(root, len(document))
    budget = WorkBudget.for_document(root)  # shared by all signatures: see nodeset.WorkBudget
    reports = []
    for position, signature in enumerate(signatures, start=1):
        if position > policy.max_signatures:
            report = format_failure(
                identifiers[signature],
                SignatureFormat.XADES,
                f"Not validated: the document holds more than {policy.max_signatures} signatures",
            )
        else:
            report = _validate_one(
                signature,
                identifiers[signature],
                root,
                index,
                detached_content,
                policy,
                trust,
                now,
                text_heavy,
                budget,
            )
        reports.append(_as_counter_signature(report, signature, identifiers))
    return tuple(reports)


def _as_counter_signature(
    report: SignatureReport,
    signature: etree._Element,
    identifiers: dict[etree._Element, str],
) -> SignatureReport:
    """Mark a signature found inside another one's QualifyingProperties (EN 319 132-1 §5.2.7)."""
    inside_properties = False
    for ancestor in signature.iterancestors():
        if ancestor.tag == QUALIFYING_PROPERTIES:
            inside_properties = True
        elif ancestor.tag == SIGNATURE:
            if inside_properties:
                return replace(report, counter_signature_of=identifiers[ancestor])
            return report
    return report


def _validate_one(
    signature: etree._Element,
    identifier: str,
    root: etree._Element,
    index: IdIndex,
    detached_content: bytes | None,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    text_heavy: bool,
    budget: WorkBudget,
) -> SignatureReport:
    try:
        return _validate(
            signature,
            identifier,
            root,
            index,
            detached_content,
            policy,
            trust,
            now,
            text_heavy,
            budget,
        )
    except FormatError as exc:
        return format_failure(identifier, SignatureFormat.XADES, exc.message)
    except RecursionError:
        return format_failure(identifier, SignatureFormat.XADES, "The signature nests too deeply")
    except Exception:  # one signature's bug must not hide the others; traceback to the log
        logger.exception("XML signature %r failed unexpectedly", identifier[:100])
        return format_failure(identifier, SignatureFormat.XADES, INTERNAL_ERROR)


def _qualifying_properties(structure: SignatureStructure) -> etree._Element | None:
    found = [
        child
        for obj in structure.objects
        for child in elements(obj)
        if child.tag == QUALIFYING_PROPERTIES
    ]
    if len(found) > 1:
        raise FormatError("The signature has more than one QualifyingProperties")
    if not found:
        return None
    target = found[0].get("Target")
    signature_id = structure.element.get("Id")
    if signature_id is None or target != f"#{signature_id}":
        raise FormatError("QualifyingProperties do not target this signature")
    return found[0]


def _signed_properties(qualifying: etree._Element) -> etree._Element:
    found = [child for child in elements(qualifying) if child.tag == SIGNED_PROPERTIES]
    if len(found) != 1:
        raise FormatError("QualifyingProperties must hold exactly one SignedProperties")
    return found[0]


def _parse_time(text: str | None) -> datetime:
    try:
        instant = datetime.fromisoformat((text or "").strip())
    except ValueError as exc:
        raise FormatError("SigningTime is not an xs:dateTime") from exc
    if instant.tzinfo is None:
        raise FormatError("SigningTime must state its time zone")
    return instant


def _select_signer(
    signed_properties: etree._Element | None,
    candidates: list[bytes],
    findings: Findings,
    policy: SignaturePolicy,
) -> tuple[bytes | None, bool]:
    """(DER of the signer's certificate, whether a signed reference identified it)."""
    if signed_properties is None:
        return (candidates[0] if candidates else None), False
    properties = signed_properties.find(f"{_X}SignedSignatureProperties")
    references = []
    if properties is not None:
        for tag in ("SigningCertificateV2", "SigningCertificate"):
            container = properties.find(_X + tag)
            if container is not None:
                references = [(tag, cert) for cert in elements(container)]
                break
    if not references:
        return (candidates[0] if candidates else None), False
    tag, cert = references[0]
    digest_element = cert.find(f"{_X}CertDigest")
    if digest_element is None:
        raise FormatError("A signing-certificate reference has no CertDigest")
    method = digest_element.find(f"{_DS}DigestMethod")
    value = digest_element.find(f"{_DS}DigestValue")
    if method is None or value is None:
        raise FormatError("CertDigest holds DigestMethod and DigestValue")
    hash_name = crypto.XML_DIGESTS.get(method.get("Algorithm") or "")
    if hash_name is None:
        raise FormatError("The signing-certificate digest algorithm is unknown")
    if not policy.allows_digest(hash_name):
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            f"The signing-certificate reference uses {hash_name}, which is not accepted",
        )
    expected = base64_text(value, "CertDigest DigestValue")
    serial = _referenced_serial(cert, tag)
    for der in candidates:
        if hmac.compare_digest(crypto.digest(hash_name, der), expected):
            candidate = crypto.load_certificate(der)
            if candidate is None or (serial is not None and candidate.serial_number != serial):
                break
            return der, True
    findings.add(
        Step.IDENTIFICATION,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
        "The signed signing-certificate reference matches no certificate of the signature",
    )
    return (candidates[0] if candidates else None), False


def _referenced_serial(cert: etree._Element, tag: str) -> int | None:
    if tag == "SigningCertificateV2":
        element = cert.find(f"{_X}IssuerSerialV2")
        if element is None:
            return None
        try:
            return int(
                tsp.IssuerSerial.load(base64_text(element, "IssuerSerialV2"))[
                    "serial_number"
                ].native
            )
        except PARSE_ERRORS as exc:
            raise FormatError("IssuerSerialV2 is not a DER IssuerSerial") from exc
    element = cert.find(f"{_X}IssuerSerial/{_DS}X509SerialNumber")
    if element is None:
        return None
    try:
        return int((element.text or "").strip())
    except ValueError as exc:
        raise FormatError("X509SerialNumber is not an integer") from exc


def _digest_of(data: bytes, hash_name: str) -> bytes:
    return crypto.digest(hash_name, data)


def _signature_timestamps(
    qualifying: etree._Element | None,
    structure: SignatureStructure,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[TimestampReport, ...]:
    if qualifying is None:
        return ()
    stamps = qualifying.findall(
        f"{_X}UnsignedProperties/{_X}UnsignedSignatureProperties/{_X}SignatureTimeStamp"
    )
    reports = []
    for stamp in stamps[: policy.max_timestamps]:
        method_element = stamp.find(f"{_DS}CanonicalizationMethod")
        method = DEFAULT_C14N if method_element is None else c14n_method(method_element)
        token_element = stamp.find(f"{_X}EncapsulatedTimeStamp")
        if token_element is None:
            continue  # XMLTimeStamp is not supported; nothing to prove existence with
        token = base64_text(token_element, "EncapsulatedTimeStamp")
        octets = canonical_octets(
            structure.signature_value_element, method, with_comments=method.with_comments
        )
        reports.append(
            validate_timestamp(
                token,
                kind=TimestampKind.SIGNATURE_TIMESTAMP,
                imprint_of=functools.partial(_digest_of, octets),
                trust=trust,
                policy=policy,
                now=now,
            )
        )
    return tuple(reports)


def _validate(
    signature: etree._Element,
    identifier: str,
    root: etree._Element,
    index: IdIndex,
    detached_content: bytes | None,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    text_heavy: bool,
    budget: WorkBudget,
) -> SignatureReport:
    findings = Findings()
    structure = parse_signature(signature, max_references=policy.max_references)
    qualifying = _qualifying_properties(structure)
    signed_properties = None if qualifying is None else _signed_properties(qualifying)
    candidates = x509_certificates(structure.key_info)
    signer_der, referenced = _select_signer(signed_properties, candidates, findings, policy)
    certificate = None if signer_der is None else crypto.load_certificate(signer_der)
    if signer_der is not None and certificate is None:
        raise FormatError("The signer's certificate cannot be read")
    mechanism = crypto.XML_SIGNATURES.get(structure.signature_uri)
    if mechanism is None:
        raise FormatError("The signature method is not supported")
    key_kind, hash_name = mechanism
    if certificate is None:
        # A bare KeyValue or a reference to a certificate held elsewhere: nothing to trust.
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "The signature carries no certificate (KeyInfo/X509Data/X509Certificate)",
        )
    else:
        signed_info = canonical_octets(
            structure.signed_info, structure.c14n, with_comments=structure.c14n.with_comments
        )
        if not crypto.verify(
            certificate.public_key(),
            structure.signature_value,
            signed_info,
            key_kind=key_kind,
            hash_name=hash_name,
            ecdsa_raw=True,
        ):
            findings.add(
                Step.CRYPTO,
                SubIndication.SIG_CRYPTO_FAILURE,
                "The signature value does not verify",
            )
    if not policy.allows_signature(key_kind, hash_name):
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            f"The signature algorithm {key_kind}-{hash_name} is not accepted",
        )
    signed_data_objects = data_objects(
        structure,
        root,
        index,
        signed_properties,
        detached_content,
        findings,
        policy,
        text_heavy,
        budget,
    )
    if (
        not referenced
        and policy.require_signing_certificate_reference
        and not findings.has(SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    ):
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "No signed property binds the signer's certificate (not a XAdES signature)",
        )
    claimed: datetime | None = None
    policy_identifier: str | None = None
    if signed_properties is not None:
        time_element = signed_properties.find(f"{_X}SignedSignatureProperties/{_X}SigningTime")
        if time_element is not None:
            claimed = _parse_time(time_element.text)
        policy_element = signed_properties.find(
            f"{_X}SignedSignatureProperties/{_X}SignaturePolicyIdentifier"
            f"/{_X}SignaturePolicyId/{_X}SigPolicyId/{_X}Identifier"
        )
        if policy_element is not None:
            policy_identifier = (policy_element.text or "").strip() or None
    timestamps = _signature_timestamps(qualifying, structure, policy, trust, now)
    established = Established(
        identifier=identifier,
        format=SignatureFormat.XADES,
        signer_certificate=certificate,
        claimed_signing_time=claimed,
        signature_algorithm=structure.signature_uri,
        signature_value=structure.signature_value,
        signed_data_objects=signed_data_objects,
        timestamps=timestamps,
        signing_certificate_reference=referenced,
        signature_policy_identifier=policy_identifier,
        signing_time_required=signed_properties is not None,
    )
    return conclude(established, findings, trust=trust, policy=policy, now=now)
