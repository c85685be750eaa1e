"""XML Signature core processing for document signatures (XMLDSig 1.1 §3.2, §4.3.3, §6.6).

The WS-Security gate (``gateway.wssec.signature``) accepts one narrow profile. Document
signatures made by signing tools are more varied, so this module resolves and digests references
itself, reusing the gate's exclusive canonicaliser, its element constants and its Id index
(``wsu:Id``, ``Id``, ``xml:id``; a value defined twice refuses the document -- the XSW
precondition). Supported:

* ``SignedInfo`` canonicalisation: C14N 1.0 and exclusive C14N, with or without comments.
* References: ``URI=""`` (the document), ``#id`` (one element), ``#xpointer(/)`` and
  ``#xpointer(id('x'))`` (the same, comments kept), and any other URI or none (detached content
  the caller supplies). Transforms: an optional leading enveloped-signature transform and at most
  one canonicalisation; nothing else (XPath, XSLT and Base64 transforms are FORMAT_FAILURE: they
  make "what was signed" depend on code rather than on a node you can point at).
* A node-set without an explicit canonicalisation is serialised with C14N 1.0 (§4.3.3.2).

References are digested as the canonical octets stream out, never materialised. Text-heavy
trees (large Base64 payloads) are canonicalised by ``gateway.signatures.c14n``, which leaves the
enveloped signature out as it walks; the rest by libxml2, with the ``ds:Signature`` detached
and put back (``gateway.signatures.enveloped``). Trees are validated in the thread that parsed
them (see ``gateway.wssec.signature``).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from lxml import etree

from gateway import namespaces as ns
from gateway.errors import GatewayError
from gateway.signatures import c14n, crypto, enveloped
from gateway.signatures.findings import FormatError
from gateway.wssec.references import IdIndex
from gateway.wssec.signature import (
    CANONICALIZATION_METHOD,
    DEFAULT_PREFIX,
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
    canonicalise,
    decode_base64_text,
)

C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N10_COMMENTS = C14N10 + "#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
_XPOINTER_ID = re.compile(r"#xpointer\(id\('([A-Za-z_][A-Za-z0-9_.\-]{0,127})'\)\)", re.ASCII)


@dataclass(frozen=True, slots=True)
class C14nMethod:
    uri: str
    exclusive: bool
    with_comments: bool
    prefixes: tuple[str, ...] = ()


_C14N = {
    C14N10: (False, False),
    C14N10_COMMENTS: (False, True),
    EXC_C14N: (True, False),
    EXC_C14N_COMMENTS: (True, True),
}
DEFAULT_C14N = C14nMethod(C14N10, exclusive=False, with_comments=False)


def elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def base64_text(element: etree._Element, what: str) -> bytes:
    try:
        return decode_base64_text(element, what)
    except ValueError as exc:
        raise FormatError(str(exc)) from exc


def c14n_method(element: etree._Element) -> C14nMethod:
    """A supported canonicalisation (method element or Transform) with its PrefixList."""
    uri = element.get("Algorithm") or ""
    known = _C14N.get(uri)
    if known is None:
        raise FormatError(f"Unsupported canonicalisation method {uri[:100]!r}")
    prefixes: tuple[str, ...] = ()
    children = elements(element)
    if children:
        if not known[0] or len(children) != 1 or children[0].tag != INCLUSIVE_NAMESPACES:
            raise FormatError("Unexpected content in a canonicalisation method")
        prefixes = tuple((children[0].get("PrefixList") or "").split())
    return C14nMethod(uri, known[0], known[1], prefixes)


def canonical_octets(
    node: etree._Element | etree._ElementTree, method: C14nMethod, *, with_comments: bool
) -> bytes:
    """Canonicalise an element (in its context) or a whole document."""
    if method.exclusive and isinstance(node, etree._Element):
        return canonicalise(node, with_comments=with_comments, inclusive_prefixes=method.prefixes)
    octets: bytes = etree.tostring(
        node,
        method="c14n",
        exclusive=method.exclusive,
        with_comments=with_comments,
        inclusive_ns_prefixes=list(method.prefixes) or None,
    )
    return octets


@dataclass(frozen=True, slots=True)
class Reference:
    """One ``ds:Reference`` as written (not yet resolved)."""

    element: etree._Element
    uri: str | None
    type: str | None
    enveloped: bool
    c14n: C14nMethod | None
    digest_uri: str
    digest_value: bytes

    @property
    def digest_name(self) -> str | None:
        return crypto.XML_DIGESTS.get(self.digest_uri)

    @property
    def is_same_document(self) -> bool:
        return self.uri is not None and (self.uri == "" or self.uri.startswith("#"))


@dataclass(frozen=True, slots=True)
class SignatureStructure:
    element: etree._Element
    signed_info: etree._Element
    c14n: C14nMethod
    signature_uri: str
    signature_value: bytes
    signature_value_element: etree._Element
    references: tuple[Reference, ...]
    key_info: etree._Element | None
    objects: tuple[etree._Element, ...]


def _reference(element: etree._Element) -> Reference:
    children = elements(element)
    tags = [child.tag for child in children]
    if tags not in ([TRANSFORMS, DIGEST_METHOD, DIGEST_VALUE], [DIGEST_METHOD, DIGEST_VALUE]):
        raise FormatError("A Reference holds (Transforms), DigestMethod and DigestValue, in order")
    transforms = elements(children[0]) if len(children) == 3 else []
    enveloped = False
    c14n: C14nMethod | None = None
    for position, transform in enumerate(transforms):
        if transform.tag != TRANSFORM:
            raise FormatError("Transforms may only hold Transform elements")
        algorithm = transform.get("Algorithm")
        if algorithm == ENVELOPED_SIGNATURE and position == 0 and not enveloped:
            enveloped = True
        elif algorithm in _C14N and c14n is None and position == len(transforms) - 1:
            c14n = c14n_method(transform)
        else:
            raise FormatError(f"Unsupported reference transform {str(algorithm)[:100]!r}")
    return Reference(
        element=element,
        uri=element.get("URI"),
        type=element.get("Type"),
        enveloped=enveloped,
        c14n=c14n,
        digest_uri=children[-2].get("Algorithm") or "",
        digest_value=base64_text(children[-1], "DigestValue"),
    )


def parse_signature(signature: etree._Element, *, max_references: int) -> SignatureStructure:
    """Check the structure of a ``ds:Signature`` (XMLDSig §4) and read its references."""
    children = elements(signature)
    if len(children) < 2 or children[0].tag != SIGNED_INFO or children[1].tag != SIGNATURE_VALUE:
        raise FormatError("A Signature starts with SignedInfo and SignatureValue")
    rest = children[2:]
    key_info = None
    if rest and rest[0].tag == KEY_INFO:
        key_info = rest.pop(0)
    if any(child.tag != OBJECT for child in rest):
        raise FormatError("A Signature holds SignedInfo, SignatureValue, KeyInfo and Objects only")
    parts = elements(children[0])
    if (
        len(parts) < 3
        or parts[0].tag != CANONICALIZATION_METHOD
        or parts[1].tag != SIGNATURE_METHOD
        or any(part.tag != REFERENCE for part in parts[2:])
    ):
        raise FormatError("SignedInfo holds CanonicalizationMethod, SignatureMethod and References")
    if len(parts) - 2 > max_references:
        raise FormatError("The signature has too many references")
    if elements(parts[1]) and parts[1].get("Algorithm") != crypto.RSA_PSS:
        # rsa-pss carries RSAPSSParams, read by gateway.signatures.signature_method.
        raise FormatError("SignatureMethod parameters are not supported")
    return SignatureStructure(
        element=signature,
        signed_info=children[0],
        c14n=c14n_method(parts[0]),
        signature_uri=parts[1].get("Algorithm") or "",
        signature_value=base64_text(children[1], "SignatureValue"),
        signature_value_element=children[1],
        references=tuple(_reference(part) for part in parts[2:]),
        key_info=key_info,
        objects=tuple(rest),
    )


def build_index(root: etree._Element) -> IdIndex:
    try:
        return IdIndex.build(root)
    except GatewayError as exc:
        raise FormatError("An Id value is defined more than once in the document") from exc


@dataclass(frozen=True, slots=True)
class Target:
    """What a same-document reference designates."""

    element: etree._Element | None
    """None for the whole document."""
    keep_comments: bool


def resolve(reference: Reference, root: etree._Element, index: IdIndex) -> Target:
    """Resolve a same-document URI (XMLDSig §4.3.3.3)."""
    uri = reference.uri or ""
    if uri == "":
        return Target(None, keep_comments=False)
    if uri == "#xpointer(/)":
        return Target(None, keep_comments=True)
    match = _XPOINTER_ID.fullmatch(uri)
    keep_comments = match is not None
    try:
        element = index.resolve("#" + match.group(1) if match else uri)
    except GatewayError as exc:
        raise FormatError(f"The reference {uri[:100]!r} points to no element") from exc
    return Target(element, keep_comments=keep_comments)


class _HashSink:
    """A file-like object libxml2's C14N writer feeds in chunks: no copy of the document."""

    def __init__(self, hash_name: str) -> None:
        self._hash = hashes.Hash(crypto.hash_algorithm(hash_name))

    def write(self, data: bytes) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.finalize()


def canonical_digest(
    node: etree._Element | etree._ElementTree,
    method: C14nMethod,
    *,
    with_comments: bool,
    hash_name: str,
    excluding: etree._Element | None = None,
    text_heavy: bool = False,
) -> bytes:
    """``hash(canonical_octets(...))`` without materialising the octets (large documents).

    ``node`` is a whole document or one element with its descendants (never the document-level
    comments and PIs around it, even for the root element: XMLDSig §4.3.3.3). ``excluding`` is
    the signature an enveloped-signature transform removes (XMLDSig §6.6.4). ``text_heavy``
    (:func:`gateway.signatures.c14n.worth_walking`) tries the text-node walk before libxml2.
    The tree is left as it was.
    """
    if excluding is not None and excluding.getparent() is None:
        excluding = None  # the signature is the document element: nothing can be taken out
    if text_heavy and DEFAULT_PREFIX not in method.prefixes:
        sink = _HashSink(hash_name)
        if c14n.render(
            node,
            sink.write,
            exclusive=method.exclusive,
            with_comments=with_comments,
            inclusive_prefixes=method.prefixes,
            excluding=excluding,
        ):
            return sink.digest()
    # Outside the fast subset, or not text-heavy: libxml2, on a tree without the signature.
    if excluding is None:
        return _libxml2_digest(node, method, with_comments=with_comments, hash_name=hash_name)
    if not enveloped.reattaches_faithfully(excluding):
        node, excluding = enveloped.copy_of(node, excluding)  # rare: see enveloped
    with enveloped.detached(excluding):
        return _libxml2_digest(node, method, with_comments=with_comments, hash_name=hash_name)


def _libxml2_digest(
    node: etree._Element | etree._ElementTree,
    method: C14nMethod,
    *,
    with_comments: bool,
    hash_name: str,
) -> bytes:
    """``canonical_digest`` by libxml2 (streamed through the hash where lxml allows it)."""
    if DEFAULT_PREFIX in method.prefixes or (
        isinstance(node, etree._Element)
        and node.getparent() is None
        and (
            next(node.itersiblings(), None) is not None
            or next(node.itersiblings(preceding=True), None) is not None
        )
    ):
        # "#default" needs the gateway's canonicaliser; ElementTree(root).write_c14n would add
        # the document-level comments and PIs around the root element.
        return crypto.digest(hash_name, canonical_octets(node, method, with_comments=with_comments))
    tree = node if isinstance(node, etree._ElementTree) else etree.ElementTree(node)
    sink = _HashSink(hash_name)
    tree.write_c14n(
        sink,
        exclusive=method.exclusive,
        with_comments=with_comments,
        inclusive_ns_prefixes=list(method.prefixes) or None,
    )
    return sink.digest()


def _refuse_inherited_xml_attributes(element: etree._Element) -> None:
    # Inclusive C14N of a subset inherits xml:lang/xml:space/xml:base from ancestors (C14N 1.0
    # §2.4); libxml2 does not add them to an element canonicalised on its own, so the digest
    # would be wrong. Say so rather than report a false HASH_FAILURE.
    xml_prefix = f"{{{ns.XML}}}"
    for ancestor in element.iterancestors():
        if any(str(name).startswith(xml_prefix) for name in ancestor.attrib):
            raise FormatError("Inclusive canonicalisation with inherited xml:* attributes")


def same_document_digest(
    reference: Reference,
    target: Target,
    root: etree._Element,
    signature: etree._Element,
    hash_name: str,
    *,
    text_heavy: bool = False,
) -> bytes:
    """The digest of what a same-document reference designates, after its transforms."""
    method = reference.c14n or DEFAULT_C14N
    with_comments = target.keep_comments and method.with_comments
    node: etree._Element | etree._ElementTree = (
        root.getroottree() if target.element is None else target.element
    )
    if target.element is not None and not method.exclusive:
        _refuse_inherited_xml_attributes(target.element)
    inside = target.element is None or any(
        ancestor is target.element for ancestor in signature.iterancestors()
    )
    return canonical_digest(
        node,
        method,
        with_comments=with_comments,
        hash_name=hash_name,
        excluding=signature if reference.enveloped and inside else None,
        text_heavy=text_heavy,
    )


def external_octets(reference: Reference, content: bytes, *, max_depth: int) -> bytes:
    """The octets a detached reference digests: the bytes, or their canonical form."""
    if reference.enveloped:
        raise FormatError("An enveloped-signature transform on detached content")
    if reference.c14n is None:
        return content
    from gateway.xmlsafe import parse_xml

    try:
        tree = parse_xml(content, max_bytes=len(content) + 1, max_depth=max_depth)
    except GatewayError as exc:
        raise FormatError("The detached content is not the XML its reference expects") from exc
    return canonical_octets(
        tree.getroottree(), reference.c14n, with_comments=reference.c14n.with_comments
    )


def element_path(element: etree._Element) -> str:
    """A readable absolute path (``/rcpt:Receipt/ds:Signature/ds:Object[2]``)."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        qname = etree.QName(node)
        prefix = node.prefix or next(
            (key for key, value in ns.PREFIXES.items() if value == qname.namespace), None
        )
        name = f"{prefix}:{qname.localname}" if prefix and qname.namespace else qname.localname
        parent = node.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def x509_certificates(key_info: etree._Element | None) -> list[bytes]:
    """DER certificates in ``KeyInfo/X509Data/X509Certificate``, in document order."""
    if key_info is None:
        return []
    return [
        base64_text(element, "X509Certificate")
        for element in key_info.iterfind(f"{{{ns.DS}}}X509Data/{{{ns.DS}}}X509Certificate")
    ]


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
