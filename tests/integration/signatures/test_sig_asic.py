"""ASiC containers (issue 13, point 8; ETSI EN 319 162-1) assembled by the tests to the standard's
layout around signatures from ``openssl cms`` (a signer we did not write): ASiC-S and ASiC-E with
CAdES, every data object reported covered or not, tampered twins; and the bounds of the ZIP
reader (entry count, total size, compression ratio, path traversal)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import replace
from io import BytesIO
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sig_cms_vectors import FORMAT_FAILURE, HASH_FAILURE, PASSED, openssl_cms
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    EXC_C14N,
    SIGNED_PROPERTIES_TYPE,
    OpenSslTsa,
    describe,
    signature_template,
    xades_signed_properties,
    xmlsec_sign,
)

from gateway.signatures import Indication, SignatureFormat, SubIndication, validate
from gateway.signatures.report import SignedObjectKind

ASIC_S = b"application/vnd.etsi.asic-s+zip"
ASIC_E = b"application/vnd.etsi.asic-e+zip"
DATA = b"<invoice>total 100.00</invoice>\n" * 20
OTHER = b"attachment bytes\x00\x01\x02" * 50


def container(entries: list[tuple[str, bytes]], *, mimetype: bytes | None = ASIC_E) -> bytes:
    """A ZIP as EN 319 162-1 §4.4 lays it out: ``mimetype`` first and stored, then the rest."""
    output = BytesIO()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if mimetype is not None:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, zipfile.ZIP_STORED)
        for name, data in entries:
            archive.writestr(name, data)
    return output.getvalue()


def manifest(
    signature: str,
    objects: list[tuple[str, bytes]],
    *,
    root: str = "ASiCManifest",
    mime: str = "application/pkcs7-signature",
) -> bytes:
    references = "".join(
        f'<DataObjectReference URI="{name}">'
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        f"<ds:DigestValue>{base64.b64encode(hashlib.sha256(data).digest()).decode()}"
        "</ds:DigestValue></DataObjectReference>"
        for name, data in objects
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<{root} xmlns="http://uri.etsi.org/02918/v1.2.1#" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f'<SigReference URI="{signature}" MimeType="{mime}"/>'
        f"{references}</{root}>"
    ).encode()


def _result(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    return report, tuple(
        (signature.identifier, (signature.indication, signature.sub_indication))
        for signature in report.signatures
    )


def _coverage(report) -> dict[str, tuple[str, ...]]:
    return {item.name: item.covered_by for item in report.container_objects}


S_ID = "META-INF/signature.p7s/signer-1"
E_ID = "META-INF/signature001.p7s/signer-1"


def test_asic_s_with_openssl_cades(signer, trust, policy) -> None:
    signature = openssl_cms(DATA, signer("company"))
    document = container(
        [("invoice.xml", DATA), ("META-INF/signature.p7s", signature)], mimetype=ASIC_S
    )
    report, found = _result(document, trust, policy)
    assert report.format is SignatureFormat.ASIC
    assert found == ((S_ID, PASSED),), describe(report)
    assert _coverage(report) == {"invoice.xml": (S_ID,)}
    scope = report.signatures[0].signed_data_objects[0]
    assert (scope.kind, scope.identifier) == (SignedObjectKind.CONTAINER_ENTRY, "invoice.xml")
    assert report.to_dict()["container_objects"] == [
        {"name": "invoice.xml", "covered": True, "covered_by": [S_ID]}
    ]
    twin = container(
        [("invoice.xml", DATA.replace(b"100", b"900", 1)), ("META-INF/signature.p7s", signature)],
        mimetype=ASIC_S,
    )
    report, found = _result(twin, trust, policy)
    assert found == ((S_ID, HASH_FAILURE),), describe(report)


def _xmlsec1_detached_xades(signer, uri: str) -> bytes:
    """xmlsec1 signs a detached XAdES over ``invoice.xml`` (its URI resolved to DATA)."""
    references = ((uri, (), None), ("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE))
    objects = xades_signed_properties("sig-1", signer("company").certificate, signing_time=PKI_NOW)
    template = signature_template(references=references, objects=objects).encode()
    return xmlsec_sign(template, signer("company"), url_map={uri: DATA})


def test_asic_s_with_xmlsec1_xades(signer, trust, policy) -> None:
    signed = _xmlsec1_detached_xades(signer, "invoice.xml")
    document = container(
        [("invoice.xml", DATA), ("META-INF/signatures.xml", signed)], mimetype=ASIC_S
    )
    report, found = _result(document, trust, policy)
    assert [verdict for _, verdict in found] == [PASSED], describe(report)
    (identifier,) = (name for name, _ in found)
    assert identifier.startswith("META-INF/signatures.xml/")
    assert _coverage(report) == {"invoice.xml": (identifier,)}
    twin = container(
        [("invoice.xml", DATA + b" "), ("META-INF/signatures.xml", signed)], mimetype=ASIC_S
    )
    report, found = _result(twin, trust, policy)
    assert [verdict for _, verdict in found] == [HASH_FAILURE], describe(report)
    # A reference that names another file does not cover this one, whatever its digest.
    elsewhere = _xmlsec1_detached_xades(signer, "other.xml")
    document = container(
        [("invoice.xml", DATA), ("META-INF/signatures.xml", elsewhere)], mimetype=ASIC_S
    )
    report, found = _result(document, trust, policy)
    assert [verdict for _, verdict in found] == [
        (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    ], describe(report)
    assert _coverage(report) == {"invoice.xml": ()}


def _asic_e(signer, *, changed: bytes = OTHER, signed_manifest: bytes | None = None) -> bytes:
    listed = [("invoice.xml", DATA), ("attachments/scan.bin", OTHER)]
    written = manifest("META-INF/signature001.p7s", listed)
    signature = openssl_cms(signed_manifest or written, signer("company"))
    return container(
        [
            ("invoice.xml", DATA),
            ("attachments/scan.bin", changed),
            ("notes.txt", b"not signed"),
            ("META-INF/ASiCManifest001.xml", written),
            ("META-INF/signature001.p7s", signature),
        ]
    )


def test_asic_e_with_manifest_reports_every_data_object(signer, trust, policy) -> None:
    report, found = _result(_asic_e(signer), trust, policy)
    assert found == ((E_ID, PASSED),), describe(report)
    assert _coverage(report) == {
        "invoice.xml": (E_ID,),
        "attachments/scan.bin": (E_ID,),
        "notes.txt": (),
    }
    assert not report.container_objects[2].covered


def test_asic_e_tampered_entry_and_manifest(signer, trust, policy) -> None:
    report, found = _result(_asic_e(signer, changed=OTHER + b"!"), trust, policy)
    assert found == ((E_ID, HASH_FAILURE),), describe(report)
    assert "attachments/scan.bin" in report.signatures[0].findings[0].message
    # The manifest changed after signing: the CAdES signature over it fails.
    other_manifest = manifest("META-INF/signature001.p7s", [("invoice.xml", DATA)])
    report, found = _result(_asic_e(signer, signed_manifest=other_manifest), trust, policy)
    assert found == ((E_ID, HASH_FAILURE),), describe(report)


def test_mimetype_rules(signer, trust, policy) -> None:
    signature = openssl_cms(DATA, signer("company"))
    entries = [("invoice.xml", DATA), ("META-INF/signature.p7s", signature)]
    report, found = _result(container(entries, mimetype=b"application/zip"), trust, policy)
    assert found == (("document", FORMAT_FAILURE),)
    report, found = _result(container(entries, mimetype=None), trust, policy)
    assert found == ((S_ID, PASSED),)
    assert "no mimetype" in report.signatures[0].warnings[0]


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b", "C:/x", "a\\b"])
def test_path_traversal_names_are_refused(name, signer, trust, policy) -> None:
    signature = openssl_cms(DATA, signer("company"))
    document = container([(name, DATA), ("META-INF/signature.p7s", signature)])
    report, found = _result(document, trust, policy)
    assert found == (("document", FORMAT_FAILURE),)
    assert "unsafe name" in report.signatures[0].findings[0].message


def test_zip_bomb_and_limits_are_refused(signer, trust, policy) -> None:
    signature = openssl_cms(DATA, signer("company"))
    bomb = container([("zeros.bin", b"\x00" * (8 * 1024 * 1024)), ("META-INF/s.p7s", signature)])
    assert len(bomb) < 64 * 1024
    report, found = _result(bomb, trust, policy)
    assert found == (("document", FORMAT_FAILURE),)
    assert "ratio" in report.signatures[0].findings[0].message
    many = container([(f"f{i}.txt", b"x") for i in range(20)])
    report, _ = _result(many, trust, replace(policy, max_container_entries=10))
    assert "too many entries" in report.signatures[0].findings[0].message
    noise = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(3000))
    large = container([("a.bin", noise)])
    report, _ = _result(large, trust, replace(policy, max_container_bytes=1000))
    assert "larger than accepted" in report.signatures[0].findings[0].message


def test_a_container_without_signature(trust, policy) -> None:
    _, found = _result(container([("invoice.xml", DATA)]), trust, policy)
    assert found == (("document", FORMAT_FAILURE),)


def test_several_data_objects_without_manifest_are_not_found(signer, trust, policy) -> None:
    signature = openssl_cms(DATA, signer("company"))
    document = container(
        [("invoice.xml", DATA), ("other.xml", DATA), ("META-INF/signature.p7s", signature)]
    )
    _, found = _result(document, trust, policy)
    assert found == (
        ("META-INF/signature.p7s", (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)),
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_containers_are_a_report_never_an_exception(data, asic_e, trust, policy) -> None:
    document = bytearray(asic_e)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(document) - 1))
        document[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.sampled_from([len(document), data.draw(st.integers(1, len(document)))]))
    report = validate(bytes(document[:cut]), policy=policy, trust=trust, now=VALIDATION_TIME)
    for signature in report.signatures:
        assert all(finding.message != "internal error" for finding in signature.findings)


@pytest.fixture(scope="session")
def asic_e(signer) -> bytes:
    return _asic_e(signer)


# --- XAdES over several data objects (ASiC-E), by URI ------------------------------------------

ANNEX = "annexes/annex 1.txt"
ANNEX_URI = "annexes/annex%201.txt"


def _xmlsec1_xades_over(signer, objects: dict[str, bytes]) -> bytes:
    """xmlsec1 signs a XAdES whose references name several entries (URI -> content); its
    ``--url-map`` takes the URI percent-decoded (the plain name), as it resolves it."""
    references = [(uri, (), None) for uri in objects]
    references.append(("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE))
    properties = xades_signed_properties(
        "sig-1", signer("company").certificate, signing_time=PKI_NOW
    )
    template = signature_template(references=references, objects=properties).encode()
    plain = {unquote(uri): content for uri, content in objects.items()}
    return xmlsec_sign(template, signer("company"), url_map=plain)


def _asic_e_xades(signer, *, annex: bytes = OTHER) -> bytes:
    signed = _xmlsec1_xades_over(signer, {"invoice.xml": DATA, ANNEX_URI: OTHER})
    return container(
        [
            ("invoice.xml", DATA),
            (ANNEX, annex),
            ("notes.txt", b"not signed"),
            ("META-INF/signatures001.xml", signed),
        ]
    )


def test_asic_e_xades_over_several_data_objects(signer, trust, policy) -> None:
    report, found = _result(_asic_e_xades(signer), trust, policy)
    assert [verdict for _, verdict in found] == [PASSED], describe(report)
    (identifier,) = (name for name, _ in found)
    assert _coverage(report) == {
        "invoice.xml": (identifier,),
        ANNEX: (identifier,),
        "notes.txt": (),
    }
    entries = [
        item.identifier
        for item in report.signatures[0].signed_data_objects
        if item.kind is SignedObjectKind.CONTAINER_ENTRY
    ]
    assert entries == ["invoice.xml", ANNEX]


def test_asic_e_xades_tampered_and_missing_entries(signer, trust, policy) -> None:
    report, found = _result(_asic_e_xades(signer, annex=OTHER + b"!"), trust, policy)
    assert [verdict for _, verdict in found] == [HASH_FAILURE], describe(report)
    assert ANNEX_URI in report.signatures[0].findings[0].message
    signed = _xmlsec1_xades_over(signer, {"invoice.xml": DATA, ANNEX_URI: OTHER})
    without_annex = container(
        [("invoice.xml", DATA), ("notes.txt", b"x"), ("META-INF/signatures001.xml", signed)]
    )
    report, found = _result(without_annex, trust, policy)
    assert [verdict for _, verdict in found] == [
        (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    ], describe(report)
    assert _coverage(report)["notes.txt"] == ()


# --- ASiC time-stamps (openssl ts as the TSA) ----------------------------------------------------

TST_MIME = "application/vnd.etsi.timestamp-token"
STAMPED = (Indication.TOTAL_PASSED, None)


def _token(pki, data: bytes) -> bytes:
    return OpenSslTsa(pki.tsa).timestamp(hashlib.sha256(data).digest(), "sha256")


def test_asic_s_time_stamp_over_the_data_object(pki, trust, policy) -> None:
    token = _token(pki, DATA)
    document = container(
        [("invoice.xml", DATA), ("META-INF/timestamp.tst", token)], mimetype=ASIC_S
    )
    report, found = _result(document, trust, policy)
    assert found == (("META-INF/timestamp.tst", STAMPED),), describe(report)
    stamp = report.signatures[0]
    assert stamp.format is SignatureFormat.ASIC and stamp.level == "ASiC-BASELINE-T"
    assert stamp.claimed_signing_time == stamp.timestamps[0].generation_time
    assert _coverage(report) == {"invoice.xml": ("META-INF/timestamp.tst",)}
    twin = container(
        [("invoice.xml", DATA + b" "), ("META-INF/timestamp.tst", token)], mimetype=ASIC_S
    )
    report, found = _result(twin, trust, policy)
    assert found == (("META-INF/timestamp.tst", HASH_FAILURE),), describe(report)


def _asic_e_archive(pki, signer, *, changed: bytes = OTHER, stamped: bytes | None = None):
    """ASiC-E with a CAdES signature over its ASiCManifest, then an ASiCArchiveManifest over the
    data, the signature and that manifest, time-stamped by openssl ts."""
    listed = [("invoice.xml", DATA), ("attachments/scan.bin", OTHER)]
    signed_manifest = manifest("META-INF/signature001.p7s", listed)
    signature = openssl_cms(signed_manifest, signer("company"))
    archive = manifest(
        "META-INF/timestamp001.tst",
        [
            *listed,
            ("META-INF/signature001.p7s", signature),
            ("META-INF/ASiCManifest001.xml", signed_manifest),
        ],
        root="ASiCArchiveManifest",
        mime=TST_MIME,
    )
    token = _token(pki, stamped or archive)
    return container(
        [
            ("invoice.xml", DATA),
            ("attachments/scan.bin", changed),
            ("META-INF/ASiCManifest001.xml", signed_manifest),
            ("META-INF/signature001.p7s", signature),
            ("META-INF/ASiCArchiveManifest.xml", archive),
            ("META-INF/timestamp001.tst", token),
        ]
    )


def test_asic_e_archive_manifest_time_stamp(pki, signer, trust, policy) -> None:
    report, found = _result(_asic_e_archive(pki, signer), trust, policy)
    assert found == ((E_ID, PASSED), ("META-INF/timestamp001.tst", STAMPED)), describe(report)
    assert _coverage(report) == {
        "invoice.xml": (E_ID, "META-INF/timestamp001.tst"),
        "attachments/scan.bin": (E_ID, "META-INF/timestamp001.tst"),
    }
    stamped = [item.identifier for item in report.signatures[1].signed_data_objects]
    assert stamped[0] == "META-INF/ASiCArchiveManifest.xml"
    assert "META-INF/signature001.p7s" in stamped


def test_asic_e_time_stamp_tampered_twins(pki, signer, trust, policy) -> None:
    report, found = _result(_asic_e_archive(pki, signer, changed=OTHER + b"!"), trust, policy)
    assert found == ((E_ID, HASH_FAILURE), ("META-INF/timestamp001.tst", HASH_FAILURE))
    # a time-stamp over another manifest than the one in the container
    report, found = _result(_asic_e_archive(pki, signer, stamped=b"<other/>"), trust, policy)
    assert found == ((E_ID, PASSED), ("META-INF/timestamp001.tst", HASH_FAILURE)), describe(report)
