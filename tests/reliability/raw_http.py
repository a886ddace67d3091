"""A raw loopback HTTP server for faults the scripted server cannot play: a body trickled one byte at
a time, a body cut without Content-Length (the connection closes early), a redirect to itself.

Loopback only; every connection stops by itself (bounded bytes and time) and with the server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable


class RawServer:
    def __init__(self, answer: Callable[[socket.socket, str], None]):
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            path = request.split(b" ", 2)[1].decode()
            try:
                self.answer(conn, path)
            except OSError:
                pass  # the client gave up: what the test wants


def trickle(body: bytes, every: float, stop: threading.Event | None = None, limit: float = 30.0):
    """An answer sending `body` one byte every `every` seconds (at most `limit` seconds)."""
    def answer(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                     % len(body))
        started = time.monotonic()
        for i in range(len(body)):
            if time.monotonic() - started > limit or (stop is not None and stop.is_set()):
                return
            conn.sendall(body[i:i + 1])
            time.sleep(every)
    return answer


def cut_without_length(body: bytes, keep: int):
    """An answer without Content-Length whose connection closes after `keep` bytes of `body`."""
    def answer(conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\n" + body[:keep])
    return answer


def redirect_to_itself(conn: socket.socket, path: str) -> None:
    # Connection: close, as this server answers one request per connection (no keep-alive).
    conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
