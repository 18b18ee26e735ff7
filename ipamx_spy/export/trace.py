"""The one input of every export format: a recording made ready to show.

``build_trace`` applies redaction, runs the validator (when it is installed), cuts the recording
into sections (``ipamx_spy.infer``) and keeps only the exchanges a ``Selection`` accepts. The
format functions then only lay out a ``Trace``; none of them reads a file or the clock.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ipamx_spy import infer, redact, render
from ipamx_spy.filters import EMPTY, Filter, FilterContext
from ipamx_spy.findings import Finding
from ipamx_spy.infer import Section
from ipamx_spy.recording import Exchange, Recording
from ipamx_spy.records import RecordType
from ipamx_spy.stats import Summary

CONNECTION_EVENTS = (RecordType.OPEN, RecordType.CLOSE, RecordType.FAULT)


class SelectionError(ValueError):
    """A ``--range`` that cannot be parsed; the message says what was expected."""


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which exchanges to keep: seq ranges, endpoint substrings, only failures, a filter.

    Every given criterion must hold; within ``ranges`` and ``endpoints`` any one entry is enough.
    ``filter`` is a ``--filter`` expression (``ipamx_spy.filters``), judged with the context of
    the exchange (its section and findings).
    """

    ranges: tuple[tuple[int, int | None], ...] = ()
    endpoints: tuple[str, ...] = ()
    errors: bool = False
    filter: Filter | None = None

    @property
    def active(self) -> bool:
        return bool(self.ranges or self.endpoints or self.errors or self.filter)

    def accepts(self, exchange: Exchange, context: FilterContext = EMPTY) -> bool:
        if self.filter is not None and not self.filter(exchange, context):
            return False
        if self.ranges and not any(
            low <= exchange.seq and (high is None or exchange.seq <= high)
            for low, high in self.ranges
        ):
            return False
        name = exchange.endpoint.lower()
        if self.endpoints and not any(e.lower() in name for e in self.endpoints):
            return False
        return not self.errors or render.problem(exchange) is not None


def parse_range(text: str) -> tuple[tuple[int, int | None], ...]:
    """``3-7``, ``5``, ``3-`` (to the end), ``-7`` (from the start), comma-separated.

    Raises SelectionError naming the part that is not a range.
    """
    ranges: list[tuple[int, int | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise SelectionError(f"--range {text!r}: an empty part (give N, N-M, N- or -M)")
        low, dash, high = part.partition("-")
        try:
            start = int(low) if low.strip() else 1
            end = (int(high) if high.strip() else None) if dash else start
        except ValueError:
            raise SelectionError(
                f"--range {text!r}: {part!r} is not N, N-M, N- or -M (exchange numbers)"
            ) from None
        if start < 1 or (end is not None and end < start):
            raise SelectionError(f"--range {text!r}: {part!r} is empty or starts below 1")
        ranges.append((start, end))
    return tuple(ranges)


@dataclass(frozen=True, kw_only=True)
class Options:
    """How to show what was selected (used by the formats that can show less)."""

    headers: bool = True
    bodies: bool = True
    compact: bool = False
    width: int = 100

    @property
    def view(self) -> render.View:
        return render.View(headers=self.headers, bodies=self.bodies)


@dataclass(frozen=True, kw_only=True)
class Trace:
    """A recording ready for export: sections of selected exchanges, notes and findings."""

    source: str
    header: Mapping[str, Any]
    sections: tuple[Section, ...]
    notes: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    markers: tuple[Mapping[str, Any], ...] = ()
    note_records: tuple[Mapping[str, Any], ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    redacted: tuple[str, ...] = ()
    options: Options = Options()
    hosts: tuple[str, ...] = ()  # a merged trace of several hosts: the lanes, in order
    lanes: Mapping[int, str] = field(default_factory=dict)  # exchange number -> host

    def host_of(self, seq: int) -> str | None:
        """The host an exchange of a merged trace was recorded on (None for one host)."""
        return self.lanes.get(seq)

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        return tuple(e for s in self.sections for e in s.exchanges)

    def findings_for(self, seq: int) -> tuple[Finding, ...]:
        """The findings about exchange ``seq``, in their order (an index built once: an export
        asks for every exchange, so a scan each time would be quadratic)."""
        return self._findings_by_seq.get(seq, ())

    @functools.cached_property
    def _findings_by_seq(self) -> Mapping[int, tuple[Finding, ...]]:
        index: dict[int, list[Finding]] = {}
        for finding in self.findings:
            index.setdefault(finding.seq, []).append(finding)
        return {seq: tuple(found) for seq, found in index.items()}

    def notes_for(self, seq: int) -> tuple[str, ...]:
        return tuple(self.notes.get(seq, ()))

    @property
    def started(self) -> _dt.datetime:
        """When the recording started (the header's ``started``; the epoch if unreadable)."""
        return header_started(self.header)

    def at(self, t: float) -> _dt.datetime:
        return self.started + _dt.timedelta(seconds=t)


def header_started(header: Mapping[str, Any]) -> _dt.datetime:
    """A header's ``started`` as a time (the epoch when it is missing or unreadable)."""
    text = str(header.get("started", ""))
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


class TraceView(Protocol):
    """What the formats that write as they go read: a ``Trace`` held whole, or a
    ``StreamedTrace`` that reads its file again for ``sections`` and ``events``."""

    @property
    def source(self) -> str: ...
    @property
    def header(self) -> Mapping[str, Any]: ...
    @property
    def options(self) -> Options: ...
    @property
    def hosts(self) -> tuple[str, ...]: ...
    @property
    def redacted(self) -> tuple[str, ...]: ...
    @property
    def markers(self) -> tuple[Mapping[str, Any], ...]: ...
    @property
    def note_records(self) -> tuple[Mapping[str, Any], ...]: ...
    @property
    def findings(self) -> tuple[Finding, ...]: ...
    @property
    def sections(self) -> Iterable[Section]: ...
    @property
    def events(self) -> Iterable[Mapping[str, Any]]: ...
    def findings_for(self, seq: int) -> tuple[Finding, ...]: ...
    def notes_for(self, seq: int) -> tuple[str, ...]: ...
    def host_of(self, seq: int) -> str | None: ...
    def at(self, t: float) -> _dt.datetime: ...


@dataclass
class Tally:
    """What a whole pass over a trace's sections showed: for a command's closing line, the
    Markdown intro and ``show --summary`` (per-endpoint aggregates, not the exchanges)."""

    exchanges: int = 0
    sections: int = 0
    summary: Summary = field(default_factory=Summary)

    def add(self, section: Section) -> None:
        self.sections += 1
        self.exchanges += len(section.exchanges)
        for exchange in section.exchanges:
            self.summary.add(exchange.endpoint, exchange.duration_ms,
                             render.problem(exchange) is not None)


def tally(trace: TraceView) -> Tally:
    """The tally of a trace's sections. A streamed trace keeps the tally of its last whole
    pass (``StreamedTrace.last_pass``): that one is used, so asking after a pass costs no
    pass of its own."""
    known = getattr(trace, "last_pass", None)
    if isinstance(known, Tally):
        return known
    counted = Tally()
    for section in trace.sections:
        counted.add(section)
    return counted


def check(recording: Recording) -> tuple[Finding, ...]:
    """The validator's findings, or none while ``ipamx_spy.validate`` is not installed."""
    try:
        module = importlib.import_module("ipamx_spy.validate")
    except ModuleNotFoundError as exc:
        if exc.name == "ipamx_spy.validate":
            return ()
        raise
    checker = getattr(module, "check_recording", None)
    return () if checker is None else tuple(checker(recording))


def _scrubbed(findings: Sequence[Finding], values: Sequence[str]) -> tuple[Finding, ...]:
    if not values:
        return tuple(findings)
    return tuple(Finding(code=f.code, severity=f.severity, seq=f.seq,
                         message=redact.scrub(f.message, values)) for f in findings)


SectionsOf = Callable[[Recording], Sequence[Section]]
FindingsOf = Callable[[Recording], Sequence[Finding]]


def _sections(
    original: Recording, shown: Recording, selection: Selection, removed: Sequence[str],
    findings: Sequence[Finding] = (),
    sections_of: SectionsOf = infer.sections,
) -> tuple[Section, ...]:
    """Sections inferred from the original, holding the redacted exchanges the selection keeps.

    Inference needs the real values (a redacted address can no longer be told to be the
    gateway); what it says, and marker texts, are scrubbed of every redacted value.
    """
    by_seq = {e.seq: e for e in shown.exchanges}
    found: dict[int, tuple[Finding, ...]] = {}
    for finding in findings:
        found[finding.seq] = (*found.get(finding.seq, ()), finding)
    kept = []
    for section in sections_of(original):
        inside = tuple(by_seq[e.seq] for e in section.exchanges if selection.accepts(
            by_seq[e.seq], FilterContext(section_title=section.title, section_source=section.source,
                                   findings=found.get(e.seq, ()))))
        if inside or not selection.active:
            kept.append(Section(title=redact.scrub(section.title, removed),
                                source=section.source, t=section.t, exchanges=inside,
                                detail=redact.scrub(section.detail, removed),
                                failed=section.failed))
    return tuple(kept)


def _texts(recording: Recording, kind: str, removed: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """Marker or note records, their text scrubbed of redacted values (people quote them)."""
    return tuple({**r, "text": redact.scrub(str(r.get("text", "")), removed)}
                 for r in recording.records if r.get("type") == kind)


def build_trace(
    recording: Recording,
    *,
    selection: Selection = Selection(),
    rules: Sequence[redact.RedactionRule] = (),
    options: Options = Options(),
    validate: bool = True,
    sections_of: SectionsOf = infer.sections,
    findings_of: FindingsOf = check,
    hosts: tuple[str, ...] = (),
    lanes: Mapping[int, str] | None = None,
) -> Trace:
    """Everything the formats need, from a loaded recording.

    The validator and the inference run on the original recording (they need the real values);
    any redacted value in what they say, and in notes and marker texts, is then replaced by the
    redaction marker. A merged trace of several hosts (``ipamx_spy.multihost``) passes its own
    ``sections_of`` and ``findings_of`` (per host, plus the cross-host rules) and its lanes.
    """
    shown, removed = redact.redact_recording(recording, rules)
    found = findings_of(recording) if validate or selection.filter is not None else ()
    findings = _scrubbed(found, removed) if validate else ()
    note_records = _texts(shown, RecordType.NOTE, removed)
    notes: dict[int, tuple[str, ...]] = {}
    for note in note_records:
        notes[int(note["seq"])] = (*notes.get(int(note["seq"]), ()), note["text"])
    return Trace(
        source=Path(recording.path).name if recording.path else "<recording>",
        header=shown.header,
        sections=_sections(recording, shown, selection, removed, found, sections_of),
        notes=notes,
        findings=findings,
        markers=_texts(shown, RecordType.MARKER, removed),
        note_records=note_records,
        events=tuple(r for r in shown.records if r.get("type") in CONNECTION_EVENTS),
        redacted=tuple(rule.text for rule in rules),
        options=options,
        hosts=hosts,
        lanes=dict(lanes or {}),
    )
