"""Algorithm policy with dates (issue 12, the trust package; EN 319 102-1 §5.6.2.5).

xmlsec1 signs a XAdES with RSA-SHA1 and SHA-1 digests; openssl ts (the peer TSA) time-stamps
it. SHA-1 is refused today; a policy may accept it for signatures proven to exist before a date:

* time-stamped before the date: TOTAL_PASSED, with a warning saying why;
* time-stamped after it: INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE;
* no time-stamp, dated algorithm: INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE_NO_POE;
* no date for it (the default): INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE, as before.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import SHA1_URI, OpenSslTsa, describe, only, xades_enveloped_template, xmlsec_sign
from test_sig_xades_versions import add_signature_timestamp

from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate

RSA_SHA1_URI = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


@pytest.fixture(scope="module")
def sha1_signed(signer) -> bytes:
    template = xades_enveloped_template(
        signer("company"), signing_time=PKI_NOW, digest_method=SHA1_URI
    ).replace(b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", RSA_SHA1_URI.encode())
    return xmlsec_sign(template, signer("company"))


def judge(document: bytes, trust, policy: SignaturePolicy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def test_sha1_proven_before_its_date_passes(sha1_signed, pki, trust, policy) -> None:
    stamped = add_signature_timestamp(sha1_signed, "1.3.2", OpenSslTsa(pki.tsa))
    dated = replace(policy, weak_algorithms_until=(("sha1", PKI_NOW + timedelta(days=1)),))
    result, signature, report = judge(stamped, trust, dated)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert any("sha1 is accepted" in warning for warning in signature.warnings)
    # Proven only after the date: refused.
    late = replace(policy, weak_algorithms_until=(("sha1", PKI_NOW - timedelta(days=1)),))
    result, _, report = judge(stamped, trust, late)
    assert result == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE), describe(
        report
    )
    # No date for SHA-1 (the default policy): refused, time-stamp or not.
    result, _, report = judge(stamped, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE), describe(
        report
    )


def test_sha1_without_proof_of_existence_is_no_poe(sha1_signed, trust, policy) -> None:
    dated = replace(policy, weak_algorithms_until=(("sha1", PKI_NOW + timedelta(days=1)),))
    result, _, report = judge(sha1_signed, trust, dated)
    assert result == (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
    ), describe(report)
    # The signature value is still checked first: a forgery stays a forgery.
    forged = sha1_signed.replace(b"<ds:SignatureValue>", b"<ds:SignatureValue>AAAA", 1)
    result, _, report = judge(forged, trust, dated)
    assert result[0] is Indication.TOTAL_FAILED, describe(report)


def test_dates_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        SignaturePolicy(weak_algorithms_until=(("sha1", PKI_NOW.replace(tzinfo=None)),))
