"""CMS vectors from signers we did not write (issue 13): ``openssl cms`` (BER via ``-stream``,
``-resign``, RSA-PSS, SHA-3, nested SignedData), Bouncy Castle through ``peers/BcCms.java``
(Ed25519, Ed448, plain ECDSA, RSA with SHA-3, counter-signatures) and ``openssl ts`` time-stamps;
plus the re-encodings real files show (BER certificates, trailing padding), made from them.

Each :class:`CmsVector` carries the expected indication of every signature in it and a tampered
twin with its own expectations; ``test_sig_cms_realworld`` asserts both.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sig_vectors import JAVA_LIBRARIES, Signer

from gateway.pki import DemoPki
from gateway.signatures import Indication, SubIndication

PASSED = (Indication.TOTAL_PASSED, None)
HASH_FAILURE = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
SIG_CRYPTO_FAILURE = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
FORMAT_FAILURE = (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)

BC_JARS = tuple(JAVA_LIBRARIES / jar for jar in ("bcprov.jar", "bcpkix.jar", "bcutil.jar"))
"""Debian's libbcpkix-java (and the libbcprov-java / libbcutil-java it depends on)."""
BC_PEER = Path(__file__).parent / "peers" / "BcCms.java"

Expected = tuple[tuple[str, tuple[Indication, SubIndication | None]], ...]
"""(signature identifier, (indication, sub-indication)) for every signature, in report order."""


@dataclass(frozen=True)
class CmsVector:
    name: str
    peer: str
    document: bytes
    expected: Expected
    twin: bytes
    twin_expected: Expected
    detached: bytes | None = None
    twin_detached: bytes | None = None
    warning: str | None = None
    """A substring every signature's warnings must hold (the lenient path that was taken)."""
    levels: tuple[str, ...] = field(default=())


# --- peers ---------------------------------------------------------------------------------------


def openssl_cms(content: bytes, signer: Signer, *options: str) -> bytes:
    """``openssl cms -sign -binary -cades`` over ``content`` with extra ``options``."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "content.bin").write_bytes(content)
        subprocess.run(
            ["openssl", "cms", "-sign", "-binary", "-cades", "-in", str(folder / "content.bin"),
             "-signer", str(signer.cert_path), "-inkey", str(signer.key_path), "-outform", "DER",
             "-out", str(folder / "out.p7s"), *options],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "out.p7s").read_bytes()


def openssl_resign(document: bytes, signer: Signer) -> bytes:
    """``openssl cms -resign``: one more signer on an attached SignedData."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "in.p7s").write_bytes(document)
        subprocess.run(
            ["openssl", "cms", "-resign", "-binary", "-cades", "-nodetach", "-inform", "DER",
             "-in", str(folder / "in.p7s"), "-signer", str(signer.cert_path), "-inkey",
             str(signer.key_path), "-outform", "DER", "-out", str(folder / "out.p7s")],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "out.p7s").read_bytes()


@dataclass(frozen=True)
class BcJob:
    """One line for ``peers/BcCms.java``: ``sign`` content or ``countersign`` a SignedData."""

    action: str
    algorithm: str
    signer: Signer
    data: bytes
    nested: bool = False


def bouncy_castle(jobs: Sequence[BcJob]) -> list[bytes]:
    """Run every job in one JVM (source-file mode); the SignedData each one wrote, in order."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        lines = []
        for position, job in enumerate(jobs):
            (folder / f"in-{position}").write_bytes(job.data)
            fields = [job.action, job.algorithm, str(job.signer.key_path),
                      str(job.signer.cert_path), str(folder / f"in-{position}"),
                      str(folder / f"out-{position}.p7s")]  # fmt: skip
            if job.nested:
                fields.append("nested")
            lines.append("\t".join(fields))
        subprocess.run(
            ["java", "-cp", ":".join(str(jar) for jar in BC_JARS), str(BC_PEER)],
            input="\n".join(lines).encode(), check=True, capture_output=True,
        )  # fmt: skip
        return [(folder / f"out-{position}.p7s").read_bytes() for position in range(len(jobs))]


def issue_eddsa_leaf(pki: DemoPki, directory: Path, curve: str, now: datetime) -> Signer:
    """An Ed25519 or Ed448 leaf from the demo issuing CA (RFC 8410 keys)."""
    key = (
        ed25519.Ed25519PrivateKey.generate()
        if curve == "ed25519"
        else ed448.Ed448PrivateKey.generate()
    )
    ca_cert = pki.issuing_ca.certificate()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, "IDCES-87654321X"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"TEST {curve.upper()}"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
        .sign(pki.issuing_ca.private_key(), hashes.SHA256())
    )
    return Signer.saved(key, certificate, directory, curve)  # type: ignore[arg-type]


# --- re-encodings and tampering ------------------------------------------------------------------


def signature_value(document: bytes, position: int = 0) -> bytes:
    value: bytes = cms.ContentInfo.load(document)["content"]["signer_infos"][position][
        "signature"
    ].native
    return value


def _with_certificate(document: bytes, encoded: bytes) -> bytes:
    """``document`` with its first certificate replaced by ``encoded`` (kept as is)."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    others = [choice.chosen for choice in signed_data["certificates"]][1:]
    replacement = asn1_x509.Certificate.load(encoded)
    signed_data["certificates"] = cms.CertificateSet(
        [cms.CertificateChoices({"certificate": replacement})]
        + [cms.CertificateChoices({"certificate": other}) for other in others]
    )
    rebuilt: bytes = content_info.dump()
    assert encoded in rebuilt
    return rebuilt


def _der_header(contents_length: int) -> bytes:
    size = contents_length.to_bytes((contents_length.bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(size)]) + size


def ber_certificate(document: bytes) -> bytes:
    """The signer's certificate with a non-minimal (BER, not DER) length: one octet more."""
    certificate = cms.ContentInfo.load(document)["content"]["certificates"][0].chosen.dump()
    contents = asn1_x509.Certificate.load(certificate).contents
    header = _der_header(len(contents))
    ber = header[:1] + bytes([header[1] + 1, 0]) + header[2:] + contents
    return _with_certificate(document, ber)


def certificate_with_trailing_data(document: bytes) -> bytes:
    """The signer's certificate with a NULL after its signature value, inside its SEQUENCE."""
    certificate = cms.ContentInfo.load(document)["content"]["certificates"][0].chosen.dump()
    contents = asn1_x509.Certificate.load(certificate).contents + b"\x05\x00"
    return _with_certificate(document, _der_header(len(contents)) + contents)


def _tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + contents


def replace_timestamp_token(document: bytes, token: bytes) -> bytes:
    """The first signer's signature-time-stamp token replaced by ``token`` (raw octets)."""
    content_info = cms.ContentInfo.load(document)
    signer_info = content_info["content"]["signer_infos"][0]
    attributes = []
    for attribute in signer_info["unsigned_attrs"]:
        if attribute["type"].native == "signature_time_stamp_token":
            oid = core.ObjectIdentifier("1.2.840.113549.1.9.16.2.14").dump()
            attribute = cms.CMSAttribute.load(_tlv(0x30, oid + _tlv(0x31, token)))
        attributes.append(attribute)
    signer_info["unsigned_attrs"] = cms.CMSAttributes(attributes)
    rebuilt: bytes = content_info.dump()
    return rebuilt


def timestamp_token(document: bytes) -> bytes:
    for attribute in cms.ContentInfo.load(document)["content"]["signer_infos"][0]["unsigned_attrs"]:
        if attribute["type"].native == "signature_time_stamp_token":
            token: bytes = attribute["values"][0].dump()
            return token
    raise AssertionError("no signature time-stamp")
