"""Signatures carrying Adobe's adbe-revocationInfoArchival signed attribute.

* PDF: pyHanko's own signer in its non-PAdES mode (``adbe.pkcs7.detached``,
  ``embed_validation_info=True``, ``use_pades_lta=False``) gathers the revocation data from a
  validation context holding the given OCSP responses and writes it into the signed attributes,
  as Adobe Acrobat does;
* CMS: ``openssl cms -sign`` with the attribute inserted into its signed attributes by asn1crypto
  and the SignerInfo re-signed (openssl has no option for it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from asn1crypto import cms as asn1_cms
from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pdf as asn1_pdf  # registers the Adobe attribute types
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sig_pades_lta import pyhanko_with_validation_info
from sig_vectors import Signer

DER = serialization.Encoding.DER


def pyhanko_adbe(
    pdf: bytes,
    signer: Signer,
    timestamper: DummyTimeStamper | None,
    *,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    responses: Sequence[ocsp.OCSPResponse],
    moment: datetime,
    subfilter: SigSeedSubFilter = SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
    revocation_mode: str = "hard-fail",
) -> bytes:
    """pyHanko validates the signer against a context holding ``responses`` at ``moment`` and
    writes the revocation data it used into the signed attributes."""
    return pyhanko_with_validation_info(
        pdf, signer, timestamper, roots=roots, intermediates=intermediates,
        responses=responses, moment=moment, subfilter=subfilter, use_pades_lta=False,
        revocation_mode=revocation_mode,
    )


def archival_value(
    responses: Sequence[ocsp.OCSPResponse | bytes] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> bytes:
    """A RevocationInfoArchival's DER (responses may be raw DER, for hostile tests)."""
    value: dict[str, object] = {}
    if crls:
        value["crl"] = [asn1_crl.CertificateList.load(c.public_bytes(DER)) for c in crls]
    if responses:
        value["ocsp"] = [
            asn1_ocsp.OCSPResponse.load(r if isinstance(r, bytes) else r.public_bytes(DER))
            for r in responses
        ]
    return bytes(asn1_pdf.RevocationInfoArchival(value).dump())


def openssl_cms(content: bytes, signer: Signer, directory: Path) -> bytes:
    """``openssl cms -sign``: detached, DER, SHA-256."""
    (directory / "content.bin").write_bytes(content)
    subprocess.run(
        ["openssl", "cms", "-sign", "-cades", "-binary", "-md", "sha256", "-outform", "DER",
         "-in", "content.bin", "-signer", str(signer.cert_path), "-inkey", str(signer.key_path),
         "-out", "signed.p7s"],
        cwd=directory, check=True, capture_output=True,
    )
    return (directory / "signed.p7s").read_bytes()


def with_archival(cms_der: bytes, signer: Signer, archival: bytes) -> bytes:
    """``cms_der`` with an adbe-revocationInfoArchival attribute (``archival``: its value's DER,
    any bytes) added to the signed attributes, the SignerInfo signed again with the signer's
    RSA key (PKCS #1 v1.5, SHA-256) -- so that the attribute is genuinely signed."""
    info = asn1_cms.ContentInfo.load(cms_der)
    signer_info = info["content"]["signer_infos"][0]
    existing = [attribute.dump() for attribute in signer_info["signed_attrs"]]
    attribute = (
        asn1_cms.ObjectIdentifier("1.2.840.113583.1.1.8").dump()
        + b"\x31"
        + _length(len(archival))
        + archival
    )
    members = b"".join(existing) + b"\x30" + _length(len(attribute)) + attribute
    to_sign = b"\x31" + _length(len(members)) + members
    signature = signer.key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    # Assembled by hand: asn1crypto would parse (and refuse) a hostile attribute on dump.
    new_info = _tlv(
        0x30,
        signer_info["version"].dump()
        + signer_info["sid"].dump()
        + signer_info["digest_algorithm"].dump()
        + b"\xa0" + to_sign[1:]
        + signer_info["signature_algorithm"].dump()
        + _tlv(0x04, signature),
    )
    signed_data = info["content"]
    body = b"".join(
        signed_data[name].dump()
        for name in ("version", "digest_algorithms", "encap_content_info", "certificates", "crls")
        if not isinstance(signed_data[name], core.Void)
    ) + _tlv(0x31, new_info)
    return _tlv(0x30, info["content_type"].dump() + _tlv(0xA0, _tlv(0x30, body)))


def _tlv(tag: int, contents: bytes) -> bytes:
    return bytes([tag]) + _length(len(contents)) + contents


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded
