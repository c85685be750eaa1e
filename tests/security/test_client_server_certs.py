"""The client's acceptance of server certificates across a rotation, against hostile responses
(``gateway.client.server_certs`` through ``ServerVerifyingSignature.verify``)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from wssec_builders import NOW
from zeep.exceptions import SignatureVerificationFailed

from gateway import namespaces as ns
from gateway.client.server_certs import Announced, KnownCertificate, ServerCertificates
from gateway.client.state import AgentState, StateMismatch
from gateway.client.transport import ServerVerifyingSignature
from gateway.domain.clock import FixedClock
from gateway.pki import Credential, DemoPki
from gateway.wssec import sign_response

RESPONSE = (
    f'<soap:Envelope xmlns:soap="{ns.SOAP11_ENV}" xmlns:tns="{ns.NOTIFICATION_SERVICE}">'
    "<soap:Body><tns:EchoResponse><tns:text>hola</tns:text></tns:EchoResponse></soap:Body>"
    "</soap:Envelope>"
)
ACTIVATION = NOW + timedelta(days=7)


def _response(signer: Credential, named: Credential | None = None) -> etree._Element:
    """A response signed with ``signer``'s key whose token names ``named``'s certificate."""
    envelope = etree.fromstring(RESPONSE.encode())
    sign_response(envelope, signer.private_key(), (named or signer).certificate(),
                  FixedClock(NOW), timedelta(minutes=5))
    return envelope


def _announced(credential: Credential, role: str = "NEXT") -> Announced:
    der = credential.certificate().public_bytes(Encoding.DER)
    return Announced(role, der, hashlib.sha256(der).hexdigest(), ACTIVATION)


def _verifier(pki: DemoPki, certificates: ServerCertificates) -> ServerVerifyingSignature:
    company = pki.client("company")
    return ServerVerifyingSignature(company.key_path, company.cert_path, certificates)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def test_the_pinned_certificate_verifies_and_nothing_else_does(pki: DemoPki,
                                                                clock: FixedClock) -> None:
    certificates = ServerCertificates(pki.server.certificate(), clock=clock.now)
    verifier = _verifier(pki, certificates)
    verifier.verify(_response(pki.server))
    with pytest.raises(SignatureVerificationFailed):  # well signed, by nobody announced
        verifier.verify(_response(pki.client("person")))


def test_a_token_naming_the_server_on_a_signature_by_another_key_fails(
        pki: DemoPki, clock: FixedClock) -> None:
    certificates = ServerCertificates(pki.server.certificate(), clock=clock.now)
    with pytest.raises(SignatureVerificationFailed):
        _verifier(pki, certificates).verify(_response(pki.client("person"), named=pki.server))


def test_two_tokens_or_a_garbled_one_are_refused(pki: DemoPki, clock: FixedClock) -> None:
    certificates = ServerCertificates(pki.server.certificate(), clock=clock.now)
    verifier = _verifier(pki, certificates)
    doubled = _response(pki.server)
    token = doubled.find(f".//{{{ns.WSSE}}}BinarySecurityToken")
    assert token is not None
    security = token.getparent()
    assert security is not None
    security.append(etree.fromstring(etree.tostring(token)))
    with pytest.raises(SignatureVerificationFailed):
        verifier.verify(doubled)
    garbled = _response(pki.server)
    token = garbled.find(f".//{{{ns.WSSE}}}BinarySecurityToken")
    assert token is not None
    token.text = "not*base64"
    with pytest.raises(SignatureVerificationFailed):
        verifier.verify(garbled)


def test_an_announced_certificate_is_accepted_from_its_activation(pki: DemoPki,
                                                                   clock: FixedClock) -> None:
    following = pki.client("person")  # stands for the next server certificate
    certificates = ServerCertificates(pki.server.certificate(), clock=clock.now)
    added = certificates.learn([_announced(following)])
    assert [entry.certificate for entry in added] == [following.certificate()]
    assert certificates.upcoming() == added
    verifier = _verifier(pki, certificates)
    with pytest.raises(SignatureVerificationFailed, match="before its announced activation"):
        verifier.verify(_response(following))
    clock.set(ACTIVATION - timedelta(minutes=4))  # within the skew allowed for clocks
    verifier.verify(_response(following))
    clock.set(ACTIVATION + timedelta(days=1))
    verifier.verify(_response(following))
    verifier.verify(_response(pki.server))  # the pinned one stays accepted
    assert certificates.upcoming() == []


def test_announcements_that_do_not_add_up_are_ignored(pki: DemoPki, clock: FixedClock) -> None:
    certificates = ServerCertificates(pki.server.certificate(), clock=clock.now)
    following = _announced(pki.client("person"))
    wrong_digest = Announced("NEXT", following.der, "00" * 32, ACTIVATION)
    garbage = Announced("NEXT", b"\x30\x03\x02\x01\x01", hashlib.sha256(
        b"\x30\x03\x02\x01\x01").hexdigest(), ACTIVATION)
    assert certificates.learn([wrong_digest, garbage]) == []
    assert len(certificates.known()) == 1
    assert certificates.learn([following, following]) != []  # once
    assert len(certificates.known()) == 2


def test_the_state_keeps_announced_certificates_and_follows_a_changed_pin(
        pki: DemoPki, tmp_path: Path, clock: FixedClock) -> None:
    following = pki.client("person").certificate()
    der = following.public_bytes(Encoding.DER)
    sha256 = hashlib.sha256(der).hexdigest()
    old = hashlib.sha256(pki.server.certificate().public_bytes(Encoding.DER)).hexdigest()
    state = AgentState(tmp_path / "state.db")
    state.bind({"certificate_sha256": "me", "server_certificate_sha256": old})
    state.record_server_certificates([(sha256, der, ACTIVATION)])
    state.close()

    state = AgentState(tmp_path / "state.db")
    assert state.server_certificates() == [(der, ACTIVATION)]
    restored = ServerCertificates(pki.server.certificate(), [
        KnownCertificate(following, ACTIVATION)], clock=clock.now)
    assert [e.active_from for e in restored.known()] == [None, ACTIVATION]
    # The operator moves --server-cert to the certificate the server announced: same state.
    state.bind({"certificate_sha256": "me", "server_certificate_sha256": sha256})
    with pytest.raises(StateMismatch):  # but not to one it never announced
        state.bind({"certificate_sha256": "me", "server_certificate_sha256": "ab" * 32})
    state.close()
