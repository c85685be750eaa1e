"""Test vectors for the signature engine: our signers, independent signers, tampering, test PKI.

Independent software (we did not write it): Debian's ``xmlsec1`` CLI (XMLDSig/XAdES from a
template), ``openssl cms`` (CMS/CAdES), ``openssl ts`` (RFC 3161 tokens) and pyHanko's own
``PdfSigner.sign_pdf`` (PAdES). Helpers here only build inputs; the tests assert.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from gateway import namespaces as ns
from gateway.domain.clock import FixedClock
from gateway.pki import Credential, DemoPki
from gateway.signatures import (
    LocalTimeStampAuthority,
    SignatureReport,
    TimeStampAuthority,
    ValidationReport,
    sign_cades,
    sign_pades,
    sign_xades_enveloped,
)
from gateway.trust.certificates import TrustStore

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

SHA1_URI = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256_URI = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256_URI = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
XADES_SP_ID_ATTR = f"{ns.XADES}:SignedProperties"

RECEIPT_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rcpt:Receipt xmlns:rcpt="urn:notess:gateway:receipt:v1" Id="receipt-1">\n'
    b"  <rcpt:Decision>ACCEPT</rcpt:Decision>\n"
    b"  <rcpt:Item><rcpt:Notification>N-2026-000001</rcpt:Notification>"
    b"<rcpt:Amount>100.00</rcpt:Amount></rcpt:Item>\n"
    b"</rcpt:Receipt>\n"
)


# --- test PKI extras -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A key and certificate (and the files xmlsec1/openssl read)."""

    key: PrivateKey
    certificate: x509.Certificate
    key_path: Path
    cert_path: Path

    @classmethod
    def saved(
        cls, key: PrivateKey, certificate: x509.Certificate, directory: Path, name: str
    ) -> Signer:
        """``key`` and ``certificate`` written to ``directory`` as ``NAME.key.pem`` (PKCS#8) and
        ``NAME.cert.pem``, for the peers that read files."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / f"{name}.key.pem", directory / f"{name}.cert.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key, certificate, key_path, cert_path)

    @classmethod
    def from_credential(cls, credential: Credential) -> Signer:
        return cls(
            credential.private_key(),
            credential.certificate(),
            credential.key_path,
            credential.cert_path,
        )


def issue_leaf(
    pki: DemoPki,
    directory: Path,
    name: str,
    *,
    not_before: datetime,
    not_after: datetime,
    eku: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    key_size: int = 2048,
    ca: Credential | None = None,
) -> Signer:
    """A leaf from the demo issuing CA (or ``ca``) with a chosen validity (the CA key is in
    ca/issuing/) and RSA key size."""
    ca = ca or pki.issuing_ca
    ca_key = ca.private_key()
    ca_cert = ca.certificate()
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "IDCES-12345678Z"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"TEST {name.upper()}"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return Signer.saved(key, certificate, directory, name)


def make_crl(
    ca: Credential,
    revoked: Sequence[tuple[int, datetime]],
    *,
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A CRL signed by a demo CA with chosen revocation dates."""
    key = ca.private_key()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate().subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(key, hashes.SHA256())


def trust_store(pki: DemoPki, crls: Sequence[x509.CertificateRevocationList]) -> TrustStore:
    certificates = [
        cert
        for path in sorted(pki.trust_dir.glob("*.pem"))
        for cert in x509.load_pem_x509_certificates(path.read_bytes())
    ]
    return TrustStore(certificates, crls)


def local_tsa(pki: DemoPki, at: datetime) -> LocalTimeStampAuthority:
    return LocalTimeStampAuthority(pki.tsa.private_key(), pki.tsa.certificate(), FixedClock(at))


# --- documents -----------------------------------------------------------------------------------


def minimal_pdf(text: bytes = b"Hello PDF", padding_bytes: int = 0) -> bytes:
    """A one-page PDF written by pyHanko's writer; ``padding_bytes`` adds an unused stream."""
    writer = PdfFileWriter()
    content = generic.StreamObject(stream_data=b"BT /F1 12 Tf 20 100 Td (" + text + b") Tj ET")
    font = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/F1"): writer.add_object(font)}
            )
        }
    )
    page = PageObject(
        contents=writer.add_object(content),
        media_box=generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 300, 200)]),
        resources=resources,
    )
    writer.insert_page(page)
    if padding_bytes:
        blob = writer.add_object(generic.StreamObject(stream_data=b"%" * padding_bytes))
        writer.root[generic.NameObject("/NotessPadding")] = blob
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def modify_pdf_page(pdf: bytes, text: bytes = b"Forged") -> bytes:
    """An incremental update replacing the first page's content (not a permitted change)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    page[generic.NameObject("/Contents")] = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 12 Tf 20 100 Td (" + text + b") Tj ET")
    )
    writer.mark_update(page_ref)
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


# --- our own signers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    document: bytes
    detached: bytes | None = None


def own_sign(
    kind: str,
    signer: Signer,
    *,
    at: datetime,
    tsa: TimeStampAuthority | None = None,
    detached: bool = False,
) -> Vector:
    clock = FixedClock(at)
    if kind == "xades":
        return Vector(
            sign_xades_enveloped(RECEIPT_XML, signer.key, signer.certificate, clock=clock, tsa=tsa)
        )
    if kind == "cades":
        content = b"receipt content " * 64
        signed = sign_cades(
            content, signer.key, signer.certificate, detached=detached, clock=clock, tsa=tsa
        )
        return Vector(signed, content if detached else None)
    if kind == "pades":
        return Vector(
            sign_pades(minimal_pdf(), signer.key, signer.certificate, clock=clock, tsa=tsa)
        )
    raise ValueError(kind)


# --- tampering -----------------------------------------------------------------------------------


def flip_byte(data: bytes, needle: bytes, offset: int | None = None) -> bytes:
    """Change one byte inside the (unique) occurrence of ``needle``."""
    position = data.find(needle)
    assert position >= 0 and data.find(needle, position + 1) < 0, "needle must occur once"
    target = position + (len(needle) // 2 if offset is None else offset)
    return data[:target] + bytes([data[target] ^ 0x01]) + data[target + 1 :]


def tamper_content(kind: str, vector: Vector) -> Vector:
    if kind == "xades":
        return Vector(vector.document.replace(b">100.00<", b">900.00<"), vector.detached)
    if kind == "cades":
        if vector.detached is not None:
            return Vector(vector.document, vector.detached.replace(b"receipt", b"deceipt", 1))
        return Vector(flip_byte(vector.document, b"receipt content " * 64))
    if kind == "pades":
        return Vector(vector.document.replace(b"(Hello PDF)", b"(Jello PDF)"))
    raise ValueError(kind)


def _cms_signature_value(der: bytes) -> bytes:
    value: bytes = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
    return value


def tamper_signature(kind: str, vector: Vector) -> Vector:
    if kind == "xades":
        root = etree.fromstring(vector.document)
        element = root.find(f".//{{{ns.DS}}}SignatureValue")
        assert element is not None
        raw = bytearray(base64.b64decode(element.text or ""))
        raw[len(raw) // 2] ^= 0x01
        element.text = base64.b64encode(bytes(raw)).decode()
        return Vector(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))
    if kind == "cades":
        return Vector(
            flip_byte(vector.document, _cms_signature_value(vector.document)), vector.detached
        )
    if kind == "pades":
        from pyhanko.pdf_utils.reader import PdfFileReader

        signature = PdfFileReader(BytesIO(vector.document)).embedded_signatures[0]
        value = signature.signer_info["signature"].native.hex().encode()
        document = vector.document
        position = document.lower().find(value)
        assert position > 0
        middle = position + len(value) // 2
        replacement = b"0" if document[middle : middle + 1] != b"0" else b"1"
        return Vector(document[:middle] + replacement + document[middle + 1 :])
    raise ValueError(kind)


# --- xmlsec1 (independent XMLDSig / XAdES) -------------------------------------------------------


def xades_signed_properties(
    signature_id: str,
    certificate: x509.Certificate,
    *,
    signing_time: datetime,
    cert_digest_of: x509.Certificate | None = None,
    properties_id: str | None = None,
    c14n: str = EXC_C14N,
) -> str:
    """A QualifyingProperties template (SigningCertificateV2 over ``cert_digest_of``)."""
    digest_source = (cert_digest_of or certificate).public_bytes(serialization.Encoding.DER)
    cert_digest = base64.b64encode(hashlib.sha256(digest_source).digest()).decode()
    properties_id = properties_id or f"{signature_id}-sp"
    return (
        f'<ds:Object><xades:QualifyingProperties xmlns:xades="{ns.XADES}" Target="#{signature_id}">'
        f'<xades:SignedProperties Id="{properties_id}"><xades:SignedSignatureProperties>'
        f"<xades:SigningTime>{signing_time.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}</xades:SigningTime>"
        "<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
        f'<ds:DigestMethod Algorithm="{SHA256_URI}"/><ds:DigestValue>{cert_digest}</ds:DigestValue>'
        "</xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
        "</xades:SignedSignatureProperties></xades:SignedProperties>"
        "</xades:QualifyingProperties></ds:Object>"
    )


def signature_template(
    *,
    signature_id: str = "sig-1",
    references: Sequence[tuple[str, Sequence[str], str | None]] = (
        ("", (ENVELOPED, EXC_C14N), None),
    ),
    objects: str = "",
    c14n: str = EXC_C14N,
    signature_method: str = RSA_SHA256_URI,
    digest_method: str = SHA256_URI,
) -> str:
    """A ``ds:Signature`` template for xmlsec1: references are (URI, transforms, Type)."""
    refs = []
    for uri, transforms, type_ in references:
        transform_xml = "".join(f'<ds:Transform Algorithm="{t}"/>' for t in transforms)
        type_attr = f' Type="{type_}"' if type_ else ""
        refs.append(
            f'<ds:Reference URI="{uri}"{type_attr}>'
            + (f"<ds:Transforms>{transform_xml}</ds:Transforms>" if transforms else "")
            + f'<ds:DigestMethod Algorithm="{digest_method}"/><ds:DigestValue/></ds:Reference>'
        )
    return (
        f'<ds:Signature xmlns:ds="{ns.DS}" Id="{signature_id}"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{c14n}"/>'
        f'<ds:SignatureMethod Algorithm="{signature_method}"/>'
        + "".join(refs)
        + "</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>"
        + objects
        + "</ds:Signature>"
    )


def xades_enveloped_template(
    signer: Signer,
    *,
    signing_time: datetime,
    sp_reference: bool = True,
    cert_digest_of: x509.Certificate | None = None,
    digest_method: str = SHA256_URI,
    c14n: str = EXC_C14N,
    document_uri: str = "",
    extra_objects: str = "",
) -> bytes:
    """The receipt with an enveloped XAdES template appended to its root."""
    references: list[tuple[str, Sequence[str], str | None]] = [
        (document_uri, (ENVELOPED, c14n), None)
    ]
    if sp_reference:
        references.append(("#sig-1-sp", (c14n,), SIGNED_PROPERTIES_TYPE))
    key_is_ec = isinstance(signer.key, ec.EllipticCurvePrivateKey)
    template = signature_template(
        references=references,
        objects=xades_signed_properties(
            "sig-1", signer.certificate, signing_time=signing_time, cert_digest_of=cert_digest_of
        )
        + extra_objects,
        c14n=c14n,
        signature_method=ECDSA_SHA256_URI if key_is_ec else RSA_SHA256_URI,
        digest_method=digest_method,
    )
    return RECEIPT_XML.replace(b"</rcpt:Receipt>", template.encode() + b"</rcpt:Receipt>")


def xmlsec_sign(
    template: bytes,
    signer: Signer,
    *,
    id_attrs: Sequence[str] = (XADES_SP_ID_ATTR,),
    url_map: dict[str, bytes] | None = None,
    node_id: str | None = None,
    beside: dict[str, bytes] | None = None,
) -> bytes:
    """Sign a template with the ``xmlsec1`` CLI (Debian's xmlsec1, OpenSSL backend); with
    ``node_id``, the ``Signature`` with that Id (the others are left as they are). ``beside``:
    files written next to the template (relative path -> content), which xmlsec1 (run in that
    folder) reads for relative reference URIs."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "template.xml").write_bytes(template)
        for relative, content in (beside or {}).items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_bytes(content)
        command = [
            "xmlsec1",
            "--sign",
            "--privkey-pem",
            f"{signer.key_path},{signer.cert_path}",
            "--output",
            str(folder / "signed.xml"),
        ]
        for id_attr in id_attrs:
            command += ["--id-attr:Id", id_attr]
        if node_id is not None:
            command += ["--node-id", node_id]
        for position, (url, content) in enumerate((url_map or {}).items()):
            path = folder / f"detached-{position}"
            path.write_bytes(content)
            command += [f"--url-map:{url}", str(path)]
        command.append(str(folder / "template.xml"))
        subprocess.run(command, check=True, capture_output=True, cwd=folder)
        return (folder / "signed.xml").read_bytes()


# --- Apache Santuario (independent XMLDSig in Java) ----------------------------------------------

JAVA_LIBRARIES = Path("/usr/share/java")
SANTUARIO_JAR = JAVA_LIBRARIES / "xmlsec.jar"
"""Debian's libxml-security-java: Apache Santuario, with its JSR 105 provider."""
SANTUARIO_SIGNER = Path(__file__).parent / "peers" / "SantuarioSign.java"


def santuario_sign_all(signer: Signer, directory: Path) -> dict[str, bytes]:
    """Run ``peers/SantuarioSign.java`` (one JVM, source-file mode) and read what it wrote:
    scenario name -> signed document."""
    directory.mkdir(parents=True, exist_ok=True)
    classpath = ":".join(
        str(JAVA_LIBRARIES / jar) for jar in ("xmlsec.jar", "slf4j-api.jar", "slf4j-nop.jar")
    )
    subprocess.run(
        ["java", "-cp", classpath, str(SANTUARIO_SIGNER), str(signer.key_path),
         str(signer.cert_path), str(directory)],
        check=True, capture_output=True,
    )  # fmt: skip
    return {path.stem: path.read_bytes() for path in sorted(directory.glob("*.xml"))}


# --- openssl (independent CMS and time-stamps) ---------------------------------------------------


def openssl_cms_sign(
    content: bytes,
    signer: Signer,
    *,
    detached: bool,
    md: str = "sha256",
    cades: bool = True,
    chain: Sequence[Path] = (),
) -> bytes:
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "content.bin").write_bytes(content)
        command = [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-md",
            md,
            "-in",
            str(folder / "content.bin"),
            "-signer",
            str(signer.cert_path),
            "-inkey",
            str(signer.key_path),
            "-outform",
            "DER",
            "-out",
            str(folder / "signature.p7s"),
        ]
        if cades:
            command.append("-cades")
        if not detached:
            command.append("-nodetach")
        if chain:
            (folder / "chain.pem").write_bytes(b"".join(path.read_bytes() for path in chain))
            command += ["-certfile", str(folder / "chain.pem")]
        subprocess.run(command, check=True, capture_output=True)
        return (folder / "signature.p7s").read_bytes()


_TS_CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = {cert}
signer_key = {key}
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class OpenSslTsa:
    """A TimeStampAuthority backed by ``openssl ts -reply`` (genTime = the system clock)."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def timestamp(self, digest: bytes, hash_algorithm: str) -> bytes:
        with tempfile.TemporaryDirectory() as work:
            folder = Path(work)
            (folder / "serial").write_text("01\n")
            (folder / "tsa.cnf").write_text(
                _TS_CONFIG.format(
                    dir=folder, cert=self._credential.cert_path, key=self._credential.key_path
                )
            )
            subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-query",
                    "-digest",
                    digest.hex(),
                    f"-{hash_algorithm}",
                    "-cert",
                    "-no_nonce",
                    "-out",
                    str(folder / "query.tsq"),
                ],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(folder / "tsa.cnf"),
                    "-queryfile",
                    str(folder / "query.tsq"),
                    "-token_out",
                    "-out",
                    str(folder / "token.der"),
                ],
                check=True,
                capture_output=True,
            )
            return (folder / "token.der").read_bytes()


# --- report helpers ------------------------------------------------------------------------------


def only(report: ValidationReport) -> SignatureReport:
    assert len(report.signatures) == 1, report.to_json(indent=1)
    return report.signatures[0]


def describe(report: ValidationReport) -> str:
    return report.to_json(indent=1)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def days(count: float) -> timedelta:
    return timedelta(days=count)


def xmlsec1_verify(
    pki: DemoPki, signed: Path, at: datetime, *, id_attrs: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``xmlsec1 --verify`` of an enveloped XAdES file against the demo PKI, at ``at``, with the
    XAdES SignedProperties Id declared (and ``id_attrs``: more ``ns:Element`` names whose ``Id``
    attributes are IDs) -- the independent check of our own signatures and of peers' vectors."""
    extra = [argument for id_attr in id_attrs for argument in ("--id-attr:Id", id_attr)]
    return subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--trusted-pem",
            str(pki.root_ca.cert_path),
            "--untrusted-pem",
            str(pki.issuing_ca.cert_path),
            "--id-attr:Id",
            XADES_SP_ID_ATTR,
            *extra,
            "--verification-gmt-time",
            at.strftime("%Y-%m-%d %H:%M:%S"),
            str(signed),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
