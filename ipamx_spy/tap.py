"""The parsing tap: finds HTTP/1.1 message boundaries in a copy of the bytes, with h11.

Theory of operation
-------------------
The proxy relays what each peer sent byte for byte; it never re-serialises a message through
h11, because h11 normalises what it writes. A tap is fed the same bytes and answers, for each
complete message, the exact raw bytes of that message plus its parsed head and body.

h11 is a two-party state machine, and a tap sees one party only. Each message is therefore
parsed by a fresh h11 connection, fed whatever bytes followed the previous message: the
docker-side tap (h11 ``SERVER``) is told when the request was answered and whether the
connection stays open; the plugin-side tap (h11 ``CLIENT``) is told which request it should
expect an answer to (a synthetic request whose output is thrown away, so that h11 knows, for
instance, that the answer to a HEAD has no body).

``next_message()`` returns a ``Message`` (complete), ``NEED_DATA``, ``CLOSED`` (the peer
closed cleanly between messages) or a ``TapError`` (the peer broke HTTP/1.1, or sent a body over
the limit). After a ``TapError`` the tap is unusable: the connection must be closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

import h11

DEFAULT_MAX_BODY: Final = 1024 * 1024


class Signal(Enum):
    NEED_DATA = "need data"
    CLOSED = "closed"


NEED_DATA: Final = Signal.NEED_DATA
CLOSED: Final = Signal.CLOSED


@dataclass(frozen=True, kw_only=True)
class TapError:
    """The peer sent something a tap cannot frame. ``status`` is the HTTP status to answer."""

    status: int
    kind: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Message:
    """One complete HTTP message as it crossed the wire."""

    raw: bytes
    headers: tuple[tuple[str, str], ...]
    body: bytes
    http_version: str
    method: str = ""
    target: str = ""
    status: int = 0
    reason: str = ""
    keep_alive: bool = True

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


Result = Message | Signal | TapError


def _decode_headers(headers: h11._headers.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw_items())


class _Tap:
    """Common machinery: feed bytes, collect one message's events and its raw bytes."""

    def __init__(self, role: type[h11.SERVER] | type[h11.CLIENT], max_body: int) -> None:
        self._h11 = h11.Connection(role)
        self._max_body = max_body
        self._buffer = bytearray()
        self._head: h11.Request | h11.Response | None = None
        self._body = bytearray()
        self._eof = False

    def feed(self, data: bytes) -> None:
        """Give the tap a copy of bytes from the peer; ``b""`` means the peer closed."""
        if not data:
            self._eof = True
        self._buffer += data
        self._h11.receive_data(data)

    @property
    def pending(self) -> bytes:
        """Bytes received that belong to no complete message yet."""
        return bytes(self._buffer)

    def next_message(self) -> Result:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof and not self._buffer and self._head is None:
                    return CLOSED
                return TapError(status=exc.error_status_hint, kind="malformed", message=str(exc))
            if event is h11.NEED_DATA:
                return NEED_DATA
            if event is h11.PAUSED:
                return NEED_DATA
            if isinstance(event, h11.ConnectionClosed):
                if self._head is not None or self._buffer:
                    return TapError(status=400, kind="truncated",
                                    message="connection closed in the middle of a message")
                return CLOSED
            if isinstance(event, h11.Request | h11.Response):
                error = self._start(event)
                if error is not None:
                    return error
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._max_body:
                    return self._too_large(len(self._body))
            elif isinstance(event, h11.EndOfMessage):
                return self._finish()

    def _start(self, event: h11.Request | h11.Response) -> TapError | None:
        self._head = event
        for name, value in event.headers:
            if name == b"content-length" and int(value) > self._max_body:
                return self._too_large(int(value))
        return None

    def _too_large(self, size: int) -> TapError:
        return TapError(status=413, kind="too-large",
                        message=f"body of {size} bytes is over the limit of {self._max_body}")

    def _finish(self) -> Message:
        head = self._head
        assert head is not None
        trailing, _closed = self._h11.trailing_data
        size = len(self._buffer) - len(trailing)
        raw = bytes(self._buffer[:size])
        del self._buffer[:size]
        body = bytes(self._body)
        self._head = None
        self._body = bytearray()
        keep_alive = (
            not self._eof
            and head.http_version == b"1.1"
            and not any(n == b"connection" and b"close" in v.lower() for n, v in head.headers)
        )
        common = dict(
            raw=raw, headers=_decode_headers(head.headers), body=body,
            http_version=head.http_version.decode("ascii"), keep_alive=keep_alive,
        )
        if isinstance(head, h11.Request):
            return Message(method=head.method.decode("ascii"),
                           target=head.target.decode("latin-1"), **common)  # type: ignore[arg-type]
        return Message(status=head.status_code, reason=head.reason.decode("latin-1"),
                       **common)  # type: ignore[arg-type]


# The synthetic request that puts a client-role h11 connection in the state of waiting for an
# answer. Events are immutable, so they are built once (building one validates every header).
def _request(method: str, keep_alive: bool) -> h11.Request:
    headers = [("Host", "x"), ("Content-Length", "0")]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return h11.Request(method=method, target="/", headers=headers)


_END: Final = h11.EndOfMessage()
_POST_KEEP: Final = _request("POST", True)
_POST_CLOSE: Final = _request("POST", False)


class RequestTap(_Tap):
    """Docker-side tap: parses requests; told when each was answered."""

    def __init__(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        super().__init__(h11.SERVER, max_body)

    def answered(self, *, keep_alive: bool) -> bool:
        """Record that the request was answered. Returns True when the connection stays open.

        The next request is parsed by a fresh h11 connection fed the bytes that followed this
        one: cheaper than playing the server's half of the state machine, and equivalent,
        since the relay decides keep-alive itself (``Message.keep_alive`` on both sides).
        """
        if not keep_alive or self._eof:
            return False
        self._h11 = h11.Connection(h11.SERVER)
        if self._buffer:
            self._h11.receive_data(bytes(self._buffer))
        return True


class ResponseTap(_Tap):
    """Plugin-side tap: parses the answer to the request it was told to expect."""

    def __init__(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        super().__init__(h11.CLIENT, max_body)
        self._answered_keep_alive = False

    def expect(self, method: str, *, keep_alive: bool = True) -> None:
        """Announce that a request with ``method`` was sent; call before feeding its answer."""
        if method == "POST":
            synthetic = _POST_KEEP if keep_alive else _POST_CLOSE
        else:
            synthetic = _request(method, keep_alive)
        self._h11 = h11.Connection(h11.CLIENT)
        self._h11.send(synthetic)
        self._h11.send(_END)
        if self._buffer:
            self._h11.receive_data(bytes(self._buffer))
        if self._eof:
            self._h11.receive_data(b"")

    def reusable(self) -> bool:
        """After a complete answer: can this connection carry another request?"""
        return (not self._eof and self._h11.their_state is h11.DONE
                and self._h11.our_state is h11.DONE and self._answered_keep_alive)

    def _finish(self) -> Message:
        message = super()._finish()
        self._answered_keep_alive = message.keep_alive
        return message
