"""Where the page's board comes from: a running proxy, or recordings on disk.

Theory of operation
-------------------
A source has a cheap ``version()`` (called in the event loop, often) and ``snapshot()``, which
returns a function that builds the ``Board`` for that version; the server runs that function in
a worker thread, so building (inference, validation, rendering) never blocks the server's loop.

``LiveBoard`` is fed the proxy session's records (in ``proxy --web``'s page process, from the
pipe of ``detached``): ``on_record`` only appends the record (already written to the recording
and redacted, after the answer went to dockerd) and wakes the server.
The builds are incremental, in record order: each new record feeds the validator, the
inference of sections (``infer.GrowingSections``: only the session's tail is inferred again),
the line of facts' failure counts (dockerd's verdict read once per exchange) and the notes and
connection events; rows already rendered are reused. So a build costs what is new, not the
whole session (a marker, rare live, makes the builds infer the whole session again, as the
sections after a marker are cut by it). The requests still waiting
for their answer are read from ``pending`` (the session's, as the pipe last told them) when a
snapshot is taken, in the event loop: they show as rows without an answer, and their waited
seconds are part of the
version, so a hung request's row counts up once a second until the answer replaces it.

``FileBoard`` reloads its recordings when one of them changes on disk (a recording that a
proxy is still writing grows in the page as it does in the file).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ipamx_spy import redact, render
from ipamx_spy.export.trace import CONNECTION_EVENTS, Trace, build_trace
from ipamx_spy.findings import Finding
from ipamx_spy.infer import GrowingSections, sections
from ipamx_spy.recording import Exchange, Recording, load
from ipamx_spy.records import RecordType

from .view import Board, Item, Memo, Waiting, board_of, board_of_merged, items

Rendered = tuple[Board, tuple[Item, ...]]
Build = Callable[[], Rendered]


class LiveBoard:
    """The board of the running session, fed by the proxy as one of its sinks."""

    def __init__(self, header: dict[str, Any], *, validate: bool = True,
                 slow_ms: float = 1000.0,
                 pending: Callable[[], Iterable[Any]] = tuple,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``pending`` gives the session's unanswered requests (``proxy.Pending``: seq, conn,
        endpoint, t, started on ``clock``)."""
        self.header = header
        self.pending = pending
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        self.wake: Callable[[], None] = lambda: None
        self._lock = threading.Lock()  # one build at a time: the validator is fed in order
        self._exchanges: list[Exchange] = []
        self._done: set[int] = set()  # requests that ended: answered, or their connection closed
        self._fed = 0
        self._sections = GrowingSections()
        self._marked = False  # a marker came: sections are cut at markers (whole inference)
        self._failed = self._logged = 0
        self._notes: dict[int, tuple[str, ...]] = {}
        self._note_records: list[dict[str, Any]] = []
        self._markers: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._validator: Any = None
        self._memo: Memo = {}
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
                     waited_s=max(0, int(now - p.started)))
             for p in self.pending() if p.seq not in self._done),
            key=lambda w: w.seq))

    def version(self) -> int:
        return hash((len(self.records), self.waiting()))

    def snapshot(self) -> Build:
        count = len(self.records)
        waiting = self.waiting()
        return lambda: self.build(count, waiting)

    def build(self, count: int, waiting: Sequence[Waiting] = ()) -> Rendered:
        """The board and items of the first ``count`` records and the ``waiting`` requests
        (runs in a worker thread).

        Only what is new is worked on (see the module's notes); rows already rendered are
        reused (the session is append-only: a row changes only when its findings or notes do,
        and those are part of the memo's key)."""
        with self._lock:
            records = self.records[:count]
            findings = self._feed(records)
            if self._marked:
                recording = Recording(header=self.header, records=tuple(records),
                                      exchanges=tuple(self._exchanges))
                found = tuple(sections(recording))
            else:
                found = tuple(self._sections.sections())
            trace = Trace(source=_live_source(self.header), header=self.header,
                          sections=found, notes=dict(self._notes), findings=tuple(findings),
                          markers=tuple(self._markers), note_records=tuple(self._note_records),
                          events=tuple(self._events))
            board = board_of([("", trace)], title=trace.source, waiting=waiting,
                             failures=(self._failed, self._logged))
            return board, tuple(items(board, memo=self._memo))

    def _feed(self, records: Sequence[dict[str, Any]]) -> list[Finding]:
        for record in records[self._fed:]:
            kind = record.get("type")
            if kind == RecordType.EXCHANGE:
                exchange = Exchange.from_json(record)
                self._exchanges.append(exchange)
                self._sections.add(exchange)
                if render.problem(exchange) is not None:  # the verdict, once (twice if failed)
                    self._failed += 1
                    self._logged += render.only_logged(exchange)
                if self._validator is not None:
                    self._validator.check(exchange)
            elif (kind == RecordType.CLOSE and record.get("unanswered")
                  and self._validator is not None):
                self._validator.on_close(int(record["conn"]), float(record["t"]),
                                         record["unanswered"])
            if kind == RecordType.MARKER:
                self._marked = True
                self._markers.append(record)
            elif kind == RecordType.NOTE:
                seq = int(record["seq"])
                self._notes[seq] = (*self._notes.get(seq, ()), record["text"])
                self._note_records.append(record)
            elif kind in CONNECTION_EVENTS:
                self._events.append(record)
        self._fed = max(self._fed, len(records))
        return [] if self._validator is None else list(self._validator.findings)


def _live_source(header: dict[str, Any]) -> str:
    return f"{header.get('name', 'ipamx')} on {header.get('listen', '?')}"


class FileBoard:
    """The board of recordings on disk, one host each, rebuilt when a file changes.

    Raises what ``recording.load`` raises (FileNotFoundError, RecordingError) from ``build``;
    the caller keeps the last good board when a reload fails.
    """

    def __init__(self, paths: Sequence[Path], *, rules: Sequence[redact.Rule] = (),
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
        """The board and items of the files as they are now (a file may have been rewritten:
        everything is rendered afresh)."""
        title = ", ".join(path.name for path in self.paths)
        loaded = [load(path) for path in self.paths]
        if len(loaded) == 1:
            trace = build_trace(loaded[0], rules=self.rules, validate=self.validate)
            board = board_of([("", trace)], title=title)
        else:  # several hosts: one timeline by the multihost merge, as show and export do
            from ipamx_spy.multihost.timeline import build_merged_trace

            merged = build_merged_trace(loaded, rules=self.rules, validate=self.validate)
            board = board_of_merged(merged, title=title)
        return board, tuple(items(board))
