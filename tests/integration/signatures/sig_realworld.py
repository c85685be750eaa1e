"""Templates for XML signatures shaped the way other tools make them (issue 12): unprefixed
``Signature`` elements (.NET SignedXml, Microsoft Office), default-namespace documents,
enveloping signatures with a Base64 transform (DSS's default packaging), XPath and XPath Filter
2.0 transforms, C14N 1.1, several references, manifests.

Helpers only build templates; xmlsec1 (``sig_vectors.xmlsec_sign``) signs them and the tests
assert. Each vector names the byte to change for its tampered twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sig_vectors import C14N, ENVELOPED, EXC_C14N, RSA_SHA256_URI, SHA256_URI

from gateway import namespaces as ns

C14N_COMMENTS = C14N + "#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N11_COMMENTS = C14N11 + "#WithComments"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
BASE64 = "http://www.w3.org/2000/09/xmldsig#base64"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH2 = "http://www.w3.org/2002/06/xmldsig-filter2"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
INVOICE_NS = "urn:example:invoice"
LINE_ID_ATTR = f"{INVOICE_NS}:Line"
INVOICE_ID_ATTR = f"{INVOICE_NS}:Invoice"
OBJECT_ID_ATTR = f"{ns.DS}:Object"
MANIFEST_ID_ATTR = f"{ns.DS}:Manifest"

INVOICE = (
    '<Invoice xmlns="urn:example:invoice" xmlns:x="urn:example:extra" Id="inv">'
    '<Line Id="l1"><Amount>10</Amount><Note xmlns=""><Free>plain</Free></Note></Line>'
    '<Line Id="l2"><Amount>20</Amount></Line>'
    "{signature}</Invoice>"
)
"""A default-namespace document with an undeclared default below (``xmlns=""``)."""

INVOICE_LANG = (
    '<Invoice xmlns="urn:example:invoice" xml:lang="es" xml:space="preserve" Id="inv">'
    '<Wrap><Line Id="l1"><Amount>10</Amount></Line></Wrap>{signature}</Invoice>'
)
"""xml:* attributes above a referenced element (inherited by inclusive C14N, C14N 1.0 §2.4)."""

INVOICE_BASE = (
    '<Invoice xmlns="urn:example:invoice" {outer} Id="inv"><Wrap {wrap}>'
    '<Line Id="l1" {line}><Amount>10</Amount></Line></Wrap>{signature}</Invoice>'
)
"""xml:base above a referenced element: C14N 1.1 §2.4 fixes it up (joins the omitted ancestors'
values with the element's own)."""
XML_BASES = (
    ('xml:base="http://a.example/dir/"', 'xml:base="sub/"', 'xml:base="x.xml"'),
    ('xml:base="http://a.example/dir/"', 'xml:base="../up/"', ""),
    ('xml:base="http://a.example/d/e"', "", 'xml:base="f"'),
    ("", 'xml:base="rel/"', ""),
    ('xml:base="http://a.example/d/"', 'xml:base="./s/./t/"', 'xml:base="../x"'),
)

PAYLOAD_B64 = "SGVsbG8gd29ybGQsIHRoaXMgaXMgdGhlIHNpZ25lZCBkb2N1bWVudC4="
"""Base64 of b"Hello world, this is the signed document." (DSS-style enveloped payload)."""


def transform(algorithm: str, content: str = "", prefix: str = "") -> str:
    tag = f"{prefix}:Transform" if prefix else "Transform"
    return f'<{tag} Algorithm="{algorithm}">{content}</{tag}>'


def xpath(expression: str, prefix: str = "") -> str:
    tag = f"{prefix}:XPath" if prefix else "XPath"
    return transform(
        XPATH,
        f'<{tag} xmlns:dsig="{ns.DS}" xmlns:i="{INVOICE_NS}">{expression}</{tag}>',
        prefix=prefix,
    )


def xpath2(*filters: tuple[str, str]) -> str:
    return transform(
        XPATH2,
        "".join(
            f'<f:XPath xmlns:f="{XPATH2}" xmlns:dsig="{ns.DS}" xmlns:i="{INVOICE_NS}" '
            f'Filter="{operation}">{expression}</f:XPath>'
            for operation, expression in filters
        ),
    )


def signature(
    references: Sequence[tuple[str | None, Sequence[str]] | tuple[str | None, Sequence[str], str]],
    *,
    c14n: str = C14N,
    objects: str = "",
    prefix: str = "",
    signature_id: str = "sig-1",
) -> str:
    """A ``Signature`` template; unprefixed (default namespace) unless ``prefix`` is given.
    References are (URI or None for no URI attribute, transforms[, Type])."""
    p = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{ns.DS}"' if prefix else f'xmlns="{ns.DS}"'
    parts = []
    for reference in references:
        uri, transforms = reference[0], reference[1]
        type_attr = f' Type="{reference[2]}"' if len(reference) == 3 else ""  # type: ignore[misc]
        uri_attr = "" if uri is None else f' URI="{uri}"'
        body = "".join(transforms)
        parts.append(
            f"<{p}Reference{uri_attr}{type_attr}>"
            + (f"<{p}Transforms>{body}</{p}Transforms>" if body else "")
            + f'<{p}DigestMethod Algorithm="{SHA256_URI}"/><{p}DigestValue/></{p}Reference>'
        )
    return (
        f'<{p}Signature {declaration} Id="{signature_id}"><{p}SignedInfo>'
        f'<{p}CanonicalizationMethod Algorithm="{c14n}"/>'
        f'<{p}SignatureMethod Algorithm="{RSA_SHA256_URI}"/>'
        + "".join(parts)
        + f"</{p}SignedInfo><{p}SignatureValue/><{p}KeyInfo><{p}X509Data/></{p}KeyInfo>"
        + objects
        + f"</{p}Signature>"
    )


def manifest(manifest_id: str, references: Sequence[tuple[str, Sequence[str]]]) -> str:
    body = "".join(
        f'<Reference URI="{uri}">'
        + (f"<Transforms>{''.join(transforms)}</Transforms>" if transforms else "")
        + f'<DigestMethod Algorithm="{SHA256_URI}"/><DigestValue/></Reference>'
        for uri, transforms in references
    )
    return f'<Object><Manifest Id="{manifest_id}">{body}</Manifest></Object>'


@dataclass(frozen=True)
class RealWorldVector:
    """A template for xmlsec1, its Id attributes and the tampering that must be HASH_FAILURE."""

    name: str
    template: str
    id_attrs: tuple[str, ...] = ()
    content_needle: bytes = b">10<"
    content_replacement: bytes = b">11<"


def _invoice(sig: str) -> str:
    return INVOICE.format(signature=sig)


VECTORS: tuple[RealWorldVector, ...] = (
    # 1. Namespace context: an unprefixed Signature in a default-namespace document.
    *(
        RealWorldVector(
            f"unprefixed-enveloped-{name}",
            _invoice(signature([("", [transform(ENVELOPED), transform(c14n)])], c14n=c14n)),
        )
        for name, c14n in (
            ("c14n", C14N),
            ("c14n-comments", C14N_COMMENTS),
            ("c14n11", C14N11),
            ("c14n11-comments", C14N11_COMMENTS),
            ("exc", EXC_C14N),
            ("exc-comments", EXC_C14N_COMMENTS),
        )
    ),
    *(
        RealWorldVector(
            f"unprefixed-element-{name}",
            _invoice(signature([("#l1", [transform(c14n)])], c14n=c14n)),
            (LINE_ID_ATTR,),
        )
        for name, c14n in (("c14n", C14N), ("c14n11", C14N11), ("exc", EXC_C14N))
    ),
    RealWorldVector(
        "unprefixed-element-no-transforms",
        _invoice(signature([("#l1", [])])),
        (LINE_ID_ATTR,),
    ),
    RealWorldVector(
        "unprefixed-xpointer-id-with-comments",
        _invoice(signature([("#xpointer(id('l1'))", [transform(C14N_COMMENTS)])])),
        (LINE_ID_ATTR,),
    ),
    RealWorldVector(
        "prefixed-element-in-default-namespace-c14n",
        _invoice(signature([("#l1", [transform(C14N, prefix="ds")])], prefix="ds", c14n=C14N)),
        (LINE_ID_ATTR,),
    ),
    *(
        RealWorldVector(
            f"inherited-xml-attributes-{name}",
            INVOICE_LANG.format(signature=signature([("#l1", [transform(c14n)])], c14n=c14n)),
            (LINE_ID_ATTR,),
        )
        for name, c14n in (("c14n", C14N), ("exc", EXC_C14N))
    ),
    *(
        RealWorldVector(
            f"xml-base-fix-up-c14n11-{position}",
            INVOICE_BASE.format(
                outer=outer,
                wrap=wrap,
                line=line,
                signature=signature([("#l1", [transform(C14N11)])], c14n=C14N11),
            ),
            (LINE_ID_ATTR,),
        )
        for position, (outer, wrap, line) in enumerate(XML_BASES, start=1)
    ),
    RealWorldVector(
        "exc-inclusive-namespaces-prefix-list",
        _invoice(
            signature(
                [
                    (
                        "#l1",
                        [
                            transform(
                                EXC_C14N,
                                f'<ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" '
                                'PrefixList="#default x"/>',
                            )
                        ],
                    )
                ],
                c14n=EXC_C14N,
            )
        ),
        (LINE_ID_ATTR,),
    ),
    # 2. Transforms.
    RealWorldVector(
        "enveloping-base64-dss",
        signature(
            [("#obj-1", [transform(BASE64)])],
            objects=f'<Object Id="obj-1">{PAYLOAD_B64}</Object>',
        ),
        (OBJECT_ID_ATTR,),
        content_needle=b"SGVsbG8g",
        content_replacement=b"SGVsbG9g",
    ),
    RealWorldVector(
        "enveloping-base64-prefixed-line-wrapped",
        signature(
            [("#obj-1", [transform(BASE64, prefix="ds")])],
            objects=f'<ds:Object Id="obj-1">\n{PAYLOAD_B64[:20]}\n{PAYLOAD_B64[20:]}\n</ds:Object>',
            prefix="ds",
        ),
        (OBJECT_ID_ATTR,),
        content_needle=b"SGVsbG8g",
        content_replacement=b"SGVsbG9g",
    ),
    RealWorldVector(
        "enveloping-object-c14n",
        signature(
            [("#obj-1", [transform(C14N)])],
            objects='<Object Id="obj-1"><Data xmlns="urn:example:data">10</Data></Object>',
        ),
        (OBJECT_ID_ATTR,),
    ),
    RealWorldVector(
        "xpath-not-ancestor-or-self-signature",
        _invoice(
            signature([("", [xpath("not(ancestor-or-self::dsig:Signature)"), transform(C14N)])])
        ),
    ),
    RealWorldVector(
        "xpath-here-enveloped-equivalent",
        _invoice(
            signature(
                [
                    (
                        "",
                        [
                            xpath(
                                "count(ancestor-or-self::dsig:Signature | "
                                "here()/ancestor::dsig:Signature[1]) &gt; "
                                "count(ancestor-or-self::dsig:Signature)"
                            ),
                            transform(EXC_C14N),
                        ],
                    )
                ]
            )
        ),
    ),
    RealWorldVector(
        "xpath-filter2-subtract-signature",
        _invoice(
            signature(
                [
                    (
                        "",
                        [
                            xpath2(("subtract", "here()/ancestor::dsig:Signature[1]")),
                            transform(C14N),
                        ],
                    )
                ]
            )
        ),
    ),
    RealWorldVector(
        "xpath-filter2-intersect-subtract-union-c14n11",
        _invoice(
            signature(
                [
                    (
                        "",
                        [
                            xpath2(
                                ("intersect", "//i:Line"),
                                ("subtract", "//Note"),
                                ("union", "//Free"),
                            ),
                            transform(C14N11),
                        ],
                    )
                ]
            )
        ),
    ),
    RealWorldVector(
        "transform-chain-enveloped-xpath-c14n11",
        _invoice(
            signature(
                [
                    (
                        "",
                        [
                            transform(ENVELOPED),
                            xpath("not(self::comment())"),
                            transform(C14N11),
                        ],
                    )
                ]
            )
        ),
    ),
    # 3. References.
    RealWorldVector(
        "several-references",
        _invoice(
            signature(
                [
                    ("", [transform(ENVELOPED), transform(C14N)]),
                    ("#l1", [transform(C14N11)]),
                    ("#l2", [transform(EXC_C14N)]),
                    ("#inv", [transform(ENVELOPED), transform(C14N)]),
                ]
            )
        ),
        (LINE_ID_ATTR, INVOICE_ID_ATTR),
    ),
)


def tamper_signed_info(signed: bytes) -> bytes:
    """Whitespace inside SignedInfo: canonicalised, so the signature value no longer matches,
    while every reference digest still does."""
    for tag in (b"<SignedInfo>", b"<ds:SignedInfo>"):
        if signed.count(tag) == 1:
            return signed.replace(tag, tag + b" ")
    raise AssertionError("no unique SignedInfo start tag")


ORPHANS = tuple(
    _invoice(signature([reference]))
    for reference in (
        (
            "",
            [xpath("not(self::i:Line) and not(ancestor-or-self::dsig:Signature)"), transform(C14N)],
        ),
        ("#l1", [xpath("not(self::Note) and not(self::text())"), transform(C14N)]),
    )
)
"""XPath transforms that leave out an element but keep its attributes or namespace nodes: C14N
renders those as bare text, and xmlsec1 and Santuario disagree on how (each rejects the other's
signature), so the engine refuses them (FORMAT_FAILURE)."""
