"""XMLDSig verification of a WS-Security signature, by hand with lxml and ``cryptography``.

Implements the subset of XML Signature 1.1 (W3C, 2013) §3.2 "Core Validation" that OASIS WSS 1.1
§8 and the WS-I Basic Security Profile 1.1 leave to a receiver:

* ``SignedInfo`` = ``CanonicalizationMethod`` (exclusive c14n, BSP R5404), ``SignatureMethod``
  (allow-listed), 1..``max_references`` ``Reference``.
* Each ``Reference`` has a bare-name URI (``xmlsig.references.bare_name``), exactly one
  ``Transform`` that is exclusive c14n (BSP R5416 asks for it last; we allow nothing else, except
  a leading enveloped-signature transform that is a no-op for the target, as node-soap emits), an
  allow-listed ``DigestMethod`` and a ``DigestValue``. ``ec:InclusiveNamespaces/@PrefixList`` (possibly empty,
  as WSS4J emits it) is honoured on both the transform and the ``CanonicalizationMethod``.
* A bare-name URI selects the element *without comments* (XMLDSig §4.3.3.3), so digests never
  include comments whatever the transform says; a comment inside a signed element is refused
  unless the policy allows it (CVE-2017-11427 class: truncated text that still verifies).
* Verification returns **what was signed**: the exact element objects. Callers compare element
  identity (``is``) with the elements they process, never Id strings (XML signature wrapping).

The syntax it shares with the document-signature engine (element names, the Id index,
canonicalisation and Base64 values) is ``gateway.xmlsig``'s; trees must be verified in the thread
that parsed them (see ``gateway.xmlsig.c14n``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import NamedTuple, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from gateway.errors import AuthenticationError, InvalidSecurity
from gateway.trust.algorithms import DigestAlgorithm, SignatureAlgorithm
from gateway.wssec.policy import CanonicalizationAlgorithm, WsSecurityPolicy
from gateway.wssec.tokens import PublicKey
from gateway.xmlsig.c14n import canonicalise
from gateway.xmlsig.names import (
    CANONICALIZATION_METHOD,
    DIGEST_METHOD,
    DIGEST_VALUE,
    ENVELOPED_SIGNATURE,
    INCLUSIVE_NAMESPACES,
    KEY_INFO,
    OBJECT,
    REFERENCE,
    SIGNATURE_METHOD,
    SIGNATURE_VALUE,
    SIGNED_INFO,
    TRANSFORM,
    TRANSFORMS,
)
from gateway.xmlsig.references import IdIndex
from gateway.xmlsig.values import decode_base64_text

_PREFIX_TOKEN = re.compile(r"#default|[A-Za-z_][A-Za-z0-9_.\-]*", re.ASCII)
_PKCS1V15 = padding.PKCS1v15()


# Per-request value objects are NamedTuples: immutable like frozen dataclasses, but about four
# times cheaper to build, which shows on the gate's per-request budget (bench/wssec_verify.py).


class SignedReference(NamedTuple):
    """One ``ds:Reference`` resolved to the element it designates (not yet digest-checked)."""

    uri: str
    element: etree._Element
    transform: CanonicalizationAlgorithm
    inclusive_prefixes: tuple[str, ...]
    digest_algorithm: DigestAlgorithm
    digest_value: bytes


class ParsedSignature(NamedTuple):
    """A structurally valid, allow-listed ``ds:Signature`` (not yet cryptographically checked)."""

    element: etree._Element
    signed_info: etree._Element
    canonicalization: CanonicalizationAlgorithm
    inclusive_prefixes: tuple[str, ...]
    signature_algorithm: SignatureAlgorithm
    signature_value: bytes
    references: tuple[SignedReference, ...]
    target_ids: frozenset[int]
    """``id()`` of every referenced element object; valid while ``references`` keeps them alive
    (lxml keeps one proxy per node while it is referenced)."""
    may_hold_comments: bool
    """False when the document has no comment at all (``IdIndex.element_only``)."""
    key_infos: tuple[etree._Element, ...]
    """The ``ds:KeyInfo`` children met while checking the structure (``tokens`` judges them)."""

    def covers(self, element: etree._Element) -> bool:
        """Whether one of the references designates exactly this element object."""
        return id(element) in self.target_ids


class VerifiedSignature(NamedTuple):
    """What a valid signature covers: the exact elements, their URIs, and how it was made."""

    signed_elements: tuple[etree._Element, ...]
    signed_ids: tuple[str, ...]
    signature_algorithm: SignatureAlgorithm
    signature_value: bytes


def _malformed(message: str) -> InvalidSecurity:
    return InvalidSecurity(message, code="SIGNATURE_MALFORMED")


def _not_allowed(message: str) -> InvalidSecurity:
    return InvalidSecurity(message, code="ALGORITHM_NOT_ALLOWED")


def _elements(parent: etree._Element, element_only: bool = False) -> list[etree._Element]:
    # Comments and processing instructions between elements carry no meaning here. When the
    # document has none (IdIndex.element_only), a slice is exact and several times cheaper.
    if element_only:
        children: list[etree._Element] = parent[:]
        return children
    return [child for child in parent if isinstance(child.tag, str)]


def _base64(element: etree._Element, what: str) -> bytes:
    try:
        return decode_base64_text(element, what)
    except ValueError as exc:
        raise _malformed(str(exc)) from exc


_C14N_BY_URI = {algorithm.value: algorithm for algorithm in CanonicalizationAlgorithm}
_DIGEST_BY_URI = {algorithm.value: algorithm for algorithm in DigestAlgorithm}
_SIGNATURE_BY_URI = {algorithm.value: algorithm for algorithm in SignatureAlgorithm}


def _c14n_method(
    element: etree._Element, policy: WsSecurityPolicy, *, refusal: str = "ALGORITHM_NOT_ALLOWED"
) -> tuple[CanonicalizationAlgorithm, tuple[str, ...]]:
    """An allow-listed exclusive c14n algorithm and its InclusiveNamespaces PrefixList."""
    algorithm = _C14N_BY_URI.get(element.get("Algorithm") or "")
    if algorithm is None or algorithm not in policy.canonicalization_algorithms:
        raise InvalidSecurity("Only exclusive canonicalisation is accepted", code=refusal)
    if not len(element):
        return algorithm, ()
    children = _elements(element)
    if len(children) != 1 or children[0].tag != INCLUSIVE_NAMESPACES:
        raise _malformed("A canonicalisation method may only hold InclusiveNamespaces")
    prefixes = tuple((children[0].get("PrefixList") or "").split())
    if not all(_PREFIX_TOKEN.fullmatch(prefix) for prefix in prefixes):
        raise _malformed("InclusiveNamespaces PrefixList holds an invalid prefix")
    return algorithm, prefixes


def _is_ancestor(candidate: etree._Element, element: etree._Element) -> bool:
    return any(ancestor is candidate for ancestor in element.iterancestors())


def _reference(
    element: etree._Element,
    signature: etree._Element,
    index: IdIndex,
    policy: WsSecurityPolicy,
) -> SignedReference:
    uri = element.get("URI")
    target = index.resolve(uri)
    plain = index.element_only
    children = _elements(element, plain)
    if (
        len(children) != 3
        or children[0].tag != TRANSFORMS
        or children[1].tag != DIGEST_METHOD
        or children[2].tag != DIGEST_VALUE
    ):
        raise _malformed("A Reference holds Transforms, DigestMethod and DigestValue, in order")
    transforms = _elements(children[0], plain)
    for transform_element in transforms:
        if transform_element.tag != TRANSFORM:
            raise _malformed("Transforms may only hold Transform elements")
    if len(transforms) != 1:
        if (
            len(transforms) == 2
            and transforms[0].get("Algorithm") == ENVELOPED_SIGNATURE
            and not _is_ancestor(target, signature)
        ):
            # node-soap (xml-crypto) lists enveloped-signature before exc-c14n on every
            # reference. It removes the enclosing Signature from the node-set, a no-op when the
            # target does not contain this Signature, which is the only case we accept.
            del transforms[0]
        else:
            raise InvalidSecurity(
                "A Reference must have exactly one exclusive c14n transform",
                code="TRANSFORM_NOT_ALLOWED",
            )
    transform, prefixes = _c14n_method(transforms[0], policy, refusal="TRANSFORM_NOT_ALLOWED")
    digest_algorithm = _DIGEST_BY_URI.get(children[1].get("Algorithm") or "")
    if digest_algorithm is None or digest_algorithm not in policy.digest_algorithms:
        raise _not_allowed("This digest algorithm is not accepted")
    # Positional: this runs for every reference of every request.
    return SignedReference(
        str(uri), target, transform, prefixes, digest_algorithm, _base64(children[2], "DigestValue")
    )


def parse_signature(
    signature: etree._Element, index: IdIndex, policy: WsSecurityPolicy
) -> ParsedSignature:
    """Check structure and algorithms of a ``ds:Signature`` and resolve its references."""
    plain = index.element_only
    children = _elements(signature, plain)
    if len(children) < 2 or children[0].tag != SIGNED_INFO or children[1].tag != SIGNATURE_VALUE:
        raise _malformed("A Signature starts with SignedInfo and SignatureValue")
    key_infos = []
    for child in children[2:]:
        tag = child.tag
        if tag == KEY_INFO:
            key_infos.append(child)
        elif tag != OBJECT:
            raise _malformed(
                "A Signature holds SignedInfo, SignatureValue, KeyInfo and Objects only"
            )
    signed_info = children[0]
    parts = _elements(signed_info, plain)
    if (
        len(parts) < 3
        or parts[0].tag != CANONICALIZATION_METHOD
        or parts[1].tag != SIGNATURE_METHOD
    ):
        raise _malformed("SignedInfo holds CanonicalizationMethod, SignatureMethod and References")
    for part in parts[2:]:
        if part.tag != REFERENCE:
            raise _malformed(
                "SignedInfo holds CanonicalizationMethod, SignatureMethod and References"
            )
    if len(parts) - 2 > policy.max_references:
        raise InvalidSecurity("The signature has too many references", code="TOO_MANY_REFERENCES")
    canonicalization, prefixes = _c14n_method(parts[0], policy)
    if len(parts[1]):
        raise _malformed("SignatureMethod parameters (e.g. HMACOutputLength) are not accepted")
    signature_algorithm = _SIGNATURE_BY_URI.get(parts[1].get("Algorithm") or "")
    if signature_algorithm is None or signature_algorithm not in policy.signature_algorithms:
        raise _not_allowed("This signature algorithm is not accepted")
    references = tuple([_reference(element, signature, index, policy) for element in parts[2:]])
    target_ids = frozenset([id(reference.element) for reference in references])
    if len(target_ids) != len(references):
        raise _malformed("Two references designate the same element")
    return ParsedSignature(
        signature,
        signed_info,
        canonicalization,
        prefixes,
        signature_algorithm,
        _base64(children[1], "SignatureValue"),
        references,
        target_ids,
        not plain,
        tuple(key_infos),
    )


# Hash objects are immutable parameters: build one per RSA algorithm, not one per request.
_RSA_HASHES = {algorithm: algorithm.hash() for algorithm in SignatureAlgorithm if algorithm.is_rsa}

_HASHLIB: dict[DigestAlgorithm, Callable[[bytes], hashlib._Hash]] = {
    algorithm: getattr(hashlib, algorithm.hashlib_name) for algorithm in DigestAlgorithm
}


def digest_of(reference: SignedReference) -> bytes:
    """The digest of the referenced element after its transform (comments never included)."""
    octets = canonicalise(
        reference.element, with_comments=False, inclusive_prefixes=reference.inclusive_prefixes
    )
    return _HASHLIB[reference.digest_algorithm](octets).digest()


def check_digests(parsed: ParsedSignature, policy: WsSecurityPolicy) -> None:
    """Recompute every Reference digest; refuse comments inside signed elements by default."""
    look_for_comments = parsed.may_hold_comments and not policy.allow_comments_in_signed_elements
    for reference in parsed.references:
        if look_for_comments and next(reference.element.iter(etree.Comment), None) is not None:
            raise InvalidSecurity(
                "Comments are not allowed inside signed elements", code="COMMENT_IN_SIGNED_ELEMENT"
            )
        if not hmac.compare_digest(digest_of(reference), reference.digest_value):
            raise AuthenticationError(
                "A signed part of the message was altered", code="DIGEST_MISMATCH"
            )


@functools.cache
def _is_rsa_key_type(key_type: type) -> bool:
    return issubclass(key_type, rsa.RSAPublicKey)


def _is_rsa_key(public_key: PublicKey) -> TypeGuard[rsa.RSAPublicKey]:
    # isinstance() against the ABC goes through ABCMeta.__instancecheck__ on every request;
    # the answer depends on the concrete key class only.
    return _is_rsa_key_type(type(public_key))


def check_signature_value(parsed: ParsedSignature, public_key: PublicKey) -> None:
    """Verify SignatureValue over the canonical SignedInfo with the signer's public key."""
    octets = canonicalise(
        parsed.signed_info,
        with_comments=parsed.canonicalization.with_comments,
        inclusive_prefixes=parsed.inclusive_prefixes,
    )
    algorithm = parsed.signature_algorithm
    value = parsed.signature_value
    try:
        if _is_rsa_key(public_key) and algorithm in _RSA_HASHES:
            public_key.verify(value, octets, _PKCS1V15, _RSA_HASHES[algorithm])
        elif algorithm.is_ecdsa and isinstance(public_key, ec.EllipticCurvePublicKey):
            # XMLDSig 1.1 §6.4.3: the value is r || s, each as long as the curve order.
            size = (public_key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(value[:size], "big")
            s = int.from_bytes(value[size:], "big")
            public_key.verify(encode_dss_signature(r, s), octets, ec.ECDSA(algorithm.hash()))
        else:
            raise InvalidSecurity(
                "The signature algorithm does not match the certificate key",
                code="ALGORITHM_KEY_MISMATCH",
            )
    except InvalidSignature as exc:
        raise AuthenticationError(
            "The message signature is not valid", code="SIGNATURE_INVALID"
        ) from exc


def verify_signature(
    parsed: ParsedSignature, public_key: PublicKey, policy: WsSecurityPolicy
) -> VerifiedSignature:
    """Full core validation of a parsed signature; returns what was signed.

    SignatureValue is checked before the digests: one public-key operation over the small
    SignedInfo refuses a forgery before any large Body is canonicalised (a cheap DoS guard); the
    outcome for a valid message is the same as the XMLDSig §3.2 order.
    """
    check_signature_value(parsed, public_key)
    check_digests(parsed, policy)
    references = parsed.references
    return VerifiedSignature(
        tuple([reference.element for reference in references]),
        tuple([reference.uri[1:] for reference in references]),
        parsed.signature_algorithm,
        parsed.signature_value,
    )
