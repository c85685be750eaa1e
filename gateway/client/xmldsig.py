"""XML-DSig pieces the client's verifiers share (``download``: responses streamed to disk;
``receipts``: server receipts): the algorithms accepted, exclusive c14n, a reference's digest
method and the check of a ``SignatureValue`` over ``SignedInfo`` with a certificate's key.

lxml's canonicalisation and ``cryptography``'s verification, nothing else: checking a receipt
this way takes about a third of the time python-xmlsec takes, and a fifth of signxml's.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from gateway import namespaces as ns

DS = f"{{{ns.DS}}}"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
SIGNATURES: dict[str, hashes.HashAlgorithm] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": hashes.SHA512(),
}


class SignatureInvalid(Exception):
    """The signature does not verify, or uses something not accepted; the message says which."""


def c14n(element: etree._Element) -> bytes:
    """Exclusive XML canonicalisation without comments (what a same-document reference and
    ``SignedInfo`` are digested and signed as)."""
    octets: bytes = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
    return octets


SPLICE_ABOVE = 4096
"""Texts longer than this (characters) are hashed as they are rather than canonicalised."""
_SPECIAL = ("&", "<", ">", "\r")
_LONG_TEXT = etree.XPath(f"descendant-or-self::*[string-length(text()) > {SPLICE_ABOVE}]")


def canonical_digest(element: etree._Element, name: str) -> bytes:
    """``hashlib.new(name, c14n(element)).digest()``, without canonicalising long texts: a text
    with none of ``& < > CR`` is its own canonical form, so each long one (base64 documents, a
    few megabytes per answer) is swapped for a marker while the rest is canonicalised, and the
    text itself is fed to the hash where its marker stands. libxml2's canonicaliser escapes
    character by character, which made it the largest cost of reading a GetContents answer.

    The markers go into a copy of ``element`` (copied in C, a memcpy of the texts), which is
    then dropped: putting the long texts back into the caller's tree cost three times the copy
    (lxml validates and copies every text assigned). Each text is read once, here."""
    chosen = [(each.text or "") for each in _LONG_TEXT(element)]  # each text read once
    spliced = [len(text) > SPLICE_ABOVE and not any(special in text for special in _SPECIAL)
               for text in chosen]
    long = [text for text, splice in zip(chosen, spliced, strict=True) if splice]
    if not long:
        return hashlib.new(name, c14n(element)).digest()
    marker = f"notess-splice-{uuid.uuid4().hex}-"
    work = copy.deepcopy(element)
    number = 0
    for each, splice in zip(_LONG_TEXT(work), spliced, strict=True):  # the same, in order
        if splice:
            each.text = f"{marker}{number:08d}"
            number += 1
    pieces = c14n(work).split(marker.encode())
    if len(pieces) != len(long) + 1 or any(
            not piece.startswith(b"%08d" % number) for number, piece in enumerate(pieces[1:])):
        return hashlib.new(name, c14n(element)).digest()  # the marker met elsewhere: no splice
    digest = hashlib.new(name, pieces[0])
    for text, piece in zip(long, pieces[1:], strict=True):
        digest.update(text.encode())
        digest.update(piece[8:])
    return digest.digest()


def digest_name(reference: etree._Element) -> str:
    """hashlib's name of the reference's accepted DigestMethod."""
    method = reference.find(f"{DS}DigestMethod")
    name = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    if name is None:
        raise SignatureInvalid("digest algorithm not accepted")
    return name


def digest_value(reference: etree._Element) -> bytes:
    try:
        return base64.b64decode(reference.findtext(f"{DS}DigestValue") or "", validate=True)
    except binascii.Error as exc:
        raise SignatureInvalid("malformed DigestValue") from exc


def verify_signature_value(signature: etree._Element, certificate: x509.Certificate) -> None:
    """``SignatureValue`` over the exclusive-c14n ``SignedInfo`` of ``signature``, with the
    certificate's key (RSA PKCS#1 v1.5 or ECDSA, SHA-2). The references are the caller's."""
    signed_info = signature.find(f"{DS}SignedInfo")
    if signed_info is None:
        raise SignatureInvalid("no SignedInfo")
    c14n_method = signed_info.find(f"{DS}CanonicalizationMethod")
    method = signed_info.find(f"{DS}SignatureMethod")
    if c14n_method is None or c14n_method.get("Algorithm") != EXC_C14N or len(c14n_method) \
            or method is None or method.get("Algorithm") not in SIGNATURES:
        raise SignatureInvalid("signature algorithms not accepted")
    algorithm = SIGNATURES[method.get("Algorithm", "")]
    try:
        value = base64.b64decode("".join((signature.findtext(f"{DS}SignatureValue") or "")
                                         .split()), validate=True)
    except binascii.Error as exc:
        raise SignatureInvalid("malformed SignatureValue") from exc
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if "rsa-" not in method.get("Algorithm", ""):
                raise SignatureInvalid("signature algorithm does not match the key")
            key.verify(value, c14n(signed_info), padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if "ecdsa-" not in method.get("Algorithm", ""):
                raise SignatureInvalid("signature algorithm does not match the key")
            half = len(value) // 2
            der = encode_dss_signature(int.from_bytes(value[:half], "big"),
                                       int.from_bytes(value[half:], "big"))
            key.verify(der, c14n(signed_info), ec.ECDSA(algorithm))
        else:
            raise SignatureInvalid("unsupported key")
    except InvalidSignature as exc:
        raise SignatureInvalid("signature value mismatch") from exc
