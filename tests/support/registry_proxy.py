"""A TCP proxy on 127.0.0.1 in front of a real registry that makes the first matching request(s) fail.

It forwards bytes both ways and looks only at the start of each chunk a client sends: a chunk that
begins with a request line ``METHOD /path`` whose path starts with the given prefix is a request
(HTTP/1.1 clients send one request at a time on a connection, and Go writes the request head in
one write). The first ``failures`` such requests are not forwarded; instead the proxy either
answers with ``reply`` (for example a registry's ``503``/``429`` error) and closes the connection,
or, with ``reply=None``, drops the connection (the client sees it reset). Later ones are forwarded,
and the status line of the registry's answer is recorded.

Bounded: it stops by itself after ``lifetime`` seconds, and on ``stop()`` / leaving the ``with``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field


def registry_error(status: int, reason: str, code: str, message: str) -> bytes:
    """An HTTP response with the registry's JSON error body (distribution spec, "Error Codes")."""
    body = f'{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}'.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class FailingProxy:
    upstream: tuple[str, int]
    method: str
    path_prefix: str
    reply: bytes | None
    failures: int = 1
    lifetime: float = 240.0
    events: list[str] = field(default_factory=list)
    """``failed: PUT /v2/...`` for each injected failure, ``forwarded: PUT /v2/... -> 201`` after."""

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.address = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FailingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _record(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def _serve(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _matches(self, chunk: bytes) -> str | None:
        line = chunk.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = line.partition(" ")
        path = rest.split(" ", 1)[0]
        return f"{method} {path}" if method == self.method and path.startswith(self.path_prefix) else None

    def _connection(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        waiting: list[str] = []  # the forwarded matching request whose answer is awaited
        for sock in (client, upstream):
            sock.settimeout(0.5)

        def close_both() -> None:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

        def pump(source: socket.socket, target: socket.socket, from_client: bool) -> None:
            while not self._stop.is_set():
                try:
                    chunk = source.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                if from_client and (request := self._matches(chunk)):
                    with self._lock:
                        fail = self.failures > 0
                        self.failures -= fail
                    if fail:
                        self._record(f"failed: {request}")
                        if self.reply is not None:
                            with contextlib.suppress(OSError):
                                client.sendall(self.reply)
                        else:  # closed with SO_LINGER 0: a reset, the client sees ECONNRESET
                            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            client.close()
                        break
                    waiting.append(request)
                elif not from_client and waiting and chunk.startswith(b"HTTP/1.1 "):
                    self._record(f"forwarded: {waiting.pop()} -> {chunk[9:12].decode()}")
                try:
                    target.sendall(chunk)
                except OSError:
                    break
            close_both()

        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
        pump(client, upstream, True)
