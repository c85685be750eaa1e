"""Extending a XAdES-T to LT and LTA in the tests, independently of the engine's code.

The validation data (CertificateValues, RevocationValues with CRLs and OCSP responses) is
appended to UnsignedSignatureProperties, then an ArchiveTimeStamp whose imprint this module
computes itself with lxml's canonicalisation, following EN 319 132-1 §5.5.2.2 for the shapes
these tests use: the references ``URI=""`` + enveloped-signature + a canonicalisation, and
``#id`` + a canonicalisation; SignedInfo, SignatureValue, KeyInfo; the unsigned signature
properties before the time-stamp; Objects other than the QualifyingProperties one (none here).

Distributed form (XAdES 1.3.2 §7.7.1, ``add_distributed_archive_timestamp``): the same elements,
each designated by an ``xades:Include URI="#id"`` (Ids added to the unsigned properties, KeyInfo
and SignatureValue; SignedInfo and its References must have theirs from signing), the input
being each Include's target in order -- a ds:Reference's output when ``referencedData="true"``.

Renewal (as DSS extends an LTA signature again): ``add_timestamp_validation_data`` puts the
validation data of the earlier archive time-stamp into a ``xades141:TimeStampValidationData``,
then ``add_archive_timestamp`` again stamps everything before it, the first archive time-stamp
included -- or, with ``leave_out_earlier_archives``, a twin whose imprint does not cover them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from lxml import etree

from gateway import namespaces as ns

DS = f"{{{ns.DS}}}"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _c14n(node: etree._Element | etree._ElementTree, algorithm: str) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=algorithm == EXC_C14N, with_comments=False)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _properties(root: etree._Element) -> tuple[etree._Element, str]:
    for namespace in (
        ns.XADES,
        "http://uri.etsi.org/01903/v1.1.1#",
        "http://uri.etsi.org/01903/v1.2.2#",
    ):
        found = root.find(f".//{{{namespace}}}UnsignedSignatureProperties")
        if found is not None:
            return found, f"{{{namespace}}}"
    raise AssertionError("no UnsignedSignatureProperties: sign with a TSA first")


def add_validation_data(
    document: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    responses: Sequence[ocsp.OCSPResponse] = (),
) -> bytes:
    """XAdES-LT: CertificateValues and RevocationValues appended to the unsigned properties."""
    root = etree.fromstring(document)
    properties, xades = _properties(root)
    if certificates:
        values = etree.SubElement(properties, f"{xades}CertificateValues")
        for certificate in certificates:
            etree.SubElement(values, f"{xades}EncapsulatedX509Certificate").text = _b64(
                certificate.public_bytes(Encoding.DER)
            )
    revocation = etree.SubElement(properties, f"{xades}RevocationValues")
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
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _remove_keeping_tail(element: etree._Element) -> None:
    """Remove ``element`` but not the text after it (lxml's remove() takes the tail along)."""
    parent, tail = element.getparent(), element.tail or ""
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(element)


def _reference_output(
    root: etree._Element, signature: etree._Element, reference: etree._Element
) -> bytes:
    """What a ds:Reference of the shapes these tests use yields (its last transform a C14N)."""
    uri = reference.get("URI")
    transforms = [t.get("Algorithm") for t in reference.iterfind(f"{DS}Transforms/{DS}Transform")]
    if uri == "" and transforms[:1] == [ENVELOPED]:
        assert len(transforms) == 2, transforms
        stripped = copy.deepcopy(root)
        for inner in stripped.iter(f"{DS}Signature"):
            if inner.get("Id") == signature.get("Id"):
                _remove_keeping_tail(inner)
                break
        return _c14n(stripped.getroottree(), transforms[1])
    assert uri.startswith("#") and len(transforms) == 1, (uri, transforms)
    target = root.xpath("//*[@Id=$id]", id=uri[1:])[0]
    return _c14n(target, transforms[0])


def archive_input(
    root: etree._Element,
    signature: etree._Element,
    c14n: str,
    *,
    leave_out_earlier_archives: bool = False,
) -> bytes:
    """The ArchiveTimeStamp imprint input for the signature as it stands (time-stamp to come);
    ``leave_out_earlier_archives`` makes the wrong input of a tampered renewal."""
    signed_info = signature.find(f"{DS}SignedInfo")
    parts = [
        _reference_output(root, signature, reference)
        for reference in signed_info.iterfind(f"{DS}Reference")
    ]
    parts.append(_c14n(signed_info, c14n))
    parts.append(_c14n(signature.find(f"{DS}SignatureValue"), c14n))
    key_info = signature.find(f"{DS}KeyInfo")
    if key_info is not None:
        parts.append(_c14n(key_info, c14n))
    properties, _ = _properties(signature)
    parts.extend(
        _c14n(child, c14n)
        for child in properties
        if isinstance(child.tag, str)
        and not (leave_out_earlier_archives and etree.QName(child).localname == "ArchiveTimeStamp")
    )
    return b"".join(parts)


def add_archive_timestamp(
    document: bytes,
    tsa,
    *,
    form: str = "1.4.1",
    c14n: str = EXC_C14N,
    leave_out_earlier_archives: bool = False,
) -> bytes:
    """XAdES-LTA: an ArchiveTimeStamp (``form`` 1.4.1: xades141; 1.3.2: the XAdES namespace)
    stamped by ``tsa`` over the signature as it stands (earlier archive time-stamps included,
    unless ``leave_out_earlier_archives``)."""
    root = etree.fromstring(document)
    signature = root.find(f".//{DS}Signature")
    properties, xades = _properties(signature)
    octets = archive_input(
        root, signature, c14n, leave_out_earlier_archives=leave_out_earlier_archives
    )
    token = tsa.timestamp(hashlib.sha256(octets).digest(), "sha256")
    tag = f"{{{ns.XADES141}}}ArchiveTimeStamp" if form == "1.4.1" else f"{xades}ArchiveTimeStamp"
    stamp = etree.SubElement(properties, tag, nsmap={"xades141": ns.XADES141})
    etree.SubElement(stamp, f"{DS}CanonicalizationMethod").set("Algorithm", c14n)
    etree.SubElement(stamp, f"{xades}EncapsulatedTimeStamp").text = _b64(token)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def add_timestamp_validation_data(
    document: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    responses: Sequence[ocsp.OCSPResponse] = (),
) -> bytes:
    """The validation data of an earlier archive time-stamp's unit, in a
    ``xades141:TimeStampValidationData`` appended after it (EN 319 132-1 §5.5.1), as DSS does
    before renewing the archive time-stamp."""
    root = etree.fromstring(document)
    properties, xades = _properties(root)
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
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def add_distributed_archive_timestamp(
    document: bytes,
    tsa,
    *,
    c14n: str = EXC_C14N,
    leave_out: str | None = None,
    extra_include: str | None = None,
) -> bytes:
    """XAdES-LTA, distributed form: an ArchiveTimeStamp whose Includes designate the archived
    elements one by one. ``leave_out`` names an unsigned property (local name) left out of the
    Includes and of the imprint (a stamp over part of the signature); ``extra_include`` an Id
    included after the others."""
    root = etree.fromstring(document)
    signature = root.find(f".//{DS}Signature")
    properties, xades = _properties(signature)
    signed_info = signature.find(f"{DS}SignedInfo")
    references = list(signed_info.iterfind(f"{DS}Reference"))
    assert signed_info.get("Id") and all(r.get("Id") for r in references), "sign with Ids"
    archived = [*references, signed_info, signature.find(f"{DS}SignatureValue")]
    key_info = signature.find(f"{DS}KeyInfo")
    if key_info is not None:
        archived.append(key_info)
    archived.extend(
        child
        for child in properties
        if isinstance(child.tag, str) and etree.QName(child).localname != leave_out
    )
    for position, element in enumerate(archived):
        if not element.get("Id"):
            element.set("Id", f"archived-{position}")
    includes = [(element.get("Id"), element in references) for element in archived]
    if extra_include is not None:
        includes.append((extra_include, False))
    parts = []
    for identifier, is_reference in includes:
        target = root.xpath("//*[@Id=$id]", id=identifier)[0]
        parts.append(
            _reference_output(root, signature, target) if is_reference else _c14n(target, c14n)
        )
    token = tsa.timestamp(hashlib.sha256(b"".join(parts)).digest(), "sha256")
    stamp = etree.SubElement(
        properties, f"{{{ns.XADES141}}}ArchiveTimeStamp", nsmap={"xades141": ns.XADES141}
    )
    for identifier, is_reference in includes:
        include = etree.SubElement(stamp, f"{xades}Include")
        include.set("URI", f"#{identifier}")
        if is_reference:
            include.set("referencedData", "true")
    etree.SubElement(stamp, f"{DS}CanonicalizationMethod").set("Algorithm", c14n)
    etree.SubElement(stamp, f"{xades}EncapsulatedTimeStamp").text = _b64(token)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
