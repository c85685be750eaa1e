"""CAdES / CMS validation against ``openssl cms -sign`` (software we did not write), and our
CAdES output checked by ``openssl cms -verify``."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import cms
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    OpenSslTsa,
    Signer,
    describe,
    flip_byte,
    only,
    openssl_cms_sign,
    own_sign,
)

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    SignedObjectKind,
    SubIndication,
    sign_cades,
    validate,
)
from gateway.signatures.cms_signing import sign_octets

CONTENT = b"<receipt>signed by openssl</receipt>\n" * 50


def verdict(document: bytes, trust, policy, *, detached: bytes | None = None):
    report = validate(
        document, detached_content=detached, policy=policy, trust=trust, now=VALIDATION_TIME
    )
    signature = only(report)
    return report, signature, (signature.indication, signature.sub_indication)


@pytest.mark.parametrize("client", ["company", "company_ec", "representative"])
def test_openssl_attached_cades_passes(client, signer, trust, policy) -> None:
    signed = openssl_cms_sign(CONTENT, signer(client), detached=False)
    report, signature, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-B"
    assert signature.signed_data_objects[0].kind is SignedObjectKind.ENCAPSULATED_CONTENT
    assert signature.claimed_signing_time is not None
    assert abs((signature.claimed_signing_time - PKI_NOW).total_seconds()) < 3600


def test_openssl_detached_cades(signer, trust, policy) -> None:
    signed = openssl_cms_sign(CONTENT, signer("company"), detached=True)
    _, signature, result = verdict(signed, trust, policy, detached=CONTENT)
    assert result == (Indication.TOTAL_PASSED, None)
    assert signature.signed_data_objects[0].kind is SignedObjectKind.DETACHED_CONTENT
    _, _, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    _, _, result = verdict(signed, trust, policy, detached=CONTENT[:-1] + b"?")
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_openssl_pem_output_is_detected(signer, trust, policy, tmp_path: Path) -> None:
    der = openssl_cms_sign(CONTENT, signer("company"), detached=False)
    (tmp_path / "s.der").write_bytes(der)
    pem = subprocess.run(
        [
            "openssl",
            "cms",
            "-cmsout",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "s.der"),
            "-outform",
            "PEM",
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert pem.startswith(b"-----BEGIN CMS-----")
    _, _, result = verdict(pem, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None)


def test_openssl_modified_content_and_signature(signer, trust, policy) -> None:
    signed = openssl_cms_sign(CONTENT, signer("company"), detached=False)
    _, _, result = verdict(flip_byte(signed, CONTENT), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    value = cms.ContentInfo.load(signed)["content"]["signer_infos"][0]["signature"].native
    _, _, result = verdict(flip_byte(signed, value), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_openssl_untrusted_and_revoked(signer, trust, policy) -> None:
    _, _, result = verdict(
        openssl_cms_sign(CONTENT, signer("untrusted"), detached=False), trust, policy
    )
    assert result == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    _, _, result = verdict(
        openssl_cms_sign(CONTENT, signer("revoked"), detached=False), trust, policy
    )
    assert result == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)


def test_openssl_sha1_is_crypto_constraints_failure(signer, trust, policy) -> None:
    signed = openssl_cms_sign(CONTENT, signer("company"), detached=False, md="sha1")
    report, _, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE), describe(
        report
    )


def test_openssl_without_cades_attributes_is_not_ades(signer, trust, policy) -> None:
    signed = openssl_cms_sign(CONTENT, signer("company"), detached=False, cades=False)
    _, signature, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    assert signature.level == "CMS-NOT-ETSI"
    _, signature, result = verdict(
        signed, trust, replace(policy, require_signing_certificate_reference=False)
    )
    assert result == (Indication.TOTAL_PASSED, None)


def test_openssl_time_stamp_makes_level_t(pki: DemoPki, signer, trust, policy) -> None:
    # openssl ts -reply is the TSA; its genTime is the system clock (after PKI_NOW).
    signed = sign_cades(
        CONTENT,
        signer("company").key,
        signer("company").certificate,
        detached=False,
        clock=FixedClock(PKI_NOW),
        tsa=OpenSslTsa(pki.tsa),
    )
    report, signature, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-T"
    assert signature.timestamps[0].tsa is not None


@pytest.mark.parametrize("detached", [False, True], ids=["attached", "detached"])
def test_own_cades_verifies_with_openssl(
    detached, pki: DemoPki, signer, tsa, tmp_path: Path
) -> None:
    vector = own_sign("cades", signer("company"), at=PKI_NOW, tsa=tsa, detached=detached)
    (tmp_path / "s.p7s").write_bytes(vector.document)
    (tmp_path / "chain.pem").write_bytes(
        pki.root_ca.cert_path.read_bytes() + pki.issuing_ca.cert_path.read_bytes()
    )
    command = [
        "openssl",
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "s.p7s"),
        "-CAfile",
        str(tmp_path / "chain.pem"),
        "-purpose",
        "any",
        "-attime",
        str(int(VALIDATION_TIME.timestamp())),
        "-out",
        str(tmp_path / "out.bin"),
    ]
    if detached:
        (tmp_path / "content.bin").write_bytes(vector.detached or b"")
        command += ["-binary", "-content", str(tmp_path / "content.bin")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr


def test_own_detached_cades_without_content(signer, trust, policy) -> None:
    vector = own_sign("cades", signer("company"), at=PKI_NOW, detached=True)
    _, _, result = verdict(vector.document, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    _, _, result = verdict(vector.document, trust, policy, detached=vector.detached)
    assert result == (Indication.TOTAL_PASSED, None)


def _resign_with_cert_hash(document: bytes, key_signer: Signer, cert_hash: bytes) -> bytes:
    """Rewrite the ESS signing-certificate-v2 hash and sign the attributes again (valid crypto,
    wrong certificate reference)."""
    content_info = cms.ContentInfo.load(document)
    signer_info = content_info["content"]["signer_infos"][0]
    attributes = signer_info["signed_attrs"]
    for attribute in attributes:
        if attribute["type"].native == "signing_certificate_v2":
            attribute["values"][0]["certs"][0]["cert_hash"] = cms.OctetString(cert_hash)
    rebuilt = cms.CMSAttributes([a for a in attributes])
    signer_info["signed_attrs"] = rebuilt
    signature, _ = sign_octets(key_signer.key, rebuilt.dump(force=True))
    signer_info["signature"] = signature
    return content_info.dump(force=True)


def test_signing_certificate_v2_mismatch(signer, trust, policy) -> None:
    vector = own_sign("cades", signer("company"), at=PKI_NOW)
    forged = _resign_with_cert_hash(vector.document, signer("company"), b"\x00" * 32)
    report, _, result = verdict(forged, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND), (
        describe(report)
    )


def test_revocation_information_missing_or_stale_is_try_later(pki: DemoPki, signer, policy) -> None:
    from datetime import timedelta

    from gateway.trust.certificates import TrustStore

    vector = own_sign("cades", signer("company"), at=PKI_NOW)
    without_crls = TrustStore.from_directory(pki.trust_dir)
    report = validate(vector.document, policy=policy, trust=without_crls, now=VALIDATION_TIME)
    assert report.passed, describe(report)
    strict = replace(policy, require_revocation_info=True)
    report = validate(vector.document, policy=strict, trust=without_crls, now=VALIDATION_TIME)
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
    # The demo CRLs expire seven days after the PKI was made: afterwards nothing is known.
    stale = TrustStore.from_directory(pki.trust_dir, pki.crl_dir)
    report = validate(vector.document, policy=policy, trust=stale, now=PKI_NOW + timedelta(days=8))
    assert report.sub_indication is SubIndication.TRY_LATER


def test_certificate_without_signing_usage(signer, trust, policy) -> None:
    vector = own_sign("cades", signer("no_digital_signature"), at=PKI_NOW)
    report = validate(vector.document, policy=policy, trust=trust, now=VALIDATION_TIME)
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.CHAIN_CONSTRAINTS_FAILURE,
    ), describe(report)
