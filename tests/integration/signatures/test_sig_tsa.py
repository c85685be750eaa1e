"""Time-stamping: our local TSA against ``openssl ts`` and pyHanko's HTTP client, tokens from
``openssl ts -reply`` against our validation, and tokens that must not count as proof."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from asn1crypto import tsp
from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper
from sig_scenarios import FORMATS, PKI_NOW, VALIDATION_TIME
from sig_vectors import OpenSslTsa, describe, minimal_pdf, only, own_sign

from gateway.domain.clock import FixedClock, SystemClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SubIndication,
    TimestampRefused,
    tsa_wsgi_app,
    validate,
)
from gateway.signatures.tsa import TimeStampResponse


def test_local_token_verifies_with_openssl_ts(pki: DemoPki, tsa, tmp_path: Path) -> None:
    data = b"the data that was time-stamped"
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "token.der").write_bytes(tsa.timestamp(hashlib.sha256(data).digest(), "sha256"))
    (tmp_path / "chain.pem").write_bytes(
        pki.root_ca.cert_path.read_bytes() + pki.issuing_ca.cert_path.read_bytes()
    )
    result = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "data.bin"),
            "-in",
            str(tmp_path / "token.der"),
            "-token_in",
            "-CAfile",
            str(tmp_path / "chain.pem"),
            "-attime",
            str(int(VALIDATION_TIME.timestamp())),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("kind", FORMATS)
def test_openssl_ts_tokens_give_level_t(kind, pki: DemoPki, signer, trust, policy) -> None:
    vector = own_sign(kind, signer("company"), at=PKI_NOW, tsa=OpenSslTsa(pki.tsa))
    report = validate(
        vector.document,
        detached_content=vector.detached,
        policy=policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    signature = only(report)
    assert (signature.indication, signature.sub_indication) == (Indication.TOTAL_PASSED, None), (
        describe(report)
    )
    assert signature.level.endswith("-BASELINE-T")


@pytest.mark.parametrize("kind", FORMATS)
def test_tsa_without_time_stamping_usage_is_no_proof(
    kind, pki: DemoPki, signer, trust, policy
) -> None:
    # A "TSA" using the company seal: its token must not prove anything (RFC 3161 §2.3).
    company = signer("company")
    fake = LocalTimeStampAuthority(company.key, company.certificate, FixedClock(PKI_NOW))
    vector = own_sign(kind, signer("revoked"), at=PKI_NOW, tsa=fake)
    report = validate(
        vector.document,
        detached_content=vector.detached,
        policy=policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    signature = only(report)
    assert signature.sub_indication is SubIndication.REVOKED_NO_POE, describe(report)
    assert signature.timestamps[0].sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert any("time-stamp is not valid" in warning for warning in signature.warnings)


def test_untrusted_tsa_is_no_proof(pki: DemoPki, signer, trust, policy) -> None:
    stranger = signer("untrusted")
    fake = LocalTimeStampAuthority(stranger.key, stranger.certificate, FixedClock(PKI_NOW))
    vector = own_sign("cades", signer("company"), at=PKI_NOW, tsa=fake)
    report = validate(vector.document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    assert signature.passed and signature.level == "CAdES-BASELINE-B"
    assert signature.timestamps[0].sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_local_tsa_refuses_what_it_cannot_stamp(tsa) -> None:
    with pytest.raises(TimestampRefused):
        tsa.timestamp(hashlib.sha1(b"x").digest(), "sha1")
    with pytest.raises(TimestampRefused):
        tsa.timestamp(b"short", "sha256")
    garbage = TimeStampResponse.load(tsa.respond(b"\x30\x03garbage"))
    assert garbage["status"]["status"].native == "rejection"
    assert garbage["status"]["fail_info"].native == {"bad_data_format"}
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": b"\x00" * 20,
            },
        }
    ).dump()
    response = TimeStampResponse.load(tsa.respond(request))
    assert response["status"]["status"].native == "rejection"
    assert response["status"]["fail_info"].native == {"bad_alg"}


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def tsa_url(pki: DemoPki) -> Iterator[str]:
    # On the system clock: pyHanko's HTTP client signs at the real current time.
    tsa = LocalTimeStampAuthority(pki.tsa.private_key(), pki.tsa.certificate(), SystemClock())
    server = make_server("127.0.0.1", 0, tsa_wsgi_app(tsa), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    previous = os.environ.get("NO_PROXY")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    try:
        yield f"http://127.0.0.1:{server.server_port}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if previous is None:
            os.environ.pop("NO_PROXY", None)
        else:
            os.environ["NO_PROXY"] = previous


def test_wsgi_tsa_serves_openssl_queries(tsa_url: str, pki: DemoPki, tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"over http")
    subprocess.run(
        [
            "openssl",
            "ts",
            "-query",
            "-data",
            str(tmp_path / "data.bin"),
            "-sha256",
            "-cert",
            "-out",
            str(tmp_path / "q.tsq"),
        ],
        check=True,
        capture_output=True,
    )
    request = urllib.request.Request(
        tsa_url,
        data=(tmp_path / "q.tsq").read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/timestamp-reply"
        (tmp_path / "r.tsr").write_bytes(response.read())
    (tmp_path / "chain.pem").write_bytes(
        pki.root_ca.cert_path.read_bytes() + pki.issuing_ca.cert_path.read_bytes()
    )
    result = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-queryfile",
            str(tmp_path / "q.tsq"),
            "-in",
            str(tmp_path / "r.tsr"),
            "-CAfile",
            str(tmp_path / "chain.pem"),
            "-attime",
            str(int(VALIDATION_TIME.timestamp())),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr


def test_wsgi_tsa_rejects_wrong_requests(tsa_url: str) -> None:
    for data, content_type, status in (
        (b"x", "text/plain", 415),
        (b"x" * 20000, "application/timestamp-query", 413),
    ):
        request = urllib.request.Request(tsa_url, data=data, headers={"Content-Type": content_type})
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        assert raised.value.code == status
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(tsa_url, timeout=10)
    assert raised.value.code == 405


def test_pyhanko_http_timestamper_uses_the_wsgi_tsa(tsa_url: str, signer, trust, policy) -> None:
    from io import BytesIO

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    company = signer("company")
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(minimal_pdf())),
        signers.PdfSignatureMetadata(field_name="Sig1", md_algorithm="sha256"),
        signer=signers.SimpleSigner.load(str(company.key_path), str(company.cert_path)),
        timestamper=HTTPTimeStamper(tsa_url),
    )
    report = validate(output.getvalue(), policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    assert signature.passed, describe(report)
    assert signature.level == "PAdES-BASELINE-T"
