"""The public routes without a server (gateway.web.public): the per-address token bucket, the
429 answer, the malformed/unknown/found answers of the JSON look-up, the page escaping what was
typed, and the multipart upload compare. A fake ReceiptService stands in for the store."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.config import Settings
from gateway.domain.clock import OFFICIAL_TIMEZONE
from gateway.domain.receipts import Decision, RegistrationNumber, new_csv_code, parse_csv
from gateway.errors import InvalidRequest
from gateway.services.receipts import CodeVerification
from gateway.web.public import PublicPolicy, PublicVerification, TokenBucket

PDF = b"%PDF-1.7 the issued one"
CODE = new_csv_code()


@dataclass
class FakeReceipts:
    looked_up: list[str] = field(default_factory=list)

    def verify_code(self, code: str) -> CodeVerification:
        canonical = parse_csv(code)
        self.looked_up.append(canonical)
        if canonical != CODE:
            return CodeVerification(canonical, False)
        return CodeVerification(canonical, True, RegistrationNumber(2026, 7),
                                datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "ab" * 32,
                                hashlib.sha256(PDF).hexdigest(), Decision.ACCEPT, 2,
                                ("TGSS",), "B12345674", "EMPRESA <DEMO> SL")

    def pdf_by_code(self, code: str) -> bytes | None:
        return PDF if parse_csv(code) == CODE else None


def call(app: PublicVerification, path: str, query: str = "", *, method: str = "GET",
         body: bytes = b"", content_type: str = "", address: str = "192.0.2.1") -> tuple[
             str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "REMOTE_ADDR": address, "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": content_type, "wsgi.input": io.BytesIO(body)}
    answer = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], answer


def app(**policy: Any) -> PublicVerification:
    return PublicVerification.build(FakeReceipts(), OFFICIAL_TIMEZONE,  # type: ignore[arg-type]
                                    PublicPolicy(**policy))


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=60, burst=3, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(1.0)
    assert bucket.take("b") == 0.0  # per address
    now[0] = 1.0
    assert bucket.take("a") == 0.0 and bucket.take("a") > 0


def test_beyond_the_limit_the_answer_is_429_with_retry_after() -> None:
    public = app(burst=2, per_minute=6)
    statuses = [call(public, "/public/verify.json", f"code={CODE}")[0] for _ in range(3)]
    assert statuses[:2] == ["200 OK", "200 OK"] and statuses[2].startswith("429")
    status, headers, body = call(public, "/verify", f"code={CODE}")
    assert status.startswith("429") and headers["Retry-After"] == "10"
    assert b'id="limited"' in body
    assert call(public, "/verify", address="192.0.2.2")[0] == "200 OK"


@pytest.mark.parametrize(("code", "status", "keys"), [
    (CODE.lower().replace("-", " "), "200 OK", {"code", "found", "registrationNumber",
                                                "issuedAt", "decision", "items", "issuers",
                                                "signer", "signerName", "sha256",
                                                "pdfSha256", "pdf"}),
    (new_csv_code(), "200 OK", {"code", "found"}),
    ("ABCD", "400 Bad Request", {"error"}),
])
def test_json_answers(code: str, status: str, keys: set[str]) -> None:
    got_status, headers, body = call(app(), "/public/verify.json", f"code={code}")
    assert got_status == status and headers["Content-Type"] == "application/json"
    assert set(json.loads(body)) == keys


def test_the_page_escapes_what_was_typed_and_what_it_shows() -> None:
    _, headers, body = call(app(), "/verify", "code=%3Cscript%3Ealert(1)%3C/script%3E")
    assert b"<script>alert" not in body and b"&lt;script&gt;" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    _, _, found = call(app(), "/verify", f"code={CODE}")
    assert b"EMPRESA &lt;DEMO&gt; SL (B12345674)" in found and b"2026/000000007" in found


def _multipart(code: str, pdf: bytes) -> tuple[bytes, str]:
    boundary = "XyZ123boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\n{code}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"pdf\"; "
            f"filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode() + pdf + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(("upload", "verdict"), [(PDF, b"is the issued PDF"),
                                                 (PDF + b" ", b"is not the issued PDF")])
def test_the_upload_is_compared_by_digest(upload: bytes, verdict: bytes) -> None:
    body, content_type = _multipart(CODE, upload)
    status, _, page = call(app(), "/verify/check", "lang=en", method="POST", body=body,
                           content_type=content_type)
    assert status == "200 OK" and verdict in page


def test_the_pdf_and_unknown_routes() -> None:
    status, headers, body = call(app(), "/verify/pdf", f"code={CODE}")
    assert (status, headers["Content-Type"], body) == ("200 OK", "application/pdf", PDF)
    assert call(app(), "/verify/pdf", f"code={new_csv_code()}")[0].startswith("404")
    assert call(app(), "/public/other")[0].startswith("404")
    assert call(app(), "/verify", method="DELETE")[0].startswith("404")


@pytest.mark.parametrize(("peer", "header", "counted"), [
    ("10.0.0.5", "203.0.113.9", "203.0.113.9"),   # the trusted proxy names the client
    ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # anyone else cannot pick its bucket
    ("10.0.0.5", "", "10.0.0.5"),
    ("not-an-address", "203.0.113.9", "not-an-address"),
])
def test_the_limit_counts_the_client_a_trusted_proxy_names(peer: str, header: str,
                                                           counted: str) -> None:
    policy = PublicPolicy(trusted_proxies=("10.0.0.0/8",))
    assert policy.client_address({"REMOTE_ADDR": peer, "HTTP_X_REAL_IP": header}) == counted
    assert PublicPolicy().client_address({"REMOTE_ADDR": peer,
                                          "HTTP_X_REAL_IP": header}) == peer


def test_trusted_proxies_are_read_and_checked_once() -> None:
    settings = Settings.from_mapping({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.1")
    with pytest.raises(InvalidRequest):
        Settings.from_mapping({"GATEWAY_TRUSTED_PROXIES": "nginx"})


def test_every_input_has_a_label_and_errors_are_announced() -> None:
    _, _, empty = call(app(), "/verify", "lang=en")
    assert b'<html lang="en">' in empty and b'<label for="code">' in empty
    assert b'aria-describedby="code-help code-live"' in empty
    _, _, found = call(app(), "/verify", f"code={CODE}&lang=en")
    assert b'<label for="pdf-file">' in found and b'role="status"' in found
    _, _, malformed = call(app(), "/verify", "code=ABCD&lang=en")
    assert b'role="alert"' in malformed and b"aria-invalid=true" in malformed
