"""The gate accepts well-formed requests from every client lineage and reports what it verified."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
import xmlsec
from cryptography.hazmat.primitives import hashes
from lxml import etree
from wssec_builders import (
    NOW,
    build_envelope,
    lineage_sign,
    serialise,
    zeep_sign,
)

from gateway import namespaces as ns
from gateway.domain.clock import FixedClock
from gateway.domain.principal import PrincipalKind
from gateway.errors import MessageExpired
from gateway.pki import DemoPki
from gateway.trust.algorithms import SignatureAlgorithm
from gateway.trust.certificates import TrustStore
from gateway.wssec import (
    InMemoryNonceStore,
    SoapVersion,
    WsSecurityGate,
    WsSecurityPolicy,
)
from gateway.xmlsafe import parse_xml
from gateway.xmlsig.references import WALK_AT_MOST

LINEAGES = ["zeep", "node-soap", "wss4j", "xml-id"]


@pytest.mark.parametrize("lineage", LINEAGES)
@pytest.mark.parametrize(
    "client, kind, attribute, person_attribute",
    [
        ("company", PrincipalKind.ENTITY, "company_cif", None),
        ("person", PrincipalKind.PERSON, "person_nif", "person_nif"),
        (
            "representative",
            PrincipalKind.REPRESENTATIVE,
            "representative_cif",
            "representative_nif",
        ),
        ("red_agent", PrincipalKind.ENTITY, "red_agent_cif", None),
    ],
)
def test_accepts_every_lineage_and_principal(
    gate: WsSecurityGate,
    pki: DemoPki,
    signed_request: Callable[..., bytes],
    lineage: str,
    client: str,
    kind: PrincipalKind,
    attribute: str,
    person_attribute: str | None,
) -> None:
    verified = gate.verify_bytes(signed_request(lineage, client))

    assert verified.principal.kind is kind
    assert verified.principal.identifier == getattr(pki, attribute)
    assert verified.principal.person_identifier == (
        getattr(pki, person_attribute) if person_attribute else None
    )
    assert verified.certificate == pki.client(client).certificate()
    fingerprint = verified.certificate.fingerprint(hashes.SHA256()).hex()
    assert verified.principal.certificate_fingerprint == fingerprint


def test_result_holds_the_exact_signed_elements(
    gate: WsSecurityGate, signed_request: Callable[..., bytes]
) -> None:
    envelope = parse_xml(signed_request("wss4j"), max_bytes=1 << 20, max_depth=64)
    verified = gate.verify(envelope)

    header, body = list(envelope)
    security = header[0]
    timestamp = security.find(ns.qname(ns.WSU, "Timestamp"))
    assert verified.envelope is envelope
    assert verified.header is header
    assert verified.body is body
    assert any(element is body for element in verified.signed_elements)
    assert any(element is timestamp for element in verified.signed_elements)
    assert len(verified.signed_ids) == 2
    assert verified.timestamp_created == NOW
    assert verified.timestamp_expires == NOW + timedelta(minutes=5)
    assert verified.soap_version is SoapVersion.SOAP11
    assert verified.signature_algorithm is SignatureAlgorithm.RSA_SHA256


def test_accepts_ecdsa_p256(gate: WsSecurityGate, pki: DemoPki) -> None:
    envelope = zeep_sign(
        build_envelope(),
        pki.client("company_ec"),
        signature_method=xmlsec.constants.TransformEcdsaSha256,
    )
    verified = gate.verify_bytes(serialise(envelope))
    assert verified.signature_algorithm is SignatureAlgorithm.ECDSA_SHA256
    assert verified.principal.identifier == pki.company_cif


@pytest.mark.parametrize(
    "signature_method, digest_method",
    [
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            "http://www.w3.org/2001/04/xmldsig-more#sha384",
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
        ),
    ],
)
def test_accepts_stronger_sha2(
    gate: WsSecurityGate, pki: DemoPki, signature_method: str, digest_method: str
) -> None:
    envelope = lineage_sign(
        build_envelope(),
        pki.client("company"),
        "wss4j",
        signature_method=signature_method,
        digest_method=digest_method,
    )
    assert gate.verify_bytes(serialise(envelope)).signature_algorithm.value == signature_method


def test_wss4j_default_namespace_in_prefix_lists(gate: WsSecurityGate, pki: DemoPki) -> None:
    """``#default`` must be honoured the way xmlsec/Santuario canonicalise it."""
    envelope = build_envelope(
        envelope_default_namespace=ns.NOTIFICATION_SERVICE,
        payload="<Echo><text>hola</text></Echo>",
    )
    lineage_sign(
        envelope,
        pki.client("company"),
        "wss4j",
        signed_info_prefixes="#default soap",
        reference_prefixes={"body": "#default", "timestamp": "#default wsse soap"},
    )
    verified = gate.verify_bytes(serialise(envelope))
    assert verified.body[0].tag == ns.qname(ns.NOTIFICATION_SERVICE, "Echo")


@pytest.mark.parametrize("prefixes", ["", "soap", "soap wsse wsu"])
def test_wss4j_prefix_list_variants(gate: WsSecurityGate, pki: DemoPki, prefixes: str) -> None:
    envelope = lineage_sign(
        build_envelope(),
        pki.client("person"),
        "wss4j",
        signed_info_prefixes=prefixes,
        reference_prefixes={"body": prefixes, "timestamp": prefixes},
    )
    gate.verify_bytes(serialise(envelope))


def test_soap12_when_enabled(trust_store: TrustStore, clock: FixedClock, pki: DemoPki) -> None:
    policy = replace(WsSecurityPolicy(), soap_versions=frozenset(SoapVersion))
    gate = WsSecurityGate(policy, trust_store, InMemoryNonceStore(), clock)
    for lineage in ("zeep", "wss4j"):
        envelope = build_envelope(soap12=True)
        if lineage == "zeep":
            zeep_sign(envelope, pki.client("company"))
        else:
            lineage_sign(envelope, pki.client("company"), lineage)
        assert gate.verify_bytes(serialise(envelope)).soap_version is SoapVersion.SOAP12


def test_timestamp_optional_when_policy_says_so(
    trust_store: TrustStore, clock: FixedClock, pki: DemoPki
) -> None:
    policy = replace(WsSecurityPolicy(), require_timestamp=False)
    nonces = InMemoryNonceStore()
    gate = WsSecurityGate(policy, trust_store, nonces, clock)
    envelope = lineage_sign(
        build_envelope(created=None), pki.client("company"), "wss4j", parts=["body"]
    )
    data = serialise(envelope)
    verified = gate.verify_bytes(data)
    assert verified.timestamp_created == NOW
    assert len(nonces) == 1


def test_clock_skew_inside_allowance_is_accepted(
    gate: WsSecurityGate, signed_request: Callable[..., bytes]
) -> None:
    gate.verify_bytes(signed_request(created=NOW + timedelta(seconds=59)))
    gate.verify_bytes(signed_request(created=NOW - timedelta(seconds=299)))


def test_node_soap_ten_minute_expiry_is_accepted(
    gate: WsSecurityGate, signed_request: Callable[..., bytes]
) -> None:
    """node-soap hard-codes Expires = Created + 10 minutes; DESIGN §5.4 says it must work."""
    gate.verify_bytes(signed_request("node-soap", lifetime=timedelta(minutes=10)))


def test_nonce_is_kept_only_while_the_message_is_acceptable(
    gate: WsSecurityGate,
    nonce_store: InMemoryNonceStore,
    clock: FixedClock,
    signed_request: Callable[..., bytes],
) -> None:
    """Expires is +10 min but the age limit (5 min) ends acceptance first: no longer memory."""
    data = signed_request(lifetime=timedelta(minutes=10))
    gate.verify_bytes(data)
    assert len(nonce_store) == 1
    clock.advance(timedelta(minutes=5, seconds=1))
    assert nonce_store.remember("another", NOW + timedelta(hours=1), clock.now())
    assert len(nonce_store) == 1  # the first nonce was purged
    with pytest.raises(MessageExpired):
        gate.verify_bytes(data)  # and the replay is refused by the age limit instead


def test_comments_allowed_only_when_policy_allows(
    trust_store: TrustStore, clock: FixedClock, pki: DemoPki
) -> None:
    policy = replace(WsSecurityPolicy(), allow_comments_in_signed_elements=True)
    gate = WsSecurityGate(policy, trust_store, InMemoryNonceStore(), clock)
    envelope = build_envelope(payload=PAYLOAD_WITH_COMMENT)
    zeep_sign(envelope, pki.client("company"))
    gate.verify_bytes(serialise(envelope))


PAYLOAD_WITH_COMMENT = (
    '<ntf:Echo xmlns:ntf="urn:notess:gateway:notification:v1"><!-- a note -->'
    "<ntf:text>hola</ntf:text></ntf:Echo>"
)


def test_token_decoding_is_memoised(
    gate: WsSecurityGate, signed_request: Callable[..., bytes]
) -> None:
    gate.verify_bytes(signed_request(client="person"))
    gate.verify_bytes(signed_request(client="person", created=NOW - timedelta(seconds=1)))
    assert gate._token_verdict.cache_info().hits >= 1


def test_verify_leaves_the_tree_usable(
    gate: WsSecurityGate, signed_request: Callable[..., bytes]
) -> None:
    """The caller hands the same tree on (parse once): the gate must not mutate it."""
    data = signed_request("node-soap")
    envelope = parse_xml(data, max_bytes=1 << 20, max_depth=64)
    before = etree.tostring(envelope)
    gate.verify(envelope)
    assert etree.tostring(envelope) == before


def test_comments_inside_the_signature_structure_are_skipped(
    gate: WsSecurityGate, pki: DemoPki
) -> None:
    """Comments between SignedInfo children are not element children (and not signed content)."""
    envelope = lineage_sign(build_envelope(), pki.client("company"), "wss4j")
    signed_info = envelope.find(f".//{{{ns.DS}}}SignedInfo")
    assert signed_info is not None
    signed_info[1].addnext(etree.Comment(" between methods and references "))
    signed_info.getparent().insert(1, etree.ProcessingInstruction("note", "x"))  # type: ignore[union-attr]
    gate.verify_bytes(serialise(envelope))


def test_accepts_a_request_too_large_for_the_walked_id_index(
    gate: WsSecurityGate, pki: DemoPki
) -> None:
    """More nodes than ``xmlsig.references.WALK_AT_MOST``: the Id index is built by XPath instead."""
    envelope = zeep_sign(build_envelope(), pki.client("company"))
    block = etree.SubElement(envelope[0], "{urn:other}Routing")
    for position in range(WALK_AT_MOST):
        etree.SubElement(block, "{urn:other}Hop", {"n": str(position)})

    verified = gate.verify_bytes(serialise(envelope))

    assert len(verified.signed_elements) == 2
