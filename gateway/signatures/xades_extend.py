"""Extending a XAdES signature to levels LT and LTA (ETSI EN 319 132-1 §5.5, §6.3-6.4).

:func:`extend_xades` appends to the UnsignedSignatureProperties of the (first) signature of a
XAdES-T document: ``CertificateValues`` (the certificates given), ``RevocationValues`` (CRLs and
OCSP responses) and, with a TSA, an ``xades141:ArchiveTimeStamp`` over the signature as it then
stands -- its imprint computed by the validator's own ``xades_archive`` rules, so what this
writes is what validation checks. Extending an LTA signature again renews it: the new validation
data goes into a ``xades141:TimeStampValidationData`` and the new archive time-stamp covers the
earlier ones. Nothing is fetched: the caller supplies the validation data.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from lxml import etree

from gateway import namespaces as ns
from gateway.signatures.nodeset import WorkBudget
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.transforms import EXC_C14N
from gateway.signatures.tsa import TimeStampAuthority
from gateway.signatures.xades_archive import archive_input
from gateway.signatures.xades_signer import QUALIFYING_PROPERTIES_TAGS
from gateway.signatures.xmldsig import build_index, elements, parse_signature
from gateway.xmlsafe import parse_xml
from gateway.xmlsig.names import SIGNATURE

_DS = f"{{{ns.DS}}}"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _archived(properties: etree._Element, xades: str) -> bool:
    """Whether the signature already has an archive time-stamp (1.4.1 or 1.3.2 form)."""
    tags = (f"{{{ns.XADES141}}}ArchiveTimeStamp", f"{xades}ArchiveTimeStamp")
    return any(child.tag in tags for child in elements(properties))


def extend_xades(
    document: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    responses: Sequence[ocsp.OCSPResponse] = (),
    tsa: TimeStampAuthority | None = None,
    policy: SignaturePolicy | None = None,
) -> bytes:
    """The document with validation data (and, with ``tsa``, an archive time-stamp) added to
    its first signature, which must already have UnsignedSignatureProperties (level T). On a
    signature already at LTA this renews it: the validation data goes into a
    ``xades141:TimeStampValidationData`` and the new archive time-stamp covers the earlier ones."""
    policy = policy or SignaturePolicy()
    root = parse_xml(document, max_bytes=policy.max_document_bytes, max_depth=policy.max_xml_depth)
    signature = next(root.iter(SIGNATURE), None)
    if signature is None:
        raise ValueError("the document holds no signature")
    qualifying = next((child for child in signature.iter(*QUALIFYING_PROPERTIES_TAGS)), None)
    if qualifying is None:
        raise ValueError("the signature has no QualifyingProperties")
    xades = f"{{{etree.QName(qualifying).namespace}}}"
    properties = qualifying.find(f"{xades}UnsignedProperties/{xades}UnsignedSignatureProperties")
    if properties is None:
        raise ValueError("the signature has no UnsignedSignatureProperties (time-stamp it first)")
    holder = properties
    if (certificates or crls or responses) and _archived(properties, xades):
        # Renewal (EN 319 132-1 §5.5.1-5.5.2, as DSS writes it): the validation data for the
        # earlier archive time-stamps goes into a TimeStampValidationData after them, which the
        # new archive time-stamp then covers.
        holder = etree.SubElement(
            properties,
            f"{{{ns.XADES141}}}TimeStampValidationData",
            nsmap={"xades141": ns.XADES141},
        )
    if certificates:
        values = etree.SubElement(holder, f"{xades}CertificateValues")
        for certificate in certificates:
            etree.SubElement(values, f"{xades}EncapsulatedX509Certificate").text = _b64(
                certificate.public_bytes(Encoding.DER)
            )
    if crls or responses:
        revocation = etree.SubElement(holder, f"{xades}RevocationValues")
        if crls:
            crl_values = etree.SubElement(revocation, f"{xades}CRLValues")
            for crl in crls:
                etree.SubElement(crl_values, f"{xades}EncapsulatedCRLValue").text = _b64(
                    crl.public_bytes(Encoding.DER)
                )
        if responses:
            ocsp_values = etree.SubElement(revocation, f"{xades}OCSPValues")
            for response in responses:
                etree.SubElement(ocsp_values, f"{xades}EncapsulatedOCSPValue").text = _b64(
                    response.public_bytes(Encoding.DER)
                )
    if tsa is not None:
        stamp = etree.SubElement(
            properties, f"{{{ns.XADES141}}}ArchiveTimeStamp", nsmap={"xades141": ns.XADES141}
        )
        method = etree.SubElement(stamp, f"{_DS}CanonicalizationMethod")
        method.set("Algorithm", EXC_C14N)
        structure = parse_signature(signature, max_references=policy.max_references)
        octets = archive_input(
            stamp,
            elements(properties)[:-1],
            qualifying,
            xades,
            structure,
            root,
            build_index(root),
            (),
            policy,
            WorkBudget.for_document(root),
        )
        token = tsa.timestamp(hashlib.sha256(octets).digest(), "sha256")
        etree.SubElement(stamp, f"{xades}EncapsulatedTimeStamp").text = _b64(token)
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))
