"""A loopback TCP proxy that breaks answers the way a killed worker does (issue 14 tests).

To the client, a gateway worker SIGKILLed while it writes an answer is a connection that closes
part-way through it. ``BreakingProxy`` stands between a client and a real gateway and does that
on purpose, at a chosen point: for the n-th connection (``cuts``), or for the first request
that contains a marker (``cut_answer_to``: e.g. the answer to ``SubmitReceipt``, after the server
has registered it). It keeps what went through for the test to look at.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class BreakingProxy:
    """Proxy to ``upstream``. The n-th connection's answer is cut after ``cuts[n]`` bytes (None
    or absent: passed whole); ``corrupt`` replaces the base64 letter at that position of a cut
    answer with another (a man in the middle). ``cut_answer_to``: the answer to the first request
    containing these bytes is cut after ``marker_cut`` bytes, on whatever connection it comes.
    Every connection's request bytes are kept in ``requests``, the answers' lengths (as passed
    on) in ``answered``, the first line of each answer cut by marker in ``cut_status``."""

    upstream: tuple[str, int]
    cuts: list[int | None] = field(default_factory=list)
    corrupt: int | None = None
    cut_answer_to: bytes | None = None
    marker_cut: int = 200
    requests: list[bytes] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    cut_status: list[bytes] = field(default_factory=list)
    _listener: socket.socket = field(init=False)
    _marker_seen: bool = field(init=False, default=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        number = 0
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            cut = self.cuts[number] if number < len(self.cuts) else None
            number += 1
            self.requests.append(b"")
            threading.Thread(target=self._relay, args=(client, cut, len(self.requests) - 1),
                             daemon=True).start()

    def _relay(self, client: socket.socket, cut: int | None, index: int) -> None:
        upstream = socket.create_connection(self.upstream)
        armed = threading.Event()  # the answer on its way is the one to cut by marker

        def forward_requests() -> None:
            try:
                while data := client.recv(65536):
                    self.requests[index] += data
                    if self.cut_answer_to is not None and self.cut_answer_to in data:
                        with self._lock:
                            if not self._marker_seen:
                                self._marker_seen = True
                                armed.set()
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward_requests, daemon=True).start()
        sent = 0
        try:
            while data := upstream.recv(65536):
                if armed.is_set():
                    self.cut_status.append(data.split(b"\r\n", 1)[0])
                    client.sendall(data[:self.marker_cut])
                    sent += min(len(data), self.marker_cut)
                    break
                if cut is not None:
                    data = data[:cut - sent]
                    if self.corrupt is not None and sent <= self.corrupt < sent + len(data):
                        changed = bytearray(data)  # another base64 letter: still base64
                        at = self.corrupt - sent
                        changed[at] = ord("B") if changed[at] == ord("A") else ord("A")
                        data = bytes(changed)
                client.sendall(data)
                sent += len(data)
                if cut is not None and sent >= cut:
                    break
        except OSError:
            pass
        finally:
            self.answered.append(sent)
            for end in (client, upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
