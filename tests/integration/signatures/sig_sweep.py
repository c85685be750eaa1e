"""Real-world variations of peer-made signatures (issues 12 and 13, the held-out corpus): what
other tools and transports do to a signature that changes nothing a verifier should care about,
and what breaks it.

Each :class:`Case` is a document made by a peer we did not write (xmlsec1, ``openssl cms``,
pyHanko, qpdf) and then varied the way real files are: re-encoded (UTF-16, BOMs, CRLF line
endings, BER, PEM/Base64 armour), with certificates reordered, duplicated or left out, with
unsigned parts added or changed, incrementally updated (annotations, form filling, a second
signature), rewritten (linearised, object streams), packed in containers with extra entries.
Its ``expect`` is the class of verdict a validator must give, which the sweep asserts both with
the signer's CA trusted and with a foreign trust store (real signatures chain to CAs we do not
know):

- ``VALID``: mathematically valid. Every signature TOTAL_PASSED when the CA is trusted;
  INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND (never TOTAL_FAILED) when it is not.
- ``INDETERMINATE``: nothing is proven wrong, but something needed is missing (the signing
  certificate): INDETERMINATE whichever trust.
- ``TAMPERED``: the signed bytes changed. A signature is TOTAL_FAILED with a HASH_FAILURE or
  SIG_CRYPTO_FAILURE finding whichever trust, and none is TOTAL_PASSED.
- ``UNSUPPORTED``: a feature the engine does not handle. No TOTAL_PASSED, and a finding that
  names it (``reason``), with FORMAT_FAILURE or INDETERMINATE.
"""

from __future__ import annotations

import base64
import codecs
import io
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from sig_vectors import Signer


class Expect(Enum):
    VALID = "valid"
    INDETERMINATE = "indeterminate"
    TAMPERED = "tampered"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Case:
    name: str
    document: bytes
    expect: Expect
    detached: bytes | None = None
    reason: str = ""
    """For UNSUPPORTED: a word every verdict's findings must name."""
    signatures: int = 1
    """How many signatures the report must hold (every signature reported)."""


# --- XML variations ------------------------------------------------------------------------------


def with_declaration(document: bytes, encoding: str) -> bytes:
    """``document`` (UTF-8, with or without a declaration) re-encoded in ``encoding`` with a
    declaration naming it: what a transport or an editor does to a signed XML file."""
    text = document.decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{text}'.encode(encoding)


def utf16_with_bom(document: bytes) -> bytes:
    return codecs.BOM_UTF16_LE + with_declaration(document, "UTF-16LE")


def der_ecdsa_value(document: bytes) -> bytes:
    """The (first) ECDSA SignatureValue re-written as a DER SEQUENCE of r and s."""
    match = re.search(rb"<ds:SignatureValue>(.*?)</ds:SignatureValue>", document, re.DOTALL)
    assert match is not None
    raw = base64.b64decode(b"".join(match.group(1).split()))
    half = len(raw) // 2
    der = encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )
    return document.replace(match.group(1), base64.b64encode(der), 1)


def utf8_bom(document: bytes) -> bytes:
    return codecs.BOM_UTF8 + document


def crlf(document: bytes) -> bytes:
    return document.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def prolog_comments(document: bytes) -> bytes:
    """Comments before the root and whitespace after it: outside what any C14N without comments
    outputs, so a signature over the document (``URI=""``) still holds."""
    return _prolog(document, b"\n<!-- exported by a DMS -->\n<!-- second comment -->\n")


def prolog_instruction(document: bytes) -> bytes:
    """A processing instruction before the root: C14N outputs it (C14N 1.0 §2.3), so it is
    part of what ``URI=""`` signs -- added after signing, the reference no longer holds."""
    return _prolog(document, b'\n<?xml-stylesheet type="text/xsl" href="view.xsl"?>\n')


def _prolog(document: bytes, addition: bytes) -> bytes:
    text = document
    declaration = b""
    if text.startswith(b"<?xml"):
        end = text.index(b"?>") + 2
        declaration, text = text[:end], text[end:]
    return declaration + addition + text.strip() + b"\n\n"


def insert_before(document: bytes, closing: bytes, addition: bytes) -> bytes:
    position = document.rindex(closing)
    return document[:position] + addition + document[position:]


def pem_body(certificate: object) -> bytes:
    der = certificate.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    return base64.b64encode(der)


def key_info_certificates(document: bytes, certificates: list[bytes], prefix: bytes) -> bytes:
    """The (unsigned) KeyInfo's X509Data holding exactly ``certificates`` (Base64), in order."""
    start = document.index(b"<" + prefix + b"X509Data>")
    end = document.index(b"</" + prefix + b"X509Data>") + len(b"</" + prefix + b"X509Data>")
    inner = b"".join(
        b"<" + prefix + b"X509Certificate>" + cert + b"</" + prefix + b"X509Certificate>"
        for cert in certificates
    )
    return (
        document[:start] + b"<" + prefix + b"X509Data>" + inner + b"</" + prefix + b"X509Data>"
        + document[end:]
    )


# --- CMS variations ------------------------------------------------------------------------------


def _certificates(document: bytes) -> list[bytes]:
    signed_data = cms.ContentInfo.load(document)["content"]
    return [choice.chosen.dump() for choice in signed_data["certificates"]]


def with_certificates(document: bytes, certificates: list[bytes]) -> bytes:
    """The SignedData's ``certificates`` exactly these, in this order (a SET OF written as the
    signer wrote it, not sorted: several tools do)."""
    content_info = cms.ContentInfo.load(document)
    signed_data = content_info["content"]
    choices = [
        cms.CertificateChoices({"certificate": asn1_x509.Certificate.load(c)})
        for c in certificates
    ]
    signed_data["certificates"] = cms.CertificateSet(choices)
    rebuilt: bytes = content_info.dump(force=True)
    return rebuilt


def reversed_certificates(document: bytes) -> bytes:
    return with_certificates(document, list(reversed(_certificates(document))))


def duplicated_certificates(document: bytes) -> bytes:
    held = _certificates(document)
    return with_certificates(document, held + held)


def without_certificates(document: bytes) -> bytes:
    content_info = cms.ContentInfo.load(document)
    del content_info["content"]["certificates"]
    rebuilt: bytes = content_info.dump(force=True)
    return rebuilt


def pem_armoured(document: bytes, label: str = "PKCS7") -> bytes:
    body = base64.encodebytes(document).replace(b"\n", b"\r\n")
    return f"-----BEGIN {label}-----\r\n".encode() + body + f"-----END {label}-----\r\n".encode()


def base64_text(document: bytes) -> bytes:
    """A ``.p7s`` saved as bare Base64 text (no PEM lines), as some web signers download it."""
    return base64.encodebytes(document)


def zero_padded(document: bytes, count: int = 64) -> bytes:
    return document + b"\x00" * count


# --- PDF variations ------------------------------------------------------------------------------


def after_eof(pdf: bytes, tail: bytes) -> bytes:
    return pdf + tail


# --- containers ----------------------------------------------------------------------------------

ASIC_S = b"application/vnd.etsi.asic-s+zip"
ASIC_E = b"application/vnd.etsi.asic-e+zip"


def zip_of(
    entries: list[tuple[str, bytes]],
    *,
    mimetype: bytes | None,
    mimetype_deflated: bool = False,
    directories: bool = False,
    comment: bytes = b"",
    stored: bool = False,
) -> bytes:
    """A ZIP as tools write them: ``mimetype`` first (stored, or deflated as careless zippers
    do), optional explicit directory entries (``META-INF/``), an archive comment, every entry
    deflated or (``stored``) not."""
    output = io.BytesIO()
    compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(output, "w", compression=compression) as archive:
        if mimetype is not None:
            archive.writestr(
                zipfile.ZipInfo("mimetype"),
                mimetype,
                zipfile.ZIP_DEFLATED if mimetype_deflated else zipfile.ZIP_STORED,
            )
        written: set[str] = set()
        for name, data in entries:
            if directories and "/" in name:
                folder = name.rsplit("/", 1)[0] + "/"
                if folder not in written:
                    archive.writestr(zipfile.ZipInfo(folder), b"")
                    written.add(folder)
            archive.writestr(name, data)
        archive.comment = comment
    return output.getvalue()


def odf_manifest(entries: list[tuple[str, str]], container_type: bytes) -> bytes:
    """META-INF/manifest.xml (OpenDocument), which ASiC-E XAdES containers from DigiDoc and
    others carry (EN 319 162-1 A.1)."""
    files = "".join(
        f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="{media}"/>'
        for name, media in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{container_type.decode()}"/>'
        f"{files}</manifest:manifest>"
    ).encode()


Variation = Callable[[bytes], bytes]


# --- certificates with extensions we do not know -------------------------------------------------


def leaf_with_extension(
    issuer_key: object,
    issuer: x509.Certificate,
    directory: Path,
    name: str,
    *,
    critical: bool,
    not_before: datetime,
) -> Signer:
    """An end-entity certificate (RSA) carrying a private extension nobody knows, critical or
    not."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TEST {name}")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(UNKNOWN_EXTENSION, b"\x0c\x0bvendor data"),
            critical=critical,
        )
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Signer.saved(key, certificate, directory, name)


UNKNOWN_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")
UNKNOWN_ATTRIBUTE = "1.3.6.1.4.1.99999.7"


def openssl_plain_cms(content: bytes, key_path: Path, cert_path: Path, *options: str) -> bytes:
    """``openssl cms -sign`` without ``-cades`` (``-noattr`` needs that): attached, DER."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "in.bin").write_bytes(content)
        subprocess.run(
            ["openssl", "cms", "-sign", "-binary", "-nodetach", "-in", str(folder / "in.bin"),
             "-signer", str(cert_path), "-inkey", str(key_path), "-outform", "DER",
             "-out", str(folder / "out.p7s"), *options],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "out.p7s").read_bytes()


ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"


def in_xades_signatures(signature: str) -> bytes:
    """The ``asic:XAdESSignatures`` root that EN 319 162-1 §A.5 puts around the signatures of
    an ASiC container's ``signatures*.xml``."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><asic:XAdESSignatures xmlns:asic="{ASIC_NS}">'
        f"{signature}</asic:XAdESSignatures>"
    ).encode()


def xmlsec_sign_ids(template: bytes, signer: Signer, id_attrs: list[tuple[str, str]]) -> bytes:
    """``xmlsec1 --sign`` declaring ID attributes other than ``Id`` ((attribute, "ns:element")):
    ``ID`` (SAML, several e-invoicing formats) or ``id``."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "template.xml").write_bytes(template)
        command = ["xmlsec1", "--sign", "--privkey-pem", f"{signer.key_path},{signer.cert_path}",
                   "--output", str(folder / "signed.xml")]  # fmt: skip
        for attribute, element in id_attrs:
            command += [f"--id-attr:{attribute}", element]
        subprocess.run([*command, str(folder / "template.xml")], check=True, capture_output=True)
        return (folder / "signed.xml").read_bytes()
