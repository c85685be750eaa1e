"""The trust memo tables stay bounded and key by identity or exact bytes: an equal but distinct
object is computed on its own, a flood of distinct inputs evicts instead of growing the table,
and hostile sizes are loaded every time without being kept."""

from __future__ import annotations

import os

import pytest

from gateway.trust import revocation
from gateway.trust.memo import BytesMemo, IdentityMemo


def test_identity_memo_computes_again_for_an_equal_but_distinct_object() -> None:
    memo: IdentityMemo[int] = IdentityMemo(4)
    first, twin = [1, 2], [1, 2]
    calls: list[object] = []
    assert memo.get((first,), lambda: calls.append(first) or 1) == 1
    assert memo.get((first,), lambda: calls.append(first) or 2) == 1
    assert memo.get((twin,), lambda: calls.append(twin) or 3) == 3
    assert calls == [first, twin]


def test_identity_memo_is_bounded_and_keeps_its_keys_alive() -> None:
    memo: IdentityMemo[int] = IdentityMemo(8)
    for number in range(100):
        memo.get((object(),), lambda number=number: number)
    assert len(memo) == 8  # the held objects keep their ids from being reused by new ones


def test_identity_memo_keeps_no_failure() -> None:
    memo: IdentityMemo[int] = IdentityMemo(4)
    key = object()

    def fail() -> int:
        raise ValueError("malformed")

    with pytest.raises(ValueError):
        memo.get((key,), fail)
    assert memo.get((key,), lambda: 5) == 5


def test_bytes_memo_is_bounded_and_skips_large_inputs() -> None:
    memo: BytesMemo[bytearray] = BytesMemo(16, max_bytes=64)
    for _ in range(200):
        memo.get(os.urandom(32), bytearray)
    assert len(memo) == 16
    small, large = os.urandom(64), os.urandom(65)
    assert memo.get(small, bytearray) is memo.get(small, bytearray)
    assert memo.get(large, bytearray) is not memo.get(large, bytearray)


def test_junk_ocsp_responses_are_refused_and_not_kept() -> None:
    before = len(revocation._LOADED_RESPONSES)
    for _ in range(50):
        with pytest.raises(ValueError):
            revocation.load_ocsp_response(b"\x30\x03" + os.urandom(3))
    assert len(revocation._LOADED_RESPONSES) == before
