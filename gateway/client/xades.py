"""XAdES-BES enveloped signature of an acknowledgement with python-xmlsec (what zeep uses).

ETSI EN 319 132-1 baseline B: one ``ds:Signature`` appended as the last child of the document,
RSA-SHA256 (or ECDSA-SHA256), SHA-256 digests, exclusive c14n, two references: the whole
document (enveloped-signature + exc-c14n transforms) and the ``xades:SignedProperties``
(SigningTime, SigningCertificateV2 with the certificate's SHA-256, DataObjectFormat). The
certificate travels in ``KeyInfo/X509Data``.

Deliberately small and free of the gateway's own signing code (which pulls in the PDF stack),
so that an integrator can lift it as it is.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class XadesSigner:
    """Signs with one key and its certificate (PEM files), loaded once."""

    def __init__(self, key_pem: bytes, cert_pem: bytes) -> None:
        self._key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
        self.certificate = x509.load_pem_x509_certificate(cert_pem)
        self._cert_der = self.certificate.public_bytes(Encoding.DER)
        ecdsa = isinstance(load_pem_private_key(key_pem, password=None), ec.EllipticCurvePrivateKey)
        self._method = (xmlsec.constants.TransformEcdsaSha256 if ecdsa
                        else xmlsec.constants.TransformRsaSha256)

    def sign(self, document: bytes, *, now: datetime | None = None) -> bytes:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 remove_blank_text=False)
        root = etree.fromstring(document, parser)
        signature_id = f"Signature-{uuid.uuid4().hex}"
        properties_id = f"{signature_id}-SignedProperties"
        document_reference_id = f"{signature_id}-Reference-Document"

        signature = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N,
                                           self._method, ns="ds")
        signature.set("Id", signature_id)
        root.append(signature)
        whole = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256,
                                              uri="", id=document_reference_id)
        xmlsec.template.add_transform(whole, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(whole, xmlsec.constants.TransformExclC14N)
        properties = xmlsec.template.add_reference(
            signature, xmlsec.constants.TransformSha256, uri=f"#{properties_id}",
            type=SIGNED_PROPERTIES_TYPE)
        xmlsec.template.add_transform(properties, xmlsec.constants.TransformExclC14N)
        key_info = xmlsec.template.ensure_key_info(signature)
        etree.SubElement(etree.SubElement(key_info, f"{{{DS}}}X509Data"),
                         f"{{{DS}}}X509Certificate").text = base64.b64encode(
                             self._cert_der).decode()

        qualifying = etree.SubElement(etree.SubElement(signature, f"{{{DS}}}Object"),
                                      f"{{{XADES}}}QualifyingProperties",
                                      {"Target": f"#{signature_id}"}, nsmap={"xades": XADES})
        signed_properties = etree.SubElement(qualifying, f"{{{XADES}}}SignedProperties",
                                             {"Id": properties_id})
        signature_properties = etree.SubElement(signed_properties,
                                                f"{{{XADES}}}SignedSignatureProperties")
        signing_time = (now or datetime.now(UTC)).astimezone(UTC)
        etree.SubElement(signature_properties, f"{{{XADES}}}SigningTime").text = \
            signing_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        cert_digest = etree.SubElement(etree.SubElement(etree.SubElement(
            signature_properties, f"{{{XADES}}}SigningCertificateV2"), f"{{{XADES}}}Cert"),
            f"{{{XADES}}}CertDigest")
        etree.SubElement(cert_digest, f"{{{DS}}}DigestMethod", {"Algorithm": SHA256})
        etree.SubElement(cert_digest, f"{{{DS}}}DigestValue").text = base64.b64encode(
            hashlib.sha256(self._cert_der).digest()).decode()
        data_object = etree.SubElement(
            etree.SubElement(signed_properties, f"{{{XADES}}}SignedDataObjectProperties"),
            f"{{{XADES}}}DataObjectFormat", {"ObjectReference": f"#{document_reference_id}"})
        etree.SubElement(data_object, f"{{{XADES}}}MimeType").text = "text/xml"

        context = xmlsec.SignatureContext()
        context.register_id(signed_properties, "Id")
        context.key = self._key
        context.sign(signature)
        return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))
