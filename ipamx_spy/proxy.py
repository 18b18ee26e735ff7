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

Recording sink policy (``on_record_error``): ``continue`` (default) keeps relaying when the
recording cannot be written (disk full, file removed), holds the records in memory, retries them
before every later write and says so loudly; ``refuse`` answers every later request with a 500
until a write succeeds again, so nothing passes unrecorded.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import catalogue, tap
from .app import CONTENT_TYPE
from .client import CLIENT_HEADER
from .recording import Exchange, Fault, Message, RecordingWriter, encode_body, go_json

WAITING_AFTER_S = 3.0
MAX_BACKLOG = 100_000


class Sink(Protocol):
    """Something that wants to hear about the session (the live view, the validator)."""

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None: ...

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None: ...

    def on_sink_error(self, message: str) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Pending:
    seq: int
    conn: int
    endpoint: str
    started: float
    t: float


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


def answer(status: int, body: bytes, content_type: str | None = CONTENT_TYPE, *,
           close: bool = False) -> tap.Message:
    """An answer ipamx-spy writes itself, framed as Go's net/http would frame it.

    ``content_type=None`` sends no Content-Type header (a mock repeating such an answer)."""
    headers = [("Content-Type", content_type)] if content_type is not None else []
    headers += [("Date", _http_date()), ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    reason = REASONS.get(status, "Error")
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return tap.Message(raw=(head + "\r\n").encode("latin-1") + body, headers=tuple(headers),
                       body=body, http_version="1.1", status=status, reason=reason,
                       keep_alive=not close)


def spy_answer(status: int, message: str, *, close: bool = False) -> tap.Message:
    """An answer in the shape dockerd reads for errors: ``{"Err": "ipamx-spy: ..."}``."""
    body = (go_json({"Err": f"ipamx-spy: {message}"}) + "\n").encode("utf-8")
    return answer(status, body, close=close)


def to_record_message(message: tap.Message) -> Message:
    """A tap message as it is stored in a recording."""
    return Message(
        method=message.method, target=message.target, status=message.status,
        reason=message.reason, http_version=message.http_version,
        headers=message.headers, body=encode_body(message.body),
    )


Redactor = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Session:
    """Numbers exchanges, writes records, tells the sinks. One per proxy run."""

    writer: RecordingWriter | None
    sinks: Sequence[Sink] = ()
    on_record_error: str = "continue"
    redact: Redactor | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    exchanges: list[Exchange] = field(default_factory=list)
    pending: dict[int, Pending] = field(default_factory=dict)
    backlog: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    _next_seq: int = 1
    _next_conn: int = 1
    _warned: set[int] = field(default_factory=set)
    _last_records: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on_record_error not in {"continue", "refuse"}:
            raise ValueError("on_record_error must be 'continue' or 'refuse'")
        self.started = self.clock()

    @property
    def path(self) -> Path | None:
        return None if self.writer is None else self.writer.path

    def now(self) -> float:
        return self.clock() - self.started

    @property
    def refusing(self) -> bool:
        """True when the recording is failing and the policy is to refuse traffic."""
        return self.on_record_error == "refuse" and bool(self.backlog)

    # -- connections --------------------------------------------------------------------

    def open(self, peer: str = "docker") -> int:
        conn = self._next_conn
        self._next_conn += 1
        self._emit({"type": "open", "conn": conn, "t": round(self.now(), 6), "peer": peer})
        return conn

    def close(self, conn: int, reason: str) -> None:
        unanswered = [p.seq for p in self.pending.values() if p.conn == conn]
        record: dict[str, Any] = {"type": "close", "conn": conn, "t": round(self.now(), 6),
                                  "reason": reason}
        if unanswered:
            record["unanswered"] = unanswered
        self._emit(record)

    def marker(self, text: str) -> dict[str, Any]:
        last = self.exchanges[-1].seq if self.exchanges else 0
        record = {"type": "marker", "t": round(self.now(), 6), "text": text, "after_seq": last}
        self._emit(record)
        return record

    def fault(self, conn: int, fault: Fault, data: bytes) -> None:
        """A docker-side message that could not be parsed into a request."""
        self._emit({"type": "fault", "conn": conn, "t": round(self.now(), 6),
                    **fault.to_json(), "data": encode_body(data[:4096])})

    # -- exchanges ----------------------------------------------------------------------

    def begin(self, conn: int, target: str) -> Pending:
        seq = self._next_seq
        self._next_seq += 1
        started = self.clock()
        pending = Pending(seq=seq, conn=conn, endpoint=catalogue.endpoint_name(target),
                          started=started, t=started - self.started)
        self.pending[seq] = pending
        return pending

    def complete(
        self,
        pending: Pending,
        request: tap.Message,
        response: tap.Message | None,
        *,
        upstream_ms: float | None,
        fault: Fault | None = None,
        answered_by: str = "plugin",
    ) -> Exchange:
        """Record a finished exchange. Call before writing the answer to the docker side, and
        ``publish`` after it (the live view never delays an answer)."""
        self.pending.pop(pending.seq, None)
        self._warned.discard(pending.seq)
        exchange = Exchange(
            seq=pending.seq, conn=pending.conn, t=pending.t, endpoint=pending.endpoint,
            request=to_record_message(request),
            response=None if response is None else to_record_message(response),
            duration_ms=(self.clock() - pending.started) * 1000,
            upstream_ms=upstream_ms, fault=fault, answered_by=answered_by,
        )
        if exchange.request.header(CLIENT_HEADER) is not None:
            # ipamx-spy's own client (status), not dockerd: kept apart from dockerd's calls.
            stored = self._emit({**exchange.to_json(), "type": "client"}, None, publish=False)
            self._last_records[exchange.seq] = stored
            return exchange
        self.exchanges.append(exchange)
        self._emit(exchange.to_json(), exchange, publish=False)
        return exchange

    def publish(self, exchange: Exchange) -> None:
        """Tell the sinks about an exchange; call after its answer went to the docker side."""
        stored = self._last_records.pop(exchange.seq)
        if stored.get("type") == "client":
            for sink in self.sinks:
                sink.on_record(stored, None)
            return
        if self.redact is not None:
            exchange = Exchange.from_json(stored)
        for sink in self.sinks:
            sink.on_record(stored, exchange)

    def tick(self) -> None:
        """Tell the sinks about requests that have waited a while (a hung plugin)."""
        now = self.clock()
        for pending in list(self.pending.values()):
            waited = now - pending.started
            if waited >= WAITING_AFTER_S and pending.seq not in self._warned:
                self._warned.add(pending.seq)
                for sink in self.sinks:
                    sink.on_waiting(pending.seq, pending.conn, pending.endpoint, waited)

    # -- records ------------------------------------------------------------------------

    def _emit(self, record: dict[str, Any], exchange: Exchange | None = None, *,
              publish: bool = True) -> dict[str, Any]:
        stored = self.redact(record) if self.redact is not None else record
        self._write(stored)
        if publish:
            for sink in self.sinks:
                sink.on_record(stored, exchange)
        elif exchange is not None:
            self._last_records[exchange.seq] = stored
        return stored

    def _write(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        self.backlog.append(record)
        try:
            while self.backlog:
                self.writer.write(self.backlog[0])
                self.backlog.pop(0)
        except OSError as exc:
            if len(self.backlog) > MAX_BACKLOG:
                self.dropped += len(self.backlog) - MAX_BACKLOG
                del self.backlog[: len(self.backlog) - MAX_BACKLOG]
            message = (f"cannot write the recording {self.writer.path}: {exc.strerror or exc}; "
                       f"{len(self.backlog)} record(s) held in memory"
                       + (", refusing traffic" if self.on_record_error == "refuse" else ""))
            for sink in self.sinks:
                sink.on_sink_error(message)
