"""Reports of real validations, serialised: JSON and ETSI TS 119 102-2 XML."""

from __future__ import annotations

import base64
import json

import pytest
from lxml import etree
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import own_sign, tamper_content

from gateway.signatures import validate
from gateway.signatures.etsi_xml import VALIDATION_REPORT_NS

VR = f"{{{VALIDATION_REPORT_NS}}}"
SCHEMA_ORDER = [
    "SignatureIdentifier",
    "ValidationConstraintsEvaluationReport",
    "ValidationTimeInfo",
    "SignersDocument",
    "SignatureAttributes",
    "SignerInformation",
    "SignatureQuality",
    "SignatureValidationProcess",
    "SignatureValidationStatus",
]


@pytest.fixture(scope="module")
def reports(signer, trust, policy, tsa):
    def run(vector):
        return validate(
            vector.document,
            detached_content=vector.detached,
            policy=policy,
            trust=trust,
            now=VALIDATION_TIME,
        )

    return {
        "xades_t": run(own_sign("xades", signer("company"), at=PKI_NOW, tsa=tsa)),
        "pades_t": run(own_sign("pades", signer("person"), at=PKI_NOW, tsa=tsa)),
        "cades_tampered": run(
            tamper_content("cades", own_sign("cades", signer("company"), at=PKI_NOW))
        ),
        "revoked": run(own_sign("cades", signer("revoked"), at=PKI_NOW)),
        "garbage": validate(b"\x00garbage", policy=policy, trust=trust, now=VALIDATION_TIME),
    }


def test_json_carries_verdicts_and_facts(reports) -> None:
    passed = json.loads(reports["xades_t"].to_json())
    assert passed["indication"] == "TOTAL_PASSED" and passed["sub_indication"] is None
    signature = passed["signatures"][0]
    assert signature["level"] == "XAdES-BASELINE-T"
    assert signature["signer"]["principal"]["kind"] == "ENTITY"
    assert signature["claimed_signing_time"] == PKI_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert signature["best_signature_time"] == PKI_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert signature["covers_whole_document"] is True
    assert signature["signed_data_objects"][0]["kind"] == "XML_DOCUMENT"
    assert signature["timestamps"][0]["indication"] == "TOTAL_PASSED"

    failed = json.loads(reports["cades_tampered"].to_json())
    assert (failed["indication"], failed["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert failed["signatures"][0]["findings"][0]["sub_indication"] == "HASH_FAILURE"

    revoked = json.loads(reports["revoked"].to_json())
    assert revoked["signatures"][0]["revocation_time"] is not None
    assert revoked["signatures"][0]["best_signature_time"] == VALIDATION_TIME.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )

    garbage = json.loads(reports["garbage"].to_json())
    assert garbage["format"] is None and garbage["sub_indication"] == "FORMAT_FAILURE"


@pytest.mark.parametrize("name", ["xades_t", "pades_t", "cades_tampered", "revoked", "garbage"])
def test_etsi_xml_is_well_formed_and_consistent(name, reports) -> None:
    report = reports[name]
    root = etree.fromstring(report.to_etsi_xml())
    assert root.tag == f"{VR}ValidationReport"
    signature_reports = root.findall(f"{VR}SignatureValidationReport")
    assert len(signature_reports) == len(report.signatures)
    for element, signature in zip(signature_reports, report.signatures, strict=True):
        names = [etree.QName(child).localname for child in element]
        assert names == sorted(names, key=SCHEMA_ORDER.index), names
        status = element.find(f"{VR}SignatureValidationStatus")
        assert status is not None
        assert status.findtext(f"{VR}MainIndication") == signature.indication.uri
        sub = status.findtext(f"{VR}SubIndication")
        assert sub == (signature.sub_indication.uri if signature.sub_indication else None)
        assert element.findtext(
            f"{VR}ValidationTimeInfo/{VR}ValidationTime"
        ) == VALIDATION_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = {element.get("id") for element in root.iter(f"{VR}ValidationObject")}
    references = {
        token
        for element in root.iter()
        if element.get("VOReference")
        for token in element.get("VOReference").split()
    }
    assert references <= ids


def test_etsi_xml_of_a_time_stamped_signature(reports) -> None:
    report = reports["pades_t"]
    root = etree.fromstring(report.to_etsi_xml())
    signature = report.signatures[0]
    main = root.find(f"{VR}SignatureValidationReport")
    assert main is not None
    assert main.findtext(
        f"{VR}SignatureValidationProcess/{VR}SignatureValidationProcessID"
    ).endswith("LTVM")
    assert main.find(f"{VR}SignatureAttributes/{VR}SignatureTimeStamp") is not None
    assert main.findtext(f"{VR}SignatureAttributes/{VR}ByteRange") is not None
    signer_ref = main.find(f"{VR}SignerInformation/{VR}SignerCertificate").get("VOReference")
    certificate = root.find(
        f"{VR}SignatureValidationObjects/{VR}ValidationObject[@id='{signer_ref}']"
    )
    assert certificate is not None
    der = base64.b64decode(certificate.findtext(f"{VR}ValidationObjectRepresentation/{VR}base64"))
    assert signature.signer is not None and der == signature.signer.der
    stamps = [
        element
        for element in root.iter(f"{VR}ValidationObject")
        if element.findtext(f"{VR}ObjectType") == "urn:etsi:019102:validationObject:timestamp"
    ]
    assert len(stamps) == 1
    assert stamps[0].find(f"{VR}POE/{VR}POETime") is not None
    chain = main.find(
        f"{VR}SignatureValidationStatus/{VR}AssociatedValidationReportData/{VR}CertificateChain"
    )
    assert chain is not None and chain.find(f"{VR}TrustAnchor") is not None
