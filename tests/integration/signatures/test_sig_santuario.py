"""Issue 12 vectors made by Apache Santuario (Debian's libxml-security-java, Java; software we
did not write and that shares no code with libxml2): unprefixed and prefixed signatures in a
default-namespace document, C14N 1.1 (with an xml:base fix-up), exclusive C14N with a
PrefixList, XPath and XPath Filter 2.0, several references, a Manifest, an enveloping Base64
Object.

Each is TOTAL_PASSED under a policy that accepts plain XMLDSig, with a content-tamper twin
(HASH_FAILURE; for the Manifest, a not-intact entry with a warning -- XMLDSig §5.1) and a
SignedInfo-tamper twin (SIG_CRYPTO_FAILURE).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sig_realworld import (
    INVOICE_ID_ATTR,
    LINE_ID_ATTR,
    MANIFEST_ID_ATTR,
    OBJECT_ID_ATTR,
    tamper_signed_info,
)
from sig_scenarios import VALIDATION_TIME
from sig_vectors import describe, only, santuario_sign_all, xmlsec1_verify

from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate

SCENARIOS = {
    # name: (content needle, replacement)
    "unprefixed-enveloped-c14n": (b">10<", b">11<"),
    "prefixed-enveloped-c14n": (b">10<", b">11<"),
    "unprefixed-element-c14n11": (b">10<", b">11<"),
    "prefixed-element-c14n11": (b">10<", b">11<"),
    "unprefixed-element-c14n-with-comments": (b">10<", b">11<"),
    "exc-prefix-list": (b">10<", b">11<"),
    "xpath": (b">10<", b">11<"),
    "xpath-filter2": (b">10<", b">11<"),
    "several-references": (b">20<", b">21<"),
    "manifest": (b">10<", b">11<"),
    "xml-base-c14n11": (b">10<", b">11<"),
    "enveloping-base64": (b"SGVsbG8g", b"SGVsbG9g"),
}
PASSED = (Indication.TOTAL_PASSED, None)


@pytest.fixture(scope="module")
def plain_policy(policy: SignaturePolicy) -> SignaturePolicy:
    return replace(policy, require_signing_certificate_reference=False)


@pytest.fixture(scope="module")
def santuario_vectors(signer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return santuario_sign_all(signer("company"), tmp_path_factory.mktemp("santuario"))


def verdict(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return report, (signature.indication, signature.sub_indication)


def test_santuario_made_every_scenario(santuario_vectors) -> None:
    assert sorted(santuario_vectors) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_xmlsec1_agrees_the_santuario_vector_is_valid(
    name: str, santuario_vectors, pki, tmp_path
) -> None:
    """Two peers that share no code call it valid: a failure of ours is ours."""
    (tmp_path / "signed.xml").write_bytes(santuario_vectors[name])
    verified = xmlsec1_verify(
        pki,
        tmp_path / "signed.xml",
        VALIDATION_TIME,
        id_attrs=(LINE_ID_ATTR, INVOICE_ID_ATTR, OBJECT_ID_ATTR, MANIFEST_ID_ATTR),
    )
    assert verified.returncode == 0, verified.stderr


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_santuario_vector_and_its_tampered_twins(
    name: str, santuario_vectors, trust, plain_policy
) -> None:
    signed = santuario_vectors[name]
    report, result = verdict(signed, trust, plain_policy)
    assert result == PASSED, describe(report)

    needle, replacement = SCENARIOS[name]
    assert signed.count(needle) == 1
    report, result = verdict(signed.replace(needle, replacement), trust, plain_policy)
    if name == "manifest":
        assert result == PASSED, describe(report)
        assert [item.intact for item in only(report).signed_data_objects] == [True, False, True]
        assert only(report).warnings
    else:
        assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)

    report, result = verdict(tamper_signed_info(signed), trust, plain_policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE), describe(report)
