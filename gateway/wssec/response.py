"""Signing the gateway's responses (DESIGN.md §4: every response carries a signed Timestamp).

Adds to the envelope one ``wsse:Security`` header (``mustUnderstand``) holding, in this order, a
``wsu:Timestamp``, the server's certificate as an X.509v3 ``wsse:BinarySecurityToken`` and a
``ds:Signature`` over the Body and the Timestamp: exclusive c14n, RSA-SHA256 (ECDSA-SHA256 for an
EC key), SHA-256 digests, ``wsu:Id`` references, KeyInfo by ``SecurityTokenReference`` -- the
shape zeep's ``BinarySignature.verify`` (python-xmlsec) and WSS4J accept.

Signing is done with the same canonicaliser the gate verifies with (``signature.canonicalise``)
and ``cryptography`` keys, so the server key never has to be re-serialised for another library;
the tests verify the output with zeep/xmlsec as an independent implementation.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from gateway import namespaces as ns
from gateway.domain.clock import Clock
from gateway.trust.algorithms import DigestAlgorithm, SignatureAlgorithm
from gateway.wssec.policy import CanonicalizationAlgorithm, SoapVersion
from gateway.wssec.tokens import BASE64_ENCODING_TYPE, X509V3_VALUE_TYPE
from gateway.xmlsig.c14n import canonicalise
from gateway.xmlsig.references import WSU_ID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_EXC_C14N = CanonicalizationAlgorithm.EXC_C14N.value


def _ds(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, ns.qname(ns.DS, local), attributes)


def _xs_datetime(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


BodyCanonicalForm = Callable[[bytes], Iterable[bytes]]
"""For a Body whose content is spliced in after signing (a streamed document, a page built as
canonical octets): given the exclusive canonical form of the Body as it stands in the tree, the
octets of the canonical form the client will receive, in pieces, so they are never held whole."""


def _digest(element: etree._Element, algorithm: DigestAlgorithm,
            expand: BodyCanonicalForm | None = None) -> str:
    digest = hashes.Hash(algorithm.hash())
    octets = canonicalise(element, with_comments=False)
    for piece in (octets,) if expand is None else expand(octets):
        digest.update(piece)
    return base64.b64encode(digest.finalize()).decode("ascii")


def _sign(key: PrivateKey, algorithm: SignatureAlgorithm, octets: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey) and algorithm.is_rsa:
        return key.sign(octets, padding.PKCS1v15(), algorithm.hash())
    if isinstance(key, ec.EllipticCurvePrivateKey) and algorithm.is_ecdsa:
        r, s = decode_dss_signature(key.sign(octets, ec.ECDSA(algorithm.hash())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise ValueError("the signature algorithm does not match the key type")


def sign_response(
    envelope: etree._Element,
    key: PrivateKey,
    cert: x509.Certificate,
    clock: Clock,
    ttl: timedelta = timedelta(minutes=5),
    *,
    signature_algorithm: SignatureAlgorithm | None = None,
    digest_algorithm: DigestAlgorithm = DigestAlgorithm.SHA256,
    body_canonical: BodyCanonicalForm | None = None,
    must_understand: bool = True,
) -> etree._Element:
    """Add a signed WS-Security header to ``envelope`` (in place) and return it.

    ``must_understand=False`` leaves the header unmarked: WSCN-era clients (Axis 1.4 without
    response processing) refuse a response whose ``mustUnderstand`` header they do not process.

    ``body_canonical`` digests the Body from the octets it yields instead of from the tree (see
    ``BodyCanonicalForm``); everything else is signed as usual."""
    version = SoapVersion.from_namespace(etree.QName(envelope).namespace or "")
    if version is None or etree.QName(envelope).localname != "Envelope":
        raise ValueError("not a SOAP envelope")
    if signature_algorithm is None:
        signature_algorithm = (
            SignatureAlgorithm.RSA_SHA256
            if isinstance(key, rsa.RSAPrivateKey)
            else SignatureAlgorithm.ECDSA_SHA256
        )
    env_ns = version.envelope_namespace
    body = envelope.find(ns.qname(env_ns, "Body"))
    if body is None:
        raise ValueError("the envelope has no Body")
    header = envelope.find(ns.qname(env_ns, "Header"))
    if header is None:
        header = etree.Element(ns.qname(env_ns, "Header"))
        envelope.insert(0, header)
    if header.find(ns.qname(ns.WSSE, "Security")) is not None:
        raise ValueError("the response already has a Security header")

    # Lets lxml pick the conventional "wsu" prefix when it has to declare the namespace on Body.
    etree.register_namespace("wsu", ns.WSU)
    body_id = body.get(WSU_ID) or _new_id("id")
    body.set(WSU_ID, body_id)

    security = etree.SubElement(
        header, ns.qname(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE, "wsu": ns.WSU}
    )
    if must_understand:
        security.set(
            ns.qname(env_ns, "mustUnderstand"), "1" if version is SoapVersion.SOAP11 else "true"
        )
    now = clock.now()
    timestamp_id, token_id = _new_id("TS"), _new_id("X509")
    timestamp = etree.SubElement(security, ns.qname(ns.WSU, "Timestamp"), {WSU_ID: timestamp_id})
    etree.SubElement(timestamp, ns.qname(ns.WSU, "Created")).text = _xs_datetime(now)
    etree.SubElement(timestamp, ns.qname(ns.WSU, "Expires")).text = _xs_datetime(now + ttl)
    token = etree.SubElement(
        security,
        ns.qname(ns.WSSE, "BinarySecurityToken"),
        {"EncodingType": BASE64_ENCODING_TYPE, "ValueType": X509V3_VALUE_TYPE, WSU_ID: token_id},
    )
    token.text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")

    signature = etree.SubElement(security, ns.qname(ns.DS, "Signature"), nsmap={"ds": ns.DS})
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=_EXC_C14N)
    _ds(signed_info, "SignatureMethod", Algorithm=signature_algorithm.value)
    for target_id, target in ((body_id, body), (timestamp_id, timestamp)):
        reference = _ds(signed_info, "Reference", URI=f"#{target_id}")
        transforms = _ds(reference, "Transforms")
        _ds(transforms, "Transform", Algorithm=_EXC_C14N)
        _ds(reference, "DigestMethod", Algorithm=digest_algorithm.value)
        _ds(reference, "DigestValue").text = _digest(
            target, digest_algorithm, body_canonical if target is body else None)
    signature_value = _ds(signature, "SignatureValue")
    key_info = _ds(signature, "KeyInfo")
    token_reference = etree.SubElement(key_info, ns.qname(ns.WSSE, "SecurityTokenReference"))
    etree.SubElement(
        token_reference,
        ns.qname(ns.WSSE, "Reference"),
        {"URI": f"#{token_id}", "ValueType": X509V3_VALUE_TYPE},
    )
    octets = canonicalise(signed_info, with_comments=False)
    signature_value.text = base64.b64encode(_sign(key, signature_algorithm, octets)).decode("ascii")
    return envelope
