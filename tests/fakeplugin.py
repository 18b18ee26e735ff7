"""A scriptable plugin for socket tests: answers, misbehaves, stalls or hangs up on cue.

``FakePlugin(path, behaviour)`` serves on a Unix socket in a thread. ``behaviour`` maps an
endpoint name to a function ``(body: bytes) -> bytes | Action`` that returns the raw HTTP answer;
endpoints not listed get a plain JSON ``{}`` answer.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ipamx_spy import tap


@dataclass(frozen=True)
class Close:
    """Hang up without answering."""


@dataclass(frozen=True)
class Stall:
    """Wait, then answer (or hang up if ``then`` is None)."""

    seconds: float
    then: bytes | None = None


Action = bytes | Close | Stall
Behaviour = Callable[[bytes], Action]


def http(status: int, body: bytes, *, reason: str = "OK", headers: tuple[str, ...] = (
        "Content-Type: application/vnd.docker.plugins.v1.1+json",)) -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(h + "\r\n" for h in headers)
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def ok(value: object) -> bytes:
    return http(200, json.dumps(value).encode() + b"\n")


def chunked(value: object) -> bytes:
    body = json.dumps(value).encode()
    half = len(body) // 2
    parts = [body[:half], body[half:]]
    chunks = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


class FakePlugin:
    def __init__(self, path: Path | None, behaviour: dict[str, Behaviour] | None = None) -> None:
        """Serve on the Unix socket ``path``, or on 127.0.0.1 (``self.port``) when it is None."""
        self.path = path
        self.behaviour = behaviour or {}
        self.requests: list[tap.WireMessage] = []
        self.connections = 0
        plugin = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                plugin.connections += 1
                with contextlib.suppress(ConnectionError):
                    plugin._serve(self.request)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True

        if path is None:
            self.server: socketserver.BaseServer = TcpServer(("127.0.0.1", 0), Handler)
            self.port = self.server.server_address[1]  # type: ignore[attr-defined]
        else:
            path.unlink(missing_ok=True)
            self.server = Server(str(path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePlugin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _serve(self, sock: socket.socket) -> None:
        request_tap = tap.RequestTap()
        while True:
            result = request_tap.next_message()
            if result is tap.NEED_DATA:
                data = sock.recv(65536)
                request_tap.feed(data)
                continue
            if not isinstance(result, tap.WireMessage):
                return
            self.requests.append(result)
            endpoint = result.target.lstrip("/")
            action = self.behaviour.get(endpoint, lambda body: ok({}))(result.body)
            if isinstance(action, Stall):
                time.sleep(action.seconds)
                action = Close() if action.then is None else action.then
            if isinstance(action, Close):
                return
            sock.sendall(action)
            if not request_tap.answered(keep_alive=True):
                return


class ScriptedPlugin:
    """A plugin on a raw socket: ``script(sock, n)`` runs for the n-th connection."""

    def __init__(self, path: Path, script: Callable[[socket.socket, int], None]) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(16)
        self.script = script
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(sock, self.connections),
                             daemon=True).start()

    def _run(self, sock: socket.socket, n: int) -> None:
        try:
            self.script(sock, n)
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        self.server.close()
