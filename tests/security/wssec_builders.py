"""Envelope builders and signers for the WS-Security tests, one per client lineage (DESIGN.md §5.4).

A plain module (not a conftest) so test modules can import the builders; fixtures live in
``conftest.py`` next to it.

Lineages (all signing is done by python-xmlsec, an implementation independent of the gate):

* ``zeep``: ``zeep.wsse.signature.BinarySignature`` itself, with RSA-SHA256/SHA-256 passed
  explicitly (zeep defaults to SHA-1). ``wsu:Id``; Signature, BST, then Timestamp.
* ``node-soap``: hand-built after the output of node-soap 1.13 ``WSSecurityCert`` / xml-crypto 6
  (captured once from the real library): BST first, a ``Timestamp`` in the *default* wsu
  namespace with a plain ``Id="_1"``, ``soap:Body Id="_0"``, every reference with the transforms
  ``enveloped-signature`` + exc-c14n, Signature last with ``ds`` as default namespace.
* ``wss4j``: ``ds:``/``ec:`` prefixes, ``ec:InclusiveNamespaces`` on the SignedInfo
  canonicalisation (``PrefixList="soap"``) and on each transform (``""`` for the Body, ``"wsse
  soap"`` for the Timestamp), ``wsu:Id`` everywhere, Timestamp *after* the Signature.
* ``xml-id``: the wss4j shape with ``xml:id`` ids (the third Id attribute the gate honours).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import xmlsec
from cryptography.hazmat.primitives import serialization
from lxml import etree
from zeep.wsse.signature import BinarySignature

from gateway import namespaces as ns
from gateway.errors import GatewayError
from gateway.pki import Credential
from gateway.wssec.tokens import BASE64_ENCODING_TYPE, X509V3_VALUE_TYPE

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
"""The official time of every test (a Monday morning in Madrid)."""

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

PAYLOAD = (
    '<ntf:Echo xmlns:ntf="urn:notess:gateway:notification:v1">'
    "<ntf:text>hola</ntf:text><ntf:nif>12345678Z</ntf:nif></ntf:Echo>"
)

WSS4J_PREFIXES: Mapping[str, str] = {"body": "", "timestamp": "wsse soap"}


def q(namespace: str, local: str) -> str:
    return ns.qname(namespace, local)


def build_envelope(
    *,
    created: datetime | None = NOW,
    expires: datetime | None = None,
    lifetime: timedelta = timedelta(minutes=5),
    soap12: bool = False,
    payload: str = PAYLOAD,
    timestamp_default_namespace: bool = False,
    envelope_default_namespace: str | None = None,
    security: bool = True,
) -> etree._Element:
    """An unsigned request envelope with a Security header holding a Timestamp (unless None)."""
    env_ns = ns.SOAP12_ENV if soap12 else ns.SOAP11_ENV
    default = f' xmlns="{envelope_default_namespace}"' if envelope_default_namespace else ""
    timestamp = ""
    if created is not None:
        created_text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        expires_at = expires if expires is not None else created + lifetime
        expires_text = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if timestamp_default_namespace:
            timestamp = (
                f'<Timestamp xmlns="{ns.WSU}"><Created>{created_text}</Created>'
                f"<Expires>{expires_text}</Expires></Timestamp>"
            )
        else:
            timestamp = (
                f"<wsu:Timestamp><wsu:Created>{created_text}</wsu:Created>"
                f"<wsu:Expires>{expires_text}</wsu:Expires></wsu:Timestamp>"
            )
    header = (
        f'<soap:Header><wsse:Security xmlns:wsse="{ns.WSSE}" xmlns:wsu="{ns.WSU}" '
        f'soap:mustUnderstand="1">{timestamp}</wsse:Security></soap:Header>'
        if security
        else "<soap:Header/>"
    )
    text = (
        f'<soap:Envelope xmlns:soap="{env_ns}"{default}>{header}'
        f"<soap:Body>{payload}</soap:Body></soap:Envelope>"
    )
    return etree.fromstring(text.encode())


def zeep_sign(
    envelope: etree._Element,
    credential: Credential,
    *,
    signature_method: object = xmlsec.constants.TransformRsaSha256,
    digest_method: object = xmlsec.constants.TransformSha256,
) -> etree._Element:
    """Sign like a zeep client (BinarySignature), with explicit SHA-2 unless told otherwise."""
    signer = BinarySignature(
        str(credential.key_path),
        str(credential.cert_path),
        signature_method=signature_method,
        digest_method=digest_method,
    )
    signer.apply(envelope, {})
    return envelope


_ID_ATTRIBUTES = {
    "node-soap": ("Id", None),
    "wss4j": ("Id", ns.WSU),
    "xml-id": ("id", ns.XML),
}


def lineage_sign(
    envelope: etree._Element,
    credential: Credential,
    lineage: str,
    *,
    parts: Iterable[str] = ("body", "timestamp"),
    signature_method: str = RSA_SHA256,
    digest_method: str = SHA256,
    signed_info_prefixes: str | None = "soap",
    reference_prefixes: Mapping[str, str] | None = WSS4J_PREFIXES,
) -> etree._Element:
    """Sign the envelope in the shape of a node-soap, WSS4J or xml:id client (see module doc)."""
    node_soap = lineage == "node-soap"
    attribute, attribute_ns = _ID_ATTRIBUTES[lineage]
    id_name = q(attribute_ns, attribute) if attribute_ns else attribute
    env_ns = etree.QName(envelope).namespace
    assert env_ns is not None
    header = envelope.find(q(env_ns, "Header"))
    body = envelope.find(q(env_ns, "Body"))
    assert header is not None and body is not None
    security = header.find(q(ns.WSSE, "Security"))
    assert security is not None
    timestamp = security.find(q(ns.WSU, "Timestamp"))

    token_id = f"X509-{uuid.uuid4().hex}"
    token = etree.Element(
        q(ns.WSSE, "BinarySecurityToken"),
        {
            "EncodingType": BASE64_ENCODING_TYPE,
            "ValueType": X509V3_VALUE_TYPE,
            q(ns.WSU, "Id"): token_id,
        },
    )
    token.text = base64.b64encode(
        credential.certificate().public_bytes(serialization.Encoding.DER)
    ).decode()
    security.insert(0, token)

    targets = {"body": body, "timestamp": timestamp}
    ids = (
        {"body": "_0", "timestamp": "_1"}
        if node_soap
        else {
            "body": f"id-{uuid.uuid4().hex}",
            "timestamp": f"TS-{uuid.uuid4().hex}",
        }
    )
    parts = tuple(parts)
    for part in parts:
        target = targets[part]
        assert target is not None, f"no {part} to sign"
        target.set(id_name, ids[part])

    signature = etree.Element(q(ns.DS, "Signature"), nsmap={None if node_soap else "ds": ns.DS})
    if not node_soap:
        signature.set("Id", f"SIG-{uuid.uuid4().hex}")
    signed_info = etree.SubElement(signature, q(ns.DS, "SignedInfo"))
    c14n = etree.SubElement(signed_info, q(ns.DS, "CanonicalizationMethod"), Algorithm=EXC_C14N)
    if signed_info_prefixes is not None and not node_soap:
        etree.SubElement(
            c14n,
            q(ns.EC, "InclusiveNamespaces"),
            PrefixList=signed_info_prefixes,
            nsmap={"ec": ns.EC},
        )
    etree.SubElement(signed_info, q(ns.DS, "SignatureMethod"), Algorithm=signature_method)
    for part in parts:
        reference = etree.SubElement(signed_info, q(ns.DS, "Reference"), URI=f"#{ids[part]}")
        transforms = etree.SubElement(reference, q(ns.DS, "Transforms"))
        if node_soap:
            etree.SubElement(transforms, q(ns.DS, "Transform"), Algorithm=ENVELOPED)
        transform = etree.SubElement(transforms, q(ns.DS, "Transform"), Algorithm=EXC_C14N)
        prefixes = None if node_soap or reference_prefixes is None else reference_prefixes.get(part)
        if prefixes is not None:
            etree.SubElement(
                transform, q(ns.EC, "InclusiveNamespaces"), PrefixList=prefixes, nsmap={"ec": ns.EC}
            )
        etree.SubElement(reference, q(ns.DS, "DigestMethod"), Algorithm=digest_method)
        etree.SubElement(reference, q(ns.DS, "DigestValue"))
    etree.SubElement(signature, q(ns.DS, "SignatureValue"))

    if node_soap:
        security.append(signature)  # BST, Timestamp, Signature
    else:
        token.addnext(signature)  # BST, Signature, Timestamp (WSS4J order)
        if timestamp is not None:
            signature.addnext(timestamp)

    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_file(str(credential.key_path), xmlsec.constants.KeyDataFormatPem)
    for part in parts:
        context.register_id(targets[part], attribute, attribute_ns)
    context.sign(signature)

    # KeyInfo after signing, as zeep does: xmlsec does not know SecurityTokenReference.
    key_info = etree.SubElement(signature, q(ns.DS, "KeyInfo"))
    reference_holder = etree.SubElement(key_info, q(ns.WSSE, "SecurityTokenReference"))
    etree.SubElement(
        reference_holder, q(ns.WSSE, "Reference"), URI=f"#{token_id}", ValueType=X509V3_VALUE_TYPE
    )
    return envelope


def serialise(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope)


@dataclass(frozen=True)
class Refusal:
    """What a hostile case must produce: the exact error class and stable code."""

    error: type[GatewayError]
    code: str


def assert_refused(call: Callable[[], object], expected: Refusal) -> GatewayError:
    """Run ``call``; it must raise exactly ``expected.error`` (not a subclass) with its code."""
    with pytest.raises(GatewayError) as info:
        call()
    error = info.value
    assert (type(error), error.code) == (expected.error, expected.code), repr(error)
    # Nothing internal leaks: no Clark names, library names or file paths in the message.
    assert "{" not in error.message and "lxml" not in error.message.lower()
    assert "/" not in error.message
    return error
