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

Fast path: the messages dockerd and plugins exchange are framed by ``Content-Length`` with a
plain head. For those, a tap parses the head itself with h11's own grammar (its compiled
request-line, status-line and header-field expressions) and counts the body, about ten times
cheaper than an h11 connection. Anything else (chunked bodies, a missing or repeated
Content-Length, HTTP/1.0, obsolete line folding, bare LF line ends, 1xx/204/304 answers, an
end of file in the middle, a head over h11's 16 KiB limit) is handed to h11 for that message,
so h11 decides every unusual or malformed case; ``tests/test_tap_fastpath.py`` checks that both
find the same boundaries, heads and errors on every input.

``next_message()`` returns a ``WireMessage`` (complete), ``NEED_DATA``, ``CLOSED`` (the peer
closed cleanly between messages) or a ``TapError`` (the peer broke HTTP/1.1, or sent a body over
the limit). After a ``TapError`` the tap is unusable: the connection must be closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

import h11
from h11._headers import CONTENT_LENGTH_MAX_DIGITS
from h11._readers import header_field_re, request_line_re, status_line_re

from .records import FaultKind

MAX_HEAD: Final = 16 * 1024  # h11's max_incomplete_event_size
_BLANK_LINE: Final = re.compile(b"\n\r?\n")
_DIGITS: Final = re.compile(b"[0-9]+")

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
    kind: FaultKind  # the word of the fault recorded for it
    message: str


@dataclass(frozen=True, kw_only=True)
class WireMessage:
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


Result = WireMessage | Signal | TapError


def _decode_headers(headers: h11._headers.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw_items())


@dataclass(frozen=True, slots=True)
class _Head:
    """A plain head the fast path can frame (``_parse_head``). ``fields``: the fields of a
    ``WireMessage`` with this head that the head decides, made once (``_wire``)."""

    headers: tuple[tuple[str, str], ...]
    length: int
    close: bool
    method: str = ""
    target: str = ""
    status: int = 0
    reason: str = ""
    fields: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.fields.update(headers=self.headers, http_version="1.1", method=self.method,
                           target=self.target, status=self.status, reason=self.reason)


_new = object.__new__


def _wire(head: _Head, raw: bytes, body: bytes, keep_alive: bool) -> WireMessage:
    """``WireMessage(raw=raw, body=body, keep_alive=keep_alive, ...head's fields)`` without
    the generated ``__init__`` of a frozen dataclass (an ``object.__setattr__`` per field
    costs more than the rest of framing a message); the same object."""
    message = _new(WireMessage)
    fields = message.__dict__
    fields.update(head.fields)
    fields["raw"] = raw
    fields["body"] = body
    fields["keep_alive"] = keep_alive
    return message


def _parse_head(head: bytes, request_side: bool) -> _Head | None:
    """A head (without its blank line) parsed with h11's grammar, or None when h11 must
    decide: not HTTP/1.1, a line h11's expressions refuse, a missing or repeated or odd
    Content-Length, Transfer-Encoding or Upgrade, a request without exactly one Host (or a
    CONNECT), an answer without a body of its own (1xx, 204, 304)."""
    if head.count(b"\n") != head.count(b"\r\n"):
        return None
    lines = head.split(b"\r\n")
    start = (request_line_re if request_side else status_line_re).fullmatch(lines[0])
    if start is None or start["http_version"] != b"1.1":
        return None
    headers = []
    length: bytes | None = None
    hosts = 0
    close = False
    for line in lines[1:]:
        field = header_field_re.fullmatch(line)
        if field is None:
            return None
        name, value = field["field_name"], field["field_value"]
        lowered = name.lower()
        if lowered == b"content-length":
            if length is not None or len(value) > CONTENT_LENGTH_MAX_DIGITS \
                    or _DIGITS.fullmatch(value) is None:  # h11 refuses over 20 digits
                return None
            length = value
        elif lowered in {b"transfer-encoding", b"upgrade"}:
            return None
        elif lowered == b"host":
            hosts += 1
        elif lowered == b"connection" and b"close" in value.lower():
            close = True
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    size = int(length) if length is not None else 0
    if request_side:
        if hosts != 1 or start["method"] == b"CONNECT":
            return None
        return _Head(headers=tuple(headers), length=size, close=close,
                     method=start["method"].decode("ascii"),
                     target=start["target"].decode("latin-1"))
    status = int(start["status_code"])
    if length is None or status < 200 or status >= 600 or status in {204, 304}:
        return None
    reason = start["reason"]
    return _Head(headers=tuple(headers), length=size, close=close, status=status,
                 reason="" if reason is None else reason.decode("latin-1"))


HEADS_KEPT: Final = 256
_HEADS: Final[tuple[dict[bytes, _Head], dict[bytes, _Head]]] = ({}, {})


def _parsed_head(head: bytes, request_side: bool) -> _Head | None:
    """``_parse_head``, remembered: dockerd sends the same head for every call of an
    endpoint with a body of the same length, and a plugin the same answer head within the
    second of its ``Date``, so most heads are parsed once. The parse is a function of the
    bytes alone; the memory is bounded (emptied when full), and heads h11 must decide are
    not kept."""
    kept = _HEADS[request_side]
    parsed = kept.get(head)
    if parsed is None:
        parsed = _parse_head(head, request_side)
        if parsed is not None:
            if len(kept) >= HEADS_KEPT:
                kept.clear()
            kept[head] = parsed
    return parsed


class _Tap:
    """Common machinery: feed bytes, frame one message (fast path or h11), keep its raw bytes.

    ``fast=False`` frames every message with h11 (the oracle the fast path is tested against).
    """

    _request_side = True

    def __init__(self, role: type[h11.SERVER] | type[h11.CLIENT], max_body: int, *,
                 fast: bool = True) -> None:
        self._role = role
        self._fast_enabled = fast
        self._h11: h11.Connection | None = None
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
        if self._h11 is not None:
            self._h11.receive_data(data)

    @property
    def pending(self) -> bytes:
        """Bytes received that belong to no complete message yet."""
        return bytes(self._buffer)

    @property
    def buffered(self) -> int:
        """How many bytes ``pending`` holds (without copying them)."""
        return len(self._buffer)

    def next_message(self) -> Result:
        if self._h11 is None:
            if self._fast_enabled:
                fast = self._fast()
                if fast is not None:
                    return fast
            self._h11 = self._new_h11()
            if self._buffer:
                self._h11.receive_data(bytes(self._buffer))
            if self._eof:
                self._h11.receive_data(b"")
        return self._next_h11(self._h11)

    def _new_h11(self) -> h11.Connection:
        return h11.Connection(self._role)

    # -- the fast path ------------------------------------------------------------------

    def _fast(self) -> Result | None:
        """Frame a plain Content-Length message; None hands this message to h11."""
        buf = self._buffer
        if not buf:  # asked between messages (a keep-alive relay asks as soon as it answered)
            return None if self._eof else NEED_DATA
        if buf[0] < 0x21:
            return None
        match = _BLANK_LINE.search(buf)
        if match is None:
            return None if self._eof or len(buf) > MAX_HEAD else NEED_DATA
        end = match.end()
        if end > MAX_HEAD or buf[end - 4:end] != b"\r\n\r\n":
            return None
        head = _parsed_head(bytes(buf[:end - 4]), self._request_side)
        if head is None:
            return None
        size = head.length
        if size > self._max_body:
            return self._too_large(size)
        if len(buf) < end + size:
            return None if self._eof else NEED_DATA
        raw = bytes(buf[:end + size])
        del buf[:end + size]
        return self._fast_done(_wire(head, raw, raw[end:], not self._eof and not head.close))

    def _fast_done(self, message: WireMessage) -> WireMessage:
        return message

    # -- h11 ----------------------------------------------------------------------------

    def _next_h11(self, conn: h11.Connection) -> Result:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof and not self._buffer and self._head is None:
                    return CLOSED
                return TapError(status=exc.error_status_hint, kind=FaultKind.MALFORMED,
                                message=str(exc))
            if event is h11.NEED_DATA:
                return NEED_DATA
            if event is h11.PAUSED:
                return NEED_DATA
            if isinstance(event, h11.ConnectionClosed):
                if self._head is not None or self._buffer:
                    return TapError(status=400, kind=FaultKind.TRUNCATED,
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
        return TapError(status=413, kind=FaultKind.TOO_LARGE,
                        message=f"body of {size} bytes is over the limit of {self._max_body}")

    def _finish(self) -> WireMessage:
        head = self._head
        assert head is not None and self._h11 is not None
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
            return WireMessage(method=head.method.decode("ascii"),
                               target=head.target.decode("latin-1"), **common)  # type: ignore[arg-type]
        return WireMessage(status=head.status_code, reason=head.reason.decode("latin-1"),
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

    _request_side = True

    def __init__(self, max_body: int = DEFAULT_MAX_BODY, *, fast: bool = True) -> None:
        super().__init__(h11.SERVER, max_body, fast=fast)

    def answered(self, *, keep_alive: bool) -> bool:
        """Record that the request was answered. Returns True when the connection stays open.

        The next request is framed afresh (fast path, or a fresh h11 connection fed the bytes
        that followed this one): cheaper than playing the server's half of the state machine,
        and equivalent, since the relay decides keep-alive itself (``WireMessage.keep_alive``).
        """
        if not keep_alive or self._eof:
            return False
        self._h11 = None
        return True


class ResponseTap(_Tap):
    """Plugin-side tap: parses the answer to the request it was told to expect."""

    _request_side = False

    def __init__(self, max_body: int = DEFAULT_MAX_BODY, *, fast: bool = True) -> None:
        super().__init__(h11.CLIENT, max_body, fast=fast)
        self._answered_keep_alive = False
        self._method = "POST"
        self._keep_alive = True
        self._fast_now = fast

    def expect(self, method: str, *, keep_alive: bool = True) -> None:
        """Announce that a request with ``method`` was sent; call before feeding its answer."""
        self._method, self._keep_alive = method, keep_alive
        self._h11 = None
        self._fast_now = self._fast_enabled and method == "POST" and keep_alive

    def _fast(self) -> Result | None:
        return super()._fast() if self._fast_now else None

    def _new_h11(self) -> h11.Connection:
        if self._method == "POST":
            synthetic = _POST_KEEP if self._keep_alive else _POST_CLOSE
        else:
            synthetic = _request(self._method, self._keep_alive)
        conn = h11.Connection(h11.CLIENT)
        conn.send(synthetic)
        conn.send(_END)
        return conn

    def reusable(self) -> bool:
        """After a complete answer: can this connection carry another request?"""
        if self._eof or not self._answered_keep_alive:
            return False
        conn = self._h11
        return conn is None or (conn.their_state is h11.DONE and conn.our_state is h11.DONE)

    def _fast_done(self, message: WireMessage) -> WireMessage:
        self._answered_keep_alive = message.keep_alive
        return message

    def _finish(self) -> WireMessage:
        message = super()._finish()
        self._answered_keep_alive = message.keep_alive
        return message
