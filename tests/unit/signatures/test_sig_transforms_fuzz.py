"""Transform and reference parsing under fuzzing (issue 12): random and mutated XML signatures
-- any mix of URIs, transforms (XPath and Filter 2.0 expressions from a token soup included),
Objects and Manifests -- give a report with one entry per ``ds:Signature``, or a
FORMAT_FAILURE; never an exception, never the internal-error branch."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace

from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sig_unit_time import UNIT_NOW

from gateway import namespaces as ns
from gateway.signatures import validate
from gateway.signatures.validation import INTERNAL_ERROR

DS = ns.DS
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH2 = "http://www.w3.org/2002/06/xmldsig-filter2"
ALGORITHMS = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2000/09/xmldsig#base64",
    C14N,
    C14N + "#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    EXC,
    EXC + "WithComments",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
    "urn:unknown",
    "",
]
URIS = ["", "#i1", "#d", "#o1", "#m1", "#xpointer(/)", "#xpointer(id('i1'))", "#nope", "x.bin"]
XPATH_TOKENS = [
    "not(", "ancestor-or-self::", "ds:Signature", "self::", "text()", "node()", "comment()", ")",
    " and ", " or ", "here()", "/", "//", "[", "]", "1", "@Id", "'x'", "=", "count(", "(",
    "descendant::", "$v", "id('i1')", "position()", "ancestor::*", " | ", "*", "..", ".",
    "namespace::*", "child::", "d:item", "boolean(", "string(", "following::", "'", "\"", ",",
    "&lt;", "&gt;", "exsl:node-set(", "document('x')",
]  # fmt: skip
VALID_XPATHS = [
    "not(ancestor-or-self::ds:Signature)",
    "ancestor-or-self::d:item",
    "not(self::text())",
    (
        "count(ancestor-or-self::ds:Signature | here()/ancestor::ds:Signature[1]) &gt; "
        "count(ancestor-or-self::ds:Signature)"
    ),
    "namespace-uri(.) = ''",
    "not(self::*[@Id='i1'])",
]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

expressions = st.one_of(
    st.sampled_from(VALID_XPATHS),
    st.lists(st.sampled_from(XPATH_TOKENS), min_size=1, max_size=10).map("".join),
)


@st.composite
def transforms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "xpath", "filter2", "prefix-list"]))
    if kind == "xpath":
        return (
            f'<ds:Transform Algorithm="{XPATH}"><ds:XPath xmlns:d="urn:d">'
            f"{draw(expressions)}</ds:XPath></ds:Transform>"
        )
    if kind == "filter2":
        filters = "".join(
            f'<f:XPath xmlns:f="{XPATH2}" xmlns:d="urn:d" '
            f'Filter="{draw(st.sampled_from(["intersect", "subtract", "union", "x"]))}">'
            f"{draw(expressions)}</f:XPath>"
            for _ in range(draw(st.integers(0, 3)))
        )
        return f'<ds:Transform Algorithm="{XPATH2}">{filters}</ds:Transform>'
    if kind == "prefix-list":
        prefixes = draw(st.sampled_from(["#default", "ds d", "", "x #default"]))
        return (
            f'<ds:Transform Algorithm="{EXC}"><ec:InclusiveNamespaces xmlns:ec="{EXC}" '
            f'PrefixList="{prefixes}"/></ds:Transform>'
        )
    return f'<ds:Transform Algorithm="{draw(st.sampled_from(ALGORITHMS))}"/>'


@st.composite
def references(draw: st.DrawFn, digest: str) -> str:
    uri = draw(st.sampled_from([*URIS, None]))
    uri_attr = "" if uri is None else f' URI="{uri}"'
    chain = "".join(draw(st.lists(transforms(), max_size=4)))
    wrapped = f"<ds:Transforms>{chain}</ds:Transforms>" if draw(st.booleans()) else ""
    type_attr = draw(
        st.sampled_from(["", f' Type="{DS}Manifest"', ' Type="http://uri.etsi.org/01903#x"'])
    )
    return (
        f"<ds:Reference{uri_attr}{type_attr}>{wrapped}"
        f'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        f"<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>"
    )


@st.composite
def signed_documents(draw: st.DrawFn, certificate_b64: str) -> bytes:
    digest = base64.b64encode(draw(st.binary(min_size=32, max_size=32))).decode()
    refs = "".join(draw(st.lists(references(digest), min_size=1, max_size=3)))
    manifest_refs = "".join(draw(st.lists(references(digest), max_size=2)))
    value = base64.b64encode(draw(st.binary(min_size=64, max_size=64))).decode()
    payload = draw(st.sampled_from(["SGVsbG8=", "<d:x>1</d:x>", "", "!!", "SGVs\nbG8="]))
    default_ns = draw(st.booleans())
    signature = (
        f'<ds:Signature xmlns:ds="{DS}" Id="s1"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{draw(st.sampled_from(ALGORITHMS[2:8]))}"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>'
        f"{refs}</ds:SignedInfo><ds:SignatureValue>{value}</ds:SignatureValue>"
        f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate_b64}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f'<ds:Object Id="o1">{payload}</ds:Object>'
        f'<ds:Object><ds:Manifest Id="m1">{manifest_refs}</ds:Manifest></ds:Object>'
        "</ds:Signature>"
    )
    if default_ns:
        signature = signature.replace("ds:", "").replace('xmlns:ds="', 'xmlns="')
    return (
        f'<d:doc xmlns:d="urn:d" xml:lang="es" Id="d"><d:item Id="i1">text<!--c--></d:item>'
        f"{signature}</d:doc>"
    ).encode()


def _certificate_b64(unit_pki) -> str:
    return base64.b64encode(unit_pki.certificate.public_bytes(Encoding.DER)).decode()


def assert_reported(report, caplog, signatures: int | None) -> None:
    if signatures is not None:
        assert len(report.signatures) == signatures, report.to_json(indent=1)
    for entry in report.signatures:
        assert all(finding.message != INTERNAL_ERROR for finding in entry.findings)
    errors = [r for r in caplog.records if r.name.startswith("gateway.") and r.levelno >= 40]
    assert not errors, errors[0].getMessage()


@FUZZ
@given(data=st.data())
def test_random_signatures_are_reported(data, unit_pki, unit_policy, caplog) -> None:
    document = data.draw(signed_documents(_certificate_b64(unit_pki)))
    plain = replace(unit_policy, require_signing_certificate_reference=False)
    with caplog.at_level(logging.ERROR, logger="gateway"):
        report = validate(document, policy=plain, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report, caplog, signatures=1)
    entry = report.signatures[0]
    event(entry.findings[0].message[:40] if entry.findings else "passed")


@FUZZ
@given(data=st.data())
def test_mutated_signatures_are_reported(data, unit_pki, unit_policy, caplog) -> None:
    document = bytearray(data.draw(signed_documents(_certificate_b64(unit_pki))))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(document) - 1))
        document[position] = data.draw(st.sampled_from(b"<>/\"'=:#x \n&;[]()"))
    with caplog.at_level(logging.ERROR, logger="gateway"):
        report = validate(bytes(document), policy=unit_policy, trust=unit_pki.trust, now=UNIT_NOW)
    assert_reported(report, caplog, signatures=None)
