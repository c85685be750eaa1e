"""The real-world sweep (``sig_sweep``): peer-made XAdES, CAdES, PAdES and ASiC signatures varied
as other tools and transports vary them, each validated with the signer's CA trusted and with a
foreign trust store, through the library and through ``gateway validate --format json``.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields
from sig_cades_lta import add_unsigned, attribute, tlv
from sig_cms_vectors import openssl_cms
from sig_pdf_vectors import (
    add_comment,
    fill_field,
    pyhanko_sign,
    qpdf,
    reportlab_form,
)
from sig_realworld import tamper_signed_info
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_sweep import (
    ASIC_E,
    ASIC_S,
    UNKNOWN_ATTRIBUTE,
    Case,
    Expect,
    after_eof,
    base64_text,
    crlf,
    der_ecdsa_value,
    duplicated_certificates,
    in_xades_signatures,
    insert_before,
    key_info_certificates,
    leaf_with_extension,
    odf_manifest,
    openssl_plain_cms,
    pem_armoured,
    pem_body,
    prolog_comments,
    prolog_instruction,
    reversed_certificates,
    utf8_bom,
    utf16_with_bom,
    with_declaration,
    without_certificates,
    xmlsec_sign_ids,
    zero_padded,
    zip_of,
)
from sig_vectors import (
    EXC_C14N,
    RECEIPT_XML,
    SIGNED_PROPERTIES_TYPE,
    Signer,
    describe,
    flip_byte,
    issue_leaf,
    minimal_pdf,
    santuario_sign_all,
    signature_template,
    xades_enveloped_template,
    xades_signed_properties,
    xmlsec1_verify,
    xmlsec_sign,
)

from gateway import cli
from gateway import namespaces as ns
from gateway.pki import DemoPki, generate_demo_pki
from gateway.signatures import (
    Indication,
    SignaturePolicy,
    SubIndication,
    validate,
)
from gateway.trust.certificates import TrustStore

CONTENT = b"<notification>acknowledged</notification>\r\n" * 20
DATA = b"<invoice>total 100.00</invoice>\n" * 20
CRYPTO_FAILURES = ("HASH_FAILURE", "SIG_CRYPTO_FAILURE")


# --- the corpus ----------------------------------------------------------------------------------


def _xml_cases(pki: DemoPki, signer: Callable[[str], Signer]) -> list[Case]:
    company = signer("company")
    template = xades_enveloped_template(company, signing_time=PKI_NOW)
    signed = xmlsec_sign(template, company)
    ca = pem_body(pki.issuing_ca.certificate())
    root = pem_body(pki.root_ca.certificate())
    leaf = pem_body(company.certificate)
    unsigned = (
        f'<xades:UnsignedProperties xmlns:xades="{ns.XADES}"><xades:UnsignedSignatureProperties>'
        '<v:VendorEvidence xmlns:v="urn:example:vendor">opaque</v:VendorEvidence>'
        "</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
    ).encode()
    with_unsigned = insert_before(signed, b"</xades:QualifyingProperties>", unsigned)
    latin = xades_enveloped_template(company, signing_time=PKI_NOW).replace(
        b"N-2026-000001", "N-2026-000001 Peña & Cía".replace("&", "&amp;").encode()
    )
    refs = template.replace(b"N-2026-000001", b"N-2026-&#x00D1;&#233;&lt;&gt;&amp;&quot;001")
    cdata = template.replace(b"N-2026-000001", b"<![CDATA[N-2026 <raw> & 001]]>")
    acme = xmlsec_sign(template.replace(b"N-2026-000001", b"N-2026-ACME"), company)
    dtd = prolog_comments(acme).replace(
        b"<!-- exported", b'<!DOCTYPE rcpt:Receipt [<!ENTITY company "ACME">]>\n<!-- exported'
    ).replace(b"N-2026-ACME", b"N-2026-&company;")
    stamp = PKI_NOW.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    company_ec = signer("company_ec")
    ecdsa = xmlsec_sign(xades_enveloped_template(company_ec, signing_time=PKI_NOW), company_ec)

    def signing_time(text: bytes) -> bytes:
        return xmlsec_sign(template.replace(stamp, text), company)

    return [
        # xs:dateTime as tools write it: an offset and milliseconds (.NET, Java), more digits
        # than Python keeps, and no time zone at all (a local time, which xs:dateTime allows).
        Case("xml-signing-time-offset",
             signing_time(PKI_NOW.astimezone(timezone(timedelta(hours=2))).strftime(
                 "%Y-%m-%dT%H:%M:%S.123+02:00").encode()), Expect.VALID),
        Case("xml-signing-time-nanoseconds", signing_time(stamp[:-1] + b".123456789Z"),
             Expect.VALID),
        Case("xml-signing-time-no-zone", signing_time(stamp[:-1]), Expect.VALID),
        # Not a date at all: no claimed signing time, which the policy requires (a constraint
        # not met, INDETERMINATE), not a malformed signature.
        Case("xml-signing-time-garbage", signing_time(b"yesterday"), Expect.INDETERMINATE),
        Case("xml-xmlsec1-xades", signed, Expect.VALID),
        # ECDSA in XML-DSig is r || s (RFC 4050); some tools write the DER SEQUENCE instead. The
        # value means the same (r, s): read both, as DSS does.
        Case("xml-ecdsa", ecdsa, Expect.VALID),
        Case("xml-ecdsa-der-value", der_ecdsa_value(ecdsa), Expect.VALID),
        Case("xml-ecdsa-der-value-content-tampered",
             der_ecdsa_value(ecdsa).replace(b">100.00<", b">900.00<"), Expect.TAMPERED),
        Case("xml-utf8-bom", utf8_bom(signed), Expect.VALID),
        Case("xml-utf16-bom", utf16_with_bom(signed), Expect.VALID),
        Case("xml-crlf", crlf(signed), Expect.VALID),
        Case("xml-crlf-bom", utf8_bom(crlf(signed)), Expect.VALID),
        Case("xml-prolog-comments", prolog_comments(signed), Expect.VALID),
        Case("xml-prolog-instruction-added", prolog_instruction(signed), Expect.TAMPERED),
        Case("xml-latin1-signed", xmlsec_sign(with_declaration(latin, "ISO-8859-1"), company),
             Expect.VALID),
        Case("xml-latin1-transcoded", with_declaration(signed, "ISO-8859-1"), Expect.VALID),
        Case("xml-character-references", xmlsec_sign(refs, company), Expect.VALID),
        Case("xml-cdata", xmlsec_sign(cdata, company), Expect.VALID),
        Case("xml-internal-dtd-entity", dtd, Expect.UNSUPPORTED,
             reason="document type declaration"),
        Case("xml-unknown-unsigned-property", with_unsigned, Expect.VALID),
        Case("xml-unsigned-property-changed",
             with_unsigned.replace(b">opaque<", b">OPAQUE<"), Expect.VALID),
        Case("xml-keyinfo-chain", key_info_certificates(signed, [leaf, ca, root], b"ds:"),
             Expect.VALID),
        Case("xml-keyinfo-chain-reversed",
             key_info_certificates(signed, [root, ca, leaf], b"ds:"), Expect.VALID),
        Case("xml-keyinfo-duplicated", key_info_certificates(signed, [leaf, leaf, ca, ca], b"ds:"),
             Expect.VALID),
        # The signer's certificate is nowhere: which key signed cannot be known.
        Case("xml-keyinfo-ca-only", key_info_certificates(signed, [ca], b"ds:"),
             Expect.INDETERMINATE),
        Case("xml-content-tampered", signed.replace(b">100.00<", b">900.00<"), Expect.TAMPERED),
        Case("xml-crlf-content-tampered",
             crlf(signed).replace(b">100.00<", b">100.01<"), Expect.TAMPERED),
        Case("xml-utf16-content-tampered",
             utf16_with_bom(signed.replace(b">100.00<", b">100.10<")), Expect.TAMPERED),
        Case("xml-signed-properties-tampered",
             signed.replace(b"<xades:SigningTime>", b"<xades:SigningTime> ", 1), Expect.TAMPERED),
    ]


def _cms_cases(pki: DemoPki, signer: Callable[[str], Signer], chain_file: Path) -> list[Case]:
    company, company_ec = signer("company"), signer("company_ec")
    attached = openssl_cms(CONTENT, company, "-nodetach")
    chained = openssl_cms(CONTENT, company, "-nodetach", "-certfile", str(chain_file))
    keyid = openssl_cms(CONTENT, company, "-nodetach", "-keyid")
    ber = openssl_cms(CONTENT, company_ec, "-nodetach", "-stream")
    detached = openssl_cms(CONTENT, company)
    unknown = attribute(UNKNOWN_ATTRIBUTE, tlv(0x0C, b"vendor data"))
    vendor = add_unsigned(attached, unknown)
    issuing = pki.issuing_ca
    noncritical, critical = (
        leaf_with_extension(issuing.private_key(), issuing.certificate(), chain_file.parent,
                            f"ext-{flag}", critical=flag, not_before=PKI_NOW - timedelta(days=1))
        for flag in (False, True)
    )
    expired = issue_leaf(pki, chain_file.parent, "expired", not_before=PKI_NOW - timedelta(days=400),
                         not_after=PKI_NOW - timedelta(days=10))
    return [
        # Old signatures: the signer's certificate has expired since, and nothing proves the
        # signature existed before (no time-stamp): not provably valid, not failed either.
        Case("cms-signer-expired", openssl_cms(CONTENT, expired, "-nodetach"),
             Expect.INDETERMINATE),
        Case("cms-attached", attached, Expect.VALID),
        Case("cms-chain-carried", chained, Expect.VALID),
        Case("cms-chain-reversed", reversed_certificates(chained), Expect.VALID),
        Case("cms-chain-duplicated", duplicated_certificates(chained), Expect.VALID),
        Case("cms-signer-by-ski", keyid, Expect.VALID),
        Case("cms-signer-by-ski-chain-reversed",
             reversed_certificates(openssl_cms(CONTENT, company, "-nodetach", "-keyid",
                                               "-certfile", str(chain_file))), Expect.VALID),
        Case("cms-ber-ecdsa", ber, Expect.VALID),
        Case("cms-ber-zero-padded", zero_padded(ber), Expect.VALID),
        Case("cms-der-zero-padded", zero_padded(attached), Expect.VALID),
        Case("cms-pem-armoured", pem_armoured(attached), Expect.VALID),
        Case("cms-pem-cms-label", pem_armoured(attached, "CMS"), Expect.VALID),
        Case("cms-base64-text", base64_text(attached), Expect.VALID),
        Case("cms-detached", detached, Expect.VALID, detached=CONTENT),
        Case("cms-detached-content-tampered", detached, Expect.TAMPERED,
             detached=CONTENT.replace(b"acknowledged", b"acknowledgeD", 1)),
        Case("cms-content-tampered", flip_byte(attached, CONTENT, 5), Expect.TAMPERED),
        Case("cms-ber-content-tampered", flip_byte(ber, b"<notification>ack", 3),
             Expect.TAMPERED) if ber.count(b"<notification>ack") == 1 else
        Case("cms-ber-content-tampered", ber.replace(b"acknowledged", b"acknowledgeD", 1),
             Expect.TAMPERED),
        Case("cms-no-certificates", without_certificates(attached), Expect.INDETERMINATE),
        Case("cms-unknown-unsigned-attribute", vendor, Expect.VALID),
        Case("cms-unknown-unsigned-attribute-changed",
             vendor.replace(b"vendor data", b"vendor dbta"), Expect.VALID),
        Case("cms-ber-unknown-unsigned-attribute", add_unsigned(ber, unknown), Expect.VALID),
        Case("cms-sha1", openssl_cms(CONTENT, company, "-nodetach", "-md", "sha1"),
             Expect.INDETERMINATE),
        # Without signed attributes there is no signing-certificate attribute: CAdES-B cannot
        # identify the signer (EN 319 122-1 §5.2.2), whatever the signature value says.
        Case("cms-no-signed-attributes",
             openssl_plain_cms(CONTENT, company.key_path, company.cert_path, "-noattr"),
             Expect.INDETERMINATE),
        Case("cms-no-signed-attributes-tampered", flip_byte(openssl_plain_cms(
            CONTENT, company.key_path, company.cert_path, "-noattr"), CONTENT, 7),
             Expect.TAMPERED),
        Case("cms-leaf-unknown-noncritical-extension",
             openssl_cms(CONTENT, noncritical, "-nodetach"), Expect.VALID),
        # RFC 5280 §4.2: a certificate with a critical extension the verifier does not know is
        # rejected -- for path validation, not as a proof that the signature is false.
        Case("cms-leaf-unknown-critical-extension",
             openssl_cms(CONTENT, critical, "-nodetach"), Expect.INDETERMINATE),
    ]


def _with_empty_field(pdf: bytes, name: str) -> bytes:
    """An unsigned signature field (a second signer's, still to come), as forms carry them."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    fields.append_signature_field(writer, fields.SigFieldSpec(name, box=(10, 10, 60, 40)))
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def _pdf_cases(signer: Callable[[str], Signer]) -> list[Case]:
    company, company_ec = signer("company"), signer("company_ec")
    base = minimal_pdf(b"Signed PDF body")
    pending = pyhanko_sign(_with_empty_field(base, "Second"), company, password=None)
    signed = pyhanko_sign(base, company, password=None)
    form = pyhanko_sign(reportlab_form(), company, password=None)
    twice = pyhanko_sign(signed, company_ec, field="Sig2", password=None)
    commented = add_comment(signed)
    return [
        Case("pdf-pyhanko", signed, Expect.VALID),
        Case("pdf-object-streams", pyhanko_sign(
            qpdf(base, "--object-streams=generate"), company, password=None), Expect.VALID),
        Case("pdf-linearized", pyhanko_sign(qpdf(base, "--linearize"), company, password=None),
             Expect.VALID),
        Case("pdf-comment-after-signing", commented, Expect.VALID),
        Case("pdf-later-update-changed", commented.replace(b"(Seen)", b"(Seem)"), Expect.VALID),
        Case("pdf-form-filled-after-signing", fill_field(form, "city", "Madrid"), Expect.VALID),
        Case("pdf-two-signatures", twice, Expect.VALID, signatures=2),
        Case("pdf-two-signatures-then-comment", add_comment(twice), Expect.VALID, signatures=2),
        Case("pdf-empty-signature-field-for-a-second-signer", pending, Expect.VALID),
        Case("pdf-empty-signature-field-added-after-signing", _with_empty_field(signed, "Later"),
             Expect.VALID),
        Case("pdf-newline-after-eof", after_eof(signed, b"\r\n"), Expect.VALID),
        Case("pdf-zeros-after-eof", after_eof(signed, b"\x00" * 300), Expect.VALID),
        Case("pdf-content-tampered", signed.replace(b"(Signed PDF body)", b"(Signed PDF bodY)"),
             Expect.TAMPERED),
        Case("pdf-first-of-two-tampered",
             twice.replace(b"(Signed PDF body)", b"(Signed PDF bodY)"), Expect.TAMPERED,
             signatures=2),
        Case("pdf-rewritten-by-qpdf", qpdf(signed, "--linearize"), Expect.TAMPERED),
    ]


def _xades_over(signer: Signer, objects: dict[str, bytes]) -> bytes:
    """xmlsec1's detached XAdES over container entries, inside ``asic:XAdESSignatures``."""
    references = [(uri, (), None) for uri in objects]
    references.append(("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE))
    properties = xades_signed_properties("sig-1", signer.certificate, signing_time=PKI_NOW)
    template = in_xades_signatures(signature_template(references=references, objects=properties))
    return xmlsec_sign(template, signer, url_map=objects)


def _asic_cases(signer: Callable[[str], Signer]) -> list[Case]:
    company = signer("company")
    xades = _xades_over(company, {"invoice.xml": DATA, "scan.pdf": b"%PDF-1.4 scan"})
    e_manifest = odf_manifest([("invoice.xml", "text/xml"), ("scan.pdf", "application/pdf")],
                              ASIC_E)
    e_entries = [("invoice.xml", DATA), ("scan.pdf", b"%PDF-1.4 scan"),
                 ("META-INF/manifest.xml", e_manifest), ("META-INF/signatures0.xml", xades)]
    cades = openssl_cms(DATA, company)
    manifest = odf_manifest([("invoice.xml", "text/xml")], ASIC_S)
    plain = [("invoice.xml", DATA), ("META-INF/signature.p7s", cades)]
    return [
        Case("asic-s-cades", zip_of(plain, mimetype=ASIC_S), Expect.VALID),
        Case("asic-s-stored", zip_of(plain, mimetype=ASIC_S, stored=True), Expect.VALID),
        Case("asic-s-directory-entries", zip_of(plain, mimetype=ASIC_S, directories=True),
             Expect.VALID),
        Case("asic-s-mimetype-deflated", zip_of(plain, mimetype=ASIC_S, mimetype_deflated=True),
             Expect.VALID),
        Case("asic-s-zip-comment", zip_of(plain, mimetype=ASIC_S, comment=b"made by a tool"),
             Expect.VALID),
        Case("asic-s-odf-manifest",
             zip_of([*plain, ("META-INF/manifest.xml", manifest)], mimetype=ASIC_S),
             Expect.VALID),
        Case("asic-s-tampered", zip_of([("invoice.xml", DATA.replace(b"100", b"900", 1)),
                                        ("META-INF/signature.p7s", cades)], mimetype=ASIC_S),
             Expect.TAMPERED),
        Case("asic-e-xades", zip_of(e_entries, mimetype=ASIC_E), Expect.VALID),
        Case("asic-e-xades-stored", zip_of(e_entries, mimetype=ASIC_E, stored=True),
             Expect.VALID),
        Case("asic-e-xades-directories", zip_of(e_entries, mimetype=ASIC_E, directories=True),
             Expect.VALID),
        Case("asic-e-xades-extra-entry",
             zip_of([*e_entries, ("readme.txt", b"not signed")], mimetype=ASIC_E), Expect.VALID),
        Case("asic-e-xades-no-mimetype", zip_of(e_entries, mimetype=None), Expect.VALID),
        Case("asic-e-xades-tampered",
             zip_of([("invoice.xml", DATA.replace(b"100", b"900", 1)), *e_entries[1:]],
                    mimetype=ASIC_E), Expect.TAMPERED),
        Case("asic-s-odf-manifest-mimetype-e",
             zip_of([*plain, ("META-INF/manifest.xml", manifest)], mimetype=ASIC_E),
             Expect.VALID),
    ]


@pytest.fixture(scope="module")
def corpus(pki: DemoPki, signer, tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    folder = tmp_path_factory.mktemp("sweep")
    chain_file = folder / "chain.pem"
    chain_file.write_bytes(
        pki.issuing_ca.cert_path.read_bytes() + pki.root_ca.cert_path.read_bytes()
    )
    cases = (
        _xml_cases(pki, signer) + _cms_cases(pki, signer, chain_file) + _pdf_cases(signer)
        + _asic_cases(signer)
    )
    assert len({case.name for case in cases}) == len(cases)
    return cases


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> TrustStore:
    """Another PKI's anchors: the sweep's signers chain to a CA this store does not know."""
    other = generate_demo_pki(Path(tmp_path_factory.mktemp("foreign-pki")), now=PKI_NOW)
    return TrustStore.from_directory(other.trust_dir)


def _check(case: Case, report: dict[str, Any], trusted: bool) -> list[str]:
    """What is wrong with ``report`` (the JSON form, as ``gateway validate`` prints it) for
    ``case`` (``sig_sweep`` says what each expectation means)."""
    problems = []
    signatures = report["signatures"]
    verdicts = [(s["indication"], s["sub_indication"]) for s in signatures]
    indications = [indication for indication, _ in verdicts]
    label = "trusted" if trusted else "foreign"
    if len(signatures) != case.signatures:
        problems.append(f"{label}: {len(signatures)} signature(s), not {case.signatures}")
    if any(f["message"] == "internal error" for s in signatures for f in s["findings"]):
        problems.append(f"{label}: internal error")
    if case.expect is Expect.VALID:
        wanted = ("TOTAL_PASSED", None) if trusted else ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
        if any(verdict != wanted for verdict in verdicts):
            problems.append(f"{label}: {verdicts}, wanted {wanted}")
    elif case.expect is Expect.INDETERMINATE:
        if any(indication != "INDETERMINATE" for indication in indications):
            problems.append(f"{label}: {verdicts}, wanted INDETERMINATE")
    elif case.expect is Expect.TAMPERED:
        failed = [
            s for s in signatures
            if s["indication"] == "TOTAL_FAILED"
            and any(f["sub_indication"] in CRYPTO_FAILURES for f in s["findings"])
        ]
        if "TOTAL_PASSED" in indications or not failed:
            problems.append(f"{label}: {verdicts}, wanted a crypto failure")
    else:
        for signature in signatures:
            named = any(case.reason.lower() in f["message"].lower() for f in signature["findings"])
            if signature["indication"] == "TOTAL_PASSED" or not named:
                problems.append(f"{label}: {verdicts}, wanted unsupported naming {case.reason}")
    return problems


def test_sweep(corpus, trust, foreign, policy: SignaturePolicy) -> None:
    lines = []
    for case in corpus:
        for trusted, store in ((True, trust), (False, foreign)):
            report = validate(
                case.document, detached_content=case.detached, policy=policy, trust=store,
                now=VALIDATION_TIME,
            )
            for problem in _check(case, report.to_dict(), trusted):
                lines.append(f"{case.name}: {problem}\n    {describe(report)[:600]}")
    assert not lines, "\n".join(lines)


BEYOND_XMLSEC1 = {"xml-ecdsa-der-value"}
"""Read leniently here, as DSS reads them, where xmlsec1 keeps to the letter of XML-DSig."""


@pytest.mark.parametrize("expect", [Expect.VALID, Expect.TAMPERED])
def test_xmlsec1_agrees_on_the_xml_variations(
    expect: Expect, corpus, pki: DemoPki, tmp_path: Path
) -> None:
    """The independent check that each XML variation is what the sweep says it is."""
    cases = [
        c for c in corpus
        if c.name.startswith("xml-") and c.expect is expect and c.name not in BEYOND_XMLSEC1
    ]
    assert cases
    disagreeing = []
    for case in cases:
        path = tmp_path / f"{case.name}.xml"
        path.write_bytes(case.document)
        verified = xmlsec1_verify(pki, path, VALIDATION_TIME).returncode == 0
        if verified is not (expect is Expect.VALID):
            disagreeing.append(case.name)
    assert not disagreeing


def _verdict(document: bytes, store: TrustStore, policy: SignaturePolicy):
    report = validate(document, policy=policy, trust=store, now=VALIDATION_TIME)
    (signature,) = report.signatures
    return signature.indication, signature.sub_indication


def test_a_certificate_that_is_not_the_signers_is_no_proof_of_forgery(
    pki: DemoPki, signer, trust, foreign, policy: SignaturePolicy
) -> None:
    """KeyInfo is unsigned: tools put the chain there in any order, add the TSA's or an
    encryption certificate, or leave the signer out. A certificate that fails to verify the
    signature value is not the signer's, so the signature is not forged: the signer is the
    carried certificate that verifies it, or -- none doing so -- not found (INDETERMINATE)."""
    company, other = signer("company"), signer("person")
    ca = pem_body(pki.issuing_ca.certificate())
    leaf, stranger = pem_body(company.certificate), pem_body(other.certificate)
    xades = xmlsec_sign(xades_enveloped_template(company, signing_time=PKI_NOW), company)
    plain = xmlsec_sign(
        RECEIPT_XML.replace(b"</rcpt:Receipt>", signature_template().encode() + b"</rcpt:Receipt>"),
        company,
    )
    plain_policy = replace(policy, require_signing_certificate_reference=False)
    not_found = (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    for store in (trust, foreign):
        passed = (Indication.TOTAL_PASSED, None) if store is trust else (
            Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
        # XAdES: the signed reference names a certificate that is not there.
        assert _verdict(key_info_certificates(xades, [ca], b"ds:"), store, policy) == not_found
        assert _verdict(key_info_certificates(xades, [stranger], b"ds:"), store, policy) == (
            not_found
        )
        # Plain XML-DSig: two end-entity certificates; the signer's is the one that verifies.
        for order in ([stranger, leaf, ca], [leaf, stranger], [ca, stranger, leaf]):
            document = key_info_certificates(plain, order, b"ds:")
            assert _verdict(document, store, plain_policy) == passed, order
        # ... and a signature value that no carried certificate verifies is still a forgery.
        forged = key_info_certificates(plain, [stranger, leaf], b"ds:").replace(
            b"<ds:SignatureValue>", b"<ds:SignatureValue>AAAA", 1
        )
        assert _verdict(forged, store, plain_policy) == (
            Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
        )


def test_a_cms_in_text_says_it_was_decoded(corpus, trust, policy: SignaturePolicy) -> None:
    """PEM armour or bare Base64 is a lenient path: the report says it was taken."""
    for name in ("cms-pem-armoured", "cms-base64-text"):
        (case,) = (c for c in corpus if c.name == name)
        report = validate(case.document, policy=policy, trust=trust, now=VALIDATION_TIME)
        assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED]
        assert "The CMS was read from its Base64 text" in report.signatures[0].warnings


def test_gateway_validate_gives_the_same_verdicts(
    corpus, pki: DemoPki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    """``gateway validate`` as an operator runs it on the corpus (the signer's CA in the
    gateway's trust directory): one ``--format json`` report per file, each judged as above."""
    monkeypatch.setenv("GATEWAY_PKI_DIR", str(pki.directory))
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    problems = []
    for case in corpus:
        if case.detached is not None:
            continue
        path = tmp_path / "files" / case.name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(case.document)
        code = cli.main(["validate", "--format", "json", str(path)])
        report = json.loads(capsys.readouterr().out)
        problems += [f"{case.name}: {p}" for p in _check(case, report, trusted=True)]
        passed = all(s["indication"] == "TOTAL_PASSED" for s in report["signatures"])
        if code != (0 if passed else 3):
            problems.append(f"{case.name}: exit code {code}")
    assert not problems, "\n".join(problems)


# --- mutation: a changed signed byte never passes -------------------------------------------------


def _xml_regions(document: bytes) -> list[tuple[int, int]]:
    """The signed text of the receipt: every character of these element values."""
    regions = []
    for value in (b">ACCEPT<", b">N-2026-000001<", b">100.00<"):
        start = document.index(value) + 1
        regions.append((start, start + len(value) - 2))
    return regions


def _cms_regions(document: bytes) -> list[tuple[int, int]]:
    """The encapsulated content (each BER chunk of it) and the signature value."""
    regions = []
    position = document.find(b"<notification>")
    while position >= 0:
        regions.append((position, position + len(b"<notification>acknowledged")))
        position = document.find(b"<notification>", position + 1)
    value = cms.ContentInfo.load(document)["content"]["signer_infos"][0]["signature"].native
    start = document.index(value)
    regions.append((start, start + len(value)))
    return regions


def _pdf_regions(document: bytes) -> list[tuple[int, int]]:
    """The last signature's byte range: what it signs (every earlier revision included)."""
    *_, found = re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", document)
    a, b, c, d = (int(group) for group in found.groups())
    return [(a, a + b), (c, c + d)]


def _zip_regions(document: bytes, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """The bytes of the signed entries (stored: a deflated stream's last byte has padding bits
    that no reader sees)."""
    regions = []
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        for info in archive.infolist():
            if info.filename in names:
                header = document[info.header_offset : info.header_offset + 30]
                name_length, extra_length = struct.unpack("<HH", header[26:30])
                start = info.header_offset + 30 + name_length + extra_length
                regions.append((start, start + info.compress_size))
    return regions


MUTATED = {
    "xml-xmlsec1-xades": _xml_regions,
    "xml-crlf": _xml_regions,
    "cms-attached": _cms_regions,
    "cms-ber-ecdsa": _cms_regions,
    "cms-signer-by-ski": _cms_regions,
    "pdf-pyhanko": _pdf_regions,
    "pdf-two-signatures": _pdf_regions,
    "pdf-comment-after-signing": _pdf_regions,
    "asic-s-stored": lambda document: _zip_regions(document, ("invoice.xml",)),
    "asic-e-xades-stored": lambda document: _zip_regions(document, ("invoice.xml", "scan.pdf")),
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_mutated_signed_byte_never_passes(data, corpus, trust, policy: SignaturePolicy) -> None:
    """A byte changed inside what a valid peer-made signature signs: a report (never an
    exception, never 'internal error'), and never TOTAL_PASSED. A byte changed anywhere else:
    a report."""
    name = data.draw(st.sampled_from(sorted(MUTATED)))
    (case,) = (c for c in corpus if c.name == name)
    document = case.document
    signed = data.draw(st.booleans())
    if signed:
        start, end = data.draw(st.sampled_from(MUTATED[name](document)))
        position = data.draw(st.integers(start, end - 1))
    else:
        position = data.draw(st.integers(0, len(document) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != document[position]))
    mutated = document[:position] + bytes([value]) + document[position + 1 :]
    report = validate(mutated, policy=policy, trust=trust, now=VALIDATION_TIME)
    assert report.signatures
    for signature in report.signatures:
        assert all(f.message != "internal error" for f in signature.findings), describe(report)
    if signed:
        assert report.indication is not Indication.TOTAL_PASSED, (name, position, value)


@pytest.mark.parametrize("attribute", ["ID", "id"])
def test_references_to_id_attributes_other_tools_use(
    attribute: str, signer, trust, foreign, policy: SignaturePolicy
) -> None:
    """``ID`` (SAML, several e-invoicing formats) and ``id`` name the referenced element in real
    signatures; DSS takes both. A reference to one resolves; a value two elements share is
    ambiguous (a wrapping attack's shape), refused."""
    company = signer("company")
    plain_policy = replace(policy, require_signing_certificate_reference=False)
    body = (
        f'<doc:Envelope xmlns:doc="urn:example:doc"><doc:Body {attribute}="body-1">'
        "<doc:Amount>100.00</doc:Amount></doc:Body>{signature}</doc:Envelope>"
    )
    template = body.replace(
        "{signature}", signature_template(references=(("#body-1", (EXC_C14N,), None),))
    ).encode()
    signed = xmlsec_sign_ids(template, company, [(attribute, "urn:example:doc:Body")])
    assert _verdict(signed, trust, plain_policy) == (Indication.TOTAL_PASSED, None)
    assert _verdict(signed, foreign, plain_policy)[0] is Indication.INDETERMINATE
    tampered = signed.replace(b">100.00<", b">900.00<")
    assert _verdict(tampered, trust, plain_policy) == (
        Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
    )
    wrapped = signed.replace(
        b"</doc:Envelope>", f'<doc:Body {attribute}="body-1">forged</doc:Body></doc:Envelope>'.encode()
    )
    indication, sub = _verdict(wrapped, trust, plain_policy)
    assert (indication, sub) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def _content_changed(document: bytes) -> bytes:
    for needle, replacement in ((b">10<", b">11<"), (b">20<", b">21<"),
                                (b"SGVsbG8g", b"SGVsbG9g")):  # fmt: skip
        if needle in document:
            return document.replace(needle, replacement, 1)
    raise AssertionError("no content needle")


def test_the_cryptographic_verdict_does_not_depend_on_trust(
    signer, trust, foreign, policy: SignaturePolicy, tmp_path: Path
) -> None:
    """Apache Santuario's signatures (Java, another XML-DSig implementation), valid and with a
    content byte changed: what the trusted store reports as passed is NO_CERTIFICATE_CHAIN_FOUND
    under a foreign one, and what it reports as failed fails the same way under a foreign one
    (a forgery does not become merely 'untrusted')."""
    plain_policy = replace(policy, require_signing_certificate_reference=False)
    vectors = santuario_sign_all(signer("company"), tmp_path)
    assert len(vectors) >= 5
    checked = {"passed": 0, "failed": 0}
    for name, document in vectors.items():
        for variant in (document, _content_changed(document), tamper_signed_info(document)):
            here = _verdict_all(variant, trust, plain_policy)
            there = _verdict_all(variant, foreign, plain_policy)
            for (indication, sub), (other, other_sub) in zip(here, there, strict=True):
                if indication is Indication.TOTAL_PASSED:
                    checked["passed"] += 1
                    assert (other, other_sub) == (
                        Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
                    ), name
                elif indication is Indication.TOTAL_FAILED:
                    checked["failed"] += 1
                    assert (other, other_sub) == (indication, sub), name
    assert checked["passed"] and checked["failed"], checked


def _verdict_all(document: bytes, store: TrustStore, policy: SignaturePolicy):
    report = validate(document, policy=policy, trust=store, now=VALIDATION_TIME)
    return [(s.indication, s.sub_indication) for s in report.signatures]
