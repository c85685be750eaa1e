"""Identifying the signing certificate of an XML signature (EN 319 102-1 §5.2.3; EN 319 132-1
§5.2.2; ETSI TS 101 903 v1.1.1, v1.2.2, v1.3.2 and v1.4.1).

XAdES namespaces: 1.1.1 and 1.2.2 (TS 101 903 of 2002 and 2004), 1.3.2 (TS 101 903 v1.3.2 to
v1.4.2 and EN 319 132-1), whose 1.4.1 companion namespace only adds unsigned properties. The
signed properties keep their shape across versions, except that 1.1.1 declares
``DigestMethod``/``DigestValue`` (in ``CertDigest`` and ``SigPolicyHash``) in its own namespace
where later ones use ``ds:``; both are read.

Candidates, in this order: ``KeyInfo/X509Data/X509Certificate``, the unsigned
``CertificateValues`` (EN 319 132-1 §5.5.1), then the trust store's certificates. With a signed
``SigningCertificateV2`` (else ``SigningCertificate``), its first ``Cert`` selects the candidate
whose digest (and serial, when ``IssuerSerial``/``IssuerSerialV2`` is present) matches -- so a
signature with only a ``KeyValue``, or no ``KeyInfo`` at all, is still verified when the
certificate can be found, and a warning says where it was found. Without a signed reference (plain
XMLDSig) only KeyInfo counts and the leaf is the certificate no other KeyInfo certificate was
issued by (KeyInfo may list the chain in any order).

Every certificate the signature carries is handed on for path building (``chain``): an
intermediate CA present only in the signature completes the path to a trust anchor; it is never
an anchor itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from gateway import namespaces as ns
from gateway.signatures import crypto
from gateway.signatures.cms import PARSE_ERRORS
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import SubIndication
from gateway.signatures.xmldsig import base64_text, elements
from gateway.trust.certificates import TrustStore

XADES_NAMESPACES: dict[str, str] = {
    "http://uri.etsi.org/01903/v1.3.2#": "1.3.2",
    "http://uri.etsi.org/01903/v1.2.2#": "1.2.2",
    "http://uri.etsi.org/01903/v1.1.1#": "1.1.1",
}
"""Namespace of ``QualifyingProperties`` -> XAdES version."""

SIGNED_PROPERTIES_TYPES = frozenset(
    {
        "http://uri.etsi.org/01903#SignedProperties",
        "http://uri.etsi.org/01903/v1.2.2#SignedProperties",
        "http://uri.etsi.org/01903/v1.1.1#SignedProperties",
    }
)
"""``ds:Reference/@Type`` of the SignedProperties reference (1.3.2 on, 1.2.2, 1.1.1)."""

QUALIFYING_PROPERTIES_TAGS = frozenset(f"{{{uri}}}QualifyingProperties" for uri in XADES_NAMESPACES)
SIGNED_PROPERTIES_TAGS = frozenset(f"{{{uri}}}SignedProperties" for uri in XADES_NAMESPACES)
_DS = f"{{{ns.DS}}}"


@dataclass(frozen=True, slots=True)
class Identified:
    """The signing certificate (if any), how it was identified, and what the signature carries."""

    certificate: bytes | None
    referenced: bool
    """A signed SigningCertificate(V2) reference selected it."""
    carried: tuple[x509.Certificate, ...]
    """Every readable certificate of KeyInfo and CertificateValues (path building)."""


def digest_alg_and_value(container: etree._Element, xades: str) -> tuple[str, bytes]:
    """(DigestMethod URI, DigestValue) of a DigestAlgAndValueType, ``ds:`` or 1.1.1-style."""
    for prefix in (_DS, xades):
        method = container.find(f"{prefix}DigestMethod")
        value = container.find(f"{prefix}DigestValue")
        if method is not None and value is not None:
            return method.get("Algorithm") or "", base64_text(value, "DigestValue")
    raise FormatError("A digest holds DigestMethod and DigestValue")


def certificate_values(qualifying: etree._Element | None, xades: str) -> list[bytes]:
    """DER certificates of the unsigned ``CertificateValues`` (EN 319 132-1 §5.5.1, also inside
    ``TimeStampValidationData``); a value
    that is not Base64 is left out (unsigned data: it can only fail to help build the path)."""
    if qualifying is None:
        return []
    found = []
    properties = f"{xades}UnsignedProperties/{xades}UnsignedSignatureProperties/"
    values = f"{xades}CertificateValues/{xades}EncapsulatedX509Certificate"
    for element in [
        *qualifying.iterfind(properties + values),
        # XAdES 1.4.1 TimeStampValidationData: the time-stamping units' paths (EN 319 132-1
        # §5.5.3), as DSS writes them in LT and LTA signatures.
        *qualifying.iterfind(f"{properties}{{{ns.XADES141}}}TimeStampValidationData/{values}"),
    ]:
        try:
            found.append(base64_text(element, "EncapsulatedX509Certificate"))
        except FormatError:
            continue
    return found


def _readable(ders: list[bytes]) -> list[x509.Certificate]:
    return [cert for cert in (crypto.load_certificate(der) for der in ders) if cert is not None]


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _leaf_of(key_info: list[bytes]) -> bytes | None:
    """The KeyInfo end-entity certificate: one that issued none of the others, preferably not a
    CA (KeyInfo may list the chain, anchors included, in any order); else the first."""
    readable = [
        (der, cert)
        for der, cert in ((der, crypto.load_certificate(der)) for der in key_info)
        if cert is not None
    ]

    def issues_another(cert: x509.Certificate) -> bool:
        return any(
            other is not cert and other.issuer == cert.subject and other.subject != other.issuer
            for _, other in readable
        )

    ends = [(der, cert) for der, cert in readable if not issues_another(cert)]
    for der, cert in ends:
        if not _is_ca(cert):
            return der
    if ends:
        return ends[0][0]
    return key_info[0] if key_info else None


def identify_signer(
    signed_properties: etree._Element | None,
    xades: str,
    key_info: list[bytes],
    values: list[bytes],
    trust: TrustStore,
    findings: Findings,
    policy: SignaturePolicy,
) -> Identified:
    """Select the signer's certificate following the module docstring."""
    carried = tuple(_readable(key_info + values))
    reference = _signing_certificate_reference(signed_properties, xades)
    if reference is None:
        return Identified(_leaf_of(key_info), False, carried)
    tag, cert = reference
    digest_element = cert.find(f"{xades}CertDigest")
    if digest_element is None:
        raise FormatError("A signing-certificate reference has no CertDigest")
    method, expected = digest_alg_and_value(digest_element, xades)
    hash_name = crypto.XML_DIGESTS.get(method)
    if hash_name is None:
        raise FormatError("The signing-certificate digest algorithm is unknown")
    if not policy.allows_digest(hash_name):
        findings.add_weak_algorithm(
            hash_name,
            f"The signing-certificate reference uses {hash_name}, which is not accepted",
        )
    serial = _referenced_serial(cert, tag, xades)
    sources: list[tuple[str, Iterable[bytes]]] = [
        ("KeyInfo", key_info),
        ("CertificateValues", values),
        # Lazily: most signatures carry their certificate.
        ("trust store", (member.public_bytes(Encoding.DER) for member in trust.certificates)),
    ]
    for source, ders in sources:
        for der in ders:
            if not hmac.compare_digest(crypto.digest(hash_name, der), expected):
                continue
            candidate = crypto.load_certificate(der)
            if candidate is None or (serial is not None and candidate.serial_number != serial):
                continue
            if source != "KeyInfo":
                findings.warnings.append(
                    f"The signing certificate is not in KeyInfo; it was found in the {source} "
                    "by the signed signing-certificate reference"
                )
            return Identified(der, True, carried)
    findings.add(
        Step.IDENTIFICATION,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
        "The signed signing-certificate reference matches no certificate of the signature "
        "or of the trust store",
    )
    return Identified(_leaf_of(key_info), False, carried)


def _signing_certificate_reference(
    signed_properties: etree._Element | None, xades: str
) -> tuple[str, etree._Element] | None:
    if signed_properties is None:
        return None
    properties = signed_properties.find(f"{xades}SignedSignatureProperties")
    if properties is None:
        return None
    for tag in ("SigningCertificateV2", "SigningCertificate"):
        container = properties.find(xades + tag)
        if container is not None:
            certs = elements(container)
            return (tag, certs[0]) if certs else None
    return None


def _referenced_serial(cert: etree._Element, tag: str, xades: str) -> int | None:
    if tag == "SigningCertificateV2":
        element = cert.find(f"{xades}IssuerSerialV2")
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
    element = cert.find(f"{xades}IssuerSerial/{_DS}X509SerialNumber")
    if element is None:
        element = cert.find(f"{xades}IssuerSerial/{xades}X509SerialNumber")
    if element is None:
        return None
    try:
        return int((element.text or "").strip())
    except ValueError as exc:
        raise FormatError("X509SerialNumber is not an integer") from exc


@dataclass(frozen=True, slots=True)
class PolicyIdentifier:
    """A XAdES-EPES ``SignaturePolicyId`` as signed: reported, not processed."""

    identifier: str | None
    digest_algorithm: str | None
    """hashlib-style name, or the URI when it is unknown."""
    digest: bytes | None
    implied: bool = False


def policy_identifier(signed_properties: etree._Element, xades: str) -> PolicyIdentifier | None:
    """The signed ``SignaturePolicyIdentifier`` (EN 319 132-1 §5.2.9), if any."""
    container = signed_properties.find(
        f"{xades}SignedSignatureProperties/{xades}SignaturePolicyIdentifier"
    )
    if container is None:
        return None
    if container.find(f"{xades}SignaturePolicyImplied") is not None:
        return PolicyIdentifier(None, None, None, implied=True)
    policy_id = container.find(f"{xades}SignaturePolicyId")
    if policy_id is None:
        raise FormatError("SignaturePolicyIdentifier holds SignaturePolicyId or -Implied")
    identifier = policy_id.find(f"{xades}SigPolicyId/{xades}Identifier")
    hash_element = policy_id.find(f"{xades}SigPolicyHash")
    if identifier is None or hash_element is None:
        raise FormatError("SignaturePolicyId holds SigPolicyId/Identifier and SigPolicyHash")
    method, value = digest_alg_and_value(hash_element, xades)
    return PolicyIdentifier(
        (identifier.text or "").strip() or None,
        crypto.XML_DIGESTS.get(method, method[:200]),
        value,
    )
