"""Routing is an allow-list: an operation runs only from a POST without a query string, and the
signed Body decides which one (CXF CVE-2012-5633 and CVE-2012-3451 shapes), over real HTTP.

The requests carry a genuinely signed, state-changing Body (``AssignReception`` of the company's
second CCC), so a route that slipped past the gate would leave a trace in the database.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree

from gateway import namespaces as ns

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

INVALID = "soap:Client.InvalidRequest"


def _signed_state_change(gateway: RunningGateway) -> bytes:
    return etree.tostring(gateway.signed(
        "AssignReception", ccc=gateway.seed.ccc_other, agent=gateway.pki.red_agent_cif))


def test_get_wsdl_serves_the_contract(gateway: RunningGateway) -> None:
    response = requests.get(gateway.wsdl_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    definitions = etree.fromstring(response.content)
    assert etree.QName(definitions).namespace == ns.WSDL
    operations = {op.get("name") for op in definitions.iterfind(f"{{{ns.WSDL}}}portType/"
                                                                 f"{{{ns.WSDL}}}operation")}
    assert {"ListNotifications", "GetContent", "SetPostalChannel",
            "AssignReception"} <= operations
    address = definitions.find(f".//{{{ns.WSDL_SOAP11}}}address")
    assert address is not None and address.get("location") == gateway.service_url


@pytest.mark.parametrize("query", ["op=ListNotifications", "ListNotifications", "", "wsdl=1"])
def test_operation_through_get_is_refused(gateway: RunningGateway, query: str) -> None:
    before = gateway.snapshot()
    url = gateway.service_url + (f"?{query}" if query else "")
    response = requests.get(url, data=_signed_state_change(gateway), timeout=10)
    fault = gateway.assert_fault(response, faultcode=INVALID, code="METHOD_NOT_ALLOWED",
                                 status=405)
    assert fault is not None and response.headers.get("Allow") == "POST"
    gateway.assert_only_refusals_audited(before, before_authentication=True)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused(gateway: RunningGateway, method: str) -> None:
    before = gateway.snapshot()
    response = requests.request(method, gateway.service_url, data=_signed_state_change(gateway),
                                headers={"Content-Type": "text/xml"}, timeout=10)
    gateway.assert_fault(response, faultcode=INVALID, code="METHOD_NOT_ALLOWED", status=405)
    gateway.assert_only_refusals_audited(before, before_authentication=True)


@pytest.mark.parametrize("query", ["wsdl", "WSDL", "anything", "op=AssignReception", "a=1&b=2"])
def test_post_with_a_query_string_is_refused_and_executes_nothing(
    gateway: RunningGateway, query: str
) -> None:
    data = _signed_state_change(gateway)
    before = gateway.snapshot()
    response = gateway.post(data, path=f"/NotificationService?{query}",
                            soap_action="AssignReception")
    gateway.assert_fault(response, faultcode=INVALID, code="QUERY_NOT_ALLOWED", status=400)
    gateway.assert_only_refusals_audited(before, before_authentication=True)


@pytest.mark.parametrize("path", ["/NotificationService/AssignReception", "/notificationservice",
                                  "/", "/NotificationService/../NotificationService2"])
def test_post_to_another_path_is_not_found(gateway: RunningGateway, path: str) -> None:
    data = _signed_state_change(gateway)
    before = gateway.snapshot()
    response = gateway.post(data, path=path, soap_action="AssignReception")
    gateway.assert_fault(response, faultcode="soap:Client.NotFound", code="NO_SUCH_ENDPOINT",
                         status=404)
    gateway.assert_only_refusals_audited(before, before_authentication=True)


@pytest.mark.parametrize("soap_action", ["GetOfficialTime", "urn:x#ListNotifications",
                                         "AssignReceptionX", "http://evil/GetOfficialTime"])
def test_soap_action_naming_another_operation_is_refused_and_executes_nothing(
    gateway: RunningGateway, soap_action: str
) -> None:
    data = _signed_state_change(gateway)
    before = gateway.snapshot()
    response = gateway.post(data, soap_action=soap_action)
    gateway.assert_fault(response, faultcode=INVALID, code="SOAPACTION_MISMATCH", status=400)
    # Nothing executed: no assignment, no audit event but the refusal. The replay cache is
    # checked separately below (the gate records the nonce before the SOAPAction check).
    gateway.assert_only_refusals_audited(before, tolerate=frozenset({"used_nonce"}))


def test_soap_action_mismatch_leaves_no_nonce(gateway: RunningGateway) -> None:
    data = _signed_state_change(gateway)
    before = gateway.snapshot()
    response = gateway.post(data, soap_action="GetOfficialTime")
    gateway.assert_fault(response, faultcode=INVALID, code="SOAPACTION_MISMATCH", status=400)
    gateway.assert_only_refusals_audited(before)


@pytest.mark.parametrize("soap_action", ["GetOfficialTime", "urn:notess#GetOfficialTime",
                                         "urn:notess:gateway:notification:v1/GetOfficialTime"])
def test_soap_action_naming_the_signed_operation_is_accepted(
    gateway: RunningGateway, soap_action: str
) -> None:
    response = gateway.post(etree.tostring(gateway.signed("GetOfficialTime")),
                            soap_action=soap_action)
    assert response.status_code == 200, response.text[:2000]
    gateway.verify_response_signature(response.content)
    assert b"Europe/Madrid" in response.content


def test_signed_body_with_two_operations_is_refused_and_executes_nothing(
    gateway: RunningGateway,
) -> None:
    envelope = gateway.message("GetOfficialTime")
    smuggled = gateway.message("AssignReception", ccc=gateway.seed.ccc_other,
                               agent=gateway.pki.red_agent_cif)
    envelope.find(f"{{{ns.SOAP11_ENV}}}Body").append(  # type: ignore[union-attr]
        smuggled.find(f"{{{ns.SOAP11_ENV}}}Body")[0])  # type: ignore[index]
    data = etree.tostring(gateway.sign(envelope))
    before = gateway.snapshot()
    response = gateway.post(data)
    gateway.assert_fault(response, faultcode=INVALID, code="INVALID_BODY", status=400)
    gateway.assert_only_refusals_audited(before, tolerate=frozenset({"used_nonce"}))


def test_local_tsa_answers_rfc3161_queries(gateway: RunningGateway) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data.txt"
        data.write_bytes(b"acuse de recibo")
        query = subprocess.run(
            ["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert"],
            check=True, capture_output=True).stdout
        response = requests.post(gateway.base_url + "/tsa", data=query,
                                 headers={"Content-Type": "application/timestamp-query"},
                                 timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/timestamp-reply"
        reply = Path(scratch) / "reply.tsr"
        reply.write_bytes(response.content)
        # openssl checks the token's imprint against the data and its chain against the CA.
        bundle = Path(scratch) / "ca.pem"
        bundle.write_bytes(b"".join(p.read_bytes() for p in gateway.pki.trust_dir.glob("*.pem")))
        verified = subprocess.run(
            ["openssl", "ts", "-verify", "-data", str(data), "-in", str(reply),
             "-CAfile", str(bundle), "-untrusted", str(gateway.pki.tsa.cert_path)],
            capture_output=True, text=True, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    assert requests.get(gateway.base_url + "/tsa", timeout=10).status_code == 405


def test_server_certificates_are_published_on_both_routes(gateway: RunningGateway) -> None:
    """``GET /server-certificates`` (a PEM bundle, no credentials) and GetServerCertificates
    (signed, any valid caller: the RED agent holds no rights of the company's) name the
    certificate that signs responses; with no rotation scheduled there is no next one."""
    server = gateway.pki.server.certificate().fingerprint(hashes.SHA256()).hex()
    bundle = requests.get(gateway.base_url + "/server-certificates", timeout=10)
    assert bundle.status_code == 200
    assert [c.fingerprint(hashes.SHA256()).hex()
            for c in x509.load_pem_x509_certificates(bundle.content)] == [server]
    assert "# current response-signing certificate" in bundle.text
    assert requests.get(gateway.base_url + "/server-certificates?x=1", timeout=10).status_code \
        == 404
    answer = gateway.client("red_agent").service.GetServerCertificates()
    assert [(str(entry.role), entry.sha256) for entry in answer] == [("CURRENT", server)]
    assert x509.load_der_x509_certificate(bytes(answer[0].certificate)) \
        == gateway.pki.server.certificate()
