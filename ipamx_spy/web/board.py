"""Where the page's board comes from: a running proxy, or recordings on disk.

Theory of operation
-------------------
A source has a cheap ``version()`` (called in the event loop, often) and ``snapshot()``, which
returns a function that builds the page for that version (a ``Rendered``: the board, the ids
of its items in page order and their HTML); the server runs that function in a worker thread,
so building never blocks the server's loop.

``LiveBoard`` is fed the proxy session's records (in ``proxy --web``'s page process, from the
pipe of ``detached``): ``on_record`` only appends the record (already written to the recording
and redacted, after the answer went to dockerd) and wakes the server. Each build works only on
what is new, in record order: each new record feeds the validator, the sections
(``infer.GrowingSections``: exactly what ``show`` and the exports infer, re-worked only from
the first place the new exchanges can change), dockerd's verdict (read once per exchange, for
the line of facts and its row) and the notes and connection events. Then only the items from
the first section that changed are laid out again (a row's HTML is kept: it is rendered
again only when the exchange is new or its findings or notes change), and the build says
how it differs from the last one (``keep``: the items before are as they were; ``changed``:
the ids whose HTML is new), so the server sends each page only that, and the page moves only
those elements. The requests still
waiting for their answer are read from ``pending`` (the session's, as the pipe last told
them) when a snapshot is taken, in the event loop: they show as rows without an answer after
the others, and their waited seconds are part of the version, so a hung request's row counts
up once a second until the answer replaces it.

``FileBoard`` reloads its recordings when one of them changes on disk (a recording that a
proxy is still writing grows in the page as it does in the file); the server finds what
changed itself.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipamx_spy import redact, render
from ipamx_spy.dockerd.ledger import AddressRoles
from ipamx_spy.export.trace import CONNECTION_EVENTS, Trace, build_trace
from ipamx_spy.findings import Finding
from ipamx_spy.infer import GrowingSections
from ipamx_spy.recording import (
    Exchange,
    Message,
    header_docker_version,
    load,
    with_address_role,
)
from ipamx_spy.records import RecordType

from .view import (
    Board,
    Waiting,
    board_of,
    board_of_merged,
    exchange_html,
    exchange_id,
    facts_text,
    items,
    meta_text,
    section_html,
    section_id,
    session_findings_html,
    waiting_html,
)


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """One build of the page: the board, its items' ids in page order and their HTML.

    A build that knows how it differs from the one before (``base``, its ``serial``) says
    so: the first ``keep`` ids of ``order`` are as they were, and ``changed`` holds every id
    whose HTML is new (an id that only moved is not in it). Without ``base`` the server finds
    the difference itself."""

    board: Board
    order: tuple[str, ...]
    html: Mapping[str, str]
    meta: str
    findings: str
    serial: int = 0
    base: int | None = None
    keep: int = 0
    changed: frozenset[str] = frozenset()

    @property
    def items(self) -> list[tuple[str, str]]:
        """(id, HTML) of every item, in page order."""
        return [(i, self.html[i]) for i in self.order]


def rendered_of(board: Board) -> Rendered:
    """A board rendered whole (recordings on disk)."""
    laid = items(board)
    return Rendered(board=board, order=tuple(i.id for i in laid),
                    html={i.id: i.html for i in laid}, meta=meta_text(board),
                    findings=session_findings_html(board))


Build = Callable[[], Rendered]


class LiveBoard:
    """The board of the running session, fed by the proxy as one of its sinks."""

    def __init__(self, header: dict[str, Any], *, validate: bool = True,
                 slow_ms: float = 1000.0,
                 pending: Callable[[], Iterable[Any]] = tuple,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``pending`` gives the session's unanswered requests (``proxy.Pending``: seq, conn,
        endpoint, t, started on ``clock``, and the request once built)."""
        self.header = header
        self.docker_version = header_docker_version(header)  # the daemon of the verdicts
        self.pending = pending
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self.wake: Callable[[], None] = lambda: None
        self._lock = threading.Lock()  # one build at a time: everything is fed in order
        self._done: set[int] = set()  # requests that ended: answered, or their connection closed
        self._fed = 0
        self._sections = GrowingSections()
        self._roles = AddressRoles()  # what each release gives back (its verdict's words)
        self._exchanges = 0
        self._readings: dict[int, render.Reading] = {}
        self._failed = self._logged = 0
        self._notes: dict[int, tuple[str, ...]] = {}
        self._note_records: list[dict[str, Any]] = []
        self._markers: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._findings: dict[int, tuple[Finding, ...]] = {}
        self._found = 0  # the validator's findings taken so far
        self._validator: Any = None
        # the page as last built: item ids in order, their HTML, where each section starts
        self._ids: list[str] = []
        self._html: dict[str, str] = {}
        self._starts: list[int] = []
        self._rows: dict[int, str] = {}  # exchange seq -> the id of its row
        self._by_seq: dict[int, Exchange] = {}
        self._waiting: tuple[str, ...] = ()
        self._serial = 0
        if validate:
            from ipamx_spy.validate import Validator

            self._validator = Validator(slow_ms=slow_ms)

    # -- the proxy's side (the event loop; must stay cheap) ---------------------------------

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        self.records.append(record)
        kind = record.get("type")
        if kind in (RecordType.EXCHANGE, RecordType.CLIENT):
            self._done.add(int(record.get("seq", 0)))
        elif kind == RecordType.CLOSE:
            self._done.update(int(seq) for seq in record.get("unanswered") or ())
        self.wake()

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        """A hung plugin: its row is already on the page (``waiting``); update it now."""
        self.wake()

    def on_sink_error(self, message: str) -> None:
        """The recording failing does not concern the page: the records still arrive."""

    # -- the server's side ----------------------------------------------------------------

    def waiting(self) -> tuple[Waiting, ...]:
        """The requests without an answer yet, oldest first (whole seconds waited); one
        whose record already came is left out (``pending`` may be a little behind)."""
        now = self.clock()
        return tuple(sorted(
            (Waiting(seq=p.seq, conn=p.conn, endpoint=p.endpoint, t=p.t,
                     waited_s=max(0, int(now - p.started)),
                     request=p.request if isinstance(p.request, Message) else None)
             for p in self.pending() if p.seq not in self._done),
            key=lambda w: w.seq))

    def version(self) -> int:
        return hash((len(self.records), tuple((w.seq, w.waited_s) for w in self.waiting())))

    def snapshot(self) -> Build:
        count = len(self.records)
        waiting = self.waiting()
        return lambda: self.build(count, waiting)

    def build(self, count: int, waiting: Sequence[Waiting] = ()) -> Rendered:
        """The page of the first ``count`` records and the ``waiting`` requests (runs in a
        worker thread), and how it differs from the last build (see the module's notes)."""
        with self._lock:
            touched = self._feed(self.records[:count] if count > self._fed else ())
            changed_from = self._sections.changed_from()
            found = tuple(self._sections.sections())
            findings = () if self._validator is None else tuple(self._validator.findings)
            trace = Trace(source=_live_source(self.header), header=self.header,
                          sections=found, notes=dict(self._notes), findings=findings,
                          markers=tuple(self._markers), note_records=tuple(self._note_records),
                          events=tuple(self._events))
            board = board_of([("", trace)], title=trace.source, waiting=waiting,
                             failures=(self._failed, self._logged))
            return self._lay_out(board, changed_from, touched)

    def _lay_out(self, board: Board, changed_from: int, touched: set[int]) -> Rendered:
        """Lay out the items from section ``changed_from`` on again, and the rows of
        ``touched`` exchanges (new findings or notes) wherever they are."""
        sections = board.hosts[0].trace.sections
        old_ids, old_waiting = self._ids, self._waiting
        start = self._starts[changed_from] if changed_from < len(self._starts) else len(old_ids)
        ids, html, starts = old_ids[:start], self._html, self._starts[:changed_from]
        changed: set[str] = set()
        for number, section in enumerate(sections[changed_from:], changed_from + 1):
            starts.append(len(ids))
            head = section_id(board, 0, number)
            ids.append(head)
            text = section_html(board, 0, number, section)
            if html.get(head) != text:
                html[head] = text
                changed.add(head)
            for exchange in section.exchanges:
                row = exchange_id(board, 0, exchange.seq)
                ids.append(row)
                if self._rows.get(exchange.seq) != row or exchange.seq in touched \
                        or row not in html or row in old_waiting:
                    touched.add(exchange.seq)
                    self._rows[exchange.seq] = row
        for seq in touched:
            place, shown = self._rows.get(seq), self._by_seq.get(seq)
            if place is None or shown is None:
                continue  # a note about an exchange not (yet) on the page
            text = exchange_html(board, 0, shown, self._readings[seq])
            if html.get(place) != text:
                html[place] = text
                changed.add(place)
        waiting = tuple(exchange_id(board, 0, w.seq) for w in board.waiting)
        for w, place in zip(board.waiting, waiting, strict=True):
            text = waiting_html(board, w)
            if html.get(place) != text:
                html[place] = text
                changed.add(place)
        keep = start
        old = old_ids + list(old_waiting)
        new = ids + list(waiting)
        while keep < min(len(old), len(new)) and old[keep] == new[keep]:
            keep += 1
        for gone in set(old[keep:]) - set(new[keep:]):
            html.pop(gone, None)
        self._ids, self._starts, self._waiting = ids, starts, waiting
        self._serial += 1
        meta = facts_text(board, exchanges=self._exchanges, failed=self._failed,
                          logged=self._logged, findings=sum(map(len, self._findings.values())),
                          notes=sum(map(len, self._notes.values())))
        return Rendered(board=board, order=tuple(new), html=dict(html), meta=meta,
                        findings=session_findings_html(board, self._findings.get(0, ())),
                        serial=self._serial, base=self._serial - 1, keep=keep,
                        changed=frozenset(changed))

    def _feed(self, records: Sequence[dict[str, Any]]) -> set[int]:
        """Take the records not fed yet; returns the exchanges whose rows must be rendered
        (again): new ones, and older ones with new findings or notes."""
        touched: set[int] = set()
        for record in records[self._fed:]:
            kind = record.get("type")
            if kind == RecordType.EXCHANGE:
                exchange = with_address_role(self._roles, Exchange.from_json(
                    record, docker_version=self.docker_version))
                self._by_seq[exchange.seq] = exchange
                self._exchanges += 1
                self._sections.add(exchange)
                reading = self._readings[exchange.seq] = render.read(exchange)  # once
                if reading.problem is not None:
                    self._failed += 1
                    self._logged += reading.only_logged
                touched.add(exchange.seq)
                if self._validator is not None:
                    self._validator.check(exchange)
            elif (kind == RecordType.CLOSE and record.get("unanswered")
                  and self._validator is not None):
                self._validator.on_close(int(record["conn"]), float(record["t"]),
                                         record["unanswered"])
            if kind == RecordType.MARKER:
                self._sections.add_marker(record)
                self._markers.append(record)
            elif kind == RecordType.NOTE:
                seq = int(record["seq"])
                self._notes[seq] = (*self._notes.get(seq, ()), record["text"])
                self._note_records.append(record)
                touched.add(seq)
            elif kind in CONNECTION_EVENTS:
                self._events.append(record)
        self._fed = max(self._fed, len(records))
        if self._validator is not None:
            new = self._validator.findings[self._found:]
            self._found += len(new)
            for finding in new:
                self._findings[finding.seq] = (*self._findings.get(finding.seq, ()), finding)
                touched.add(finding.seq)
        return touched


def _live_source(header: dict[str, Any]) -> str:
    return f"{header.get('name', 'ipamx')} on {header.get('listen', '?')}"


class FileBoard:
    """The board of recordings on disk, one host each, rebuilt when a file changes.

    Raises what ``recording.load`` raises (FileNotFoundError, RecordingError) from ``build``;
    the caller keeps the last good board when a reload fails.
    """

    def __init__(self, paths: Sequence[Path], *, rules: Sequence[redact.RedactionRule] = (),
                 validate: bool = True) -> None:
        self.paths = tuple(paths)
        self.rules = tuple(rules)
        self.validate = validate

    def version(self) -> int:
        stats = []
        for path in self.paths:
            try:
                status = os.stat(path)
            except OSError:
                stats.append((0, -1))
                continue
            stats.append((status.st_mtime_ns, status.st_size))
        return hash(tuple(stats))

    def snapshot(self) -> Build:
        return self.build

    def build(self) -> Rendered:
        """The page of the files as they are now (a file may have been rewritten: everything
        is rendered afresh)."""
        title = ", ".join(path.name for path in self.paths)
        loaded = [load(path) for path in self.paths]
        if len(loaded) == 1:
            trace = build_trace(loaded[0], rules=self.rules, validate=self.validate)
            board = board_of([("", trace)], title=title)
        else:  # several hosts: one timeline by the multihost merge, as show and export do
            from ipamx_spy.multihost.timeline import build_merged_trace

            merged = build_merged_trace(loaded, rules=self.rules, validate=self.validate)
            board = board_of_merged(merged, title=title)
        return rendered_of(board)
