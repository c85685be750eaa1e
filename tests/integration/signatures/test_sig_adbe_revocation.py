"""Adobe's adbe-revocationInfoArchival signed attribute as revocation evidence (issue 13).

Vectors: pyHanko's own signer in its non-PAdES mode (``adbe.pkcs7.detached``,
``embed_validation_info``), which writes the OCSP responses of its validation context into the
attribute as Acrobat does; ``openssl cms -sign`` with the attribute added by asn1crypto and the
SignerInfo signed again. OCSP responses and CRLs made with cryptography (``sig_ocsp``,
``sig_vectors.make_crl``). Validation happens 40 days after signing, after the signer expired."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.sign.fields import SigSeedSubFilter
from sig_adbe import archival_value, openssl_cms, pyhanko_adbe, with_archival
from sig_ocsp import ocsp_response
from sig_pades_lta import pades_t, test_tsa
from sig_scenarios import PKI_NOW
from sig_vectors import describe, issue_leaf, make_crl, minimal_pdf, only, trust_store

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate
from gateway.signatures.adbe_revocation import adobe_revocation_values
from gateway.signatures.cms import load_signed_data

DAY = timedelta(days=1)
SIGNED_AT = PKI_NOW + timedelta(days=1)
VALIDATED_AT = PKI_NOW + 40 * DAY
CONTENT = b"acknowledgement of receipt\n"
STRICT = SignaturePolicy(require_revocation_info=True)
"""Revocation information required for every certificate of the path."""


def fresh_trust(pki: DemoPki, revoked=()):
    """The trust directory at validation time: current CRLs of both demo CAs (which, as CAs do,
    no longer speak of expired certificates)."""
    return trust_store(
        pki,
        [
            make_crl(pki.issuing_ca, list(revoked), this_update=VALIDATED_AT - DAY,
                     next_update=VALIDATED_AT + 6 * DAY),
            make_crl(pki.root_ca,
                     [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - DAY)],
                     this_update=VALIDATED_AT - DAY, next_update=VALIDATED_AT + 6 * DAY),
        ],
    )  # fmt: skip


def root_only_trust(pki: DemoPki):
    """A trust directory with no CRL of the signer's issuing CA: only carried evidence can say
    what became of the signer."""
    return trust_store(
        pki,
        [make_crl(pki.root_ca,
                  [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - DAY)],
                  this_update=VALIDATED_AT - DAY, next_update=VALIDATED_AT + 6 * DAY)],
    )  # fmt: skip


def judge(document: bytes, trust, policy=None):
    report = validate(document, policy=policy or SignaturePolicy(), trust=trust, now=VALIDATED_AT)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


@pytest.fixture(scope="module")
def expiring(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    """A signer valid until PKI_NOW + 10 days: expired when validated."""
    folder: Path = tmp_path_factory.mktemp("adbe")
    return issue_leaf(
        pki, folder, "adbe-expiring", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 10 * DAY
    )


@pytest.fixture(scope="module")
def root_tsu(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    """A time-stamping unit certified by the root, whose CRL the trust directory holds."""
    return issue_leaf(
        pki,
        tmp_path_factory.mktemp("adbe-tsu"),
        "adbe-tsu",
        not_before=PKI_NOW - DAY,
        not_after=PKI_NOW + 300 * DAY,
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
        ca=pki.root_ca,
    )


def _responses(pki: DemoPki, leaf, *, revoked_at=None):
    return [
        ocsp_response(leaf.certificate, pki.issuing_ca, this_update=SIGNED_AT,
                      revoked_at=revoked_at),
        ocsp_response(pki.tsa.certificate(), pki.issuing_ca, this_update=SIGNED_AT),
        ocsp_response(pki.issuing_ca.certificate(), pki.root_ca, this_update=SIGNED_AT),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def pyhanko_vector(pki: DemoPki, expiring, root_tsu) -> bytes:
    return pyhanko_adbe(
        minimal_pdf(),
        expiring,
        test_tsa(root_tsu, SIGNED_AT),
        roots=[pki.root_ca.certificate()],
        intermediates=[pki.issuing_ca.certificate()],
        responses=_responses(pki, expiring),
        moment=SIGNED_AT,
    )


def test_pyhanko_writes_the_attribute_and_it_is_read(pyhanko_vector: bytes) -> None:
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    [embedded] = PdfFileReader(BytesIO(pyhanko_vector)).embedded_signatures
    assert str(embedded.sig_object["/SubFilter"]) == "/adbe.pkcs7.detached"
    warnings: list[str] = []
    values = adobe_revocation_values(embedded.signer_info, warnings=warnings)
    assert len(values.responses) >= 1 and warnings == []


def test_expired_signer_is_decided_by_the_attribute(
    pki: DemoPki, expiring, root_tsu, pyhanko_vector
) -> None:
    result, signature, report = judge(pyhanko_vector, root_only_trust(pki), STRICT)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level is not None and "LT" not in signature.level  # not unsigned data
    # Without the attribute nothing proves the expired signer's status at the signing time.
    plain = pades_t(minimal_pdf(), expiring, test_tsa(root_tsu, SIGNED_AT))
    result, _, report = judge(plain, root_only_trust(pki), STRICT)
    assert result[0] is Indication.INDETERMINATE, describe(report)
    # The signed page text changed: the signature's digest fails.
    tampered = pyhanko_vector.replace(b"(Hello PDF)", b"(Hello PDX)")
    result, _, report = judge(tampered, root_only_trust(pki), STRICT)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)


def test_pades_sub_filter_with_the_attribute(pki: DemoPki, expiring, root_tsu) -> None:
    """ETSI.CAdES.detached with the attribute (pyHanko writes it in non-LTA mode too)."""
    document = pyhanko_adbe(
        minimal_pdf(),
        expiring,
        test_tsa(root_tsu, SIGNED_AT),
        roots=[pki.root_ca.certificate()],
        intermediates=[pki.issuing_ca.certificate()],
        responses=_responses(pki, expiring),
        moment=SIGNED_AT,
        subfilter=SigSeedSubFilter.PADES,
    )
    result, _, report = judge(document, root_only_trust(pki), STRICT)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)


def test_pdf_signer_revoked_before_signing_is_revoked(pki: DemoPki, tmp_path: Path) -> None:
    """pyHanko embeds the issuer's OCSP response saying revoked before the signature
    time-stamp's genTime: TOTAL_FAILED/REVOKED though the trust directory's CRL is silent."""
    leaf = issue_leaf(
        pki, tmp_path, "adbe-revoked", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    revoked_at = PKI_NOW - timedelta(hours=1)
    document = pyhanko_adbe(
        minimal_pdf(),
        leaf,
        test_tsa(pki.tsa, SIGNED_AT),
        roots=[pki.root_ca.certificate()],
        intermediates=[pki.issuing_ca.certificate()],
        responses=_responses(pki, leaf, revoked_at=revoked_at),
        moment=SIGNED_AT,
    )
    result, signature, report = judge(document, fresh_trust(pki))
    assert result == (Indication.TOTAL_FAILED, SubIndication.REVOKED), describe(report)
    assert signature.revocation_time == revoked_at
    # The same signer signing without the attribute: nothing says so.
    plain = pades_t(minimal_pdf(), leaf, test_tsa(pki.tsa, SIGNED_AT))
    result, _, report = judge(plain, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)


@pytest.fixture(scope="module")
def company(signer):
    """A signer still valid when validated (no time-stamp needed in the CMS vectors)."""
    return signer("company")


@pytest.fixture(scope="module")
def cms_base(company, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return openssl_cms(CONTENT, company, tmp_path_factory.mktemp("adbe-cms"))


def _cms_judge(signature: bytes, trust):
    report = validate(
        signature, detached_content=CONTENT, policy=SignaturePolicy(), trust=trust, now=VALIDATED_AT
    )
    result = only(report)
    return (result.indication, result.sub_indication), result, report


def test_cms_signer_revoked_is_found_by_the_attribute(pki: DemoPki, company, cms_base) -> None:
    revoked_at = PKI_NOW - timedelta(hours=1)
    evidence = archival_value(responses=_responses(pki, company, revoked_at=revoked_at))
    signed = with_archival(cms_base, company, evidence)
    result, signature, report = _cms_judge(signed, fresh_trust(pki))
    # No time-stamp proves the signature was made before the revocation (EN 319 102-1).
    assert result == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE), describe(report)
    assert signature.revocation_time == revoked_at
    # The same signature with a good response: passes.
    good = with_archival(cms_base, company, archival_value(responses=_responses(pki, company)))
    result, _, report = _cms_judge(good, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)


def test_cms_crl_in_the_attribute_is_evidence(pki: DemoPki, company, cms_base) -> None:
    revoked_at = PKI_NOW - timedelta(hours=1)
    crl = make_crl(pki.issuing_ca, [(company.certificate.serial_number, revoked_at)],
                   this_update=SIGNED_AT, next_update=SIGNED_AT + 7 * DAY)  # fmt: skip
    signed = with_archival(cms_base, company, archival_value(crls=[crl]))
    result, signature, report = _cms_judge(signed, fresh_trust(pki))
    assert result == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE), describe(report)
    assert signature.revocation_time == revoked_at


def test_forged_ocsp_response_is_ignored(pki: DemoPki, company, cms_base) -> None:
    """Names the real issuer, signed with the signer's own key: no evidence."""
    forged = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=company.certificate,
            issuer=pki.issuing_ca.certificate(),
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED,
            this_update=SIGNED_AT,
            next_update=SIGNED_AT + 7 * DAY,
            revocation_time=PKI_NOW - DAY,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, company.certificate)
        .sign(company.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    signed = with_archival(cms_base, company, archival_value(responses=[forged]))
    result, _, report = _cms_judge(signed, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    # Tampered twin: a signed byte changed after signing.
    position = signed.rindex(b"\x06\x09\x2a\x86\x48\x86\xf7\x2f\x01\x01\x08") + 20
    tampered = signed[:position] + bytes([signed[position] ^ 1]) + signed[position + 1 :]
    result, _, report = _cms_judge(tampered, fresh_trust(pki))
    assert result[0] is not Indication.TOTAL_PASSED, describe(report)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_attribute_gives_a_report(pki: DemoPki, company, cms_base, data) -> None:
    """Mutated attribute DER (validly signed, so the reader sees it): a report, never an
    exception; unreadable content is a warning."""
    value = bytearray(archival_value(responses=_responses(pki, company)[:1]))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(value) - 1))
        value[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        value = value[: data.draw(st.integers(0, len(value)))]
    signed = with_archival(cms_base, company, bytes(value))
    report = validate(signed, detached_content=CONTENT, policy=SignaturePolicy(),
                      trust=fresh_trust(pki), now=VALIDATED_AT)  # fmt: skip
    assert len(report.signatures) == 1
    signed_data = load_signed_data(signed)
    warnings: list[str] = []
    adobe_revocation_values(signed_data["signer_infos"][0], warnings=warnings)


def _tlv(tag: int, contents: bytes) -> bytes:
    size = len(contents)
    length = bytes([size]) if size < 0x80 else bytes([0x81, size])
    return bytes([tag]) + length + contents


def test_unreadable_items_are_warnings(pki: DemoPki, company, cms_base) -> None:
    """An OCSP entry that is no OCSPResponse, and a whole value that is no SEQUENCE: the
    signature is judged without them, each named in the warnings."""
    garbage_ocsp = _tlv(0x30, _tlv(0xA1, _tlv(0x30, _tlv(0x30, b"\x02\x01\x07"))))
    for value, warning in (
        (garbage_ocsp, "An OCSP response in adbe-revocationInfoArchival cannot be read"),
        (b"\x04\x02ab", "The adbe-revocationInfoArchival attribute is malformed"),
    ):
        signed = with_archival(cms_base, company, value)
        result, signature, report = _cms_judge(signed, fresh_trust(pki))
        assert result == (Indication.TOTAL_PASSED, None), describe(report)
        assert any(w.startswith(warning) for w in signature.warnings), describe(report)
