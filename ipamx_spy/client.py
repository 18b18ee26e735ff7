"""A small blocking plugin client: send raw request bytes, get one parsed answer back.

Used by replay and by the dockerd emulator, which run one request at a time per connection,
as dockerd does. The proxy itself does not use it (its I/O lives in ``ipamx_spy.aio``).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from . import tap
from .address import Address, AddressKind
from .noanswer import NoAnswerKind

DOCKER_ACCEPT = "application/vnd.docker.plugins.v1.2+json"


class PluginNoAnswer(ConnectionError):
    """The plugin could not be dialled, closed the connection without an answer, or stalled.

    ``kind`` says which (``UNREACHABLE``: nothing was sent; ``CLOSED``; ``TIMEOUT``);
    ``reason`` is the operating system's words for it, without the address.
    """

    def __init__(self, kind: NoAnswerKind, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason or message


class PluginProtocolError(ValueError):
    """The plugin answered with something that is not HTTP/1.1 (or too large)."""


CLIENT_HEADER = "X-Ipamx-Spy-Client"
"""Sent by ipamx-spy's own clients (``status``): a proxy records their calls as ``client``
records, never as dockerd's exchanges, so replay, check and the exports leave them alone."""


def docker_request(
    endpoint: str,
    body: bytes = b"",
    *,
    host: str = "",
    accept: str = DOCKER_ACCEPT,
    client: str | None = None,
) -> bytes:
    """The exact bytes dockerd writes for a plugin call (PROTOCOL.md 1.2 header order).

    ``host=""`` gives the empty ``Host:`` of dockerd before 20.10.26 / 23.0.7 / 24.0.5.
    ``client`` names an ipamx-spy client (adds ``X-Ipamx-Spy-Client``; dockerd never sends it).
    """
    own = f"{CLIENT_HEADER}: {client}\r\n" if client else ""
    head = (
        f"POST /{endpoint} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "User-Agent: Go-http-client/1.1\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Accept: {accept}\r\n"
        f"{own}"
        "\r\n"
    )
    return head.encode("latin-1") + body


def dial(address: Address, timeout: float | None) -> socket.socket:
    """Connect to a plugin. Raises PluginNoAnswer with the reason."""
    try:
        if address.kind is AddressKind.UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(address.path)
        elif address.kind is AddressKind.TCP:
            sock = socket.create_connection((address.host, address.port), timeout=timeout)
        else:
            raise PluginNoAnswer(NoAnswerKind.UNREACHABLE, f"cannot dial {address}")
    except OSError as exc:
        reason = str(exc.strerror or exc)
        raise PluginNoAnswer(NoAnswerKind.UNREACHABLE, f"dial {address}: {reason}",
                             reason=reason) from exc
    return sock


@dataclass
class PluginConnection:
    """One keep-alive connection to a plugin; reconnects when the plugin closed it."""

    address: Address
    timeout: float | None = 30.0
    max_body: int = tap.DEFAULT_MAX_BODY
    _sock: socket.socket | None = field(default=None, init=False, repr=False)
    _tap: tap.ResponseTap | None = field(default=None, init=False, repr=False)

    def call(self, raw_request: bytes, method: str = "POST") -> tuple[tap.WireMessage, float]:
        """Send one request; return the answer and the time it took in milliseconds.

        Raises PluginNoAnswer (dial failure, closed without answer, timeout) or
        PluginProtocolError (malformed answer). The connection is dropped after either.
        """
        if self._sock is None:
            self._sock = dial(self.address, self.timeout)
            self._tap = tap.ResponseTap(self.max_body)
        assert self._tap is not None
        started = time.perf_counter()
        try:
            self._sock.sendall(raw_request)
            self._tap.expect(method)
            message = self._read_answer()
        except (OSError, PluginProtocolError, PluginNoAnswer) as exc:
            self.close()
            if isinstance(exc, TimeoutError | socket.timeout):
                raise PluginNoAnswer(NoAnswerKind.TIMEOUT,
                                     f"{self.address}: no answer within {self.timeout} s") from exc
            if isinstance(exc, OSError):
                raise PluginNoAnswer(NoAnswerKind.CLOSED,
                                     f"{self.address}: {exc.strerror or exc}") from exc
            raise
        elapsed = (time.perf_counter() - started) * 1000
        if not (message.keep_alive and self._tap.reusable()):
            self.close()
        return message, elapsed

    def _read_answer(self) -> tap.WireMessage:
        assert self._sock is not None and self._tap is not None
        while True:
            result = self._tap.next_message()
            if isinstance(result, tap.WireMessage):
                return result
            if isinstance(result, tap.TapError):
                raise PluginProtocolError(f"{self.address}: {result.message}")
            if result is tap.CLOSED:
                raise PluginNoAnswer(NoAnswerKind.CLOSED,
                                     f"{self.address}: closed the connection without an answer")
            self._tap.feed(self._sock.recv(65536))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._tap = None

    def __enter__(self) -> PluginConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
