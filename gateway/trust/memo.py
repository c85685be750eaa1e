"""Bounded memo tables for pure functions of immutable objects (certificates, CRLs, OCSP
responses, trust stores).

The same time-stamping unit, CA certificates and often the same OCSP responses come back in
signature after signature, and within one XAdES-LTA validation the unit's certificate is judged
twice (at the validation time and at the archive time-stamp's time). What is memoised here never
depends on a time or a policy: whether a CRL or OCSP response is authenticated by an issuer and
what it says about a certificate, a certificate's fingerprint. Decisions that do depend on the
time (``revocation.judge``, path validity) are still taken on every call.

:class:`IdentityMemo` keys by the identity of its arguments and keeps them alive in the entry, so
an ``id`` cannot be reused by another object while its entry exists: a hit means the very same
(immutable) objects, hence the same answer. ``cryptography`` objects hash by walking their
contents (microseconds each); an identity key costs nothing, and the loaders that produce these
objects (``crypto.load_certificate``, ``revocation.load_ocsp_response``,
``revocation.load_crl``) return the same object for the same DER. :class:`BytesMemo` keys parsed
objects by their DER. Both are LRU-bounded, and the byte-keyed one keeps no large values, so a
flood of distinct hostile inputs costs at most the bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class IdentityMemo(Generic[Value]):
    """``compute(*objects)`` by the identity of ``objects`` (bounded LRU, thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, ...], tuple[tuple[object, ...], Value]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, objects: tuple[object, ...], compute: Callable[[], Value]) -> Value:
        # The entry holds ``objects``: while it exists no other object can have their ids, so
        # a key found means the very same objects (the caller holds them alive meanwhile).
        key = tuple([id(item) for item in objects])
        entry = self._entries.get(key)
        if entry is not None:
            try:
                self._entries.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile: the entry is still right
                pass
            return entry[1]
        value = compute()
        with self._lock:
            self._entries[key] = (objects, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class BytesMemo(Generic[Value]):
    """``load(data)`` by the bytes themselves, for inputs of at most ``max_bytes`` (larger ones
    are loaded each time and not kept); bounded LRU, thread-safe. Exceptions are not kept."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._entries: OrderedDict[bytes, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: bytes, load: Callable[[bytes], Value]) -> Value:
        if len(data) > self._max_bytes:
            return load(data)
        try:
            value = self._entries[data]
        except KeyError:
            pass
        else:
            try:
                self._entries.move_to_end(data)
            except KeyError:
                pass
            return value
        value = load(data)
        with self._lock:
            self._entries[data] = value
            self._entries.move_to_end(data)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)
