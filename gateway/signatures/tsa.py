"""Time-stamping: the authority protocol, a local in-process TSA and its HTTP face (RFC 3161).

:class:`TimeStampAuthority` is all a signer needs: a DER TimeStampToken for a digest. The
:class:`LocalTimeStampAuthority` makes tokens in process with the time-stamping unit's key and the
*injected* clock (tests back-date it to build TIMESTAMP_ORDER_FAILURE vectors): TSTInfo v1 with
its policy, the message imprint, a unique serial (UUID4), genTime in whole seconds, accuracy one
second, ordering false and the request nonce; SignedData signed with SHA-256 and an ESS
signing-certificate-v2 attribute (RFC 5816), the TSU certificate included.

:func:`tsa_wsgi_app` serves it as ``application/timestamp-query`` -> ``application/timestamp-reply``
(RFC 3161 §3.4), so that pyHanko's ``HTTPTimeStamper`` or ``openssl ts`` can use it over HTTP.
Requests are bounded (``max_request_bytes``); a malformed request gets a ``rejection`` status
with ``badDataFormat``/``badAlg``/``badRequest`` rather than an HTTP error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol

from asn1crypto import algos, cms, core, tsp
from cryptography import x509

from gateway.domain.clock import Clock
from gateway.signatures import crypto
from gateway.signatures.cms import PARSE_ERRORS
from gateway.signatures.cms_signing import PrivateKey, build_signed_data

DEFAULT_TSA_POLICY = "2.25.157229453651434931347137127390526417181"
"""A UUID-derived OID (ITU-T X.667) naming the local TSA's policy; configure a real one."""

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
_SUPPORTED_HASHES = ("sha256", "sha384", "sha512")


class TimeStampResponse(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """RFC 3161 §2.4.2 TimeStampResp with the token OPTIONAL, as the RFC has it (asn1crypto's
    ``tsp.TimeStampResp`` makes it mandatory and so cannot express a rejection)."""

    _fields: ClassVar[list[tuple[str, Any] | tuple[str, Any, dict[str, bool]]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimeStampAuthority(Protocol):
    """Something that time-stamps a digest (RFC 3161)."""

    def timestamp(self, digest: bytes, hash_algorithm: str) -> bytes:
        """A DER TimeStampToken (ContentInfo) whose imprint is ``digest`` under ``hash_algorithm``
        (hashlib spelling, e.g. ``sha256``)."""
        ...


class TimestampRefused(ValueError):
    """The local TSA will not time-stamp this (unsupported algorithm, wrong digest length)."""

    def __init__(self, message: str, fail_info: str) -> None:
        super().__init__(message)
        self.fail_info = fail_info


class LocalTimeStampAuthority:
    """An in-process RFC 3161 time-stamping unit (the demo PKI's ``tsa`` credential)."""

    def __init__(
        self,
        key: PrivateKey,
        cert: x509.Certificate,
        clock: Clock,
        *,
        chain: Sequence[x509.Certificate] = (),
        policy_oid: str = DEFAULT_TSA_POLICY,
    ) -> None:
        self._key = key
        self._certificate = cert
        self._chain = tuple(chain)
        self._clock = clock
        self._policy = policy_oid

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def timestamp(self, digest: bytes, hash_algorithm: str, *, nonce: int | None = None) -> bytes:
        if hash_algorithm not in _SUPPORTED_HASHES:
            raise TimestampRefused(f"{hash_algorithm} imprints are not accepted", "bad_alg")
        if len(digest) != crypto.hash_algorithm(hash_algorithm).digest_size:
            raise TimestampRefused(
                "the digest length does not match its algorithm", "bad_data_format"
            )
        info: dict[str, Any] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_algorithm}),
                "hashed_message": digest,
            },
            "serial_number": uuid.uuid4().int,
            "gen_time": self._clock.now().replace(microsecond=0),
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            info["nonce"] = nonce
        return build_signed_data(
            content_type="tst_info",
            content=tsp.TSTInfo(info).dump(),
            attach=True,
            key=self._key,
            certificate=self._certificate,
            chain=self._chain,
        )

    def respond(self, request: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq (RFC 3161 §2.4)."""
        try:
            parsed = tsp.TimeStampReq.load(request, strict=True)
            if parsed["version"].native != "v1":
                raise TimestampRefused("only version 1 requests", "bad_request")
            imprint = parsed["message_imprint"]
            hash_name = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = parsed["nonce"].native
            if parsed["req_policy"].native not in (None, self._policy):
                raise TimestampRefused("unknown policy", "unaccepted_policy")
            token = self.timestamp(digest, hash_name, nonce=nonce)
        except TimestampRefused as exc:
            return _refusal(exc.fail_info, str(exc))
        except PARSE_ERRORS:
            return _refusal("bad_data_format", "malformed request")
        response = TimeStampResponse(
            {"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token)}
        )
        dumped: bytes = response.dump()
        return dumped


def _refusal(fail_info: str, text: str) -> bytes:
    response = TimeStampResponse(
        {"status": {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}}
    )
    dumped: bytes = response.dump()
    return dumped


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def tsa_wsgi_app(tsa: LocalTimeStampAuthority, *, max_request_bytes: int = 16 * 1024) -> WsgiApp:
    """A WSGI application answering RFC 3161 HTTP requests (POST, application/timestamp-query)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def reply(status: str, body: bytes, content_type: str = "text/plain") -> list[bytes]:
            start_response(
                status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            )
            return [body]

        if environ.get("REQUEST_METHOD") != "POST":
            return reply("405 Method Not Allowed", b"POST a timestamp query\n")
        if (environ.get("CONTENT_TYPE") or "").split(";")[0].strip() != TIMESTAMP_QUERY:
            return reply("415 Unsupported Media Type", b"expected application/timestamp-query\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > max_request_bytes:
            return reply("413 Payload Too Large", b"the query is too large\n")
        body = environ["wsgi.input"].read(length)
        return reply("200 OK", tsa.respond(body), TIMESTAMP_REPLY)

    return app


__all__ = [
    "DEFAULT_TSA_POLICY",
    "LocalTimeStampAuthority",
    "TimeStampAuthority",
    "TimeStampResponse",
    "TimestampRefused",
    "tsa_wsgi_app",
]
