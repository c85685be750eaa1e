"""``ds:SignatureMethod`` resolution (RFC 6931 §2.3.10/§2.3.11, RFC 9231) and the policy's
document-only algorithms: accept/reject tables."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lxml import etree

from gateway import namespaces as ns
from gateway.signatures import SignaturePolicy
from gateway.signatures.algorithms import DocumentSignatureAlgorithm
from gateway.signatures.findings import FormatError
from gateway.signatures.signature_method import Mechanism, mechanism
from gateway.trust.algorithms import SignatureAlgorithm
from gateway.wssec.policy import WsSecurityPolicy

PSS = "http://www.w3.org/2007/05/xmldsig-more#"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"


def method(uri: str, inner: str = "") -> etree._Element:
    return etree.fromstring(
        f'<ds:SignatureMethod xmlns:ds="{ns.DS}" xmlns:pss="{PSS}" Algorithm="{uri}">'
        f"{inner}</ds:SignatureMethod>"
    )


def params(inner: str) -> str:
    return f"<pss:RSAPSSParams>{inner}</pss:RSAPSSParams>"


ACCEPTED = [
    (PSS + "sha256-rsa-MGF1", "", Mechanism("rsa-pss", "sha256")),
    (PSS + "sha3-512-rsa-MGF1", "", Mechanism("rsa-pss", "sha3_512")),
    (PSS + "rsa-pss", "", Mechanism("rsa-pss", "sha256", 32)),
    (PSS + "rsa-pss", params(""), Mechanism("rsa-pss", "sha256", 32)),
    (
        PSS + "rsa-pss",
        params(f'<ds:DigestMethod Algorithm="{SHA512}"/>'),
        Mechanism("rsa-pss", "sha512", 64),
    ),
    (
        PSS + "rsa-pss",
        params(
            f'<ds:DigestMethod Algorithm="{SHA512}"/>'
            f'<pss:MaskGenerationFunction Algorithm="{PSS}MGF1"><ds:DigestMethod '
            'Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></pss:MaskGenerationFunction>'
            "<pss:SaltLength>0</pss:SaltLength><pss:TrailerField>1</pss:TrailerField>"
        ),
        Mechanism("rsa-pss", "sha512", 0, "sha256"),
    ),
    ("http://www.w3.org/2021/04/xmldsig-more#eddsa-ed448", "", Mechanism("ed448", "shake256")),
    ("http://www.w3.org/2009/xmldsig11#dsa-sha256", "", Mechanism("dsa", "sha256")),
]

REFUSED = [
    ("http://www.w3.org/2001/04/xmldsig-more#rsa-md5", ""),
    ("http://www.w3.org/2000/09/xmldsig#hmac-sha1", ""),
    (PSS + "sha256-rsa-MGF1", params("")),
    (PSS + "rsa-pss", params("<pss:TrailerField>2</pss:TrailerField>")),
    (PSS + "rsa-pss", params("<pss:SaltLength>-1</pss:SaltLength>")),
    (PSS + "rsa-pss", params("<pss:SaltLength>99999999</pss:SaltLength>")),
    (PSS + "rsa-pss", params("<pss:SaltLength>32</pss:SaltLength><ds:DigestMethod/>")),
    (PSS + "rsa-pss", params('<ds:DigestMethod Algorithm="urn:unknown"/>')),
    (PSS + "rsa-pss", params(f'<pss:MaskGenerationFunction Algorithm="{PSS}MGF2"/>')),
    (PSS + "rsa-pss", params("") + params("")),
    (PSS + "rsa-pss", "<pss:Other/>"),
]


@pytest.mark.parametrize(("uri", "inner", "expected"), ACCEPTED)
def test_accepted(uri: str, inner: str, expected: Mechanism) -> None:
    assert mechanism(method(uri, inner)) == expected


@pytest.mark.parametrize(("uri", "inner"), REFUSED)
def test_refused(uri: str, inner: str) -> None:
    with pytest.raises(FormatError):
        mechanism(method(uri, inner))


POLICY = SignaturePolicy()


@pytest.mark.parametrize(
    ("key_kind", "hash_name", "allowed"),
    [
        ("rsa", "sha256", True),
        ("rsa", "sha224", False),
        ("rsa", "sha1", False),
        ("rsa-pss", "sha256", True),
        ("rsa-pss", "sha3_256", True),
        ("rsa-pss", "sha3_224", False),
        ("rsa-pss", "sha224", False),
        ("ecdsa", "sha3_384", True),
        ("ecdsa", "sha1", False),
        ("ed25519", "sha512", True),
        ("ed448", "shake256", True),
        ("dsa", "sha256", False),
        # No XMLDSig URI, but a NIST OID CMS signers use (openssl, Bouncy Castle): issue 13.
        ("rsa", "sha3_256", True),
        ("rsa", "sha3_224", False),
    ],
)
def test_default_policy_allows(key_kind: str, hash_name: str, allowed: bool) -> None:
    assert POLICY.allows_signature(key_kind, hash_name) is allowed


def test_document_only_algorithms_can_be_switched_off() -> None:
    strict = replace(
        POLICY, extra_signature_algorithms=frozenset(), extra_digest_algorithms=frozenset()
    )
    assert not strict.allows_signature("ed25519", "sha512")
    assert not strict.allows_digest("sha3_256")
    assert strict.allows_signature("rsa-pss", "sha256")  # PSS wherever PKCS#1 v1.5 is


def test_from_allow_lists_follows_the_gate_families() -> None:
    ec_only = WsSecurityPolicy(
        signature_algorithms=frozenset(a for a in SignatureAlgorithm if a.is_ecdsa)
    )
    derived = SignaturePolicy.from_allow_lists(
        ec_only.signature_algorithms, ec_only.digest_algorithms,
        min_rsa_key_bits=ec_only.min_rsa_key_bits, check_revocation=ec_only.check_revocation,
        require_revocation_info=ec_only.require_revocation_info,
    )
    assert not derived.allows_signature("rsa-pss", "sha3_256")
    assert derived.allows_signature("ecdsa", "sha3_256")
    assert DocumentSignatureAlgorithm.ED25519 in derived.extra_signature_algorithms
