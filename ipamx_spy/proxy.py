"""The proxy's sans-IO half: the session that numbers, records and announces exchanges.

Theory of operation
-------------------
``ipamx_spy.aio.relay`` moves bytes; this module decides everything else. For each docker-side
connection the relay reports ``open``; for each complete request it asks ``begin`` for a sequence
number; when the answer is ready it calls ``complete`` with the request, the answer and any fault,
and only then writes the answer to the docker side. ``complete`` writes the exchange record to
the recording *before* returning, so a kill -9 never loses an exchange whose answer was sent.

Answers ipamx-spy makes itself (upstream unreachable, malformed request, body too large) are
built by ``spy_answer``: HTTP 500/400/413 with ``{"Err": "ipamx-spy: ..."}``, which dockerd
prints as ``<Interface>.<Method>: ipamx-spy: ...``.

Held lines (``complete(hold=True)``): the relay finishes every exchange whose answer came in
one turn of its event loop, then calls ``flush`` (all their lines in one ``write``), writes the
answers, publishes them (``publish(hold=True)``) and calls ``flush_sinks`` (each sink gets them
in one call): a system call per turn instead of two per exchange. An answer is still written
only after its line: ``flush`` comes first, and any other record (``_emit``) flushes what is
held before it, so the file keeps the order of events. With ``on_record_error=refuse`` nothing
is held (a failing write must refuse the very next request).

Recording sink policy (``on_record_error``): ``continue`` (default) keeps relaying when the
recording cannot be written (disk full, file removed), holds the records in memory, retries them
before every later write and says so loudly; ``refuse`` answers every later request with a 500
until a write succeeds again, so nothing passes unrecorded.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import enum
import json
import json.encoder
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import dockerd, tap
from .app import CONTENT_TYPE
from .client import CLIENT_HEADER
from .dockerd.memo import Memo
from .findings import Finding
from .recording import (
    MAX_DEPTH,
    SCAN_JSON,
    Exchange,
    Fault,
    Message,
    RecordingWriter,
    encode_body,
    go_json,
    made,
)
from .recording_writer import encode_line
from .records import (
    AnsweredBy,
    ClientRecord,
    CloseRecord,
    FaultKind,
    FaultRecord,
    FindingRecord,
    MarkerRecord,
    OpenRecord,
    RecordType,
    Side,
)
from .stats import Summary

WAITING_AFTER_S = 3.0
MAX_BACKLOG = 100_000
WRITE_BATCH = 1024  # lines joined into one write at most (a long backlog goes line by line)


class Sink(Protocol):
    """Something that wants to hear about the session (the live view, the validator).

    A sink that also has ``on_line(line)`` is given the record's encoded line (the bytes
    written to the recording) instead of ``on_record``: it never encodes a second time, and
    the session need not build the record's dict for it (an exchange's line is made from its
    parts).
    """

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None: ...

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None: ...

    def on_sink_error(self, message: str) -> None: ...


@dataclass(kw_only=True, slots=True)
class Pending:
    """An exchange begun: its number, and the request's part of the record once built."""

    seq: int
    conn: int
    endpoint: str
    started: float
    t: float
    request: Message | None = None
    request_json: str | None = None  # ``request`` encoded, for the record's line


_DATE: list[Any] = [None, ""]  # the second and its Date text


def _http_date() -> str:
    """The ``Date`` header of now, made once a second (formatting it costs more than the
    built-in allocator's answer)."""
    second = int(time.time())
    if _DATE[0] != second:
        _DATE[:] = [second, email.utils.formatdate(second, usegmt=True)]
    return str(_DATE[1])


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 413: "Payload Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}


Head = tuple[bytes, tuple[tuple[str, str], ...], str]
_HEADS: dict[tuple[int, str | None, int, bool], Head] = {}
_HEADS_SECOND = [0]
_HEADS_MAX = 256


def answer(status: int, body: bytes, content_type: str | None = CONTENT_TYPE, *,
           close: bool = False) -> tap.WireMessage:
    """An answer ipamx-spy writes itself, framed as Go's net/http would frame it.

    ``content_type=None`` sends no Content-Type header (a mock repeating such an answer).
    The head of each (status, type, length, close) is made once a second (the built-in
    plugin's answers repeat it; building it cost as much as the allocator's work)."""
    second = int(time.time())
    if _HEADS_SECOND[0] != second or len(_HEADS) >= _HEADS_MAX:
        _HEADS.clear()
        _HEADS_SECOND[0] = second
    key = (status, content_type, len(body), close)
    cached = _HEADS.get(key)
    if cached is None:
        cached = _HEADS[key] = _answer_head(status, len(body), content_type, close)
    head, headers, reason = cached
    return made(tap.WireMessage, raw=head + body, headers=headers, body=body,
                http_version="1.1", method="", target="", status=status, reason=reason,
                keep_alive=not close)


def _answer_head(status: int, length: int, content_type: str | None, close: bool) -> Head:
    headers = [("Content-Type", content_type)] if content_type is not None else []
    headers += [("Date", _http_date()), ("Content-Length", str(length))]
    if close:
        headers.append(("Connection", "close"))
    reason = REASONS.get(status, "Error")
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + "\r\n").encode("latin-1"), tuple(headers), reason


def spy_answer(status: int, message: str, *, close: bool = False) -> tap.WireMessage:
    """An answer in the shape dockerd reads for errors: ``{"Err": "ipamx-spy: ..."}``."""
    body = (go_json({"Err": f"ipamx-spy: {message}"}) + "\n").encode("utf-8")
    return answer(status, body, close=close)


def stored_body(raw: bytes) -> dict[str, Any]:
    """``encode_body``, or base64 when the body cannot be stored readably (never raises)."""
    try:
        return encode_body(raw)
    except Exception:  # RecursionError on deep JSON, anything the encoder trips over
        return {"encoding": "base64", "base64": base64.b64encode(raw).decode("ascii")}


def to_record_message(message: tap.WireMessage) -> Message:
    """A tap message as it is stored in a recording."""
    return Message(
        method=message.method, target=message.target, status=message.status,
        reason=message.reason, http_version=message.http_version,
        headers=message.headers, body=stored_body(message.body),
    )


Redactor = Callable[[dict[str, Any]], dict[str, Any]]

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _made_once_encoder() -> Callable[[Any], str]:
    """``_COMPACT`` with its C encoder made once: ``JSONEncoder.encode`` makes a new one on
    every call, which costs more than encoding a dockerd body. Same output (the same C
    encoder, with ``_COMPACT``'s settings); values with cycles cannot occur here (they come
    from ``json.loads`` and the tap's header tuples)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return _COMPACT
    encoder = make(None, _not_json, json.encoder.encode_basestring, None, ":", ",", False,
                   False, True)
    return lambda value: "".join(encoder(value, 0))


_ENCODE = _made_once_encoder()


def _go_escapes(text: str) -> bool:
    """True when ``text`` holds a ``\\u`` escape or a character Go escapes in JSON (``<>&``,
    U+2028, U+2029): such a body takes the careful path. Five substring tests cost a quarter
    of one regular-expression search over a dockerd body."""
    return ("\\u" in text or "<" in text or ">" in text or "&" in text or "\u2028" in text
            or "\u2029" in text)


_GO_BODY = '{"encoding":"json","json":%s,"layout":"go"}'


def stored_body_json(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """``stored_body(raw)`` and its compact JSON, in one step for dockerd's bodies.

    A body in Go's layout (what dockerd and Go plugins send) is its own compact JSON: when
    re-encoding its value gives back the text, that text is also what ``json.dumps`` would
    write for the value inside the record, so it is used as it is. That holds only without
    ``\\u`` escapes (Go writes ``<>&`` that way, and a lone surrogate needs the careful
    path) and with no character Go would have escaped; anything else (and bodies deeper
    than ``MAX_DEPTH``, which ``encode_body`` stores as text) takes ``stored_body``. The JSON
    is None when the stored body cannot be encoded here (the line is then encoded whole)."""
    if raw[-1:] == b"\n" and raw[:1] == b"{":
        try:
            text = raw.decode("utf-8")
            # no \u escape and no character Go escapes (in the text, so in its re-encoding
            # too, as checked below); no deeper than MAX_DEPTH (a shorter text cannot be)
            if not _go_escapes(text) and (
                    len(text) <= MAX_DEPTH or text.count("{") + text.count("[") <= MAX_DEPTH):
                value, end = SCAN_JSON(text, 0)  # json.loads's own scanner, without its wrappers
                compact = _ENCODE(value)
                if end == len(compact) == len(text) - 1 and text.startswith(compact):
                    return {"encoding": "json", "json": value, "layout": "go"}, \
                        _GO_BODY % compact
        except (ValueError, StopIteration, RecursionError):  # not UTF-8, not JSON: the
            pass  # careful path says
    stored = stored_body(raw)
    try:
        return stored, _ENCODE(stored)
    except (TypeError, ValueError, RecursionError):
        return stored, None


_REQUEST_JSON = '{"method":%s,"target":%s,"http_version":%s,"headers":%s,"body":'
_RESPONSE_JSON = '{"status":%d,"reason":%s,"http_version":%s,"headers":%s,"body":'
HEADS_KEPT = 256


def _head_json_of(key: tuple[Any, ...]) -> str | None:
    method, target, status, reason, http_version, headers = key
    try:
        if method:
            return _REQUEST_JSON % (_STRING(method), _STRING(target), _STRING(http_version),
                                    _ENCODE(headers))
        return _RESPONSE_JSON % (status, _STRING(reason), _STRING(http_version),
                                 _ENCODE(headers))
    except (TypeError, ValueError):
        return None


# The JSON of a stored message up to its body (``"body":`` included), remembered by the head's
# parts: a plugin answers with the same head within the second of its ``Date``, and dockerd asks
# with the same head for every call of an endpoint with a body of the same length. None when
# it cannot be encoded here.
_HEAD_JSON: Memo[tuple[Any, ...], str | None] = Memo(_head_json_of, HEADS_KEPT)


def record_message_json(message: tap.WireMessage) -> tuple[Message, str | None]:
    """``to_record_message`` and the compact JSON of its ``to_json()``, byte for byte what
    ``json.dumps`` writes for it (``tests/test_proxy_relay.py``), the body encoded once; the
    JSON is None when it cannot be made here (the record is then encoded whole)."""
    body, body_json = stored_body_json(message.body)
    if not message.method and not message.status:  # Message's own check (see recording.made)
        raise ValueError("a message is a request (method) or a response (status)")
    stored = made(Message, method=message.method, target=message.target,
                  status=message.status, reason=message.reason,
                  http_version=message.http_version, headers=message.headers, body=body)
    if body_json is None:
        return stored, None
    head = _HEAD_JSON[(message.method, message.target, message.status, message.reason,
                       message.http_version, message.headers)]
    if head is None:
        return stored, None
    return stored, head + body_json + "}"


_EXCHANGE_LINE = ('{"type":"exchange","seq":%d,"conn":%d,"t":%s,"endpoint":%s,"duration_ms":%s,'
                  '"upstream_ms":%s,"answered_by":%s,"request":%s,"response":%s,"fault":%s}\n')


_STRING = json.encoder.encode_basestring  # what the encoder writes for a str (no ASCII escaping)


def _scalar(value: Any) -> str:
    """A number or null as ``json.dumps`` writes it (``float.__repr__``), without the
    encoder's machinery."""
    if type(value) is float and value - value == 0.0:  # finite (inf - inf and nan are nan)
        return repr(value)
    if value is None:
        return "null"
    return _COMPACT(value)


REQUESTS_KEPT = 256
REQUEST_KEPT_BYTES = 4096
_REQUESTS: dict[bytes, tuple[Message, str | None]] = {}


def stored_request(request: tap.WireMessage) -> tuple[Message, str | None]:
    """``record_message_json`` of a request, remembered by its bytes: dockerd sends many
    requests byte for byte alike (every ``RequestAddress`` of a pool that lets the allocator
    pick, every ``GetCapabilities``), and a stored message is a value nobody modifies (records
    are never changed in place; redaction copies). Bounded: requests up to
    ``REQUEST_KEPT_BYTES``, ``REQUESTS_KEPT`` of them (emptied when full)."""
    if len(request.raw) > REQUEST_KEPT_BYTES:
        return record_message_json(request)
    kept = _REQUESTS.get(request.raw)
    if kept is None:
        kept = record_message_json(request)
        if len(_REQUESTS) >= REQUESTS_KEPT:
            _REQUESTS.clear()
        _REQUESTS[request.raw] = kept
    return kept


# ``_STRING`` of the few texts every exchange repeats (endpoint names, who answered)
_STRINGS: Memo[str, str] = Memo(_STRING, HEADS_KEPT)


def exchange_line(exchange: Exchange, request_json: str, response_json: str) -> bytes | None:
    """``encode_line(exchange.to_json())`` from the exchange's parts, its messages encoded
    already, byte for byte the same (``tests/test_proxy_relay.py``); None when a part cannot
    be encoded here (the caller then encodes the record whole)."""
    upstream_ms = exchange.upstream_ms
    try:
        t, duration = round(exchange.t, 6), round(exchange.duration_ms, 3)
        return (_EXCHANGE_LINE % (
            exchange.seq, exchange.conn,
            repr(t) if type(t) is float and t - t == 0.0 else _scalar(t),  # _scalar, inline
            _STRINGS[exchange.endpoint],
            repr(duration) if type(duration) is float and duration - duration == 0.0
            else _scalar(duration),
            "null" if upstream_ms is None else _scalar(round(upstream_ms, 3)),
            _STRINGS[exchange.answered_by], request_json, response_json,
            "null" if exchange.fault is None else _ENCODE(exchange.fault.to_json()))).encode()
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError: a lone surrogate
        return None


class OnRecordError(enum.StrEnum):
    """What the session does when the recording cannot be written (see the module docstring);
    the value is ``--on-record-error``'s word."""

    CONTINUE = "continue"
    REFUSE = "refuse"


@dataclass
class ProxySession:
    """Numbers exchanges, writes records, tells the sinks. One per proxy run.

    Nothing here may keep a request from being answered: a record that cannot be encoded is
    replaced by a ``fault`` record saying so, a sink that raises is reported and skipped, and
    memory stays bounded (per-endpoint aggregates for the summary, a capped backlog).
    """

    writer: RecordingWriter | None
    sinks: Sequence[Sink] = ()
    on_record_error: OnRecordError = OnRecordError.CONTINUE
    redact: Redactor | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    summary: Summary = field(default_factory=Summary)
    pending: dict[int, Pending] = field(default_factory=dict)
    backlog: deque[bytes] = field(default_factory=deque)
    dropped: int = 0
    unencodable: int = 0
    sink_errors: int = 0
    last_seq: int = 0
    _next_seq: int = 1
    _next_conn: int = 1
    _warned: set[int] = field(default_factory=set)
    _last_records: dict[int, tuple[dict[str, Any] | None, bytes]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    _held: list[bytes] = field(default_factory=list)  # exchange lines not yet written
    _told: list[tuple[dict[str, Any] | None, Exchange | None, bytes]] = field(
        default_factory=list)  # published and not yet given to the sinks

    def __post_init__(self) -> None:
        try:  # the option's word is the policy
            self.on_record_error = OnRecordError(self.on_record_error)
        except ValueError:
            raise ValueError("on_record_error must be 'continue' or 'refuse'") from None
        self.started = self.clock()

    @property
    def path(self) -> Path | None:
        return None if self.writer is None else self.writer.path

    @property
    def exchanges_done(self) -> int:
        return self.summary.calls

    def now(self) -> float:
        return self.clock() - self.started

    @property
    def refusing(self) -> bool:
        """True when the recording is failing and the policy is to refuse traffic."""
        return self.on_record_error is OnRecordError.REFUSE and bool(self.backlog)

    # -- connections --------------------------------------------------------------------

    def open(self, peer: str = "docker") -> int:
        conn = self._next_conn
        self._next_conn += 1
        self._emit(OpenRecord(conn=conn, t=round(self.now(), 6), peer=peer).to_json())
        return conn

    def close(self, conn: int, reason: str) -> None:
        unanswered = [p.seq for p in self.pending.values() if p.conn == conn]
        for seq in unanswered:
            self.pending.pop(seq, None)
        self._emit(CloseRecord(conn=conn, t=round(self.now(), 6), reason=reason,
                               unanswered=tuple(unanswered)).to_json())

    def marker(self, text: str) -> dict[str, Any]:
        record = MarkerRecord(t=round(self.now(), 6), text=text, after_seq=self.last_seq).to_json()
        self._emit(record)
        return record

    def finding(self, finding: Finding) -> None:
        """A validator finding (from the checking sink): kept for the summary, and recorded."""
        self.findings.append(finding)
        self._emit(FindingRecord(t=round(self.now(), 6), finding=finding).to_json())

    def failed(self, endpoint: str) -> None:
        """The checking sink read an answer as a failure dockerd sees (the summary's column).

        Faults and missing answers are counted by ``complete`` already; the verdict on an
        answer is read off the relay's path, by the checking sink."""
        self.summary.add_error(endpoint)

    def fault(self, conn: int, fault: Fault, data: bytes) -> None:
        """Bytes from a peer that belong to no exchange (malformed, stray or extra bytes)."""
        self._emit(FaultRecord(conn=conn, t=round(self.now(), 6), side=fault.side,
                               kind=fault.kind, message=fault.message,
                               data=stored_body(data[:4096])).to_json())

    # -- exchanges ----------------------------------------------------------------------

    def begin(self, conn: int, target: str) -> Pending:
        seq = self._next_seq
        self._next_seq += 1
        started = self.clock()
        pending = Pending(seq=seq, conn=conn, endpoint=_ENDPOINTS[target],
                          started=started, t=started - self.started)
        self.pending[seq] = pending
        return pending

    def prepare(self, pending: Pending, request: tap.WireMessage) -> None:
        """Build the request's part of the record while the plugin works on the answer (call
        after the request went on): ``complete`` then only adds the answer's part. Nothing to
        build when nothing is recorded (``serve``)."""
        if self.writer is None and not self.sinks:
            return
        pending.request, request_json = stored_request(request)
        if self.redact is None:
            pending.request_json = request_json

    def complete(
        self,
        pending: Pending,
        request: tap.WireMessage,
        response: tap.WireMessage | None,
        *,
        upstream_ms: float | None,
        fault: Fault | None = None,
        answered_by: AnsweredBy = AnsweredBy.PLUGIN,
        hold: bool = False,
    ) -> Exchange | None:
        """Record a finished exchange. Call before writing the answer to the docker side, and
        ``publish`` after it (the live view never delays an answer). Never raises for what
        is in the messages. With no recording and no sink (``serve``) the exchange is only
        counted, and None is returned: no record is built that nobody reads. ``hold=True``:
        the line may be held until ``flush``, which the caller must call before it writes
        the answer."""
        self.pending.pop(pending.seq, None)
        self._warned.discard(pending.seq)
        if self.writer is None and not self.sinks:
            if not _spy_client(request, pending.endpoint):
                self.last_seq = max(self.last_seq, pending.seq)
                self.summary.add(pending.endpoint, (self.clock() - pending.started) * 1000,
                                 fault is not None or response is None)
            return None
        stored_response, response_json = None, None
        if response is not None:
            stored_response, response_json = record_message_json(response)
        exchange = made(
            Exchange, seq=pending.seq, conn=pending.conn, t=pending.t,
            endpoint=pending.endpoint,
            request=pending.request or to_record_message(request), response=stored_response,
            duration_ms=(self.clock() - pending.started) * 1000,
            upstream_ms=upstream_ms, fault=fault, answered_by=answered_by,
            docker_version=None, address_role=None,
        )
        if _spy_client(request, pending.endpoint):
            # ipamx-spy's own client (status), not dockerd: kept apart from dockerd's calls.
            self._last_records[exchange.seq] = self._emit(
                ClientRecord(exchange=exchange).to_json(), None, publish=False)
            return exchange
        self.last_seq = max(self.last_seq, exchange.seq)
        self.summary.add(exchange.endpoint, exchange.duration_ms,
                         exchange.fault is not None or exchange.response is None)
        response_part = "null" if response is None else response_json
        if pending.request_json is not None and response_part is not None \
                and self.redact is None:
            line = exchange_line(exchange, pending.request_json, response_part)
            if line is not None:  # the record's dict is made only if a sink asks for it
                if hold and self.on_record_error is OnRecordError.CONTINUE:
                    self._held.append(line)
                else:
                    self._write(line)
                self._last_records[exchange.seq] = (None, line)
                return exchange
        self._last_records[exchange.seq] = self._emit(exchange.to_json(), exchange,
                                                      publish=False)
        return exchange

    def flush(self) -> None:
        """Write the lines ``complete(hold=True)`` held, in one write (the recording policy
        applies as to any write)."""
        if self._held:
            held, self._held = self._held, []
            self._write_lines(held)

    def publish(self, exchange: Exchange | None, *, hold: bool = False) -> None:
        """Tell the sinks about an exchange; call after its answer went to the docker side.
        ``hold=True``: the sinks may hear of it at ``flush_sinks``, which the caller must
        call before its turn ends."""
        if exchange is None:
            return
        last = self._last_records.pop(exchange.seq, None)
        if last is None:
            return
        stored, line = last
        if stored is None:  # written from its parts: exactly exchange.to_json()
            if hold:
                self._told.append((None, exchange, line))
            else:
                self._tell(None, exchange, line)
            return
        if stored.get("type") == RecordType.CLIENT:
            self._tell(stored, None, line)
            return
        if self.redact is not None:
            try:
                exchange = Exchange.from_json(stored)
            except Exception as exc:
                self._sink_failed(f"the redacted record of #{exchange.seq} is unreadable: {exc!r}")
                return
        self._tell(stored, exchange, line)

    def tick(self) -> None:
        """Tell the sinks about requests that have waited a while (a hung plugin)."""
        now = self.clock()
        for pending in list(self.pending.values()):
            waited = now - pending.started
            if waited >= WAITING_AFTER_S and pending.seq not in self._warned:
                self._warned.add(pending.seq)
                for sink in self.sinks:
                    try:
                        sink.on_waiting(pending.seq, pending.conn, pending.endpoint, waited)
                    except Exception as exc:
                        self._sink_failed(repr(exc))

    # -- records ------------------------------------------------------------------------

    def _emit(self, record: dict[str, Any], exchange: Exchange | None = None, *,
              publish: bool = True, line: bytes | None = None) -> tuple[dict[str, Any], bytes]:
        """Write a record (encoded once; ``line`` when the caller encoded it) and, unless
        ``publish=False``, tell the sinks. Returns the record as stored (redacted) and its
        line."""
        self.flush()  # what is held goes first: the file keeps the order of events
        stored = record
        if self.redact is not None:
            try:
                stored = self.redact(record)
            except Exception as exc:  # never store what redaction could not cover
                stored = self._substitute(record, f"redaction failed: {exc!r}")
                exchange = None
                line = None
        if line is None:
            line = encode_line(stored)
        self._write(line)
        if publish:
            self._tell(stored, exchange, line)
        return stored, line

    def flush_sinks(self) -> None:
        """Give the sinks what ``publish(hold=True)`` kept: a sink with ``on_lines(lines)``
        gets every line in one call, the others one call per record, in order."""
        if not self._told:
            return
        told, self._told = self._told, []
        for sink in self.sinks:
            try:
                on_lines = getattr(sink, "on_lines", None)
                if on_lines is not None:
                    on_lines([line for _stored, _exchange, line in told])
                    continue
                for stored, exchange, line in told:
                    self._tell_one(sink, stored, exchange, line)
            except Exception as exc:  # a broken view or validator never stops the relay
                self._sink_failed(repr(exc))

    def _tell(self, stored: dict[str, Any] | None, exchange: Exchange | None,
              line: bytes) -> None:
        """Give each sink the line, or the record (``stored``; None: the exchange's record,
        made here when a sink wants it)."""
        self.flush_sinks()  # what was published first is heard first
        for sink in self.sinks:
            try:
                self._tell_one(sink, stored, exchange, line)
            except Exception as exc:  # a broken view or validator never stops the relay
                self._sink_failed(repr(exc))

    @staticmethod
    def _tell_one(sink: Sink, stored: dict[str, Any] | None, exchange: Exchange | None,
                  line: bytes) -> None:
        on_line = getattr(sink, "on_line", None)
        if on_line is not None:
            on_line(line)
            return
        if stored is None:
            assert exchange is not None
            stored = exchange.to_json()
        sink.on_record(stored, exchange)

    def _sink_failed(self, message: str) -> None:
        self.sink_errors += 1
        if self.sink_errors > 1:
            return
        for sink in self.sinks:
            try:
                sink.on_sink_error(f"a live sink failed (reported once): {message}")
            except Exception:  # noqa: S110 - nowhere left to report it
                pass

    def _substitute(self, record: dict[str, Any], why: str) -> dict[str, Any]:
        """A ``fault`` record standing in for one that cannot be stored as it is."""
        self.unencodable += 1
        return FaultRecord(
            conn=record.get("conn", 0), t=record.get("t", 0.0), side=Side.PROXY,
            kind=FaultKind.UNENCODABLE, seq=record.get("seq"), record_type=str(record.get("type")),
            message=f"ipamx-spy could not store this {record.get('type')} record: {why}",
            data={"encoding": "empty"}).to_json()

    def _write(self, line: bytes) -> None:
        """Write one encoded line (``encode_line`` never fails: a record that cannot be
        encoded is written as an ``unrecordable`` record saying why)."""
        self._write_lines((line,))

    def _write_lines(self, lines: Sequence[bytes]) -> None:
        """Write lines after the backlog: all in one write when they fit, else (a write of
        them all failed) one by one, so that each line that fits goes in."""
        if self.writer is None:
            return
        self.backlog.extend(lines)
        try:
            if 1 < len(self.backlog) <= WRITE_BATCH:
                with contextlib.suppress(OSError):  # the lines are written one by one below
                    self.writer.write_line(b"".join(self.backlog))
                    self.backlog.clear()
            while self.backlog:
                self.writer.write_line(self.backlog[0])
                self.backlog.popleft()
        except OSError as exc:
            while len(self.backlog) > MAX_BACKLOG:
                self.backlog.popleft()
                self.dropped += 1
            message = (f"cannot write the recording {self.writer.path}: {exc.strerror or exc}; "
                       f"{len(self.backlog)} record(s) held in memory"
                       + (", refusing traffic" if self.on_record_error is OnRecordError.REFUSE
                          else ""))
            for sink in self.sinks:
                try:
                    sink.on_sink_error(message)
                except Exception as sink_exc:
                    self._sink_failed(repr(sink_exc))


def _names_client(headers: tuple[tuple[str, str], ...]) -> bool:
    return any(key.lower() == _CLIENT_KEY for key, _value in headers)


_CLIENT_KEY = CLIENT_HEADER.lower()
_CLIENT_HEADERS: Memo[tuple[tuple[str, str], ...], bool] = Memo(_names_client, HEADS_KEPT)
_ENDPOINTS: Memo[str, str] = Memo(dockerd.endpoint_name, HEADS_KEPT)  # targets dockerd asks


def _spy_client(request: tap.WireMessage, endpoint: str) -> bool:
    """True for a call of ipamx-spy's own (``status``, a metrics scraper): it names a
    ``dockerd.SpyCall``, which dockerd never calls, or carries ipamx-spy's client header
    (looked up once per head: dockerd's heads repeat)."""
    return endpoint in dockerd.SPY_ROW or _CLIENT_HEADERS[request.headers]
