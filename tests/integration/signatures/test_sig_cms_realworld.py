"""CMS signatures as other tools make them (issue 13, points 1-4): each vector from a peer we did
not write, with the expected indication of every signature in it, and a tampered twin.

Peers: ``openssl cms`` (BER via ``-stream``, ``-resign``, RSA-PSS, SHA-3, nested SignedData via
``-econtent_type``, a CMS enveloping a PDF), Bouncy Castle (``peers/BcCms.java``: Ed25519,
Ed448, plain ECDSA, RSA with SHA-3, counter-signatures, nested ones) and ``openssl ts`` (the
time-stamps a broken copy of which must fail only themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import cms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sig_cms_vectors import (
    FORMAT_FAILURE,
    HASH_FAILURE,
    PASSED,
    SIG_CRYPTO_FAILURE,
    BcJob,
    CmsVector,
    ber_certificate,
    bouncy_castle,
    certificate_with_trailing_data,
    issue_eddsa_leaf,
    openssl_cms,
    openssl_resign,
    replace_timestamp_token,
    signature_value,
    timestamp_token,
)
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import OpenSslTsa, Signer, describe, flip_byte, minimal_pdf

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    SignatureFormat,
    SignaturePolicy,
    SignedObjectKind,
    SubIndication,
    sign_cades,
    validate,
)
from gateway.trust.certificates import TrustStore

CONTENT = b"<ack>acknowledged by a peer</ack>\n" * 30
ONE = "signer-1"


def _flip_content(document: bytes) -> bytes:
    return flip_byte(document, CONTENT)


def _flip_signature(document: bytes, position: int = 0) -> bytes:
    return flip_byte(document, signature_value(document, position))


def _build(pki: DemoPki, signer: Callable[[str], Signer], folder: Path) -> list[CmsVector]:
    company, company_ec = signer("company"), signer("company_ec")
    ed25519 = issue_eddsa_leaf(pki, folder, "ed25519", PKI_NOW)
    ed448 = issue_eddsa_leaf(pki, folder, "ed448", PKI_NOW)
    attached = openssl_cms(CONTENT, company, "-nodetach")
    pdf = minimal_pdf(b"enveloped PDF")
    two = openssl_resign(attached, company_ec)
    (
        bc_ed25519, bc_ed448, bc_plain, bc_sha3, bc_counter, bc_nested_counter,
        bc_pss, bc_ecdsa384, bc_counter_two, bc_ed25519_counter, bc_sha512, bc_ecdsa256,
    ) = bouncy_castle(
        [
            BcJob("sign", "Ed25519", ed25519, CONTENT),
            BcJob("sign", "Ed448", ed448, CONTENT),
            BcJob("sign", "SHA256withPLAIN-ECDSA", company_ec, CONTENT),
            BcJob("sign", "SHA3-256withRSA", company, CONTENT),
            BcJob("countersign", "SHA256withECDSA", company_ec, attached),
            BcJob("countersign", "SHA256withECDSA", company_ec, attached, nested=True),
            BcJob("sign", "SHA256withRSAandMGF1", company, CONTENT),
            BcJob("sign", "SHA384withECDSA", company_ec, CONTENT),
            BcJob("countersign", "SHA256withRSA", company, two),
            BcJob("countersign", "Ed25519", ed25519, attached),
            BcJob("sign", "SHA512withRSA", company, CONTENT),
            BcJob("sign", "SHA256withECDSA", company_ec, CONTENT),
        ]
    )  # fmt: skip
    ber = openssl_cms(CONTENT, company, "-nodetach", "-stream")
    ber_pdf = openssl_cms(pdf, company, "-nodetach", "-stream")
    ber_ecdsa = openssl_cms(CONTENT, company_ec, "-nodetach", "-stream")
    pss384 = openssl_cms(
        CONTENT, company, "-nodetach", "-md", "sha384", "-keyopt", "rsa_padding_mode:pss",
        "-keyopt", "rsa_pss_saltlen:-1",
    )  # fmt: skip
    enveloped_pdf = openssl_cms(pdf, company, "-nodetach")
    counter, second = "signer-1/counter-1", "signer-2/counter-1"
    detached_rsa = openssl_cms(CONTENT, company)
    detached_ecdsa = openssl_cms(CONTENT, company_ec, "-md", "sha384")
    detached_ber = openssl_cms(CONTENT, company, "-stream")
    sha512 = openssl_cms(CONTENT, company, "-nodetach", "-md", "sha512")
    changed = CONTENT.replace(b"peer", b"Peer", 1)
    nested = openssl_cms(attached, company_ec, "-nodetach", "-econtent_type", "pkcs7-signedData")
    return [
        CmsVector(
            "openssl-enveloped-pdf", "openssl", enveloped_pdf, ((ONE, PASSED),),
            flip_byte(enveloped_pdf, b"enveloped PDF"), ((ONE, HASH_FAILURE),),
        ),
        CmsVector(
            "openssl-stream-ber-attached", "openssl", ber, ((ONE, PASSED),),
            _flip_content(ber), ((ONE, HASH_FAILURE),), warning="BER",
        ),
        CmsVector(
            # BER (0x30 0x80) around a PDF: the structure says CMS, whatever the content is.
            "openssl-stream-ber-pdf", "openssl", ber_pdf, ((ONE, PASSED),),
            flip_byte(ber_pdf, b"enveloped PDF"), ((ONE, HASH_FAILURE),), warning="BER",
        ),
        CmsVector(
            "openssl-zero-padding", "openssl", attached + b"\x00" * 100, ((ONE, PASSED),),
            attached + b"\x00" * 99 + b"\x01", (("document", FORMAT_FAILURE),),
            warning="Zero padding",
        ),
        CmsVector(
            "openssl-resign-two-signers", "openssl", two, ((ONE, PASSED), ("signer-2", PASSED)),
            _flip_signature(two, 1), ((ONE, PASSED), ("signer-2", SIG_CRYPTO_FAILURE)),
        ),
        CmsVector(
            "openssl-rsa-pss", "openssl",
            (pss := openssl_cms(CONTENT, company, "-nodetach", "-keyopt", "rsa_padding_mode:pss")),
            ((ONE, PASSED),), _flip_signature(pss), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
        CmsVector(
            "openssl-rsa-sha3-256", "openssl",
            (sha3 := openssl_cms(CONTENT, company, "-nodetach", "-md", "sha3-256")),
            ((ONE, PASSED),), _flip_content(sha3), ((ONE, HASH_FAILURE),),
        ),
        CmsVector(
            "openssl-nested-signed-data", "openssl", nested,
            ((ONE, PASSED), ("nested-1/signer-1", PASSED)),
            _flip_content(nested), ((ONE, HASH_FAILURE), ("nested-1/signer-1", HASH_FAILURE)),
            warning="itself a CMS SignedData",
        ),
        CmsVector(
            "openssl-ber-certificate", "openssl", ber_certificate(attached), ((ONE, PASSED),),
            _flip_content(ber_certificate(attached)), ((ONE, HASH_FAILURE),),
            warning="re-encoded in DER",
        ),
        CmsVector(
            "openssl-certificate-trailing-data", "openssl",
            certificate_with_trailing_data(attached), ((ONE, PASSED),),
            _flip_content(certificate_with_trailing_data(attached)), ((ONE, HASH_FAILURE),),
            warning="re-encoded in DER",
        ),
        CmsVector(
            "bc-ed25519", "bouncycastle", bc_ed25519, ((ONE, PASSED),),
            _flip_signature(bc_ed25519), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
        CmsVector(
            "bc-ed448", "bouncycastle", bc_ed448, ((ONE, PASSED),),
            _flip_signature(bc_ed448), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
        CmsVector(
            "bc-ecdsa-plain", "bouncycastle", bc_plain, ((ONE, PASSED),),
            _flip_signature(bc_plain), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
        CmsVector(
            "bc-rsa-sha3-256", "bouncycastle", bc_sha3, ((ONE, PASSED),),
            _flip_content(bc_sha3), ((ONE, HASH_FAILURE),),
        ),
        CmsVector(
            # The parent's signature value is what the counter-signature signed: changing it
            # fails both, each for its own reason.
            "bc-counter-signature", "bouncycastle", bc_counter,
            ((ONE, PASSED), (counter, PASSED)),
            _flip_signature(bc_counter), ((ONE, SIG_CRYPTO_FAILURE), (counter, HASH_FAILURE)),
        ),
        CmsVector(
            "bc-nested-counter-signature", "bouncycastle", bc_nested_counter,
            ((ONE, PASSED), (counter, PASSED), (f"{counter}/counter-1", PASSED)),
            _flip_content(bc_nested_counter),
            ((ONE, HASH_FAILURE), (counter, PASSED), (f"{counter}/counter-1", PASSED)),
        ),
        CmsVector(
            "openssl-ecdsa-stream-ber", "openssl", ber_ecdsa, ((ONE, PASSED),),
            _flip_content(ber_ecdsa), ((ONE, HASH_FAILURE),), warning="BER",
        ),
        CmsVector(
            "openssl-rsa-pss-sha384", "openssl", pss384, ((ONE, PASSED),),
            _flip_signature(pss384), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
        CmsVector(
            "bc-rsa-pss-sha256", "bouncycastle", bc_pss, ((ONE, PASSED),),
            _flip_signature(bc_pss), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
        CmsVector(
            "bc-ecdsa-sha384", "bouncycastle", bc_ecdsa384, ((ONE, PASSED),),
            _flip_content(bc_ecdsa384), ((ONE, HASH_FAILURE),),
        ),
        CmsVector(
            # openssl's two signers, each countersigned by Bouncy Castle: four signatures.
            "bc-counter-on-openssl-resign", "bouncycastle", bc_counter_two,
            ((ONE, PASSED), (counter, PASSED), ("signer-2", PASSED), (second, PASSED)),
            _flip_signature(bc_counter_two, 1),
            ((ONE, PASSED), (counter, PASSED), ("signer-2", SIG_CRYPTO_FAILURE),
             (second, HASH_FAILURE)),
        ),
        CmsVector(
            "bc-ed25519-counter-signature", "bouncycastle", bc_ed25519_counter,
            ((ONE, PASSED), (counter, PASSED)),
            _flip_signature(bc_ed25519_counter),
            ((ONE, SIG_CRYPTO_FAILURE), (counter, HASH_FAILURE)),
        ),
        CmsVector(
            "openssl-detached-rsa", "openssl", detached_rsa, ((ONE, PASSED),),
            detached_rsa, ((ONE, HASH_FAILURE),), detached=CONTENT, twin_detached=changed,
        ),
        CmsVector(
            "openssl-detached-ecdsa-sha384", "openssl", detached_ecdsa, ((ONE, PASSED),),
            detached_ecdsa, ((ONE, HASH_FAILURE),), detached=CONTENT, twin_detached=changed,
        ),
        CmsVector(
            "openssl-stream-ber-detached", "openssl", detached_ber, ((ONE, PASSED),),
            _flip_signature(detached_ber), ((ONE, SIG_CRYPTO_FAILURE),), detached=CONTENT,
            twin_detached=CONTENT, warning="BER",
        ),
        CmsVector(
            "openssl-rsa-sha512", "openssl", sha512, ((ONE, PASSED),),
            _flip_content(sha512), ((ONE, HASH_FAILURE),),
        ),
        CmsVector(
            "bc-rsa-sha512", "bouncycastle", bc_sha512, ((ONE, PASSED),),
            _flip_content(bc_sha512), ((ONE, HASH_FAILURE),),
        ),
        CmsVector(
            "bc-ecdsa-sha256", "bouncycastle", bc_ecdsa256, ((ONE, PASSED),),
            _flip_signature(bc_ecdsa256), ((ONE, SIG_CRYPTO_FAILURE),),
        ),
    ]  # fmt: skip


@pytest.fixture(scope="session")
def corpus(pki: DemoPki, signer, tmp_path_factory: pytest.TempPathFactory) -> list[CmsVector]:
    return _build(pki, signer, tmp_path_factory.mktemp("cms-corpus"))


def _indications(document: bytes, detached: bytes | None, trust: TrustStore, policy):
    report = validate(
        document, detached_content=detached, policy=policy, trust=trust, now=VALIDATION_TIME
    )
    assert report.format is SignatureFormat.CADES
    return report, tuple(
        (signature.identifier, (signature.indication, signature.sub_indication))
        for signature in report.signatures
    )


NAMES = (
    "openssl-enveloped-pdf", "openssl-stream-ber-attached", "openssl-stream-ber-pdf",
    "openssl-zero-padding", "openssl-resign-two-signers", "openssl-rsa-pss",
    "openssl-rsa-sha3-256", "openssl-nested-signed-data", "openssl-ber-certificate",
    "openssl-certificate-trailing-data", "bc-ed25519", "bc-ed448", "bc-ecdsa-plain",
    "bc-rsa-sha3-256", "bc-counter-signature", "bc-nested-counter-signature",
    "openssl-ecdsa-stream-ber", "openssl-rsa-pss-sha384", "bc-rsa-pss-sha256", "bc-ecdsa-sha384",
    "bc-counter-on-openssl-resign", "bc-ed25519-counter-signature", "openssl-detached-rsa",
    "openssl-detached-ecdsa-sha384", "openssl-stream-ber-detached", "openssl-rsa-sha512",
    "bc-rsa-sha512", "bc-ecdsa-sha256",
)  # fmt: skip


def _vector(corpus: list[CmsVector], name: str) -> CmsVector:
    return next(vector for vector in corpus if vector.name == name)


def test_the_corpus_is_the_named_table(corpus) -> None:
    assert tuple(vector.name for vector in corpus) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_peer_vector_and_its_tampered_twin(name, corpus, trust, policy) -> None:
    vector = _vector(corpus, name)
    report, found = _indications(vector.document, vector.detached, trust, policy)
    assert found == vector.expected, describe(report)
    if vector.warning is not None:  # the lenient path is named on the signature it served
        assert any(vector.warning in warning for warning in report.signatures[0].warnings), (
            describe(report)
        )
    else:
        assert not any(signature.warnings for signature in report.signatures), describe(report)
    report, found = _indications(vector.twin, vector.twin_detached, trust, policy)
    assert found == vector.twin_expected, describe(report)


def test_pdf_enveloped_in_cms_is_its_encapsulated_content(corpus, trust, policy) -> None:
    report, _ = _indications(_vector(corpus, "openssl-enveloped-pdf").document, None, trust, policy)
    assert report.signatures[0].signed_data_objects[0].kind is (
        SignedObjectKind.ENCAPSULATED_CONTENT
    )
    # --format still overrides detection: read as a PDF, it is not one.
    forced = validate(
        _vector(corpus, "openssl-enveloped-pdf").document,
        format=SignatureFormat.PADES,
        policy=policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    assert (forced.indication, forced.sub_indication) == FORMAT_FAILURE


def test_counter_signatures_name_their_parent(corpus, trust, policy) -> None:
    report, _ = _indications(
        _vector(corpus, "bc-nested-counter-signature").document, None, trust, policy
    )
    parent, counter, deeper = report.signatures
    assert parent.counter_signature_of is None
    assert counter.counter_signature_of == parent.identifier
    assert deeper.counter_signature_of == counter.identifier
    assert counter.signed_data_objects[0].kind is SignedObjectKind.COUNTER_SIGNED_SIGNATURE
    assert counter.signed_data_objects[0].identifier == parent.identifier
    assert counter.level == "CAdES-BASELINE-B"
    assert report.to_dict()["signatures"][1]["counter_signature_of"] == "signer-1"


def test_algorithms_are_reported(corpus, trust, policy) -> None:
    expected = {
        "bc-ed25519": "ed25519-sha512",
        "bc-ed448": "ed448-shake256",
        "bc-ecdsa-plain": "ecdsa-plain-sha256",
        "bc-rsa-sha3-256": "rsa-sha3_256",
        "openssl-rsa-sha3-256": "rsa-sha3_256",
        "openssl-rsa-pss": "rsa-pss-sha256",
    }
    for name, algorithm in expected.items():
        report, _ = _indications(_vector(corpus, name).document, None, trust, policy)
        assert report.signatures[0].signature_algorithm == algorithm, name


def test_sha3_is_refused_when_the_policy_takes_no_document_extras(corpus, trust) -> None:
    strict = SignaturePolicy(extra_signature_algorithms=frozenset())
    _, found = _indications(_vector(corpus, "bc-rsa-sha3-256").document, None, trust, strict)
    assert found == ((ONE, (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)),)


# --- point 3: one bad time-stamp fails only itself -----------------------------------------------


@pytest.fixture(scope="session")
def timestamped(pki: DemoPki, signer) -> bytes:
    return sign_cades(
        CONTENT,
        signer("company").key,
        signer("company").certificate,
        detached=False,
        clock=FixedClock(PKI_NOW),
        tsa=OpenSslTsa(pki.tsa),
    )


def _unparsable(token: bytes) -> bytes:
    # The ContentInfo's contentType OID tag made an OCTET STRING: the token cannot be read.
    oid = bytes.fromhex("06092a864886f70d010702")
    return token.replace(oid, b"\x04" + oid[1:], 1)


def _forged(token: bytes) -> bytes:
    return flip_byte(token, signature_value(token))


@pytest.mark.parametrize(
    ("name", "make_token", "timestamp_result", "level"),
    [
        ("openssl-ts-valid", lambda token: token, PASSED, "CAdES-BASELINE-T"),
        ("openssl-ts-unparsable", _unparsable, FORMAT_FAILURE, "CAdES-BASELINE-B"),
        ("openssl-ts-forged", _forged, SIG_CRYPTO_FAILURE, "CAdES-BASELINE-B"),
        ("garbage-token", lambda token: b"\x04\x03abc", FORMAT_FAILURE, "CAdES-BASELINE-B"),
    ],
)
def test_a_bad_time_stamp_fails_only_itself(
    name, make_token, timestamp_result, level, timestamped, trust, policy
) -> None:
    document = replace_timestamp_token(timestamped, make_token(timestamp_token(timestamped)))
    report, found = _indications(document, None, trust, policy)
    assert found == ((ONE, PASSED),), describe(report)
    signature = report.signatures[0]
    assert signature.level == level
    (timestamp,) = signature.timestamps
    assert (timestamp.indication, timestamp.sub_indication) == timestamp_result
    if timestamp_result != PASSED:
        assert any("time-stamp is not valid" in warning for warning in signature.warnings)
    # Its tampered twin: the content changed is still HASH_FAILURE, bad time-stamp or not.
    report, found = _indications(flip_byte(document, CONTENT), None, trust, policy)
    assert found == ((ONE, HASH_FAILURE),), describe(report)


# --- fuzzing: mutated DER is a report or FORMAT_FAILURE, never an exception ----------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_cms_is_a_report_never_an_exception(data, corpus, trust, policy) -> None:
    vector = data.draw(st.sampled_from(corpus))
    document = bytearray(vector.document)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(document) - 1))
        document[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(document)))
    report = validate(
        bytes(document[:cut]),
        detached_content=vector.detached,
        policy=policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    for signature in report.signatures:
        assert all(finding.message != "internal error" for finding in signature.findings)
    assert cms.ContentInfo  # the module stays importable under hypothesis' reloads


def test_counter_signatures_count_against_the_signature_limit(corpus, trust, policy) -> None:
    document = _vector(corpus, "bc-nested-counter-signature").document
    _, found = _indications(document, None, trust, replace(policy, max_signatures=2))
    assert found == (("document", FORMAT_FAILURE),)
    _, found = _indications(document, None, trust, replace(policy, max_signatures=3))
    assert [verdict for _, verdict in found] == [PASSED, PASSED, PASSED]
