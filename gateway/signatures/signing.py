"""Creating the server's own signatures: XAdES, CAdES and PAdES, baseline B (T with a TSA).

* :func:`sign_xades_enveloped` -- XAdES baseline B enveloped (ETSI EN 319 132-1): ``URI=""`` with
  the enveloped-signature and exclusive-c14n transforms, RSA-SHA256 (ECDSA-SHA256 for an EC key),
  SHA-256 digests, the certificate (and chain) in ``KeyInfo/X509Data``, SignedProperties holding
  ``SigningTime`` (whole seconds, UTC), ``SigningCertificateV2`` (SHA-256 digest and DER
  ``IssuerSerialV2``) and a ``DataObjectFormat`` for the document; with a TSA, a
  ``SignatureTimeStamp`` over the exclusive canonical ``ds:SignatureValue`` (level T).
  Digests are computed with the validator's own reference processing (``xmldsig``), so what is
  signed is exactly what is later verified.
* :func:`sign_cades` -- CAdES baseline B attached or detached (``cms_signing``).
* :func:`sign_pades` -- PAdES baseline B (``ETSI.CAdES.detached``) by pyHanko, with the signing
  time from the injected clock; with a TSA, a signature time-stamp (B-T).
  :func:`add_document_timestamp` appends a PAdES document time-stamp.

The clock is the official one (``gateway.domain.clock``); nothing here reads the system time.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from io import BytesIO
from typing import Any

from asn1crypto import cms, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from gateway import namespaces as ns
from gateway.domain.clock import Clock
from gateway.signatures import c14n, crypto
from gateway.signatures.cms_signing import (
    PrivateKey,
    asn1_certificate,
    build_signed_data,
    sign_octets,
)
from gateway.signatures.transforms import EXC_C14N, C14nMethod
from gateway.signatures.tsa import TimeStampAuthority
from gateway.signatures.xml_references import SIGNED_PROPERTIES_TYPE
from gateway.signatures.xmldsig import canonical_digest, canonical_octets
from gateway.xmlsafe import parse_xml
from gateway.xmlsig.names import ENVELOPED_SIGNATURE

_EXC = C14nMethod(EXC_C14N, exclusive=True, with_comments=False)
_SHA256_URI = crypto.XML_DIGEST_URIS["sha256"]
_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def _ds(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, ns.qname(ns.DS, local), attributes)


def _xades(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, ns.qname(ns.XADES, local), attributes)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# Cached: the server signs every receipt with one certificate, and a RED agent's batch across
# 200 companies yields 200 receipts in one request (about 0.7 ms each to re-encode otherwise).
@functools.lru_cache(maxsize=8)
def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@functools.lru_cache(maxsize=8)
def _issuer_serial_v2(certificate: x509.Certificate) -> bytes:
    asn1_cert = asn1_certificate(certificate)
    value = tsp.IssuerSerial(
        {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=asn1_cert.issuer)],
            "serial_number": asn1_cert.serial_number,
        }
    )
    dumped: bytes = value.dump()
    return dumped


def _reference(
    signed_info: etree._Element, uri: str, transforms: Sequence[str], **attributes: str
) -> etree._Element:
    reference = _ds(signed_info, "Reference", URI=uri, **attributes)
    container = _ds(reference, "Transforms")
    for algorithm in transforms:
        _ds(container, "Transform", Algorithm=algorithm)
    _ds(reference, "DigestMethod", Algorithm=_SHA256_URI)
    return _ds(reference, "DigestValue")


def sign_xades_enveloped(
    xml: etree._Element | bytes,
    key: PrivateKey,
    cert: x509.Certificate,
    *,
    chain: Sequence[x509.Certificate] = (),
    clock: Clock,
    tsa: TimeStampAuthority | None = None,
) -> bytes:
    """Sign ``xml`` (bytes, parsed with the hardened parser, or an element, copied) with an
    enveloped XAdES-BES / baseline-B signature appended to its root; returns UTF-8 bytes."""
    root = parse_xml(xml) if isinstance(xml, bytes) else copy.deepcopy(xml)
    signing_time = clock.now().astimezone(UTC).replace(microsecond=0)
    signature_id = f"Signature-{uuid.uuid4().hex}"
    properties_id = f"{signature_id}-SignedProperties"
    document_reference_id = f"{signature_id}-Reference-Document"

    signature = etree.SubElement(
        root, ns.qname(ns.DS, "Signature"), {"Id": signature_id}, nsmap={"ds": ns.DS}
    )
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N)
    algorithm = _RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else _ECDSA_SHA256
    _ds(signed_info, "SignatureMethod", Algorithm=algorithm)
    document_digest = _reference(
        signed_info, "", (ENVELOPED_SIGNATURE, EXC_C14N), Id=document_reference_id
    )
    properties_digest = _reference(
        signed_info, f"#{properties_id}", (EXC_C14N,), Type=SIGNED_PROPERTIES_TYPE
    )
    signature_value = _ds(signature, "SignatureValue", Id=f"{signature_id}-SignatureValue")
    x509_data = _ds(_ds(signature, "KeyInfo"), "X509Data")
    for member in (cert, *chain):
        _ds(x509_data, "X509Certificate").text = _b64(_der(member))

    qualifying = etree.SubElement(
        _ds(signature, "Object"),
        ns.qname(ns.XADES, "QualifyingProperties"),
        {"Target": f"#{signature_id}"},
        nsmap={"xades": ns.XADES},
    )
    signed_properties = _xades(qualifying, "SignedProperties", Id=properties_id)
    signature_properties = _xades(signed_properties, "SignedSignatureProperties")
    _xades(signature_properties, "SigningTime").text = signing_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    cert_element = _xades(_xades(signature_properties, "SigningCertificateV2"), "Cert")
    cert_digest = _xades(cert_element, "CertDigest")
    _ds(cert_digest, "DigestMethod", Algorithm=_SHA256_URI)
    _ds(cert_digest, "DigestValue").text = _b64(crypto.digest("sha256", _der(cert)))
    _xades(cert_element, "IssuerSerialV2").text = _b64(_issuer_serial_v2(cert))
    data_object = _xades(
        _xades(signed_properties, "SignedDataObjectProperties"),
        "DataObjectFormat",
        ObjectReference=f"#{document_reference_id}",
    )
    _xades(data_object, "MimeType").text = "text/xml"

    document_digest.text = _b64(
        canonical_digest(
            root.getroottree(),
            _EXC,
            with_comments=False,
            hash_name="sha256",
            excluding=signature,
            text_heavy=isinstance(xml, bytes) and c14n.worth_walking(root, len(xml)),
        )
    )
    properties_digest.text = _b64(
        crypto.digest("sha256", canonical_octets(signed_properties, _EXC, with_comments=False))
    )
    value, _ = _sign_xml(key, canonical_octets(signed_info, _EXC, with_comments=False))
    signature_value.text = _b64(value)
    if tsa is not None:
        stamp = _xades(
            _xades(_xades(qualifying, "UnsignedProperties"), "UnsignedSignatureProperties"),
            "SignatureTimeStamp",
            Id=f"{signature_id}-SignatureTimeStamp",
        )
        _ds(stamp, "CanonicalizationMethod", Algorithm=EXC_C14N)
        imprint = crypto.digest(
            "sha256", canonical_octets(signature_value, _EXC, with_comments=False)
        )
        _xades(stamp, "EncapsulatedTimeStamp").text = _b64(tsa.timestamp(imprint, "sha256"))
    serialised: bytes = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    return serialised


def _sign_xml(key: PrivateKey, octets: bytes) -> tuple[bytes, str]:
    """XMLDSig signature value: PKCS#1 v1.5, or ECDSA as r || s (XMLDSig 1.1 §6.4.3)."""
    value, algorithm = sign_octets(key, octets)
    if isinstance(key, rsa.RSAPrivateKey):
        return value, algorithm
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(value)
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big"), algorithm


def sign_cades(
    content: bytes,
    key: PrivateKey,
    cert: x509.Certificate,
    *,
    detached: bool,
    clock: Clock,
    tsa: TimeStampAuthority | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """A DER CAdES baseline-B SignedData over ``content`` (B-T with ``tsa``)."""
    return build_signed_data(
        content_type="data",
        content=content,
        attach=not detached,
        key=key,
        certificate=cert,
        chain=chain,
        signing_time=clock.now(),
        tsa=tsa,
    )


class _TimeStamper(TimeStamper):
    """pyHanko's time-stamper interface over a :class:`TimeStampAuthority`."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        super().__init__(include_nonce=False)  # type: ignore[no-untyped-call]  # pyHanko seam
        self._tsa = tsa

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        return cms.ContentInfo.load(self._tsa.timestamp(message_digest, md_algorithm))


def _simple_signer(
    key: PrivateKey, cert: x509.Certificate, chain: Sequence[x509.Certificate]
) -> signers.SimpleSigner:
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificates = [asn1_certificate(member) for member in (cert, *chain)]
    return signers.SimpleSigner(
        signing_cert=certificates[0],
        signing_key=keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs(certificates),  # type: ignore[no-untyped-call]
    )


@dataclass(frozen=True, slots=True)
class VisibleStamp:
    """Where a PDF signature shows itself, and what it says."""

    page: int
    """Zero-based page index."""
    box: tuple[int, int, int, int]
    """``(x1, y1, x2, y2)`` in PDF points from the page's lower-left corner."""
    text: str
    """Stamp text; ``%(signer)s`` and ``%(ts)s`` are the signer's name and the signing time."""


def sign_pades(
    pdf: bytes,
    key: PrivateKey,
    cert: x509.Certificate,
    *,
    clock: Clock,
    tsa: TimeStampAuthority | None = None,
    chain: Sequence[x509.Certificate] = (),
    field_name: str = "Signature1",
    stamp: VisibleStamp | None = None,
) -> bytes:
    """Sign ``pdf`` in an incremental update (PAdES baseline B, B-T with ``tsa``); with
    ``stamp``, the signature field is visible there (ISO 32000-1 §12.7.4.5) and shows its text."""
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    pdf_signer = signers.PdfSigner(
        metadata,
        signer=_simple_signer(key, cert, chain),
        timestamper=None if tsa is None else _TimeStamper(tsa),
        stamp_style=None if stamp is None else TextStampStyle(
            stamp_text=stamp.text, border_width=1, timestamp_format="%d/%m/%Y %H:%M:%S UTC"),
        new_field_spec=None if stamp is None else fields.SigFieldSpec(
            field_name, on_page=stamp.page, box=stamp.box),
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    output = BytesIO()
    asyncio.run(_sign_pdf(pdf_signer, writer, output, clock))
    return output.getvalue()


async def _sign_pdf(
    pdf_signer: signers.PdfSigner, writer: IncrementalPdfFileWriter, output: BytesIO, clock: Clock
) -> None:
    # pyHanko's async_sign_pdf, with the session's signing time taken from our clock rather than
    # from the system (``PdfSigningSession.system_time`` feeds /M and the signed attributes).
    session = pdf_signer.init_signing_session(writer)
    session.system_time = clock.now()
    reserved = await session.estimate_signature_container_size(None, tight=False)
    tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=reserved)
    prepared, result = tbs.digest_tbs_document(output=output)
    finished = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(
            signing_time=session.system_time,
            cades_signed_attrs=pdf_signer.signature_meta.cades_signed_attr_spec,
        ),
    )
    await finished.post_signature_processing(result)


def add_document_timestamp(
    pdf: bytes, tsa: TimeStampAuthority, *, field_name: str = "DocTS"
) -> bytes:
    """Append a PAdES document time-stamp (``/DocTimeStamp``, ETSI.RFC3161) to ``pdf``."""
    stamper = signers.PdfTimeStamper(_TimeStamper(tsa), field_name=field_name)
    output = BytesIO()
    stamper.timestamp_pdf(IncrementalPdfFileWriter(BytesIO(pdf)), "sha256", output=output)
    return output.getvalue()
