"""Trusted lists signed as scheme operators sign them, by a peer we did not write (xmlsec1).

One helper for the trust-list tests (``test_cli_trust.py``, ``test_cli_trust_lotl.py``): an
enveloped XAdES-B (exclusive C14N, ECDSA-SHA256, SigningCertificateV2) is put in front of the
list's closing tag as a template and ``xmlsec1 --sign`` fills in digests and signature value.
The operator's key and certificate are written to ``folder`` as ``operator.key`` and
``operator.pem`` (tests read them back to make foreign signatures).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway import namespaces as ns

SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
CLOSING = "</tsl:TrustServiceStatusList>"


def xmlsec1_signed_list(document: str, certificate: x509.Certificate,
                        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, folder: Path, *,
                        signing_time: datetime, closing: str = CLOSING) -> bytes:
    """``document`` signed with ``key`` (``certificate``'s) by xmlsec1, enveloped XAdES-B."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = base64.b64encode(hashlib.sha256(der).digest()).decode()
    signature = (
        f'<ds:Signature xmlns:ds="{ns.DS}" Id="tl-signature"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>'
        '<ds:Reference URI=""><ds:Transforms>'
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        f'<ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/></ds:Reference>'
        '<ds:Reference URI="#tl-sp" Type="http://uri.etsi.org/01903#SignedProperties">'
        f'<ds:Transforms><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/></ds:Reference>'
        "</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>"
        f'<ds:Object><xades:QualifyingProperties xmlns:xades="{ns.XADES}" Target="#tl-signature">'
        '<xades:SignedProperties Id="tl-sp"><xades:SignedSignatureProperties>'
        f"<xades:SigningTime>{signing_time.strftime('%Y-%m-%dT%H:%M:%SZ')}</xades:SigningTime>"
        "<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
        f'<ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>{digest}</ds:DigestValue>'
        "</xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
        "</xades:SignedSignatureProperties></xades:SignedProperties>"
        "</xades:QualifyingProperties></ds:Object></ds:Signature>")
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / "operator.key", folder / "operator.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "tl-template.xml").write_text(document.replace(closing, signature + closing),
                                            encoding="utf-8")
    subprocess.run(
        ["xmlsec1", "--sign", "--privkey-pem", f"{key_path},{cert_path}",
         "--id-attr:Id", f"{ns.XADES}:SignedProperties", "--output", "tl-signed.xml",
         "tl-template.xml"], cwd=folder, check=True, capture_output=True)
    return (folder / "tl-signed.xml").read_bytes()
