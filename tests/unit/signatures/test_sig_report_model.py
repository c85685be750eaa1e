"""The report model: verdicts derived from findings, precedence, serialisations."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from gateway.signatures import (
    Finding,
    Indication,
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    SubIndication,
    TimestampKind,
    TimestampReport,
    ValidationReport,
)
from gateway.signatures.findings import Findings, Step

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def signature(*findings: Finding, **fields: object) -> SignatureReport:
    return SignatureReport(
        identifier="s",
        format=SignatureFormat.CADES,
        findings=tuple(findings),
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("findings", "indication", "sub"),
    [
        ((), Indication.TOTAL_PASSED, None),
        (
            (Finding(SubIndication.REVOKED_NO_POE, ""),),
            Indication.INDETERMINATE,
            SubIndication.REVOKED_NO_POE,
        ),
        (
            (
                Finding(SubIndication.NO_CERTIFICATE_CHAIN_FOUND, ""),
                Finding(SubIndication.HASH_FAILURE, ""),
            ),
            Indication.TOTAL_FAILED,
            SubIndication.HASH_FAILURE,
        ),
        (
            (
                Finding(SubIndication.TRY_LATER, ""),
                Finding(SubIndication.CRYPTO_CONSTRAINTS_FAILURE, ""),
            ),
            Indication.INDETERMINATE,
            SubIndication.TRY_LATER,
        ),
        (
            (Finding(SubIndication.REVOKED, ""), Finding(SubIndication.SIG_CRYPTO_FAILURE, "")),
            Indication.TOTAL_FAILED,
            SubIndication.REVOKED,
        ),
    ],
)
def test_verdict_is_derived_with_total_failed_first(findings, indication, sub) -> None:
    report = signature(*findings)
    assert (report.indication, report.sub_indication) == (indication, sub)
    assert report.passed is (indication is Indication.TOTAL_PASSED)


@pytest.mark.parametrize(
    ("sub", "main"),
    [
        (SubIndication.FORMAT_FAILURE, Indication.TOTAL_FAILED),
        (SubIndication.HASH_FAILURE, Indication.TOTAL_FAILED),
        (SubIndication.SIG_CRYPTO_FAILURE, Indication.TOTAL_FAILED),
        (SubIndication.REVOKED, Indication.TOTAL_FAILED),
        (SubIndication.EXPIRED, Indication.TOTAL_FAILED),
        (SubIndication.NOT_YET_VALID, Indication.TOTAL_FAILED),
        (SubIndication.REVOKED_NO_POE, Indication.INDETERMINATE),
        (SubIndication.OUT_OF_BOUNDS_NO_POE, Indication.INDETERMINATE),
        (SubIndication.CRYPTO_CONSTRAINTS_FAILURE, Indication.INDETERMINATE),
        (SubIndication.SIGNED_DATA_NOT_FOUND, Indication.INDETERMINATE),
        (SubIndication.TIMESTAMP_ORDER_FAILURE, Indication.INDETERMINATE),
        (SubIndication.NO_CERTIFICATE_CHAIN_FOUND, Indication.INDETERMINATE),
    ],
)
def test_each_sub_indication_belongs_to_one_main_indication(sub, main) -> None:
    assert sub.indication is main
    assert sub.uri == f"urn:etsi:019102:subindication:{sub.value}"


def test_main_indication_uris() -> None:
    assert Indication.TOTAL_PASSED.uri == "urn:etsi:019102:mainindication:total-passed"
    assert Indication.TOTAL_FAILED.uri == "urn:etsi:019102:mainindication:total-failed"
    assert Indication.INDETERMINATE.uri == "urn:etsi:019102:mainindication:indeterminate"


def test_findings_are_ordered_by_building_block() -> None:
    findings = Findings()
    findings.add(Step.ACCEPTANCE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, "late")
    findings.add(Step.CHAIN, SubIndication.NO_CERTIFICATE_CHAIN_FOUND, "chain")
    findings.add(Step.IDENTIFICATION, SubIndication.NO_SIGNING_CERTIFICATE_FOUND, "first")
    ordered = findings.ordered()
    assert [f.message for f in ordered] == ["first", "chain", "late"]
    assert signature(*ordered).sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND


def _stamp(at: datetime, *findings: Finding) -> TimestampReport:
    return TimestampReport(
        kind=TimestampKind.SIGNATURE_TIMESTAMP, findings=findings, generation_time=at
    )


def test_level_and_best_signature_time_come_from_valid_time_stamps() -> None:
    bad = _stamp(NOW - timedelta(hours=3), Finding(SubIndication.HASH_FAILURE, "x"))
    good = _stamp(NOW - timedelta(hours=1))
    report = signature(timestamps=(bad, good), signing_certificate_reference=True)
    assert report.proof_of_existence == NOW - timedelta(hours=1)
    assert report.level == "CAdES-BASELINE-T"
    assert (
        signature(timestamps=(bad,), signing_certificate_reference=True).level == "CAdES-BASELINE-B"
    )
    assert signature().level == "CMS-NOT-ETSI"
    whole = ValidationReport(NOW, SignatureFormat.CADES, (report,))
    assert whole.best_signature_time(report) == NOW - timedelta(hours=1)
    assert whole.best_signature_time(signature()) == NOW


@pytest.mark.parametrize(
    ("stamps", "validation_data", "level"),
    [
        ((("document", False, True),), False, "PAdES-BASELINE-T"),
        ((("document", False, True),), True, "PAdES-BASELINE-LT"),  # DTS before the DSS
        ((("document", True, True),), True, "PAdES-BASELINE-LTA"),
        ((("document", True, True),), False, "PAdES-BASELINE-T"),  # an empty DSS
        ((("signature", False, True), ("document", True, False)), True, "PAdES-BASELINE-LT"),
        ((("document", True, False),), True, "PAdES-BASELINE-B"),  # the only stamp is invalid
    ],
)
def test_pades_levels_from_document_time_stamps(stamps, validation_data, level) -> None:
    kinds = {
        "document": TimestampKind.DOCUMENT_TIMESTAMP,
        "signature": TimestampKind.SIGNATURE_TIMESTAMP,
    }
    timestamps = tuple(
        TimestampReport(
            kind=kinds[kind],
            findings=() if valid else (Finding(SubIndication.HASH_FAILURE, "x"),),
            generation_time=NOW,
            covers_validation_data=covers,
            token=f"{kind}{position}".encode(),
        )
        for position, (kind, covers, valid) in enumerate(stamps)
    )
    report = SignatureReport(
        identifier="s",
        format=SignatureFormat.PADES,
        findings=(),
        timestamps=timestamps,
        signing_certificate_reference=True,
        validation_data=validation_data,
    )
    assert report.level == level
    whole = ValidationReport(NOW, SignatureFormat.PADES, (report, report))
    documents = [t for t in timestamps if t.kind is TimestampKind.DOCUMENT_TIMESTAMP]
    assert list(whole.document_timestamps) == documents  # each once
    assert ("document_timestamps" in whole.to_dict()) == bool(documents)


def test_coverage_is_derived_from_signed_data_objects() -> None:
    part = SignedDataObject(SignedObjectKind.XML_ELEMENT, "#a", "sha256", b"d", False, "/r/a")
    whole = SignedDataObject(SignedObjectKind.XML_DOCUMENT, "", "sha256", b"d", True, "/")
    assert not signature(signed_data_objects=(part,)).covers_whole_document
    assert signature(signed_data_objects=(part, whole)).covers_whole_document


def test_reports_are_frozen() -> None:
    report = signature()
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.identifier = "other"  # type: ignore[misc]


def test_document_verdict_is_the_worst_signature() -> None:
    report = ValidationReport(
        NOW,
        SignatureFormat.PADES,
        (
            signature(),
            signature(Finding(SubIndication.REVOKED_NO_POE, "")),
            signature(Finding(SubIndication.HASH_FAILURE, "")),
        ),
    )
    assert (report.indication, report.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
    )
    assert not report.passed


def test_report_invariants() -> None:
    with pytest.raises(ValueError):
        ValidationReport(NOW, None, ())
    with pytest.raises(ValueError):
        ValidationReport(NOW.replace(tzinfo=None), None, (signature(),))


def test_json_and_etsi_xml_of_a_minimal_report() -> None:
    report = ValidationReport(
        NOW,
        None,
        (SignatureReport("document", None, (Finding(SubIndication.FORMAT_FAILURE, "bad"),)),),
    )
    data = json.loads(report.to_json())
    assert data == {
        "validation_time": "2026-05-01T10:00:00Z",
        "format": None,
        "indication": "TOTAL_FAILED",
        "sub_indication": "FORMAT_FAILURE",
        "signatures": [data["signatures"][0]],
    }
    assert data["signatures"][0]["level"] == "UNKNOWN"
    root = etree.fromstring(report.to_etsi_xml())
    ns = {"vr": "http://uri.etsi.org/19102/v1.2.1#"}
    assert root.xpath("string(//vr:MainIndication)", namespaces=ns) == Indication.TOTAL_FAILED.uri
    assert root.xpath("string(//vr:SubIndication)", namespaces=ns).endswith("FORMAT_FAILURE")
    assert root.xpath("string(//vr:ReportData/vr:Value)", namespaces=ns) == "bad"
