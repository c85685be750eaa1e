"""Round trip, tamper and fuzz tests for gateway.domain.cursor."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.cursor import MAX_TOKEN_LENGTH, decode_cursor, encode_cursor
from gateway.domain.listing import ListingFilter, PagePosition
from gateway.domain.model import Status
from gateway.errors import InvalidRequest

SECRET = b"0123456789abcdef0123456789abcdef"
FINGERPRINT = ListingFilter().fingerprint()
POSITION = PagePosition(datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC), 42)
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

fixed_offsets = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
zones = st.one_of(
    st.just(UTC),
    fixed_offsets,
    st.sampled_from(
        [ZoneInfo("Europe/Madrid"), ZoneInfo("Atlantic/Canary"), ZoneInfo("America/New_York")]
    ),
)
# One day inside datetime's limits on each side, so every offset still has a UTC instant.
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)
ids = st.integers(1, 2**63 - 1)


def _token(position: PagePosition = POSITION, fingerprint: str = FINGERPRINT) -> str:
    return encode_cursor(position, secret=SECRET, fingerprint=fingerprint)


def _refused(token: object, *, secret: bytes = SECRET, fingerprint: str = FINGERPRINT) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_cursor(token, secret=secret, fingerprint=fingerprint)  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_CURSOR"
    assert caught.value.field == "cursor"


def test_round_trip_example() -> None:
    token = _token()
    assert len(token) == 44 and "=" not in token
    assert set(token) <= set(BASE64URL)
    decoded = decode_cursor(token, secret=SECRET, fingerprint=FINGERPRINT)
    assert decoded == POSITION
    assert decoded.made_available_at.tzinfo is UTC


@given(instants, ids, st.text(max_size=200))
def test_round_trip(instant: datetime, item_id: int, fingerprint: str) -> None:
    token = encode_cursor(PagePosition(instant, item_id), secret=SECRET, fingerprint=fingerprint)
    decoded = decode_cursor(token, secret=SECRET, fingerprint=fingerprint)
    assert decoded.id == item_id
    assert decoded.made_available_at.tzinfo is UTC
    # The same instant, to the microsecond (compared in UTC: zoneinfo folds and gaps make
    # cross-zone == unreliable by design).
    offset = instant.utcoffset()
    assert offset is not None
    expected = (instant.replace(tzinfo=None) - offset).replace(tzinfo=UTC)
    assert decoded.made_available_at == expected


def test_extreme_ids_and_instants() -> None:
    for position in (
        PagePosition(datetime(1, 1, 1, tzinfo=UTC), 0),
        PagePosition(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 2**64 - 1),
        PagePosition(datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=1), 1),
    ):
        assert decode_cursor(_token(position), secret=SECRET, fingerprint=FINGERPRINT) == position


@pytest.mark.parametrize(
    "position",
    [
        PagePosition(datetime(2026, 1, 1), 1),  # naive
        PagePosition(datetime(2026, 1, 1, tzinfo=UTC), -1),
        PagePosition(datetime(2026, 1, 1, tzinfo=UTC), 2**64),
        # 0001-01-01T00:00+01:00 is before year 1 in UTC
        PagePosition(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), 1),
    ],
)
def test_encode_refuses_what_it_could_not_decode(position: PagePosition) -> None:
    with pytest.raises(ValueError):
        _token(position)


def test_empty_secret_is_a_server_bug() -> None:
    with pytest.raises(ValueError):
        encode_cursor(POSITION, secret=b"", fingerprint=FINGERPRINT)


@given(instants, ids, st.data())
def test_any_changed_character_is_refused(
    instant: datetime, item_id: int, data: st.DataObject
) -> None:
    token = _token(PagePosition(instant, item_id))
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(BASE64URL).filter(lambda c: c != token[index]))
    _refused(token[:index] + replacement + token[index + 1 :])


def test_every_single_byte_tamper_is_refused() -> None:
    raw = base64.urlsafe_b64decode(_token() + "=" * (-len(_token()) % 4))
    for index in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF):
            tampered = bytearray(raw)
            tampered[index] ^= flip
            _refused(base64.urlsafe_b64encode(bytes(tampered)).rstrip(b"=").decode())


def test_wrong_secret_or_fingerprint_is_refused() -> None:
    token = _token()
    _refused(token, secret=b"another secret of the same size!")
    other_filters = ListingFilter(status=Status.AVAILABLE).fingerprint()
    _refused(token, fingerprint=other_filters)
    _refused(token, fingerprint=FINGERPRINT + " ")


def test_wrong_version_is_refused_with_its_own_message() -> None:
    raw = bytearray(base64.urlsafe_b64decode(_token() + "="))
    raw[0] = 2
    with pytest.raises(InvalidRequest, match="version") as caught:
        decode_cursor(
            base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(),
            secret=SECRET,
            fingerprint=FINGERPRINT,
        )
    assert caught.value.code == "INVALID_CURSOR"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "A",
        "AA",
        "AAAA",
        "=",
        _token() + "=",
        _token()[:-1],
        _token()[1:],
        _token() + "A",
        _token() + "AAAA",
        _token()[:20] + "+" + _token()[21:],  # standard, not URL-safe, alphabet
        _token()[:20] + "/" + _token()[21:],
        _token() + "\n",
        " " + _token(),
        _token()[:20] + "\u0410" + _token()[21:],  # Cyrillic A
        "A" * (MAX_TOKEN_LENGTH + 1),
        "A" * 10_000,
        None,
        42,
        _token().encode(),
    ],
)
def test_malformed_tokens_are_refused(token: object) -> None:
    _refused(token)


@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_invalid_request(token: str) -> None:
    try:
        decode_cursor(token, secret=SECRET, fingerprint=FINGERPRINT)
    except InvalidRequest as exc:
        assert exc.code == "INVALID_CURSOR" and exc.field == "cursor"


@given(st.text(alphabet=BASE64URL, max_size=MAX_TOKEN_LENGTH))
def test_arbitrary_base64_only_raises_invalid_request(token: str) -> None:
    _refused(token)


@given(st.binary(max_size=150))
def test_arbitrary_bytes_only_raise_invalid_request(payload: bytes) -> None:
    _refused(base64.urlsafe_b64encode(payload).rstrip(b"=").decode())
