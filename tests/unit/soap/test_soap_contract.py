"""The committed contract (wsdl/, xsd/) is exactly what the server publishes."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from gateway import namespaces
from gateway.soap import contract

ROOT = Path(__file__).resolve().parents[3]


def test_committed_contract_matches_the_code():
    drift = contract.differences(ROOT)
    assert drift == [], f"run 'gateway contract --write' if intended; drifted: {drift}"


def test_drift_is_detected(tmp_path):
    contract.write(tmp_path)
    wsdl = tmp_path / "wsdl" / "notification-service.wsdl"
    wsdl.write_bytes(wsdl.read_bytes().replace(b'name="pageSize"', b'name="page_size"'))
    assert contract.differences(tmp_path) == [str(Path("wsdl") / "notification-service.wsdl")]


def test_namespaces_are_stable_versioned_urns():
    document = etree.parse(str(ROOT / "wsdl" / "notification-service.wsdl")).getroot()
    assert document.get("targetNamespace") == "urn:notess:gateway:notification:v1"
    assert namespaces.NOTIFICATION_SERVICE.endswith(":v1")


def test_limits_and_security_policy_are_documented_in_the_wsdl():
    document = etree.parse(str(ROOT / "wsdl" / "notification-service.wsdl")).getroot()
    text = " ".join(document.itertext())
    for limit in ("MESSAGE_TOO_LARGE", "pageSize", "300 s", "RSA-SHA256"):
        assert limit in text
    request = document.find(f".//{{{namespaces.XSD}}}complexType[@name='ListNotifications']")
    page_size = request.find(f".//{{{namespaces.XSD}}}element[@name='pageSize']")
    facet_type = page_size.get("type").split(":")[1]
    facets = document.find(f".//{{{namespaces.XSD}}}simpleType[@name='{facet_type}']")
    assert facets.find(f".//{{{namespaces.XSD}}}maxInclusive").get("value") == "1000"
    assert facets.find(f".//{{{namespaces.XSD}}}minInclusive").get("value") == "1"


def test_dates_are_typed_and_codes_are_enumerations():
    schema = etree.parse(str(ROOT / "xsd" / "notification-service.xsd")).getroot()
    info = schema.find(f"{{{namespaces.XSD}}}complexType[@name='NotificationInfo']")
    types = {e.get("name"): e.get("type") for e in info.iter(f"{{{namespaces.XSD}}}element")}
    assert types["madeAvailableAt"] == "xs:dateTime"
    assert types["deadlineAt"] == "xs:dateTime"
    assert types["status"] == "tns:Status"
    status = schema.find(f"{{{namespaces.XSD}}}simpleType[@name='Status']")
    values = [e.get("value") for e in status.iter(f"{{{namespaces.XSD}}}enumeration")]
    assert values == ["AVAILABLE", "ACCEPTED", "REJECTED", "EXPIRED", "READ", "CANCELLED"]
