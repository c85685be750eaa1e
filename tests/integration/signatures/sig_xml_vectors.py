"""Vectors for issue 12: XML signature algorithms, XAdES versions, certificates the signature carries.

Who computes what (the tests assert; nothing here judges):

* ``xmlsec1`` (Debian, OpenSSL backend) signs templates for what it supports: rsa-sha1..512,
  ecdsa-sha1..512 on NIST and brainpool curves, dsa-sha1/-sha256.
* ``signxml`` (``XAdESSigner``) signs what xmlsec1 1.2 lacks: RSA-PSS without parameters
  (RFC 6931 §2.3.10, SHA-2 and SHA3), ECDSA with SHA3 (RFC 9231 §2.3.6), SHA3 digests, and a
  XAdES-EPES ``SignaturePolicyIdentifier``.
* ``cryptography`` ("raw math") re-signs an xmlsec1-made ``SignedInfo`` for what no peer here
  offers: Ed25519/Ed448 (RFC 9231 §2.3.13) and ``rsa-pss`` with ``RSAPSSParams``
  (RFC 6931 §2.3.11). xmlsec1 still computes every reference digest.

The test PKI is generated here with ``cryptography`` from the demo CAs (no committed keys).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree
from sig_vectors import (
    C14N,
    EXC_C14N,
    SHA256_URI,
    Signer,
    xades_enveloped_template,
    xmlsec_sign,
)

from gateway import namespaces as ns
from gateway.pki import DemoPki

MORE = "http://www.w3.org/2001/04/xmldsig-more#"
MORE07 = "http://www.w3.org/2007/05/xmldsig-more#"
MORE21 = "http://www.w3.org/2021/04/xmldsig-more#"
RSA_PSS_URI = MORE07 + "rsa-pss"
ED25519_URI = MORE21 + "eddsa-ed25519"
ED448_URI = MORE21 + "eddsa-ed448"
SHA3_256_URI = MORE07 + "sha3-256"
SHA3_512_URI = MORE07 + "sha3-512"
SHA512_URI = "http://www.w3.org/2001/04/xmlenc#sha512"

XADES_NAMESPACES = {
    "1.1.1": "http://uri.etsi.org/01903/v1.1.1#",
    "1.2.2": "http://uri.etsi.org/01903/v1.2.2#",
    "1.3.2": "http://uri.etsi.org/01903/v1.3.2#",
}
SIGNED_PROPERTIES_TYPES = {
    "1.1.1": "http://uri.etsi.org/01903/v1.1.1#SignedProperties",
    "1.2.2": "http://uri.etsi.org/01903/v1.2.2#SignedProperties",
    "1.3.2": "http://uri.etsi.org/01903#SignedProperties",
}

KEY_FACTORIES: dict[str, Any] = {
    "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
    "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
    "p224": lambda: ec.generate_private_key(ec.SECP224R1()),
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "bp256": lambda: ec.generate_private_key(ec.BrainpoolP256R1()),
    "bp384": lambda: ec.generate_private_key(ec.BrainpoolP384R1()),
    "bp512": lambda: ec.generate_private_key(ec.BrainpoolP512R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ed448": ed448.Ed448PrivateKey.generate,
    "dsa1024": lambda: dsa.generate_private_key(1024),
    "dsa2048": lambda: dsa.generate_private_key(2048),
}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "IDCES-12345678Z"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    directory: Path,
    name: str,
    key: Any,
    *,
    issuer_key: Any,
    issuer: x509.Certificate | None,
    at: datetime,
    ca: bool = False,
) -> Signer:
    """A certificate for ``key`` signed by ``issuer_key`` (self-signed when ``issuer`` is None)."""
    subject = _name(f"TEST {name.upper()}")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(days=1))
        .not_valid_after(at + timedelta(days=60))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca=ca), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return Signer.saved(key, certificate, directory, name)


def demo_leaf(pki: DemoPki, directory: Path, kind: str, at: datetime) -> Signer:
    """A signer with a ``kind`` key (``KEY_FACTORIES``) issued by the demo issuing CA."""
    return issue(
        directory,
        kind,
        KEY_FACTORIES[kind](),
        issuer_key=pki.issuing_ca.private_key(),
        issuer=pki.issuing_ca.certificate(),
        at=at,
    )


@dataclass(frozen=True)
class CarriedPath:
    """A leaf under an intermediate that only the signature carries (root: the demo root)."""

    leaf: Signer
    intermediate: Signer
    rogue_leaf: Signer
    """Under an intermediate of a self-signed root nobody trusts."""
    rogue_intermediate: Signer
    rogue_root: Signer


def carried_path(pki: DemoPki, directory: Path, at: datetime) -> CarriedPath:
    intermediate = issue(
        directory,
        "carried-ca",
        rsa.generate_private_key(65537, 2048),
        issuer_key=pki.root_ca.private_key(),
        issuer=pki.root_ca.certificate(),
        at=at,
        ca=True,
    )
    leaf = issue(
        directory,
        "carried-leaf",
        rsa.generate_private_key(65537, 2048),
        issuer_key=intermediate.key,
        issuer=intermediate.certificate,
        at=at,
    )
    root_key = rsa.generate_private_key(65537, 2048)
    rogue_root = issue(
        directory, "rogue-root", root_key, issuer_key=root_key, issuer=None, at=at, ca=True
    )
    rogue_intermediate = issue(
        directory,
        "rogue-ca",
        rsa.generate_private_key(65537, 2048),
        issuer_key=rogue_root.key,
        issuer=rogue_root.certificate,
        at=at,
        ca=True,
    )
    rogue_leaf = issue(
        directory,
        "rogue-leaf",
        rsa.generate_private_key(65537, 2048),
        issuer_key=rogue_intermediate.key,
        issuer=rogue_intermediate.certificate,
        at=at,
    )
    return CarriedPath(leaf, intermediate, rogue_leaf, rogue_intermediate, rogue_root)


# --- signing -------------------------------------------------------------------------------------


def with_signature_method(template: bytes, uri: str) -> bytes:
    """The template with another ``SignatureMethod`` (the templates pick RSA/ECDSA-SHA256)."""
    for default in (MORE + "rsa-sha256", MORE + "ecdsa-sha256"):
        template = template.replace(
            f'SignatureMethod Algorithm="{default}"'.encode(),
            f'SignatureMethod Algorithm="{uri}"'.encode(),
        )
    return template


def xmlsec1_xades(
    signer: Signer, signature_method: str, *, at: datetime, digest_method: str = SHA256_URI
) -> bytes:
    """An enveloped XAdES-B signed by xmlsec1 with the given SignatureMethod."""
    template = xades_enveloped_template(signer, signing_time=at, digest_method=digest_method)
    return xmlsec_sign(with_signature_method(template, signature_method), signer)


def signxml_xades(
    signer: Signer,
    signature_method: Any,
    *,
    digest: Any = None,
    policy: Any = None,
    document: bytes | None = None,
    c14n: str = C14N,
) -> bytes:
    """An enveloped XAdES-B (or -EPES with ``policy``) signed by signxml's ``XAdESSigner``.

    Inclusive C14N by default: signxml 5.2 digests a Reference that has no Transforms (its
    SignedProperties and KeyInfo references) with its configured canonicalisation, while
    XMLDSig §4.3.3.2 says C14N 1.0 -- with exclusive C14N its output does not verify anywhere
    (``test_signxml_exclusive_c14n_references_do_not_verify``)."""
    from sig_vectors import RECEIPT_XML
    from signxml import DigestAlgorithm
    from signxml.xades import XAdESSigner

    root = etree.fromstring(document or RECEIPT_XML)
    signed = XAdESSigner(
        signature_algorithm=signature_method,
        digest_algorithm=digest or DigestAlgorithm.SHA256,
        c14n_algorithm=c14n,
        signature_policy=policy,
    ).sign(
        root,
        key=signer.key,
        cert=[signer.certificate.public_bytes(serialization.Encoding.PEM).decode()],
        always_add_key_value=False,
    )
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _raw_signature(
    key: Any, data: bytes, method: str, pss: tuple[hashes.HashAlgorithm, int] | None
) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey) and pss is not None:
        hash_, salt = pss
        return key.sign(data, padding.PSS(padding.MGF1(hash_), salt), hash_)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise ValueError(method)


def raw_xades(
    signer: Signer,
    peer: Signer,
    signature_method: str,
    *,
    at: datetime,
    method_parameters: str = "",
    pss: tuple[hashes.HashAlgorithm, int] | None = None,
) -> bytes:
    """xmlsec1 digests the references (signing with ``peer``'s RSA key); ``cryptography`` then
    signs the canonical SignedInfo with ``signer``'s key under ``signature_method``, and the
    KeyInfo certificate becomes ``signer``'s (the SigningCertificateV2 names it already)."""
    template = xades_enveloped_template(signer, signing_time=at)
    signed = xmlsec_sign(with_signature_method(template, MORE + "rsa-sha256"), peer)
    root = etree.fromstring(signed)
    ds = f"{{{ns.DS}}}"
    method = root.find(f".//{ds}SignatureMethod")
    assert method is not None
    method.set("Algorithm", signature_method)
    if method_parameters:
        for child in etree.fromstring(
            f'<w xmlns:ds="{ns.DS}" xmlns:pss="{MORE07}">{method_parameters}</w>'
        ):
            method.append(child)
    for certificate in root.iterfind(f".//{ds}X509Certificate"):
        certificate.text = base64.b64encode(
            signer.certificate.public_bytes(serialization.Encoding.DER)
        ).decode()
    signed_info = root.find(f".//{ds}SignedInfo")
    assert signed_info is not None
    octets = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = root.find(f".//{ds}SignatureValue")
    assert value is not None
    value.text = base64.b64encode(
        _raw_signature(signer.key, octets, signature_method, pss)
    ).decode()
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def flip_signature_value(document: bytes) -> bytes:
    """The tampered twin: one bit of the SignatureValue changed."""
    root = etree.fromstring(document)
    element = root.find(f".//{{{ns.DS}}}SignatureValue")
    assert element is not None
    raw = bytearray(base64.b64decode("".join((element.text or "").split())))
    raw[len(raw) // 2] ^= 0x01
    element.text = base64.b64encode(bytes(raw)).decode()
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- XAdES versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyReference:
    """A SignaturePolicyId: identifier and SigPolicyHash (hash URI, value)."""

    identifier: str
    digest_uri: str
    digest: bytes


def versioned_xades_template(
    signer: Signer,
    *,
    version: str,
    signing_time: datetime,
    v2: bool = False,
    policy: PolicyReference | None = None,
    implied_policy: bool = False,
    cert_digest_of: x509.Certificate | None = None,
    unsigned: str = "",
) -> tuple[bytes, str]:
    """An enveloped XAdES template in the namespace of ``version`` (1.1.1, 1.2.2, 1.3.2, 1.4.1),
    and the ``--id-attr`` xmlsec1 needs for its SignedProperties.

    1.1.1 declares CertDigest's and SigPolicyHash's DigestMethod/DigestValue in its own
    namespace; later versions use ``ds:`` (ETSI TS 101 903 schemas). 1.4.1 adds only unsigned
    properties in its own namespace (``unsigned`` may hold them)."""
    from sig_vectors import ENVELOPED, RECEIPT_XML, signature_template

    xades = XADES_NAMESPACES["1.3.2" if version == "1.4.1" else version]
    digest_prefix = "xades" if version == "1.1.1" else "ds"
    der = (cert_digest_of or signer.certificate).public_bytes(serialization.Encoding.DER)
    cert_digest = base64.b64encode(hashes_sha256(der)).decode()
    issuer = signer.certificate.issuer.rfc4514_string()
    serial = signer.certificate.serial_number
    cert = (
        "<xades:Cert><xades:CertDigest>"
        f'<{digest_prefix}:DigestMethod Algorithm="{SHA256_URI}"/>'
        f"<{digest_prefix}:DigestValue>{cert_digest}</{digest_prefix}:DigestValue>"
        "</xades:CertDigest>"
        + (
            ""
            if v2
            else "<xades:IssuerSerial>"
            f"<ds:X509IssuerName>{issuer}</ds:X509IssuerName>"
            f"<ds:X509SerialNumber>{serial}</ds:X509SerialNumber></xades:IssuerSerial>"
        )
        + "</xades:Cert>"
    )
    signing_certificate = (
        f"<xades:SigningCertificateV2>{cert}</xades:SigningCertificateV2>"
        if v2
        else f"<xades:SigningCertificate>{cert}</xades:SigningCertificate>"
    )
    policy_xml = ""
    if policy is not None:
        policy_xml = (
            "<xades:SignaturePolicyIdentifier><xades:SignaturePolicyId><xades:SigPolicyId>"
            f"<xades:Identifier>{policy.identifier}</xades:Identifier></xades:SigPolicyId>"
            "<xades:SigPolicyHash>"
            f'<{digest_prefix}:DigestMethod Algorithm="{policy.digest_uri}"/>'
            f"<{digest_prefix}:DigestValue>{base64.b64encode(policy.digest).decode()}"
            f"</{digest_prefix}:DigestValue></xades:SigPolicyHash>"
            "</xades:SignaturePolicyId></xades:SignaturePolicyIdentifier>"
        )
    elif implied_policy:
        policy_xml = (
            "<xades:SignaturePolicyIdentifier><xades:SignaturePolicyImplied/>"
            "</xades:SignaturePolicyIdentifier>"
        )
    unsigned_xml = (
        "<xades:UnsignedProperties><xades:UnsignedSignatureProperties>"
        f"{unsigned}</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
        if unsigned
        else ""
    )
    objects = (
        f'<ds:Object><xades:QualifyingProperties xmlns:xades="{xades}" '
        f'xmlns:xades141="http://uri.etsi.org/01903/v1.4.1#" Target="#sig-1">'
        '<xades:SignedProperties Id="sig-1-sp"><xades:SignedSignatureProperties>'
        f"<xades:SigningTime>{signing_time.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        "</xades:SigningTime>"
        f"{signing_certificate}{policy_xml}"
        "</xades:SignedSignatureProperties></xades:SignedProperties>"
        f"{unsigned_xml}</xades:QualifyingProperties></ds:Object>"
    )
    sp_type = SIGNED_PROPERTIES_TYPES["1.3.2" if version == "1.4.1" else version]
    template = signature_template(
        references=[("", (ENVELOPED, EXC_C14N), None), ("#sig-1-sp", (EXC_C14N,), sp_type)],
        objects=objects,
        signature_method=(
            MORE + "ecdsa-sha256"
            if isinstance(signer.key, ec.EllipticCurvePrivateKey)
            else MORE + "rsa-sha256"
        ),
    )
    document = RECEIPT_XML.replace(b"</rcpt:Receipt>", template.encode() + b"</rcpt:Receipt>")
    return document, f"{xades}:SignedProperties"


def hashes_sha256(data: bytes) -> bytes:
    context = hashes.Hash(hashes.SHA256())
    context.update(data)
    return context.finalize()
