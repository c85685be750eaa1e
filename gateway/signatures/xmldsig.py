"""XML Signature core processing for document signatures (XMLDSig 1.1 §3.2, §4.3.3, §6.6).

The WS-Security gate accepts one narrow profile. Document signatures made by signing tools are
more varied, so this module resolves and digests references itself, reusing the XML-DSig core it
shares with the gate (``gateway.xmlsig``): the exclusive canonicaliser, the element names and the
Id index (``wsu:Id``, ``Id``, ``xml:id``; a value defined twice refuses the document -- the XSW
precondition). Supported:

* ``SignedInfo`` canonicalisation: C14N 1.0, C14N 1.1 and exclusive C14N (with a PrefixList),
  with or without comments -- of SignedInfo *in its context*: the namespaces and ``xml:*``
  attributes in scope from its ancestors (C14N 1.0 §2.4), so an unprefixed ``Signature`` works.
* References: ``URI=""`` (the document), ``#id`` (one element), ``#xpointer(/)`` and
  ``#xpointer(id('x'))`` (the same, comments kept), and any other URI or none (detached content
  the caller supplies). Transforms: see ``gateway.signatures.transforms`` (enveloped-signature,
  Base64, XPath, XPath Filter 2.0, the canonicalisations, chained); the rest is FORMAT_FAILURE.
* A node-set without an explicit canonicalisation is serialised with C14N 1.0 (§4.3.3.2).

References are digested as the canonical octets stream out, never materialised. Whole documents
and exclusive elements: text-heavy trees (large Base64 payloads) are canonicalised by
``gateway.signatures.c14n``, which leaves the enveloped signature out as it walks; the rest by
libxml2, with the ``ds:Signature`` detached and put back (``gateway.signatures.enveloped``).
Inclusive subsets, PrefixLists and XPath-filtered node-sets, which libxml2 gets wrong or cannot
be given, by ``gateway.signatures.nodeset``. Trees are validated in the thread that parsed
them (see ``gateway.xmlsig.c14n``).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives import hashes
from lxml import etree

from gateway import namespaces as ns
from gateway.errors import GatewayError
from gateway.signatures import c14n, crypto, enveloped, nodeset
from gateway.signatures.findings import FormatError
from gateway.signatures.nodeset import Mode, NodeSet, WorkBudget
from gateway.signatures.transforms import (
    BASE64,
    C14N10,
    C14N10_COMMENTS,
    DEFAULT_C14N,
    XPATH,
    XPATH_FILTER2,
    C14nMethod,
    Transform,
    base64_decode,
    c14n_method,
    parse_transforms,
    select,
)
from gateway.xmlsig.c14n import DEFAULT_PREFIX, canonicalise
from gateway.xmlsig.names import (
    CANONICALIZATION_METHOD,
    DIGEST_METHOD,
    DIGEST_VALUE,
    ENVELOPED_SIGNATURE,
    KEY_INFO,
    OBJECT,
    REFERENCE,
    SIGNATURE_METHOD,
    SIGNATURE_VALUE,
    SIGNED_INFO,
    TRANSFORMS,
)
from gateway.xmlsig.references import IdIndex
from gateway.xmlsig.values import decode_base64_text, element_children

_XPOINTER_ID = re.compile(r"#xpointer\(id\('([A-Za-z_][A-Za-z0-9_.\-]{0,127})'\)\)", re.ASCII)
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
MANIFEST = ns.qname(ns.DS, "Manifest")


elements = element_children
"""The child elements of a node (``gateway.xmlsig.values.element_children``)."""


def base64_text(element: etree._Element, what: str) -> bytes:
    try:
        return decode_base64_text(element, what)
    except ValueError as exc:
        raise FormatError(str(exc)) from exc


def _mode(method: C14nMethod) -> Mode:
    return Mode(
        exclusive=method.exclusive,
        version_11=method.version_11,
        inclusive_prefixes=method.prefixes,
    )


def canonical_octets(
    node: etree._Element | etree._ElementTree, method: C14nMethod, *, with_comments: bool
) -> bytes:
    """Canonicalise an element (in its context: C14N 1.0 §2.4) or a whole document."""
    if isinstance(node, etree._Element):
        if method.exclusive and not method.prefixes:
            return canonicalise(node, with_comments=with_comments)
        # libxml2 loses the namespace context of an inclusive subset (see nodeset).
        root = node.getroottree().getroot()
        return nodeset.canonical_octets(NodeSet(root, node, with_comments), _mode(method))
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
    transforms: tuple[Transform, ...]
    digest_uri: str
    digest_value: bytes

    @property
    def digest_name(self) -> str | None:
        return crypto.XML_DIGESTS.get(self.digest_uri)

    @property
    def is_same_document(self) -> bool:
        return self.uri is not None and (self.uri == "" or self.uri.startswith("#"))

    @property
    def enveloped(self) -> bool:
        return any(t.algorithm == ENVELOPED_SIGNATURE for t in self.transforms)

    @property
    def c14n(self) -> C14nMethod | None:
        """The final canonicalisation, when the last transform is one."""
        return self.transforms[-1].c14n if self.transforms else None

    @property
    def transform_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.transforms)


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


def parse_reference(element: etree._Element) -> Reference:
    """A ``ds:Reference`` of SignedInfo or of a Manifest (XMLDSig §4.4.3, §5.1)."""
    children = elements(element)
    tags = [child.tag for child in children]
    if tags not in ([TRANSFORMS, DIGEST_METHOD, DIGEST_VALUE], [DIGEST_METHOD, DIGEST_VALUE]):
        raise FormatError("A Reference holds (Transforms), DigestMethod and DigestValue, in order")
    transforms = parse_transforms(children[0] if len(children) == 3 else None)
    uri = element.get("URI")
    if uri is None and any(t.algorithm == ENVELOPED_SIGNATURE for t in transforms):
        # xmldsigjs/xadesjs omit URI on their enveloped references. The enveloped-signature
        # transform only applies to the document holding the signature (XMLDSig §6.6.4), so no
        # detached content can be meant: read it as URI="" (the report warns).
        uri = ""
    return Reference(
        element=element,
        uri=uri,
        type=element.get("Type"),
        transforms=transforms,
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
        references=tuple(parse_reference(part) for part in parts[2:]),
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
        element = _other_id(root, match.group(1) if match else uri[1:] if uri[:1] == "#" else "")
        if element is None:
            raise FormatError(f"The reference {uri[:100]!r} points to no element") from exc
    return Target(element, keep_comments=keep_comments)


_OTHER_ID = etree.XPath("//*[@ID = $value or @id = $value]")


def _other_id(root: etree._Element, value: str) -> etree._Element | None:
    """The one element whose ``ID`` or ``id`` attribute is ``value`` (SAML and several
    e-invoicing formats name elements so; DSS takes both), looked for only when no ``Id``,
    ``wsu:Id`` or ``xml:id`` matched. A value two elements share is ambiguous -- the shape of a
    wrapping attack -- and refused."""
    if not value:
        return None
    found = _OTHER_ID(root, value=value)
    assert isinstance(found, list)
    if len(found) > 1:
        raise FormatError(f"The Id {value[:100]!r} is defined more than once in the document")
    return found[0] if found else None


class _HashSink:
    """A file-like object libxml2's C14N writer feeds in chunks: no copy of the document."""

    def __init__(self, hash_name: str) -> None:
        self._hash = hashes.Hash(crypto.hash_algorithm(hash_name))

    def write(self, data: bytes) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.finalize()


class _OctetSink:
    """The same for octets that are needed whole (an archive time-stamp's input)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._chunks.append(data)

    def octets(self) -> bytes:
        return b"".join(self._chunks)


_Sink = TypeVar("_Sink", _HashSink, _OctetSink)


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
    return _canonical_into(
        node,
        method,
        functools.partial(_HashSink, hash_name),
        with_comments=with_comments,
        excluding=excluding,
        text_heavy=text_heavy,
    ).digest()


def _canonical_into(
    node: etree._Element | etree._ElementTree,
    method: C14nMethod,
    new_sink: Callable[[], _Sink],
    *,
    with_comments: bool,
    excluding: etree._Element | None,
    text_heavy: bool,
) -> _Sink:
    """``canonical_digest``'s work, written to a sink ``new_sink`` makes (a fresh one when a
    first attempt is abandoned half-way)."""
    if excluding is not None and excluding.getparent() is None:
        excluding = None  # the signature is the document element: nothing can be taken out
    if text_heavy and DEFAULT_PREFIX not in method.prefixes:
        sink = new_sink()
        if c14n.render(
            node,
            sink.write,
            exclusive=method.exclusive,
            with_comments=with_comments,
            inclusive_prefixes=method.prefixes,
            excluding=excluding,
        ):
            return sink
    # Outside the fast subset, or not text-heavy: libxml2, on a tree without the signature.
    if excluding is None:
        return _libxml2_into(node, method, new_sink(), with_comments=with_comments)
    if not enveloped.reattaches_faithfully(excluding):
        node, excluding = enveloped.copy_of(node, excluding)  # rare: see enveloped
    with enveloped.detached(excluding):
        return _libxml2_into(node, method, new_sink(), with_comments=with_comments)


def _libxml2_into(
    node: etree._Element | etree._ElementTree,
    method: C14nMethod,
    sink: _Sink,
    *,
    with_comments: bool,
) -> _Sink:
    """The canonical form by libxml2 (streamed into ``sink`` where lxml allows it)."""
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
        sink.write(canonical_octets(node, method, with_comments=with_comments))
        return sink
    tree = node if isinstance(node, etree._ElementTree) else etree.ElementTree(node)
    tree.write_c14n(
        sink,
        exclusive=method.exclusive,
        with_comments=with_comments,
        inclusive_ns_prefixes=list(method.prefixes) or None,
    )
    return sink


def _is_inside(element: etree._Element, ancestor: etree._Element) -> bool:
    return any(node is ancestor for node in element.iterancestors())


def _fast_method(nodes: NodeSet, method: C14nMethod) -> C14nMethod | None:
    """The method libxml2 or the text walk renders this node-set with exactly, if any: a whole
    document (C14N 1.1 of a whole document is C14N 1.0: they differ on subsets only), or an
    element in exclusive mode without a PrefixList, at most the enveloped signature left out."""
    if nodes.selections or len(nodes.excluded) > 1:
        return None
    if nodes.apex is None:
        if method.version_11:
            return C14nMethod(
                C14N10_COMMENTS if method.with_comments else C14N10,
                exclusive=False,
                with_comments=method.with_comments,
            )
        return method
    if method.exclusive and not method.prefixes:
        return method
    return None


def _nodeset_digest(
    nodes: NodeSet, method: C14nMethod, hash_name: str, *, text_heavy: bool
) -> bytes:
    """``hash(canonicalised node-set)``, streamed."""
    return _nodeset_into(
        nodes, method, functools.partial(_HashSink, hash_name), text_heavy=text_heavy
    ).digest()


def _nodeset_into(
    nodes: NodeSet, method: C14nMethod, new_sink: Callable[[], _Sink], *, text_heavy: bool
) -> _Sink:
    """The canonicalised node-set written to a sink: by libxml2 or the text walk where they
    render it exactly (:func:`_fast_method`), else by ``gateway.signatures.nodeset``."""
    with_comments = nodes.with_comments and method.with_comments
    fast = _fast_method(nodes, method)
    if fast is not None:
        return _canonical_into(
            nodes.root.getroottree() if nodes.apex is None else nodes.apex,
            fast,
            new_sink,
            with_comments=with_comments,
            excluding=nodes.excluded[0] if nodes.excluded else None,
            text_heavy=text_heavy,
        )
    sink = new_sink()
    nodeset.render(nodes if with_comments else nodes.without_comments(), _mode(method), sink.write)
    return sink


def _parsed(octets: bytes, max_depth: int) -> NodeSet:
    """Octets a node-set transform needs, parsed (XMLDSig §4.3.3.2): comments kept."""
    from gateway.xmlsafe import parse_xml

    try:
        root = parse_xml(octets, max_bytes=len(octets) + 1, max_depth=max_depth)
    except GatewayError as exc:
        raise FormatError("Data a transform needs as XML is not acceptable XML") from exc
    return NodeSet(root, None, with_comments=True)


def _apply(
    transform: Transform, data: NodeSet | bytes, signature: etree._Element, max_depth: int
) -> NodeSet | bytes:
    if transform.algorithm == BASE64:
        return base64_decode(data)
    nodes = data if isinstance(data, NodeSet) else _parsed(data, max_depth)
    if transform.c14n is not None:
        chunks: list[bytes] = []
        mode_nodes = nodes if transform.c14n.with_comments else nodes.without_comments()
        nodeset.render(mode_nodes, _mode(transform.c14n), chunks.append)
        return b"".join(chunks)
    if transform.algorithm == ENVELOPED_SIGNATURE:
        if signature.getroottree().getroot() is not nodes.root:
            raise FormatError("An enveloped-signature transform on data outside the document")
        if nodes.apex is None or _is_inside(signature, nodes.apex):
            return nodes.excluding(signature)
        return nodes
    if transform.algorithm in (XPATH, XPATH_FILTER2):
        return select(nodes, transform)
    raise FormatError(f"Unsupported reference transform {transform.algorithm[:100]!r}")


@dataclass(frozen=True, slots=True)
class Digested:
    """A reference's data after its transforms, digested."""

    value: bytes
    narrowed: bool
    """An XPath transform left out more than ``ds:Signature`` elements: the reference covers
    only part of what its URI designates."""


class ReferenceOctets:
    """The octets each reference of one signature yielded while its digest was computed, kept
    for an archive time-stamp over the same references (EN 319 132-1 §5.5.2.2) so that they are
    not transformed and canonicalised a second time. Only kept when the signature has one: the
    archive time-stamp's input holds them whole anyway."""

    def __init__(self) -> None:
        self._octets: dict[int, tuple[Reference, C14nMethod | None, bytes]] = {}

    def keep(self, reference: Reference, method: C14nMethod | None, octets: bytes) -> None:
        """``method``: the canonicalisation of the final node-set (None: the transforms ended
        in octets)."""
        self._octets[id(reference)] = (reference, method, octets)

    def get(self, reference: Reference, node_set_method: C14nMethod) -> bytes | None:
        """What :func:`transformed_octets` would yield with ``node_set_method``, if kept."""
        entry = self._octets.get(id(reference))
        if entry is None or entry[0] is not reference:
            return None
        method = entry[1]
        if method is None or method == (_final_c14n(reference) or node_set_method):
            return entry[2]
        return None


def _final_c14n(reference: Reference) -> C14nMethod | None:
    transforms = reference.transforms
    return transforms[-1].c14n if transforms else None


def transformed_digest(
    reference: Reference,
    data: NodeSet | bytes,
    signature: etree._Element,
    hash_name: str,
    *,
    max_depth: int,
    text_heavy: bool = False,
    octets: ReferenceOctets | None = None,
) -> Digested:
    """The digest of ``data`` (what the URI designates) after the reference's transforms
    (XMLDSig §4.4.3.2); a node-set left at the end is canonicalised with C14N 1.0. With
    ``octets``, what was digested is also kept there."""
    transforms = reference.transforms
    final: C14nMethod | None = None
    if transforms and transforms[-1].c14n is not None:
        final, transforms = transforms[-1].c14n, transforms[:-1]
    narrowed = False
    for transform in transforms:
        data = _apply(transform, data, signature, max_depth)
        if transform.algorithm in (XPATH, XPATH_FILTER2) and isinstance(data, NodeSet):
            narrowed = narrowed or not data.omits_only_signatures()
    if isinstance(data, bytes):
        if final is None:
            if octets is not None:
                octets.keep(reference, None, data)
            return Digested(crypto.digest(hash_name, data), narrowed)
        data = _parsed(data, max_depth)
    method = final or DEFAULT_C14N
    if octets is not None:
        canonical = _nodeset_into(data, method, _OctetSink, text_heavy=text_heavy).octets()
        octets.keep(reference, method, canonical)
        return Digested(crypto.digest(hash_name, canonical), narrowed)
    value = _nodeset_digest(data, method, hash_name, text_heavy=text_heavy)
    return Digested(value, narrowed)


def transformed_octets(
    reference: Reference,
    data: NodeSet | bytes,
    signature: etree._Element,
    *,
    max_depth: int,
    node_set_method: C14nMethod,
) -> bytes:
    """The octets a reference's processing yields (XMLDSig §4.4.3.2), for time-stamps over
    references (XAdES ArchiveTimeStamp, EN 319 132-1 §5.5.2.2): what its last transform outputs,
    a node-set left at the end canonicalised with ``node_set_method`` (the time-stamp's)."""
    transforms = reference.transforms
    final: C14nMethod | None = None
    if transforms and transforms[-1].c14n is not None:
        final, transforms = transforms[-1].c14n, transforms[:-1]
    for transform in transforms:
        data = _apply(transform, data, signature, max_depth)
    if isinstance(data, bytes):
        if final is None:
            return data
        data = _parsed(data, max_depth)
    return _nodeset_into(data, final or node_set_method, _OctetSink, text_heavy=False).octets()


def same_document_digest(
    reference: Reference,
    target: Target,
    root: etree._Element,
    signature: etree._Element,
    hash_name: str,
    *,
    max_depth: int,
    text_heavy: bool = False,
    budget: WorkBudget | None = None,
    octets: ReferenceOctets | None = None,
) -> Digested:
    """The digest of what a same-document reference designates, after its transforms."""
    nodes = NodeSet(root, target.element, with_comments=target.keep_comments, budget=budget)
    return transformed_digest(
        reference,
        nodes,
        signature,
        hash_name,
        max_depth=max_depth,
        text_heavy=text_heavy,
        octets=octets,
    )


def external_digest(
    reference: Reference,
    content: bytes,
    signature: etree._Element,
    hash_name: str,
    *,
    max_depth: int,
    octets: ReferenceOctets | None = None,
) -> Digested:
    """The digest of detached content after the reference's transforms."""
    return transformed_digest(
        reference, content, signature, hash_name, max_depth=max_depth, octets=octets
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
