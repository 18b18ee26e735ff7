"""The live view and the checking sink: session sinks that run in child processes.

Theory of operation
-------------------
The relay encodes each record once, writes the line to the recording and hands the same line
to the sinks; nothing here ever delays an answer. Two niced child processes take it from there:

* the **checking sink** (``DetachedChecker``) reads every line from a non-blocking pipe, runs
  the validator and reads dockerd's verdict on each answer; what it finds goes back to the
  proxy through a second pipe (read by the event loop, never on the relay's path): findings
  become ``finding`` records of the recording and the summary's count, failed answers the
  summary's error column. It is a sink of the session in its own right: a view that dies takes
  nothing of it along.
* the **live view** (``DetachedView``) draws. The checking sink forwards each line to it with
  the findings on that record, so panels show their findings inline; if the checking sink is
  gone, the proxy feeds the view itself.

Every pipe drops and counts when its reader lags; the recording has every record. The pipes
and the child processes are ``ipamx_spy.childproc``'s, shared with ``proxy --web``'s page.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from . import render
from .childproc import (
    PIPE_SIZE,
    Feed,
    detach_from_signals,
    encode_line,
    open_pipe,
    read_ahead,
    read_lines,
    start_child,
    stop_child,
)
from .dockerd.ledger import AddressRoles
from .filters import Filter, FilterContext
from .findings import Finding
from .infer import LiveSections
from .recording import (
    SCAN_JSON,
    Exchange,
    Message,
    RecordingError,
    attach_address_role,
    check_body,
    made,
)
from .recording_writer import encode_line as encode_record
from .records import FindingRecord, RecordType, SectionSource


class Checker(Protocol):
    def check(self, exchange: Exchange) -> list[Finding]: ...

    def on_close(self, conn: int, t: float, unanswered: Sequence[int] = (),
                 endpoint: str = "") -> list[Finding]: ...


class ViewMode(StrEnum):
    """How the live view draws: a block per exchange, one line each, the records as JSON, or
    nothing (``--compact``, ``--json``, ``--quiet``)."""

    FULL = "full"
    COMPACT = "compact"
    JSON = "json"
    QUIET = "quiet"


@dataclass
class LiveView:
    """Prints to ``console``: a block per exchange, one line (``compact``) or JSON (``json``).

    ``checker`` (the validator) adds its findings inline; ``filter`` (``--filter``) draws only
    the exchanges it matches (all are still checked and recorded). Errors of the recording sink
    and requests that wait too long are announced on ``diagnostics``.
    """

    console: Console
    diagnostics: Console
    mode: ViewMode = ViewMode.FULL
    view: render.View = field(default_factory=render.View)
    checker: Checker | None = None
    findings: list[Finding] = field(default_factory=list)
    on_finding: Callable[[Finding], None] | None = None
    filter: Filter | None = None
    marker: str = ""
    header: dict[str, Any] | None = None
    docker_version: str | None = None  # the session header's: the daemon of the verdicts
    sections: LiveSections = field(default_factory=LiveSections)

    def __post_init__(self) -> None:
        try:  # the word (``--compact`` and friends decide it) is taken too
            self.mode = ViewMode(self.mode)
        except ValueError:
            raise ValueError(f"unknown live view mode {self.mode!r}") from None

    def on_record(self, record: dict[str, Any], exchange: Exchange | None,
                  found: Sequence[Finding] | None = None) -> None:
        """Draw a record; ``found`` are its findings when the checking sink read them (else
        the view's own ``checker``, if any, is asked)."""
        kind = record.get("type")
        if found is None:
            found = self._check(exchange) if exchange is not None else []
        if kind == RecordType.CLOSE and self.checker is not None:
            closing = self.checker.on_close(int(record["conn"]), float(record["t"]),
                                            record.get("unanswered", ()))
            self.findings += closing
            found = [*found, *closing]
            if self.mode is not ViewMode.JSON:
                self.print_findings(closing)
        if self.mode is ViewMode.JSON:
            self._write_json(record, found)
        if self.mode in (ViewMode.JSON, ViewMode.QUIET):
            return
        if exchange is not None:
            heading = None if self.marker else self.sections.add(exchange)
            if self._shown(exchange, found):
                if heading is not None:
                    self.console.print(render.inferred_rule(heading.heading, heading.seqs[0],
                                                            exchange.seq))
                self._print_exchange(exchange, found)
        elif kind == RecordType.MARKER:
            self.marker = str(record["text"])
            self.console.print(render.marker_rule(self.marker))
        elif kind == RecordType.FAULT:
            self.console.print(Text(f"connection c{record['conn']}: {record['message']}",
                                    style="bold red"))

    def _write_json(self, record: dict[str, Any], found: Sequence[Finding]) -> None:
        """``--json`` of a view in the session's own process (a library's sink): what the
        view process writes, the record's line as the recording holds it, then a ``finding``
        record for each of its own checker's findings, as the session records the checking
        sink's (at the record's time)."""
        t = float(record.get("t", 0.0))
        self.write_line(encode_record(record))
        for finding in found:
            self.write_line(encode_record(FindingRecord(t=t, finding=finding).to_json()))
        self.console.file.flush()

    def write_line(self, line: bytes) -> None:
        """``--json``: one line of the recording as it was written, its header first (the
        view process flushes once per batch of lines, not once per line)."""
        head = ""
        if self.header is not None:
            head = encode_record(self.header).decode("utf-8", "replace")
            self.header = None
        self.console.file.write(head + line.decode("utf-8", "replace").rstrip("\n")
                                + "\n")

    def _shown(self, exchange: Exchange, found: Sequence[Finding]) -> bool:
        if self.filter is None:
            return True
        inferred = self.sections.current
        if self.marker or inferred is None:
            context = FilterContext(section_title=self.marker, section_source=SectionSource.MARKER
                                    if self.marker else None, findings=tuple(found))
        else:
            context = FilterContext(section_title=inferred.title, section_source=inferred.source,
                              findings=tuple(found))
        return self.filter(exchange, context)

    def _check(self, exchange: Exchange) -> list[Finding]:
        if self.checker is None:
            return []
        found = self.checker.check(exchange)
        self.findings += found
        return found

    def print_findings(self, found: Sequence[Finding]) -> None:
        if self.mode in (ViewMode.JSON, ViewMode.QUIET):
            return
        for finding in found:
            self.console.print(Text(f"{finding.code} {finding.severity}: {finding.message}",
                                    style=render.SEVERITY_STYLE[finding.severity]))

    def _print_exchange(self, exchange: Exchange, found: Sequence[Finding]) -> None:
        if self.mode is ViewMode.COMPACT:
            self.console.print(render.compact_block(exchange, found))
        else:
            self.console.print(render.exchange_panel(exchange, view=self.view, findings=found))

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self.diagnostics.print(Text(
            f"#{seq} c{conn} {endpoint}: still waiting for the plugin after {waited_s:.0f} s "
            "(dockerd has no timeout for plugin calls: the docker command hangs meanwhile)",
            style="bold yellow"))

    def on_sink_error(self, message: str) -> None:
        self.diagnostics.print(Text(f"ipamx-spy: {message}", style="bold red"))


@dataclass(frozen=True)
class Diagnostics:
    """A quiet run's sink: the view's diagnostics (requests waiting, a failing recording),
    nothing of the records (a quiet view without a checker draws none of them), so the
    session hands it lines it ignores instead of records it would have to build."""

    view: LiveView

    def on_line(self, line: bytes) -> None:
        """Nothing to draw."""

    def on_lines(self, lines: Sequence[bytes]) -> None:
        """Nothing to draw."""

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        """Nothing to draw (the session gives lines: see ``on_line``)."""

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self.view.on_waiting(seq, conn, endpoint, waited_s)

    def on_sink_error(self, message: str) -> None:
        self.view.on_sink_error(message)


BURST = 8  # more records than this waiting at once: draw them one line each
PANELS_PER_S = 20  # full panels drawn per second at most; compact lines beyond that
LINES_PER_S = 200  # compact lines per second at most; beyond that, a count of what was skipped
VIEW_NICE = 10
VIEW_NAME = b"ipamx-spy view"  # the processes' names (ps, top, /proc/PID/comm)
CHECKER_NAME = b"ipamx-spy check"


UNDRAWN = frozenset({RecordType.HEADER, RecordType.OPEN, RecordType.CLOSE, RecordType.FINDING,
                     RecordType.NOTE, RecordType.CLIENT})
"""Records the live view draws nothing for (a close only has findings, drawn as their own
lines; a view with a checker of its own decodes everything)."""
UNCHECKED = UNDRAWN - {RecordType.CLOSE}
"""Records the checking sink has nothing to check in (it checks exchanges and closes)."""
_TYPE_PREFIX = b'{"type":"'


def record_type_of(line: bytes) -> RecordType | None:
    """The type of a record line as the session encodes it (``type`` is its first key), read
    without decoding the line; None when the line does not start that way or names no known
    type (the caller then decodes it)."""
    if not line.startswith(_TYPE_PREFIX):
        return None
    return _RECORD_TYPES.get(line[len(_TYPE_PREFIX):line.find(b'"', len(_TYPE_PREFIX))])


_RECORD_TYPES = {kind.value.encode("ascii"): kind for kind in RecordType}


class DetachedView:
    """Runs a LiveView in a child process at lower priority.

    Lines come from the checking sink (with the findings of each record), or from the relay
    when no checking sink feeds it (``on_line``; ``on_record`` encodes for callers that have
    no line). When the pipe is full (the view lags, or ``--json`` goes to a pipe nobody reads)
    the line is dropped for the view and counted, never waited for: the recording has it. The
    child rate-limits drawing and writes ``--json`` lines itself. ``close()`` waits (bounded)
    for the child and returns the findings of its own checker, if it has one.
    """

    def __init__(self, view: LiveView, *, nice: int = VIEW_NICE) -> None:
        self._view = view
        self._nice = nice
        self._parent = os.getpid()
        self._read_end, self._write_end = open_pipe()
        self._results, self._results_in = os.pipe()
        self._process = start_child(self._child, "ipamx-spy live view")
        os.close(self._read_end)
        os.close(self._results_in)  # the child's copy is the only writer: EOF when it dies
        self.feed = Feed(self._write_end, self.gone)
        self._lost = False
        self.forwarded_dropped = 0  # lines the checking sink could not hand over

    @property
    def dropped(self) -> int:
        return self.feed.dropped + self.forwarded_dropped

    @property
    def reader(self) -> tuple[int, Callable[[], bool]]:
        """The results pipe and what to call when it is readable (the event loop's job).

        The child writes its results only once its input ends, which is ``close()``: while
        the session runs, a readable results pipe is its end, the child died. Said at once,
        whoever writes to the view (the relay or the checking sink)."""
        return self._results, self._watch

    def _watch(self) -> bool:
        if self.feed.closed and not self._lost:
            return False  # closing: the results are close()'s to read
        self.feed.close()
        self.gone()
        return False

    # -- the child ----------------------------------------------------------------------

    def _child(self) -> None:
        detach_from_signals(self._parent, VIEW_NAME)
        os.close(self._write_end)
        os.close(self._results)
        with contextlib.suppress(OSError):
            os.nice(self._nice)
        drawer = _Drawer(self._view)
        for lines in read_lines(self._read_end):
            drawer.batch(lines)
        drawer.flush()
        data = json.dumps([f.to_json() for f in self._view.findings]).encode()
        with contextlib.suppress(OSError):
            os.write(self._results_in, data)

    # -- the relay's side ---------------------------------------------------------------

    def gone(self) -> None:
        """The view process is gone: said once; the recording goes on."""
        if not self._lost:
            self._lost = True
            self._view.diagnostics.print(Text(
                "ipamx-spy: the live view process is gone; recording goes on", style="bold red"))

    def on_line(self, line: bytes) -> None:
        self.feed.put(b"R" + line)

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        try:
            line = encode_line(record)
        except (ValueError, RecursionError):
            self.feed.dropped += 1
            return
        self.feed.put(b"R" + line)

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self.feed.put(b"W" + encode_line({"args": [seq, conn, endpoint, waited_s]}))

    def on_sink_error(self, message: str) -> None:
        self.feed.put(b"E" + encode_line({"message": message}))

    def close(self, timeout: float = 10.0) -> list[Finding]:
        """Let the view draw what is left (bounded) and return its own checker's findings.

        A line the pipe took only part of is left unfinished (the child ignores it)."""
        self.feed.close()
        findings = []
        ready, _, _ = select.select([self._results], [], [], timeout)
        if ready:
            data = b""
            with contextlib.suppress(OSError):
                while chunk := os.read(self._results, PIPE_SIZE):
                    data += chunk
            with contextlib.suppress(ValueError):
                findings = [Finding(**f) for f in json.loads(data)]
        os.close(self._results)
        stop_child(self._process)
        if self.dropped:
            self._view.diagnostics.print(Text(
                f"ipamx-spy: the live view lagged and skipped {self.dropped} record(s); the "
                "recording has all of them", style="yellow"))
        return findings


Verdict = Callable[[Exchange], bool]


_PLAIN_SHAPES: dict[int, Any] = {}


def verdict_shapes(version: Any) -> Any:
    """The plain answers' shapes (``validate.plain.Shapes``) of ``version``'s major."""
    shapes = _PLAIN_SHAPES.get(version.major)
    if shapes is None:
        from .validate.plain import Shapes

        shapes = _PLAIN_SHAPES[version.major] = Shapes(version.major)
    return shapes


@functools.cache
def _verdict_readers() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``read_answer`` and ``plain``, imported on first use (the view's process never needs
    them), once: an import statement costs about 4 µs each time it runs."""
    from .dockerd.verdict import read_answer
    from .validate.plain import plain

    return read_answer, plain


def dockerd_fails(exchange: Exchange) -> bool:
    """Whether dockerd reads this answer as a failure (the summary's error column).

    A plain answer (the validator's fast lane, ``validate/plain.py``: a ``200`` whose JSON
    holds exactly the Go fields of the answer, of their types, required ones filled, the
    error empty, a CIDR that parses) is one dockerd takes, by construction: it is not decoded
    again (``tests/test_live.py`` checks this against the verdict on every recording). The
    rest goes to dockerd's verdict."""
    read_answer, plain = _verdict_readers()
    response = exchange.response
    if response is None:
        return False  # counted by the session already
    version = render.docker_version(exchange)  # the session header's daemon
    if plain(exchange, verdict_shapes(version), math.inf) is not None:
        return False
    try:
        return read_answer(exchange.endpoint, response.status, None,
                           response.raw_body, version).error is not None
    except Exception:
        return True


_INT = r"(-?(?:0|[1-9][0-9]*))"
_NUMBER = r"(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
_STR = r'"([^"\\\x00-\x1f]*)"'  # a JSON string without escapes: its text is its value
_SESSION_LINE = re.compile(
    r'\{"type":"exchange","seq":' + _INT + r',"conn":' + _INT + r',"t":' + _NUMBER
    + r',"endpoint":' + _STR + r',"duration_ms":' + _NUMBER + r',"upstream_ms":(?:null|'
    + _NUMBER + r'),"answered_by":' + _STR + r',"request":')
"""The start of an exchange line as the session writes it (``proxy._EXCHANGE_LINE``, and
``encode_line`` of ``Exchange.to_json``: the same keys in the same order)."""
_ANSWER_AT = ',"response":{"status":'
_BODY_KEY = ',"body":'
_LINE_END = '},"fault":null}'
REQUESTS_KEPT = 256


@dataclass
class LineParts:
    """What ``exchange_parts`` keeps from line to line (bounded: each emptied when full): the
    requests by their JSON text, and the answers' heads (status, reason, version, headers,
    an empty body) by theirs."""

    requests: dict[str, Message] = field(default_factory=dict)
    heads: dict[str, Message] = field(default_factory=dict)


def _kept(kept: dict[str, Message], text: str) -> Message | None:
    """The message of ``text`` (one whole stored message, or an answer's head closed by
    ``}``), read once; None when it is not one."""
    message = kept.get(text)
    if message is None:
        try:
            message = Message.from_json(json.loads(text), maybe_deep=False)
        except (ValueError, RecordingError):
            return None
        if len(kept) >= REQUESTS_KEPT:
            kept.clear()
        kept[text] = message
    return message


def _json_number(text: str) -> int | float:
    """A JSON number's value as ``json.loads`` gives it."""
    return float(text) if "." in text or "e" in text or "E" in text else int(text)


EMPTY_BODY = {"encoding": "empty"}


def exchange_parts(line: bytes, kept: LineParts) -> tuple[dict[str, Any], Message | None,
                                                          Message | None]:
    """An exchange line's record without its messages, and the request's and the answer's
    ``Message``: the record's fields read by a pattern of the session's layout, the request
    read once for every line that holds the same request text (dockerd repeats its requests
    byte for byte, and the session writes a request's part the same each time), the answer's
    head once for every answer that repeats it (a plugin repeats its headers but for the date,
    once a second), and only its body decoded. A line laid out otherwise (another writer, an
    escape in the endpoint, no answer, a fault) is decoded whole, with None for both.

    Exact (``tests/test_live.py`` holds it to ``json.loads`` of the line): the pattern reads
    the top-level keys up to the request's; the request's text runs to the first
    ``,"response":{"status":`` after it, and is taken only when it is one whole JSON value (a
    cut inside the request leaves its object open, so it never decodes, nor equals a kept
    one), so what follows is the record's own answer; the answer's head (status, reason,
    version, headers: strings in lists) holds no object, so the first ``,"body":`` after it is
    the answer's own (a string cannot hold a bare ``"``; one inside a list leaves the head
    undecodable); the body is one JSON value read where it starts, and the line must end right
    after it, as the session ends it."""
    try:
        text = line.decode("utf-8", "surrogatepass")  # as json.loads decodes the line
    except UnicodeDecodeError:
        return json.loads(line), None, None
    fields = _SESSION_LINE.match(text)
    if fields is None:
        return json.loads(text), None, None
    at = fields.end()
    cut = text.find(_ANSWER_AT, at)
    request = _kept(kept.requests, text[at:cut]) if cut >= 0 else None
    if request is None:
        return json.loads(text), None, None
    opened = cut + len(_ANSWER_AT) - len('{"status":')
    body_at = text.find(_BODY_KEY, opened)
    head = _kept(kept.heads, text[opened:body_at] + "}") \
        if body_at >= 0 and text.find("{", opened + 1, body_at) < 0 else None
    if head is None or head.body != EMPTY_BODY:
        return json.loads(text), None, None
    try:
        body, end = SCAN_JSON(text, body_at + len(_BODY_KEY))
    except (StopIteration, ValueError):
        return json.loads(text), None, None
    if not text.endswith(_LINE_END, end) or len(text) != end + len(_LINE_END):
        return json.loads(text), None, None
    seq, conn, t, endpoint, duration_ms, upstream_ms, answered_by = fields.groups()
    record = {"type": RecordType.EXCHANGE.value, "seq": int(seq), "conn": int(conn),
              "t": _json_number(t), "endpoint": endpoint,
              "duration_ms": _json_number(duration_ms),
              "upstream_ms": None if upstream_ms is None else _json_number(upstream_ms),
              "answered_by": answered_by, "response": None, "fault": None}
    try:
        stored = check_body(body, maybe_deep=False)
    except RecordingError:
        return json.loads(text), None, None
    return record, request, made(Message, method=head.method, target=head.target,
                                 status=head.status, reason=head.reason,
                                 http_version=head.http_version, headers=head.headers,
                                 body=stored)


class LineChecker:
    """The checking sink's work on its lines, sans-IO (``DetachedChecker``'s child runs it):
    ``check_line`` takes one line of the sink's pipe, writes what the proxy is to hear of it
    (``finding``, ``failed``, ``error`` lines) to ``out`` and adds what the view is to get of
    it to ``forward``. ``bench/checking_sink.py`` measures it."""

    def __init__(self, checker: Checker | None, *, verdict: Verdict = dockerd_fails,
                 docker_version: str | None = None) -> None:
        self._checker = checker
        self._docker_version = docker_version  # the session header's
        self._parts = LineParts()  # what exchange_parts keeps from line to line
        self._same_shape: dict[str, bool] = {}  # endpoint: the validator's shape is the verdict's
        self._verdict = verdict

    def check_line(self, line: bytes, out: Any, forward: list[bytes] | None) -> None:
        """Check one line; what the view is to get of it is added to ``forward``."""
        found: list[Finding] = []
        if line[:1] == b"R" and (kind := record_type_of(line[1:])) not in UNCHECKED:
            try:
                record, request, answer = exchange_parts(line[1:], self._parts) \
                    if kind is RecordType.EXCHANGE else (json.loads(line[1:]), None, None)
                found = self._check_record(record, out, request, answer)
            except Exception as exc:  # a record the checker cannot read is reported, not fatal
                out.write(encode_line({"error": f"cannot check a record: {exc!r}"}))
        if forward is None:
            return
        if not found:
            forward.append(line + b"\n")
        elif line[:1] == b"R" and found[0].seq:
            findings = json.dumps([f.to_json() for f in found], ensure_ascii=False)
            forward.append(b"Q" + findings.encode("utf-8", "surrogatepass") + b"\x1f"
                           + line[1:] + b"\n")
        else:  # findings on a close: the record, then its findings as lines of their own
            forward.append(line + b"\n")
            forward.append(b"F" + encode_line({"findings": [f.to_json() for f in found]}))

    def _check_record(self, record: dict[str, Any], out: Any, request: Message | None = None,
                      answer: Message | None = None) -> list[Finding]:
        kind = record.get("type")
        found: list[Finding] = []
        if kind == RecordType.EXCHANGE:
            # The session's own line: its bodies were stored by encode_body, which keeps JSON
            # deeper than MAX_DEPTH as text, so the depth walk is skipped.
            exchange = Exchange.from_json(record, maybe_deep=False, request=request,
                                          answer=answer, docker_version=self._docker_version)
            if self._checker is not None:
                found = self._checker.check(exchange)
            if exchange.fault is None and not self._taken_plain(exchange) \
                    and self._verdict(exchange):
                out.write(encode_line({"failed": exchange.endpoint}))
        elif kind == RecordType.CLOSE and self._checker is not None:
            found = self._checker.on_close(int(record["conn"]), float(record["t"]),
                                           record.get("unanswered", ()))
        for finding in found:
            out.write(encode_line({"finding": finding.to_json()}))
        return found

    def _taken_plain(self, exchange: Exchange) -> bool:
        """Whether the validator just found the exchange plain (its fast lane) with the shape
        ``dockerd_fails`` reads it by: that is the verdict's own first test, at a lower slow
        limit, so dockerd takes the answer and the verdict is not asked (``plain`` runs once
        per exchange, not twice)."""
        checker = self._checker
        if self._verdict is not dockerd_fails or not getattr(checker, "last_plain", False):
            return False
        same = self._same_shape.get(exchange.endpoint)
        if same is None:
            shapes = getattr(checker, "shapes", None)
            mine = verdict_shapes(render.docker_version(exchange))
            same = shapes is not None and shapes[exchange.endpoint] == mine[exchange.endpoint]
            self._same_shape[exchange.endpoint] = same
        return same


class DetachedChecker:
    """The checking sink: validator and verdicts in a niced child process (module docstring).

    ``checker`` is the validator (None with ``--no-validate``: verdicts only). ``view`` is the
    live view to forward lines to. Results reach ``on_finding`` and ``on_failed`` when the
    event loop sees them (``readers``), and all that is left when ``close`` is called.
    """

    def __init__(self, checker: Checker | None, *, on_finding: Callable[[Finding], None],
                 on_failed: Callable[[str], None], view: DetachedView | None = None,
                 verdict: Verdict = dockerd_fails, diagnostics: Console | None = None,
                 nice: int = VIEW_NICE, docker_version: str | None = None) -> None:
        self._lines = LineChecker(checker, verdict=verdict, docker_version=docker_version)
        self._view = view
        self._on_finding = on_finding
        self._on_failed = on_failed
        self._diagnostics = diagnostics
        self._nice = nice
        self._parent = os.getpid()
        self._read_end, self._write_end = open_pipe()
        self._results, self._results_in = os.pipe()
        self._process = start_child(self._child, "ipamx-spy checker")
        os.close(self._read_end)
        os.close(self._results_in)  # EOF on the results once the child is gone
        os.set_blocking(self._results, False)
        self.feed = Feed(self._write_end, self._gone)
        self._partial = b""
        self._lost = False
        self._view_dropped = 0
        self.results_open = True

    @property
    def dropped(self) -> int:
        return self.feed.dropped

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    # -- the child ----------------------------------------------------------------------

    def _child(self) -> None:
        detach_from_signals(self._parent, CHECKER_NAME)
        os.close(self._write_end)
        os.close(self._results)
        with contextlib.suppress(OSError):
            os.nice(self._nice)
        out = os.fdopen(self._results_in, "wb", buffering=PIPE_SIZE)
        forward = None
        if self._view is not None:
            forward = Feed(self._view.feed.fd,
                            lambda: None if out.write(encode_line({"view_gone": True})) else None)
        for lines in read_ahead(self._read_end):
            forwarded: list[bytes] = []
            for line in lines:
                self._lines.check_line(line, out, forwarded if forward is not None else None)
            if forward is not None:
                forward.put_many(forwarded)  # one write per batch, not one per line
            out.flush()
        out.write(encode_line({"end": {"view_dropped": forward.dropped if forward else 0}}))
        out.close()

    # -- the relay's side ---------------------------------------------------------------

    def _gone(self) -> None:
        """The checking sink died: findings stop (said once); the view is fed directly."""
        if not self._lost:
            self._lost = True
            if self._diagnostics is not None:
                self._diagnostics.print(Text(
                    "ipamx-spy: the validator process is gone; recording goes on without "
                    "findings (ipamx-spy check reads them from the recording)", style="bold red"))

    def _fallback(self, line: bytes) -> None:
        if self._view is not None:
            self._view.feed.put(line)

    def _put(self, line: bytes) -> None:
        if self.feed.closed:
            self._fallback(line)
        else:
            self.feed.put(line)

    def on_line(self, line: bytes) -> None:
        self._put(b"R" + line)

    def on_lines(self, lines: Sequence[bytes]) -> None:
        """``on_line`` of each, in one write (the relay's lines of one turn of its loop)."""
        batch = [b"R" + line for line in lines]
        if self.feed.closed:
            for line in batch:
                self._fallback(line)
        else:
            self.feed.put_many(batch)

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        self._put(b"R" + encode_line(record))

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self._put(b"W" + encode_line({"args": [seq, conn, endpoint, waited_s]}))

    def on_sink_error(self, message: str) -> None:
        self._put(b"E" + encode_line({"message": message}))

    @property
    def readers(self) -> list[tuple[int, Callable[[], bool]]]:
        """The pipes the event loop watches, with what to call when one is readable: the
        results pipe, and the view's (which says when the view process dies)."""
        own = (self._results, self.drain)
        return [own] if self._view is None else [own, self._view.reader]

    def drain(self) -> bool:
        """Take every result waiting in the pipe (never blocks); False once it is at its end
        (the child is gone: stop watching it)."""
        self._take(self._read_results())
        return self.results_open

    def _read_results(self) -> list[bytes]:
        data = b""
        while self.results_open:
            try:
                chunk = os.read(self._results, PIPE_SIZE)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.results_open = False
                break
            data += chunk
        data, self._partial = self._partial + data, b""
        *lines, self._partial = data.split(b"\n")
        return lines

    def _take(self, lines: Sequence[bytes]) -> None:
        for line in lines:
            try:
                result = json.loads(line)
                if "finding" in result:
                    self._on_finding(Finding(**result["finding"]))
                elif "failed" in result:
                    self._on_failed(str(result["failed"]))
                elif "view_gone" in result and self._view is not None:
                    self._view.feed.close()
                    self._view.gone()
                elif "end" in result:
                    self._view_dropped = int(result["end"]["view_dropped"])
                elif "error" in result and self._diagnostics is not None:
                    self._diagnostics.print(Text(f"ipamx-spy: {result['error']}", style="red"))
            except Exception as exc:  # a result we cannot take is said, never fatal
                if self._diagnostics is not None:
                    self._diagnostics.print(Text(f"ipamx-spy: validator result unreadable: "
                                                 f"{exc!r}", style="red"))

    def close(self, timeout: float = 10.0) -> None:
        """Let the child check what is left (bounded), then take every result.

        Results are taken only once the child is done, so the records they make (``finding``)
        reach the view after everything the child forwarded: one writer into the view's pipe
        at a time."""
        self.feed.close()
        lines: list[bytes] = []
        deadline = time.monotonic() + timeout
        while self.results_open and time.monotonic() < deadline:
            select.select([self._results], [], [], max(0.0, deadline - time.monotonic()))
            lines += self._read_results()
        unfinished = self.results_open  # still checking its backlog when the time was up
        stop_child(self._process)
        os.close(self._results)
        self._take(lines)
        if self._view is not None:
            self._view.forwarded_dropped += self._view_dropped
        if self._diagnostics is None:
            return
        if self.dropped:
            self._diagnostics.print(Text(
                f"ipamx-spy: the validator lagged and skipped {self.dropped} record(s); "
                "`ipamx-spy check` on the recording reads all of them", style="yellow"))
        if unfinished:
            self._diagnostics.print(Text(
                f"ipamx-spy: the validator had not checked every record {timeout:g} s after "
                "the end and was stopped; `ipamx-spy check` on the recording reads all of "
                "them", style="yellow"))


class _Drawer:
    """The view process's side: decode lines, draw at a bounded rate (findings come with the
    lines; a view with its own checker validates what comes without)."""

    def __init__(self, view: LiveView, clock: Callable[[], float] = time.monotonic) -> None:
        self.view = view
        self.clock = clock
        self.window = clock()
        self.panels = 0
        self.lines = 0
        self.skipped = 0
        self.in_burst = False
        # What each release gives back, from the exchanges drawn (one the view dropped, a
        # gateway's RequestAddress say, leaves its release in a container's words).
        self.roles = AddressRoles()

    def batch(self, lines: Sequence[bytes]) -> None:
        burst = self.view.mode is ViewMode.FULL and len(lines) > BURST
        if burst and not self.in_burst:  # said once per burst, not for every batch of it
            self.view.diagnostics.print(Text(
                f"live view: {len(lines)} records arrived at once; one line each until the "
                "burst is over", style="dim"))
        self.in_burst = burst
        for line in lines:
            try:
                self._one(line, burst)
            except Exception as exc:  # a record the view cannot draw is skipped, not fatal
                self.view.diagnostics.print(Text(f"live view: cannot draw a record: {exc!r}",
                                                 style="red"))
        if self.view.mode is ViewMode.JSON:
            try:
                self.view.console.file.flush()  # the batch's lines in one write
            except Exception as exc:  # stdout gone: said, the recording has every line
                self.view.diagnostics.print(Text(f"live view: cannot write --json lines: "
                                                 f"{exc!r}", style="red"))

    def _one(self, line: bytes, burst: bool) -> None:
        """One line: ``R`` a record, ``Q`` findings and their record (from the checking
        sink), ``F`` findings of no exchange, ``W`` a request waiting, ``E`` a sink error."""
        if not line:
            return
        kind, data = line[:1], line[1:]
        found: list[Finding] | None = None
        if kind == b"Q":
            findings, _, data = data.partition(b"\x1f")
            found = [Finding(**f) for f in json.loads(findings)]
        if self.view.mode is ViewMode.JSON and kind in {b"R", b"Q"}:
            self.view.write_line(data)  # the recording's own line, not encoded again
            return
        mode = None
        if kind in {b"R", b"Q"} and self.view.checker is None:
            record_type = record_type_of(data)
            if record_type in UNDRAWN:
                return  # nothing to draw: not decoded at all
            if record_type is RecordType.EXCHANGE:
                mode = self._mode(burst, True)
                if mode is ViewMode.QUIET:
                    return  # over the drawing rate (counted for flush): not decoded either
        payload = json.loads(data)
        if kind == b"W":
            self.view.on_waiting(*payload["args"])
            return
        if kind == b"E":
            self.view.on_sink_error(str(payload["message"]))
            return
        if kind == b"F":
            self.view.print_findings([Finding(**f) for f in payload["findings"]])
            return
        is_exchange = payload.get("type") == RecordType.EXCHANGE
        exchange = attach_address_role(self.roles, Exchange.from_json(  # built here: no copy
            payload, docker_version=self.view.docker_version)) if is_exchange else None
        if mode is None:
            mode = self._mode(burst, exchange is not None)
        saved, self.view.mode = self.view.mode, mode
        try:
            self.view.on_record(payload, exchange, found)
        finally:
            self.view.mode = saved

    def _mode(self, burst: bool, is_exchange: bool) -> ViewMode:
        """The drawing mode for this record under the rate limit."""
        mode = self.view.mode
        if mode in (ViewMode.JSON, ViewMode.QUIET) or not is_exchange:
            return mode
        now = self.clock()
        if now - self.window >= 1.0:
            self.flush()
            self.window, self.panels, self.lines = now, 0, 0
        if mode is ViewMode.FULL and not burst and self.panels < PANELS_PER_S:
            self.panels += 1
            return ViewMode.FULL
        if self.lines < LINES_PER_S:
            self.lines += 1
            return ViewMode.COMPACT
        self.skipped += 1
        return ViewMode.QUIET

    def flush(self) -> None:
        if self.skipped:
            self.view.diagnostics.print(Text(
                f"live view: {self.skipped} exchange(s) not drawn (drawing rate limit); "
                "the recording has them", style="dim"))
            self.skipped = 0
