"""The opaque, signed listing cursor (DESIGN.md §3: keyset pagination on (made_available_at, id)).

A cursor names the last item of a page. It is handed to the client and comes back untrusted, so
it is authenticated with HMAC-SHA256 (RFC 2104, FIPS 198-1; truncated to 128 bits as RFC 2104 §5
allows) and bound to the filter fingerprint (``ListingFilter.fingerprint()``): a cursor minted for
one set of filters is refused with any other.

Token layout, URL-safe base64 without padding (RFC 4648 §5) of 33 bytes, i.e. exactly 44 chars::

    version (1 byte, 0x01)
    made_available_at: signed 64-bit big-endian microseconds since 1970-01-01T00:00:00Z
    id: unsigned 64-bit big-endian
    tag: first 16 bytes of HMAC-SHA256(secret, DOMAIN || version || payload || fingerprint UTF-8)

33 bytes encode to whole base64 quanta, so there are no spare bits: every distinct token decodes
to distinct bytes and any changed character changes what the tag covers. ``DOMAIN`` separates
these tags from any other use of the same secret.

Every defect of a token -- not text, too long, foreign characters, bad length, unknown version,
bad tag -- raises ``InvalidRequest(code="INVALID_CURSOR", field="cursor")`` and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from datetime import UTC, datetime, timedelta

from gateway.errors import InvalidRequest

from .clock import require_aware
from .listing import PagePosition

VERSION = 1
MAX_TOKEN_LENGTH = 200
TAG_LENGTH = 16

_DOMAIN = b"notess/listing-cursor\x00"
_PAYLOAD = struct.Struct(">BqQ")  # version, microseconds, id
_TOKEN_BYTES = _PAYLOAD.size + TAG_LENGTH
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _refuse(problem: str) -> InvalidRequest:
    return InvalidRequest(f"cursor: {problem}", code="INVALID_CURSOR", field="cursor")


def _tag(secret: bytes, signed: bytes, fingerprint: str) -> bytes:
    # surrogatepass: the fingerprint is server-made text; encoding it must never fail.
    message = _DOMAIN + signed + fingerprint.encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).digest()[:TAG_LENGTH]


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the cursor secret must be non-empty bytes")


def encode_cursor(position: PagePosition, *, secret: bytes, fingerprint: str) -> str:
    """The token for ``position`` under ``fingerprint``.

    Raises ``ValueError`` for a naive datetime or an id outside the unsigned 64-bit range: those
    are server bugs, not client errors.
    """
    _check_secret(secret)
    instant = require_aware(position.made_available_at, "made_available_at")
    micros = (instant - _EPOCH) // _ONE_MICROSECOND
    try:
        _EPOCH + timedelta(microseconds=micros)  # decodable back into a datetime?
    except OverflowError as exc:
        raise ValueError("made_available_at is outside the representable UTC range") from exc
    if not 0 <= position.id < 2**64:
        raise ValueError("id must fit in an unsigned 64-bit integer")
    signed = _PAYLOAD.pack(VERSION, micros, position.id)
    token = signed + _tag(secret, signed, fingerprint)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, *, secret: bytes, fingerprint: str) -> PagePosition:
    """The position a token names, after checking its tag against ``fingerprint``."""
    _check_secret(secret)
    if not isinstance(token, str):
        raise _refuse("must be text")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _refuse("is too long")
    # Checked by hand: urlsafe_b64decode silently drops characters outside its alphabet.
    if not token.isascii() or _BASE64URL.fullmatch(token) is None:
        raise _refuse("is not a cursor this server issued")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _refuse("is not a cursor this server issued") from exc
    if not raw or raw[0] != VERSION:
        raise _refuse("has an unsupported version; restart the listing without a cursor")
    if len(raw) != _TOKEN_BYTES:
        raise _refuse("is not a cursor this server issued")
    signed, tag = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not hmac.compare_digest(tag, _tag(secret, signed, fingerprint)):
        raise _refuse("was altered or was issued for different filters")
    _, micros, item_id = _PAYLOAD.unpack(signed)
    try:
        made_available_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError as exc:  # only reachable with a forged tag; kept for totality
        raise _refuse("is not a cursor this server issued") from exc
    return PagePosition(made_available_at=made_available_at, id=item_id)
