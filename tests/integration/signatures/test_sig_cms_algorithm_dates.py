"""Algorithm policy with dates for CAdES and PAdES and their time-stamps (issues 12 and 13; ETSI TS
119 312, EN 319 102-1 §5.6.2.5), as the XAdES side has it (``test_sig_algorithm_dates``).

Peers: ``openssl cms`` signs with ``-md sha1`` and with an RSA-1024 key, ``openssl ts`` is the TSA
(also one signing its tokens with SHA-1 over SHA-1 imprints), pyHanko signs PDFs with SHA-1 and with
the RSA-1024 key and time-stamps them with its own test TSA (``DummyTimeStamper``); xmlsec1
signs a XAdES with the RSA-1024 key (the signer's key size is dated on every format). Each weak
signature is judged four ways:

* no date for the algorithm (the default policy): INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE;
* dated, no time-stamp: INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE_NO_POE;
* dated, time-stamped before the date: TOTAL_PASSED, with a warning saying why;
* dated, time-stamped after the date: INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE.

The date of one algorithm never excuses another (SHA-1 dated does not save an RSA-1024 key), and
tampered twins stay TOTAL_FAILED whatever the dates.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sig_cms_vectors import openssl_cms
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    OpenSslTsa,
    Signer,
    describe,
    flip_byte,
    issue_leaf,
    minimal_pdf,
    only,
    xades_enveloped_template,
    xmlsec_sign,
)
from test_sig_xades_versions import add_signature_timestamp

from gateway.pki import Credential, DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate
from gateway.trust.certificates import TrustStore

CONTENT = b"Acuse de recibo de la notificacion N-2026-000042, firmado con un algoritmo antiguo.\n"
PDF_TEXT = b"Old algorithms, proven in time"
BEFORE, AFTER = PKI_NOW + timedelta(days=1), PKI_NOW - timedelta(days=1)
"""Sunset dates after and before the time-stamps (made at the tests' real time, >= PKI_NOW)."""

PASSED = (Indication.TOTAL_PASSED, None)
REFUSED = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
NO_POE = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE)
HASH_FAILURE = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
SIG_CRYPTO_FAILURE = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


@pytest.fixture(scope="module")
def weak_key(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return issue_leaf(
        pki,
        tmp_path_factory.mktemp("rsa1024"),
        "rsa1024",
        not_before=PKI_NOW - timedelta(days=1),
        not_after=PKI_NOW + timedelta(days=90),
        key_size=1024,
    )


# --- vectors -------------------------------------------------------------------------------------


def _signature_value(document: bytes) -> bytes:
    value: bytes = cms.ContentInfo.load(document)["content"]["signer_infos"][0]["signature"].native
    return value


def with_signature_timestamp(document: bytes, token: bytes) -> bytes:
    """``document`` with ``token`` as its first signer's signature-time-stamp-token."""
    content_info = cms.ContentInfo.load(document)
    signer_info = content_info["content"]["signer_infos"][0]
    attribute = cms.CMSAttribute(
        {"type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]}
    )
    signer_info["unsigned_attrs"] = cms.CMSAttributes([attribute])
    rebuilt: bytes = content_info.dump(force=False)
    return rebuilt


def openssl_stamped(document: bytes, tsa: Credential) -> bytes:
    value = _signature_value(document)
    return with_signature_timestamp(
        document, OpenSslTsa(tsa).timestamp(hashlib.sha256(value).digest(), "sha256")
    )


def pyhanko_pdf(signer: Signer, md: str, tsa: Credential | None) -> bytes:
    simple = signers.SimpleSigner.load(str(signer.key_path), str(signer.cert_path))
    assert simple is not None
    writer = IncrementalPdfFileWriter(BytesIO(minimal_pdf(PDF_TEXT)))
    meta = signers.PdfSignatureMetadata(field_name="Sig1", md_algorithm=md)
    timestamper = None
    if tsa is not None:
        timestamper = DummyTimeStamper(
            load_cert_from_pemder(str(tsa.cert_path)),
            load_private_key_from_pemder(str(tsa.key_path), passphrase=None),
        )
    return signers.sign_pdf(writer, meta, signer=simple, timestamper=timestamper).getvalue()


def xades_rsa1024(signer: Signer, tsa: Credential | None) -> bytes:
    signed = xmlsec_sign(xades_enveloped_template(signer, signing_time=PKI_NOW), signer)
    return signed if tsa is None else add_signature_timestamp(signed, "1.3.2", OpenSslTsa(tsa))


Make = Callable[[DemoPki, Signer, Signer, bool], bytes]
"""(pki, RSA-2048 company signer, RSA-1024 signer, time-stamped?) -> the signed document."""

VECTORS: dict[str, tuple[Make, str, bytes]] = {
    # name: (how it is made, the dated name that excuses it, bytes of the signed content)
    "openssl-cms-sha1": (
        lambda pki, company, weak, stamped: (openssl_stamped if stamped else lambda d, _: d)(
            openssl_cms(CONTENT, company, "-md", "sha1", "-nodetach"), pki.tsa
        ),
        "sha1",
        CONTENT,
    ),
    "openssl-cms-rsa1024": (
        lambda pki, company, weak, stamped: (openssl_stamped if stamped else lambda d, _: d)(
            openssl_cms(CONTENT, weak, "-md", "sha256", "-nodetach"), pki.tsa
        ),
        "rsa-1024",
        CONTENT,
    ),
    # The same mechanism on the XML side: xmlsec1 signing with the RSA-1024 key.
    "xmlsec1-xades-rsa1024": (
        lambda pki, company, weak, stamped: xades_rsa1024(weak, pki.tsa if stamped else None),
        "rsa-1024",
        b"N-2026-000001",
    ),
    "pyhanko-pades-sha1": (
        lambda pki, company, weak, stamped: pyhanko_pdf(company, "sha1", pki.tsa if stamped else None),
        "sha1",
        PDF_TEXT,
    ),
    "pyhanko-pades-rsa1024": (
        lambda pki, company, weak, stamped: pyhanko_pdf(weak, "sha256", pki.tsa if stamped else None),
        "rsa-1024",
        PDF_TEXT,
    ),
}


@pytest.fixture(scope="module")
def made(pki: DemoPki, signer, weak_key: Signer) -> dict[tuple[str, bool], bytes]:
    return {
        (name, stamped): make(pki, signer("company"), weak_key, stamped)
        for name, (make, _, _) in VECTORS.items()
        for stamped in (False, True)
    }


def judge(
    document: bytes, trust: TrustStore, policy: SignaturePolicy, dates: tuple[tuple[str, datetime], ...]
):
    report = validate(
        document, policy=replace(policy, weak_algorithms_until=dates), trust=trust, now=VALIDATION_TIME
    )
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


@pytest.mark.parametrize("name", sorted(VECTORS))
@pytest.mark.parametrize(
    ("stamped", "until", "expected"),
    [
        (True, None, REFUSED),
        (False, BEFORE, NO_POE),
        (True, BEFORE, PASSED),
        (True, AFTER, REFUSED),
    ],
    ids=["undated", "dated-no-timestamp", "timestamped-before-date", "timestamped-after-date"],
)
def test_weak_algorithms_are_judged_by_their_date_and_the_proof_of_existence(
    name, stamped, until, expected, made, trust, policy
) -> None:
    _, dated_name, _ = VECTORS[name]
    dates = () if until is None else ((dated_name, until),)
    if name == "pyhanko-pades-sha1" and until is AFTER:
        # pyHanko asks its TSA for an imprint with the signature's hash: SHA-1 too, past its date
        # at validation, so the time-stamp proves nothing and no proof of existence is left.
        expected = NO_POE
    result, signature, report = judge(made[name, stamped], trust, policy, dates)
    assert result == expected, describe(report)
    if expected == PASSED:
        assert any(f"{dated_name} is accepted" in warning for warning in signature.warnings)
        assert signature.level.endswith("-BASELINE-T")


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_one_algorithm_s_date_does_not_excuse_another(name, made, trust, policy) -> None:
    _, dated_name, _ = VECTORS[name]
    other = "rsa-1024" if dated_name == "sha1" else "sha1"
    result, _, report = judge(made[name, True], trust, policy, ((other, BEFORE),))
    assert result == REFUSED, describe(report)


def test_a_dated_key_size_covers_longer_keys_below_the_minimum(made, trust, policy) -> None:
    document = made["openssl-cms-rsa1024", True]
    # rsa-512 dated: a 1024-bit key is judged under it (at least 512 bits).
    assert judge(document, trust, policy, (("rsa-512", BEFORE),))[0] == PASSED
    # rsa-1536 dated: a 1024-bit key is shorter than that; no date covers it.
    assert judge(document, trust, policy, (("rsa-1536", BEFORE),))[0] == REFUSED
    # With both, the nearest one below the key decides.
    assert judge(document, trust, policy, (("rsa-512", BEFORE), ("rsa-1024", AFTER)))[0] == REFUSED


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_tampered_twins_fail_whatever_the_dates(name, made, trust, policy) -> None:
    _, dated_name, content = VECTORS[name]
    document = made[name, True]
    result, _, report = judge(flip_byte(document, content), trust, policy, ((dated_name, BEFORE),))
    assert result == HASH_FAILURE, describe(report)
    if name.startswith("openssl-cms"):
        forged = flip_byte(document, _signature_value(document))
        result, _, report = judge(forged, trust, policy, ((dated_name, BEFORE),))
        assert result == SIG_CRYPTO_FAILURE, describe(report)


# --- the time-stamp token's own algorithms -------------------------------------------------------


_SHA1_TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = {cert}
signer_key = {key}
signer_digest = sha1
default_policy = 1.2.3.4.1
digests = sha1, sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha1
"""


def openssl_sha1_token(tsa: Credential, data: bytes) -> bytes:
    """``openssl ts`` signing with SHA-1 over a SHA-1 imprint of ``data``."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "serial").write_text("01\n")
        (folder / "tsa.cnf").write_text(
            _SHA1_TSA_CONFIG.format(dir=folder, cert=tsa.cert_path, key=tsa.key_path)
        )
        (folder / "data.bin").write_bytes(data)
        subprocess.run(
            ["openssl", "ts", "-query", "-data", str(folder / "data.bin"), "-sha1", "-cert",
             "-no_nonce", "-out", str(folder / "query.tsq")],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"), "-queryfile",
             str(folder / "query.tsq"), "-token_out", "-out", str(folder / "token.der")],
            check=True, capture_output=True,
        )  # fmt: skip
        return (folder / "token.der").read_bytes()


@pytest.fixture(scope="module")
def sha1_stamped(pki: DemoPki, signer) -> bytes:
    document = openssl_cms(CONTENT, signer("company"), "-md", "sha256", "-nodetach")
    return with_signature_timestamp(
        document, openssl_sha1_token(pki.tsa, _signature_value(document))
    )


@pytest.mark.parametrize(
    ("until", "timestamp_result", "level"),
    [
        (None, REFUSED, "CAdES-BASELINE-B"),
        (VALIDATION_TIME - timedelta(minutes=1), NO_POE, "CAdES-BASELINE-B"),
        (VALIDATION_TIME + timedelta(days=1), PASSED, "CAdES-BASELINE-T"),
    ],
    ids=["undated", "dated-before-validation", "dated-after-validation"],
)
def test_a_time_stamp_s_weak_algorithms_are_judged_at_its_validation(
    until, timestamp_result, level, sha1_stamped, trust, policy
) -> None:
    dates = () if until is None else (("sha1", until),)
    result, signature, report = judge(sha1_stamped, trust, policy, dates)
    # The signature itself (SHA-256, RSA-2048) passes; only its time-stamp's proof comes and goes.
    assert result == PASSED, describe(report)
    (timestamp,) = signature.timestamps
    assert (timestamp.indication, timestamp.sub_indication) == timestamp_result, describe(report)
    assert signature.level == level
