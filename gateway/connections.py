"""The connection front of ``gateway serve``: complete requests are read without a thread.

Gunicorn's ``gthread`` worker hands a connection to a thread of its pool as soon as it is
readable, and that thread then reads the request with blocking calls: a client sending a byte a
second keeps the thread as long as it likes, four of them stall a worker, and idle connections
each hold a thread for the worker's data timeout (issue 14). :class:`FrontedThreadWorker` keeps
gthread's pool and response path but moves reading into the worker's event loop (the one that
already accepts connections and parks kept-alive ones):

1. An accepted or kept-alive connection is registered with the selector; every readable event
   appends what arrived (non-blocking ``recv``) to that connection's buffer.
2. :class:`RequestFraming` finds where the request ends (RFC 9112 §6: ``Content-Length`` or the
   chunked coding) -- framing only; gunicorn's own parser still parses and validates it.
3. Only a complete request goes to a thread, behind a socket whose ``recv`` returns the buffered
   bytes (:class:`PrebufferedSocket`); the response is written to the real socket as before.
4. Deadlines, checked every loop turn: ``header_timeout`` from the accept (or first byte of a
   kept-alive connection's next request) until the end of the headers; ``request_timeout`` for
   the whole request; ``keepalive`` for an idle kept-alive connection. A late connection is
   answered 408 (best effort, non-blocking) and closed.
5. A request whose body is announced larger than the gateway's cap is handed over at the end of
   its headers, unread: the application refuses it (413) without reading it, and a thread reads
   past the buffer only for the few seconds gunicorn spends draining it. The one exception is
   an MTOM upload to ``IssuerService`` (``soap.xop``): the application reads it from the socket
   in slices, up to ``GATEWAY_MAX_UPLOAD_BYTES``, and spools its attachments to disk; so the
   cap here (``GATEWAY_MAX_MESSAGE_BYTES``) is also the most one request holds in memory, never
   the size of an upload (each read still waits at most a few seconds for data).

The accept queue is the listener's ``backlog``; a worker stops accepting at
``worker_connections`` open connections (gthread's rule), so what the kernel holds is bounded.

What waits is visible in ``/metrics`` (prometheus-client's multiprocess mode, summed over the
live workers; set every loop turn): ``gateway_front_connections`` (open),
``gateway_front_reading_connections`` (a request being received, or kept alive and idle) and
``gateway_front_waiting_requests`` (complete requests waiting for a free thread).
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker
from prometheus_client import CollectorRegistry, Gauge

_HEADER_END = b"\r\n\r\n"
_READ_CHUNK = 256 * 1024
_FALLTHROUGH_WAIT_S = 5.0
_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                   b"Content-Length: 0\r\n\r\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class FrontLimits:
    """What the front allows one connection (``Settings``: GATEWAY_HEADER_TIMEOUT_SECONDS ...)."""

    header_timeout: float = 10.0
    """Seconds to receive the request line and headers."""
    request_timeout: float = 30.0
    """Seconds to receive the whole request."""
    max_header_bytes: int = 64 * 1024
    """Request line and headers together; more is handed to gunicorn, which refuses it."""
    max_body_bytes: int = 10 * 1024 * 1024
    """Body size beyond which the request is handed over unread (the application answers 413)."""


class RequestFraming:
    """Where one HTTP/1.1 request ends in a growing buffer (RFC 9112 §6.3, §7.1).

    ``scan`` returns the length of the complete request, ``None`` while more is needed, or
    ``-1`` when the request should go to the application before it is complete (headers over
    the cap, an announced body over the cap, framing gunicorn must refuse itself).
    """

    def __init__(self, limits: FrontLimits) -> None:
        self.limits = limits
        self.header_length: int | None = None
        self.content_length = 0
        self.chunked = False
        self.expects_continue = False
        self._chunk_position = 0
        self._decoded = 0

    def scan(self, buffer: bytearray) -> int | None:
        if self.header_length is None:
            end = buffer.find(_HEADER_END)
            if end < 0:
                return -1 if len(buffer) > self.limits.max_header_bytes else None
            self.header_length = end + len(_HEADER_END)
            if not self._read_headers(bytes(buffer[:end])):
                return -1
            self._chunk_position = self.header_length
        if self.chunked:
            return self._scan_chunks(buffer)
        total = self.header_length + self.content_length
        return total if len(buffer) >= total else None

    def _read_headers(self, head: bytes) -> bool:
        lengths: list[str] = []
        codings: list[str] = []
        for line in head.split(b"\r\n")[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            key = name.strip().lower()
            text = value.strip().decode("latin-1").lower()
            if key == b"content-length":
                lengths.append(text)
            elif key == b"transfer-encoding":
                codings.append(text)
            elif key == b"expect" and text == "100-continue":
                self.expects_continue = True
        if codings:
            if lengths or codings[-1].rsplit(",", 1)[-1].strip() != "chunked":
                return False  # ambiguous framing: gunicorn refuses it (request smuggling)
            self.chunked = True
            return True
        if len(set(lengths)) > 1 or (lengths and not lengths[0].isdigit()):
            return False
        self.content_length = int(lengths[0]) if lengths else 0
        return self.content_length <= self.limits.max_body_bytes

    def _scan_chunks(self, buffer: bytearray) -> int | None:
        position = self._chunk_position
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return -1 if len(buffer) - position > 1024 else None
            size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return -1
            if size == 0:
                # the last chunk, trailer fields (if any), then an empty line
                end = buffer.find(b"\r\n\r\n", line_end)
                return None if end < 0 else end + 4
            self._decoded += size
            if self._decoded > self.limits.max_body_bytes:
                return -1
            next_position = line_end + 2 + size + 2
            if len(buffer) < next_position:
                return None
            position = self._chunk_position = next_position


class PrebufferedSocket:
    """The socket gunicorn's parser reads from: the buffered request first.

    When the request was complete, the end of the buffer is the end of the stream for the
    parser (kept-alive connections come back to the event loop for their next request). When it
    was handed over early (too large), reads go on from the real socket, each waiting at most
    a few seconds, so no client can hold the thread long.
    """

    def __init__(self, sock: socket.socket, data: bytes, complete: bool) -> None:
        self._sock = sock
        self._data = memoryview(data)
        self._complete = complete

    def recv(self, size: int) -> bytes:
        if self._data:
            chunk = bytes(self._data[:size])
            self._data = self._data[size:]
            return chunk
        if self._complete:
            return b""
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            if not selector.select(_FALLTHROUGH_WAIT_S):
                return b""
        try:
            return self._sock.recv(size)
        except OSError:
            return b""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Reading:
    """One connection's request being received by the event loop."""

    def __init__(self, limits: FrontLimits, leftover: bytes, started: float,
                 idle_until: float | None) -> None:
        self.buffer = bytearray(leftover)
        self.framing = RequestFraming(limits)
        self.started = started
        self.idle_until = idle_until
        """Kept-alive and nothing received yet: the keep-alive deadline applies instead."""
        self.continued = False

    def deadline(self, limits: FrontLimits) -> float:
        if self.idle_until is not None and not self.buffer:
            return self.idle_until
        if self.framing.header_length is None:
            return self.started + limits.header_timeout
        return self.started + limits.request_timeout


class FrontedThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gthread with requests read by the event loop (module docstring)."""

    limits = FrontLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[TConn, _Reading] = {}
        self.gauges: FrontGauges | None = None
        self.in_pool = 0
        """Requests handed to the thread pool and not finished (being served, or waiting)."""

    def init_process(self) -> None:
        self.gauges = FrontGauges()  # in the worker, after the fork (multiprocess files)
        super().init_process()

    # connections arrive ---------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start_reading(conn, b"", idle_until=None)

    def _start_reading(self, conn: TConn, leftover: bytes, *, idle_until: float | None) -> None:
        conn.sock.setblocking(False)
        reading = _Reading(self.limits, leftover, time.monotonic(), idle_until)
        self.reading[conn] = reading
        if leftover and self._advance(conn, reading):
            return
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, _client: Any) -> None:
        reading = self.reading.get(conn)
        if reading is None:
            return
        try:
            data = conn.sock.recv(_READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn, answer=None)
            return
        if not reading.buffer and reading.idle_until is not None:
            reading.started = time.monotonic()  # the next request's deadlines start now
            reading.idle_until = None
        reading.buffer += data
        if self._advance(conn, reading):
            self.poller.unregister(conn.sock)

    def _advance(self, conn: TConn, reading: _Reading) -> bool:
        """Hand the request over once it is complete; True when it was handed over."""
        end = reading.framing.scan(reading.buffer)
        if end is None:
            if reading.framing.expects_continue and not reading.continued:
                reading.continued = True
                _send_best_effort(conn.sock, _CONTINUE)
            return False
        del self.reading[conn]
        complete = end >= 0
        request = bytes(reading.buffer[:end]) if complete else bytes(reading.buffer)
        conn.leftover = bytes(reading.buffer[end:]) if complete else b""
        conn.sock.setblocking(True)
        conn.initialized = True
        conn.data_ready = True
        conn.parser = http.get_parser(self.cfg, PrebufferedSocket(conn.sock, request, complete),
                                      conn.client)
        self.enqueue_req(conn)
        return True

    # deadlines ------------------------------------------------------------------------------

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        if self.gauges is not None:  # called every loop turn
            self.gauges.observe(self.nr_conns, len(self.reading),
                                max(0, self.in_pool - self.cfg.threads))
        now = time.monotonic()
        # A stopping worker waits for requests being received, not for silent connections.
        late = [conn for conn, reading in self.reading.items()
                if force or reading.deadline(self.limits) <= now
                or (not self.alive and not reading.buffer)]
        for conn in late:
            reading = self.reading[conn]
            idle = reading.idle_until is not None and not reading.buffer
            self._drop(conn, answer=None if idle or force else _TIMEOUT_ANSWER)

    def _drop(self, conn: TConn, answer: bytes | None) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass
        if answer is not None:
            _send_best_effort(conn.sock, answer)
        self.nr_conns -= 1
        conn.close()

    # after a response -----------------------------------------------------------------------

    def enqueue_req(self, conn: TConn) -> None:
        self.in_pool += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        self.in_pool -= 1
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:  # noqa: BLE001  # handle() logged it; the connection just closes
            keep = False
        if keep and self.alive:
            leftover: bytes = getattr(conn, "leftover", b"")
            try:
                self._start_reading(conn, leftover,
                                    idle_until=time.monotonic() + self.cfg.keepalive)
            except (OSError, ValueError):
                self.reading.pop(conn, None)
                self.nr_conns -= 1
                conn.close()
            return
        self.nr_conns -= 1
        conn.close(graceful=keep)


class FrontGauges:
    """The connection front's gauges (module docstring), on a registry of their own: in
    multiprocess mode every worker's values reach ``/metrics`` through the shared files."""

    def __init__(self) -> None:
        registry = CollectorRegistry()
        self.connections = Gauge("gateway_front_connections", "Open client connections",
                                 registry=registry, multiprocess_mode="livesum")
        self.reading = Gauge("gateway_front_reading_connections",
                             "Connections being read by the front (or idle, kept alive)",
                             registry=registry, multiprocess_mode="livesum")
        self.waiting = Gauge("gateway_front_waiting_requests",
                             "Complete requests waiting for a free worker thread",
                             registry=registry, multiprocess_mode="livesum")
        self._last: tuple[int, int, int] | None = None

    def observe(self, connections: int, reading: int, waiting: int) -> None:
        values = (connections, reading, waiting)
        if values == self._last:
            return
        self._last = values
        self.connections.set(connections)
        self.reading.set(reading)
        self.waiting.set(waiting)


def _send_best_effort(sock: socket.socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass


def fronted_worker(limits: FrontLimits) -> type[FrontedThreadWorker]:
    """The worker class ``gateway serve`` and ``deploy/gunicorn.conf.py`` hand gunicorn."""
    return type("GatewayThreadWorker", (FrontedThreadWorker,), {"limits": limits})

