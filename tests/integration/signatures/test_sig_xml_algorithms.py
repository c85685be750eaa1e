"""XML signature algorithms (issue 12, point 4): one row per vector, each with its tampered twin.

Rows: (vector id, who signs, key, SignatureMethod, expected indication, sub-indication). Weak
algorithms (SHA-1, SHA-224, DSA, short keys) must verify first and then fail the policy
(INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE); their twins, like every twin, are
TOTAL_FAILED/SIG_CRYPTO_FAILURE -- so a passing constraint check can never hide bad math, and a
weak-but-correct signature is never reported as forged.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import SHA1_URI, describe, only
from sig_xml_vectors import (
    ED448_URI,
    ED25519_URI,
    MORE,
    MORE07,
    MORE21,
    RSA_PSS_URI,
    SHA3_256_URI,
    SHA512_URI,
    demo_leaf,
    flip_signature_value,
    raw_xades,
    signxml_xades,
    xmlsec1_xades,
)

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate
from gateway.trust.certificates import TrustStore

PASSED = (Indication.TOTAL_PASSED, None)
WEAK = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
FORGED = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)

# xmlsec1 1.2.37 (Debian, OpenSSL): PKCS#1 v1.5, ECDSA on NIST and brainpool curves, DSA.
XMLSEC1_ROWS = [
    ("rsa-sha224", "rsa2048", MORE + "rsa-sha224", WEAK),
    ("rsa-sha256", "rsa2048", MORE + "rsa-sha256", PASSED),
    ("rsa-sha384", "rsa2048", MORE + "rsa-sha384", PASSED),
    ("rsa-sha512", "rsa2048", MORE + "rsa-sha512", PASSED),
    ("rsa-sha1", "rsa2048", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", WEAK),
    ("rsa1024-sha256", "rsa1024", MORE + "rsa-sha256", WEAK),
    ("ecdsa-p256-sha256", "p256", MORE + "ecdsa-sha256", PASSED),
    ("ecdsa-p384-sha384", "p384", MORE + "ecdsa-sha384", PASSED),
    ("ecdsa-p521-sha512", "p521", MORE + "ecdsa-sha512", PASSED),
    ("ecdsa-bp256-sha256", "bp256", MORE + "ecdsa-sha256", PASSED),
    ("ecdsa-bp384-sha384", "bp384", MORE + "ecdsa-sha384", PASSED),
    ("ecdsa-bp512-sha512", "bp512", MORE + "ecdsa-sha512", PASSED),
    ("ecdsa-p256-sha1", "p256", MORE + "ecdsa-sha1", WEAK),
    ("ecdsa-p224-sha256", "p224", MORE + "ecdsa-sha256", WEAK),
    ("dsa1024-sha1", "dsa1024", "http://www.w3.org/2000/09/xmldsig#dsa-sha1", WEAK),
    ("dsa2048-sha256", "dsa2048", "http://www.w3.org/2009/xmldsig11#dsa-sha256", WEAK),
]

# signxml 5 (XAdESSigner): RSA-PSS without parameters (RFC 6931 §2.3.10), ECDSA-SHA3.
SIGNXML_ROWS = [
    ("pss-sha256", "rsa2048", "SHA256_RSA_MGF1", None, PASSED),
    ("pss-sha384", "rsa2048", "SHA384_RSA_MGF1", None, PASSED),
    ("pss-sha512", "rsa2048", "SHA512_RSA_MGF1", None, PASSED),
    ("pss-sha3-256", "rsa2048", "SHA3_256_RSA_MGF1", None, PASSED),
    ("pss-sha3-512", "rsa2048", "SHA3_512_RSA_MGF1", None, PASSED),
    ("pss-sha224", "rsa2048", "SHA224_RSA_MGF1", None, WEAK),
    ("ecdsa-sha3-256", "p256", "ECDSA_SHA3_256", None, PASSED),
    ("ecdsa-sha3-384", "p384", "ECDSA_SHA3_384", None, PASSED),
    ("ecdsa-bp256-sha3-256", "bp256", "ECDSA_SHA3_256", None, PASSED),
    ("rsa-sha256-digest-sha3-256", "rsa2048", "RSA_SHA256", "SHA3_256", PASSED),
    ("rsa-sha256-digest-sha3-512", "rsa2048", "RSA_SHA256", "SHA3_512", PASSED),
    ("rsa-sha256-digest-sha3-224", "rsa2048", "RSA_SHA256", "SHA3_224", WEAK),
]

_PSS = "<pss:RSAPSSParams>{}</pss:RSAPSSParams>"
_DIGEST = '<ds:DigestMethod Algorithm="{}"/>'
_MGF = (
    f'<pss:MaskGenerationFunction Algorithm="{MORE07}MGF1">'
    '<ds:DigestMethod Algorithm="{}"/></pss:MaskGenerationFunction>'
)

# cryptography signs the SignedInfo xmlsec1 digested: EdDSA (RFC 9231), rsa-pss with parameters.
RAW_ROWS = [
    ("ed25519", "ed25519", ED25519_URI, "", None, PASSED),
    ("ed448", "ed448", ED448_URI, "", None, PASSED),
    # signxml refuses to make SHA-1 signatures; the validator must still verify them first.
    ("pss-sha1", "rsa2048", MORE07 + "sha1-rsa-MGF1", "", (hashes.SHA1(), 20), WEAK),
    (
        "rsa-pss-params-sha256",
        "rsa2048",
        RSA_PSS_URI,
        _PSS.format(
            _DIGEST.format("http://www.w3.org/2001/04/xmlenc#sha256")
            + "<pss:SaltLength>32</pss:SaltLength>"
        ),
        (hashes.SHA256(), 32),
        PASSED,
    ),
    (
        "rsa-pss-params-default",
        "rsa2048",
        RSA_PSS_URI,
        _PSS.format(""),
        (hashes.SHA256(), 32),
        PASSED,
    ),
    (
        "rsa-pss-params-sha512-salt20",
        "rsa2048",
        RSA_PSS_URI,
        _PSS.format(
            _DIGEST.format(SHA512_URI)
            + _MGF.format(SHA512_URI)
            + "<pss:SaltLength>20</pss:SaltLength><pss:TrailerField>1</pss:TrailerField>"
        ),
        (hashes.SHA512(), 20),
        PASSED,
    ),
    (
        "rsa-pss-params-sha3-256",
        "rsa2048",
        RSA_PSS_URI,
        _PSS.format(_DIGEST.format(SHA3_256_URI) + "<pss:SaltLength>32</pss:SaltLength>"),
        (hashes.SHA3_256(), 32),
        PASSED,
    ),
    (
        "rsa-pss-params-sha1",
        "rsa2048",
        RSA_PSS_URI,
        _PSS.format(_DIGEST.format(SHA1_URI) + "<pss:SaltLength>20</pss:SaltLength>"),
        (hashes.SHA1(), 20),
        WEAK,
    ),
    # Parameters that do not describe the signature: the math fails, not the format.
    (
        "rsa-pss-params-wrong-salt",
        "rsa2048",
        RSA_PSS_URI,
        _PSS.format(_DIGEST.format(SHA512_URI) + "<pss:SaltLength>32</pss:SaltLength>"),
        (hashes.SHA512(), 64),
        FORGED,
    ),
    ("ed25519-uri-with-ed448-key", "ed448", ED25519_URI, "", None, FORGED),
]


@pytest.fixture(scope="module")
def keyed(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], object]:
    directory = tmp_path_factory.mktemp("algorithm-keys")
    cache: dict[str, object] = {}

    def get(kind: str):
        if kind not in cache:
            cache[kind] = demo_leaf(pki, directory, kind, PKI_NOW)
        return cache[kind]

    return get


def verdict(document: bytes, trust: TrustStore, policy: SignaturePolicy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return (signature.indication, signature.sub_indication), report


def check_pair(document: bytes, expected, trust: TrustStore, policy: SignaturePolicy) -> None:
    result, report = verdict(document, trust, policy)
    assert result == expected, describe(report)
    if expected != FORGED:
        twin, report = verdict(flip_signature_value(document), trust, policy)
        assert twin == FORGED, describe(report)


@pytest.mark.parametrize(
    ("kind", "method", "expected"),
    [row[1:] for row in XMLSEC1_ROWS],
    ids=[row[0] for row in XMLSEC1_ROWS],
)
def test_xmlsec1_algorithms(kind, method, expected, keyed, trust, policy) -> None:
    check_pair(xmlsec1_xades(keyed(kind), method, at=PKI_NOW), expected, trust, policy)


@pytest.mark.parametrize(
    ("digest", "expected"),
    [(MORE + "sha224", WEAK), (SHA512_URI, PASSED), (SHA1_URI, WEAK)],
    ids=["sha224", "sha512", "sha1"],
)
def test_xmlsec1_reference_digests(digest, expected, keyed, trust, policy) -> None:
    document = xmlsec1_xades(
        keyed("rsa2048"), MORE + "rsa-sha256", at=PKI_NOW, digest_method=digest
    )
    check_pair(document, expected, trust, policy)
    result, report = verdict(document.replace(b">100.00<", b">900.00<"), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)


@pytest.mark.parametrize(
    ("kind", "method", "digest", "expected"),
    [row[1:] for row in SIGNXML_ROWS],
    ids=[row[0] for row in SIGNXML_ROWS],
)
def test_signxml_algorithms(kind, method, digest, expected, keyed, trust, policy) -> None:
    from signxml import DigestAlgorithm, SignatureMethod

    document = signxml_xades(
        keyed(kind),
        SignatureMethod[method],
        digest=DigestAlgorithm[digest] if digest else None,
    )
    check_pair(document, expected, trust, policy)
    # The peer's own verifier agrees the math is right (weak or not), and wrong in the twin.
    assert signxml_verifies(document, keyed(kind))
    assert not signxml_verifies(flip_signature_value(document), keyed(kind))


def signxml_verifies(document: bytes, signer, references: int = 3) -> bool:
    """signxml's XMLVerifier with every algorithm enabled and the signer's certificate given
    (so no path building: this checks references and the signature value only)."""
    from cryptography.hazmat.primitives import serialization
    from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
    from signxml.exceptions import InvalidSignature

    config = SignatureConfiguration(
        signature_methods=frozenset(SignatureMethod),
        digest_algorithms=frozenset(DigestAlgorithm),
    )
    pem = signer.certificate.public_bytes(serialization.Encoding.PEM).decode()
    try:
        XMLVerifier().verify(
            document, x509_cert=pem, expect_config=config, expect_references=references
        )
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize(
    ("kind", "method", "parameters", "pss", "expected"),
    [row[1:] for row in RAW_ROWS],
    ids=[row[0] for row in RAW_ROWS],
)
def test_raw_math_algorithms(kind, method, parameters, pss, expected, keyed, trust, policy):
    document = raw_xades(
        keyed(kind), keyed("rsa2048"), method, at=PKI_NOW, method_parameters=parameters, pss=pss
    )
    check_pair(document, expected, trust, policy)
    from signxml import SignatureMethod

    if method in {member.value for member in SignatureMethod}:  # signxml has no EdDSA, rsa-pss
        assert signxml_verifies(document, keyed(kind), references=2) is (expected != FORGED)


def test_signxml_exclusive_c14n_references_do_not_verify(keyed, trust, policy, pki, tmp_path):
    """signxml 5.2 digests its Transform-less SignedProperties/KeyInfo references with exclusive
    C14N when configured with it; XMLDSig §4.3.3.2 says C14N 1.0. xmlsec1 (the peer) rejects
    such a document as well: HASH_FAILURE is the right answer, not a false alarm."""
    from sig_vectors import EXC_C14N, XADES_SP_ID_ATTR
    from signxml import SignatureMethod

    document = signxml_xades(keyed("rsa2048"), SignatureMethod.RSA_SHA256, c14n=EXC_C14N)
    result, report = verdict(document, trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)
    path = tmp_path / "signxml-exc.xml"
    path.write_bytes(document)
    import subprocess

    peer = subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--insecure",
            "--id-attr:Id",
            XADES_SP_ID_ATTR,
            "--id-attr:Id",
            "urn:notess:gateway:receipt:v1:Receipt",
            "--id-attr:Id",
            "http://www.w3.org/2000/09/xmldsig#:KeyInfo",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert peer.returncode != 0, peer.stderr
    fixed = signxml_xades(keyed("rsa2048"), SignatureMethod.RSA_SHA256)
    path.write_bytes(fixed)
    peer = subprocess.run(peer.args, capture_output=True, text=True, check=False)
    assert peer.returncode == 0, peer.stderr
    assert verdict(fixed, trust, policy)[0] == PASSED


def test_unknown_pss_parameters_are_a_format_failure(keyed, trust, policy) -> None:
    document = raw_xades(
        keyed("rsa2048"),
        keyed("rsa2048"),
        RSA_PSS_URI,
        at=PKI_NOW,
        method_parameters=_PSS.format("<pss:TrailerField>2</pss:TrailerField>"),
        pss=(hashes.SHA256(), 32),
    )
    result, report = verdict(document, trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE), describe(report)


def test_policy_without_sha3_judges_it_weak(keyed, trust, policy) -> None:
    from dataclasses import replace

    from signxml import SignatureMethod

    strict = replace(policy, extra_signature_algorithms=frozenset())
    document = signxml_xades(keyed("p256"), SignatureMethod.ECDSA_SHA3_256)
    result, report = verdict(document, trust, strict)
    assert result == WEAK, describe(report)
    assert MORE21  # the RFC 9231 namespace of the row above


def test_the_ws_security_gate_allow_list_is_unchanged() -> None:
    """The engine's extensions live on its side: the gate's Enums still name exactly SHA-2
    PKCS#1 v1.5 and ECDSA."""
    from gateway.trust.algorithms import DigestAlgorithm, SignatureAlgorithm

    assert {member.name for member in SignatureAlgorithm} == {
        "RSA_SHA256",
        "RSA_SHA384",
        "RSA_SHA512",
        "ECDSA_SHA256",
        "ECDSA_SHA384",
        "ECDSA_SHA512",
    }
    assert {member.name for member in DigestAlgorithm} == {"SHA256", "SHA384", "SHA512"}
