"""XAdES validation: enveloped, enveloping and detached (ETSI EN 319 132-1, EN 319 102-1).

Per ``ds:Signature`` of the document, counter-signatures inside QualifyingProperties included:

1. XMLDSig structure and references (``xmldsig``); an Id defined twice refuses the document.
2. Qualifying properties: at most one ``xades:QualifyingProperties`` among the signature's
   Objects, targeting this signature, with at most one ``SignedProperties`` -- which a Reference
   must designate *as that very element* (a reference to another element with the same role, or
   no reference at all, is FORMAT_FAILURE: unsigned or substituted properties).
3. Signing certificate (``xades_signer``): the first ``Cert`` of ``SigningCertificateV2`` (else
   v1 ``SigningCertificate``) selects the certificate among KeyInfo, CertificateValues and the
   trust store by digest (and serial when ``IssuerSerial(V2)`` is present); none matching is
   NO_SIGNING_CERTIFICATE_FOUND. Without qualifying properties (plain XMLDSig) the KeyInfo leaf is
   used and the signature is reported as XML-NOT-ETSI. XAdES 1.1.1, 1.2.2 and 1.3.2 (with 1.4.1)
   namespaces are read alike. Certificates the signature carries help build the path.
4. ``SignatureValue`` over the canonical ``SignedInfo`` (SIG_CRYPTO_FAILURE), every reference's
   digest (HASH_FAILURE; detached content missing: SIGNED_DATA_NOT_FOUND), algorithms against the
   policy (CRYPTO_CONSTRAINTS_FAILURE).
5. ``SigningTime`` (claimed) and ``SignaturePolicyIdentifier`` (EPES: identifier and
   SigPolicyHash reported, the policy itself not processed; SignaturePolicyImplied warned).
6. ``SignatureTimeStamp`` tokens over the canonicalised ``ds:SignatureValue`` (EN 319 132-1
   §5.3; C14N 1.0 when the element names none); validation data and ``ArchiveTimeStamp``
   (``xades_archive``: levels LT and LTA; signature time-stamps judged at the time a valid
   archive time-stamp proves), then path validation -- with the carried CRLs and OCSP responses
   as evidence -- and acceptance (``assessment.conclude``).

What was signed is reported per reference with the exact element path; ``covers_whole_document``
is true only for ``URI=""``, a reference to the root element, the signature's own Objects in an
enveloping signature, or the detached content.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from cryptography import x509
from lxml import etree

from gateway import namespaces as ns
from gateway.errors import GatewayError
from gateway.signatures import c14n, crypto, signature_method
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.detached import DetachedDocument
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.key_value import key_value, same_key
from gateway.signatures.nodeset import WorkBudget
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SubIndication,
    TimestampKind,
    TimestampReport,
)
from gateway.signatures.timestamps import failed_timestamp, past_or_present, validate_timestamp
from gateway.signatures.transforms import DEFAULT_C14N, c14n_method
from gateway.signatures.xades_archive import (
    archive_timestamps,
    revocation_values,
    unvalidated_properties,
)
from gateway.signatures.xades_signer import (
    QUALIFYING_PROPERTIES_TAGS,
    SIGNED_PROPERTIES_TAGS,
    certificate_values,
    identify_signer,
    policy_identifier,
)
from gateway.signatures.xml_references import DetachedContent, data_objects
from gateway.signatures.xmldsig import (
    ReferenceOctets,
    SignatureStructure,
    base64_text,
    build_index,
    canonical_octets,
    elements,
    parse_signature,
    x509_certificates,
)
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues
from gateway.xmlsafe import parse_xml
from gateway.xmlsig.names import SIGNATURE
from gateway.xmlsig.references import IdIndex

INTERNAL_ERROR = "internal error"
MAX_REVOCATION_VALUES = 256
"""CRLs and OCSP responses one signature may carry."""
logger = logging.getLogger(__name__)
_DS = f"{{{ns.DS}}}"
_ARCHIVE_TAGS = ("{*}ArchiveTimeStamp",)
"""XAdES 1.4.1 or 1.3.2 archive time-stamps (only whether there is one matters here)."""


def validate_xades(
    document: bytes,
    *,
    detached_content: DetachedContent,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    detached: Sequence[DetachedDocument] = (),
) -> tuple[SignatureReport, ...]:
    """Validate every signature of an XML document; FormatError when none can be found.

    Every ``ds:Signature`` gets an entry, in document order (issue 12 point 8): counter-signatures
    inside QualifyingProperties too (``counter_signature_of`` names the signature they sign);
    the ones that cannot be validated -- a document-level refusal such as a duplicated Id, more
    than ``policy.max_signatures`` signatures, an unexpected error -- as FORMAT_FAILURE with the
    reason.

    ``detached_content`` is one anonymous detached document, or documents by name (an ASiC
    container's entries); ``detached`` named ones; references are paired with them by URI,
    percent-decoded (``gateway.signatures.detached``)."""
    documents = tuple(detached)
    if isinstance(detached_content, Mapping):  # data objects by name (an ASiC container)
        documents += tuple(DetachedDocument(data, name)
                           for name, data in detached_content.items())
    elif detached_content is not None:
        documents += (DetachedDocument(detached_content),)
    try:
        root = parse_xml(
            document, max_bytes=policy.max_document_bytes, max_depth=policy.max_xml_depth
        )
    except GatewayError as exc:  # its message is written for clients: say why
        raise FormatError(f"The document is not acceptable XML: {exc.message}") from exc
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
                documents,
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
        if ancestor.tag in QUALIFYING_PROPERTIES_TAGS:
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
    detached: tuple[DetachedDocument, ...],
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
            detached,
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
        if child.tag in QUALIFYING_PROPERTIES_TAGS
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
    found = [child for child in elements(qualifying) if child.tag in SIGNED_PROPERTIES_TAGS]
    if len(found) != 1:
        raise FormatError("QualifyingProperties must hold exactly one SignedProperties")
    return found[0]


def _parse_time(text: str | None, warnings: list[str]) -> datetime | None:
    """The claimed SigningTime. xs:dateTime lets it go without a time zone (a local time, as
    some Java and national tools write it): read as UTC, with a warning. One that is no
    dateTime at all is left out, with a warning: the signing time is a claim, not what makes
    the signature valid, so it cannot fail the signature."""
    try:
        instant = datetime.fromisoformat((text or "").strip())
    except ValueError:
        warnings.append("SigningTime is not an xs:dateTime; it is ignored")
        return None
    if instant.tzinfo is None:
        warnings.append("SigningTime states no time zone; it is read as UTC")
        return instant.replace(tzinfo=UTC)
    return instant


def _digest_of(data: bytes, hash_name: str) -> bytes:
    return crypto.digest(hash_name, data)


def _signature_timestamps(
    qualifying: etree._Element | None,
    xades: str,
    structure: SignatureStructure,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    proven: datetime,
    revocation: RevocationValues,
    carried: tuple[x509.Certificate, ...],
) -> tuple[TimestampReport, ...]:
    """The SignatureTimeStamps validated at ``proven`` (when a valid archive time-stamp proves
    they existed) or, failing that, at ``now``."""
    if qualifying is None:
        return ()
    stamps = qualifying.findall(
        f"{xades}UnsignedProperties/{xades}UnsignedSignatureProperties/{xades}SignatureTimeStamp"
    )
    reports = []
    for stamp in stamps[: policy.max_timestamps]:
        method_element = stamp.find(f"{_DS}CanonicalizationMethod")
        if method_element is None:
            # XAdES 1.1.1/1.2.2 name the canonicalisation in HashDataInfo's Transforms.
            method_element = stamp.find(f"{xades}HashDataInfo/{_DS}Transforms/{_DS}Transform")
            if method_element is None:
                method_element = stamp.find(f"{xades}HashDataInfo/{xades}Transforms/{_DS}Transform")
        token_element = stamp.find(f"{xades}EncapsulatedTimeStamp")
        if token_element is None:
            continue  # XMLTimeStamp is not supported; nothing to prove existence with
        try:  # unsigned: an unusable time-stamp fails on its own, never the signature
            method = DEFAULT_C14N if method_element is None else c14n_method(method_element)
            token = base64_text(token_element, "EncapsulatedTimeStamp")
        except FormatError as exc:
            reports.append(failed_timestamp(TimestampKind.SIGNATURE_TIMESTAMP, b"", exc.message))
            continue
        octets = canonical_octets(
            structure.signature_value_element, method, with_comments=method.with_comments
        )
        validate_at = functools.partial(
            validate_timestamp,
            token,
            kind=TimestampKind.SIGNATURE_TIMESTAMP,
            imprint_of=functools.partial(_digest_of, octets),
            trust=trust,
            policy=policy,
            revocation_values=revocation,
            carried=carried,
        )
        [report] = past_or_present(functools.partial(_one_at, validate_at), proven, now)
        reports.append(report)
    return tuple(reports)


def _one_at(
    validate_at: Callable[..., TimestampReport], at: datetime
) -> tuple[TimestampReport]:
    return (validate_at(now=at),)


def _verifies(
    mechanism: signature_method.Mechanism,
    public_key: object,
    structure: SignatureStructure,
    signed_info: bytes,
    findings: Findings,
) -> bool:
    """Whether the SignatureValue verifies with ``public_key``; an ECDSA/DSA value in DER
    rather than ``r || s`` too, with a warning (the lenient path is reported)."""
    if mechanism.verify(public_key, structure.signature_value, signed_info):
        return True
    if mechanism.verify_der(public_key, structure.signature_value, signed_info):
        findings.warnings.append(
            "The signature value is DER-encoded, not r || s as XML-DSig defines; read as DER"
        )
        return True
    return False


MAX_SIGNER_CANDIDATES = 16
"""Carried certificates tried on the signature value when the selected one fails (bounded: each
try is a public-key operation)."""


def _verifying_certificate(
    selected: x509.Certificate,
    referenced: bool,
    carried: Sequence[x509.Certificate],
    mechanism: signature_method.Mechanism,
    structure: SignatureStructure,
    signed_info: bytes,
    findings: Findings,
) -> x509.Certificate:
    """The signer's certificate once the selected one failed to verify the signature value.

    A certificate that a signed reference selected is the signer's: SIG_CRYPTO_FAILURE. One
    only guessed from the unsigned KeyInfo (plain XML-DSig, or a signed reference that matched
    nothing) may simply not be the signer's -- tools list the chain in any order, add a TSA's or
    an encryption certificate, or leave the signer out -- so the carried certificate that
    verifies is the signer; with none, a signed reference that matched nothing leaves the signer
    unidentified (NO_SIGNING_CERTIFICATE_FOUND, already reported) rather than the signature
    forged."""
    if not referenced:
        for candidate in [c for c in carried if c != selected][:MAX_SIGNER_CANDIDATES]:
            if _verifies(mechanism, candidate.public_key(), structure, signed_info, findings):
                findings.warnings.append(
                    "The signature value verifies with another certificate of the signature "
                    f"than the one selected from KeyInfo: {candidate.subject.rfc4514_string()}"
                )
                return candidate
        if findings.has(SubIndication.NO_SIGNING_CERTIFICATE_FOUND):
            findings.warnings.append(
                "The signature value does not verify with any certificate the signature "
                "carries; the signing certificate it references is not among them"
            )
            return selected
    findings.add(
        Step.CRYPTO, SubIndication.SIG_CRYPTO_FAILURE, "The signature value does not verify"
    )
    return selected


def _validate(
    signature: etree._Element,
    identifier: str,
    root: etree._Element,
    index: IdIndex,
    detached: tuple[DetachedDocument, ...],
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
    xades = f"{{{ns.XADES if qualifying is None else etree.QName(qualifying).namespace}}}"
    identified = identify_signer(
        signed_properties,
        xades,
        x509_certificates(structure.key_info),
        certificate_values(qualifying, xades),
        trust,
        findings,
        policy,
    )
    signer_der, referenced = identified.certificate, identified.referenced
    certificate = None if signer_der is None else crypto.load_certificate(signer_der)
    if signer_der is not None and certificate is None:
        raise FormatError("The signer's certificate cannot be read")
    mechanism = signature_method.mechanism(elements(structure.signed_info)[1])
    key_kind, hash_name = mechanism.key_kind, mechanism.hash_name
    signed_info = canonical_octets(
        structure.signed_info, structure.c14n, with_comments=structure.c14n.with_comments
    )
    named_key = key_value(structure.key_info)
    if certificate is None:
        # A bare KeyValue or a reference to a certificate held elsewhere: nothing to trust.
        findings.add(
            Step.IDENTIFICATION,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "The signature carries no certificate (KeyInfo/X509Data/X509Certificate)",
        )
        if named_key is not None:
            # Still tell a forgery from an unidentified signer (the key identifies nobody).
            if _verifies(mechanism, named_key, structure, signed_info, findings):
                findings.warnings.append(
                    "The signature value verifies with the KeyInfo KeyValue, which identifies "
                    "no signer"
                )
            else:
                findings.add(
                    Step.CRYPTO,
                    SubIndication.SIG_CRYPTO_FAILURE,
                    "The signature value does not verify with the KeyInfo KeyValue",
                )
    else:
        if named_key is not None and not same_key(named_key, certificate.public_key()):
            findings.warnings.append(
                "The KeyInfo KeyValue is not the signing certificate's key (ignored)"
            )
        if not _verifies(mechanism, certificate.public_key(), structure, signed_info, findings):
            certificate = _verifying_certificate(
                certificate, referenced, identified.carried, mechanism, structure, signed_info,
                findings,
            )
    if not policy.allows_signature(key_kind, hash_name):
        message = f"The signature algorithm {key_kind}-{hash_name} is not accepted"
        if policy.allows_signature(key_kind, "sha256"):  # only the hash is weak: it may be dated
            findings.add_weak_algorithm(hash_name, message)
        else:
            findings.add(Step.ACCEPTANCE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, message)
    # An archive time-stamp covers what the references yield: keep it from their digests.
    reference_octets = (
        ReferenceOctets()
        if qualifying is not None and next(qualifying.iter(*_ARCHIVE_TAGS), None) is not None
        else None
    )
    signed_data_objects = data_objects(
        structure,
        root,
        index,
        signed_properties,
        detached,
        findings,
        policy,
        text_heavy,
        budget,
        reference_octets,
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
    signature_policy = None
    if signed_properties is not None:
        time_element = signed_properties.find(
            f"{xades}SignedSignatureProperties/{xades}SigningTime"
        )
        if time_element is not None:
            claimed = _parse_time(time_element.text, findings.warnings)
        signature_policy = policy_identifier(signed_properties, xades)
        if signature_policy is not None and signature_policy.implied:
            findings.warnings.append(
                "The signature policy is implied (SignaturePolicyImplied): not identified"
            )
    revocation = revocation_values(
        qualifying, xades, max_values=MAX_REVOCATION_VALUES, warnings=findings.warnings
    )
    findings.warnings.extend(unvalidated_properties(qualifying))
    archives = archive_timestamps(
        qualifying,
        xades,
        structure,
        root,
        index,
        detached,
        policy=policy,
        trust=trust,
        now=now,
        revocation=revocation,
        carried=identified.carried,
        budget=budget,
        reference_octets=reference_octets,
    )
    # A valid archive time-stamp proves the signature time-stamps existed at its genTime: they
    # are judged then (past signature validation, EN 319 102-1 §5.6.2.1).
    proven = min((ts.generation_time for ts in archives if ts.passed and ts.generation_time),
                 default=now)
    timestamps = _signature_timestamps(
        qualifying, xades, structure, policy, trust, now, proven, revocation, identified.carried
    ) + archives
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
        signature_policy_identifier=(
            None if signature_policy is None else signature_policy.identifier
        ),
        signature_policy_digest_algorithm=(
            None if signature_policy is None else signature_policy.digest_algorithm
        ),
        signature_policy_digest=None if signature_policy is None else signature_policy.digest,
        signing_time_required=signed_properties is not None,
        carried_certificates=identified.carried,
        revocation_values=revocation,
    )
    return conclude(established, findings, trust=trust, policy=policy, now=now)
