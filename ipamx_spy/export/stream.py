"""A recording made ready to show, read record by record: ``show`` and the exports that write as
they go never hold the whole file.

Theory of operation
-------------------
``open_trace`` reads each file once up front (``_Survey``): the validator is fed record by
record, and what every later pass needs is kept: the findings (indexed by exchange number),
notes and markers (few), the values redaction removes (to scrub them from text made of the
originals), the lines a reader skipped, the range of exchange numbers, and what inference
looks ahead for (``infer.LookaheadSurvey``: an entry per gateway and per address asked for by
value after a network's setup, so that sections read as the whole file's). What it returns,
a ``StreamedTrace``, then reads the file again for each pass a format makes: ``sections``
hands out each section as ``infer.stream_sections`` completes it, with only the exchanges the
selection keeps, redacted; ``events`` hands out the connection records. So memory is bounded
by the findings, notes, markers and redacted values, plus ``infer.SECTION_WINDOW`` calls, never
by the number of exchanges; time is linear in the file, one read per pass.

Several files (one per host) are merged by ``multihost`` into one ``Trace`` held whole.
"""

from __future__ import annotations

import datetime as _dt
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipamx_spy import infer, redact
from ipamx_spy.filters import Filter, FilterContext
from ipamx_spy.findings import Finding
from ipamx_spy.infer import Section
from ipamx_spy.recording import Damage, Exchange
from ipamx_spy.recording_reader import RecordingReader
from ipamx_spy.records import RecordType

from . import STREAM_FORMATS
from .har import iter_har
from .html import iter_html
from .markdown import iter_markdown
from .mermaid import iter_mermaid
from .records import iter_json
from .svg import iter_svg
from .trace import (
    CONNECTION_EVENTS,
    Options,
    Selection,
    SelectionError,
    Tally,
    Trace,
    TraceView,
    header_started,
    parse_range,
)


def _validator(header: Mapping[str, Any]) -> Any:
    """The validator for one recording (its header's Docker version), or None while
    ``ipamx_spy.validate`` is not installed (as ``trace.check``)."""
    try:
        module = importlib.import_module("ipamx_spy.validate")
    except ModuleNotFoundError as exc:
        if exc.name == "ipamx_spy.validate":
            return None
        raise
    return module.Validator(docker_version=header.get("docker_version"))


@dataclass
class _Survey:
    """The first pass over one file: everything later passes need that is not an exchange."""

    header: Mapping[str, Any]
    damage: tuple[Damage, ...] = ()
    findings: tuple[Finding, ...] = ()  # as the validator said them (the filter judges these)
    markers: tuple[Mapping[str, Any], ...] = ()  # as recorded (inference reads these)
    notes: tuple[Mapping[str, Any], ...] = ()
    removed: frozenset[str] = frozenset()
    released_alone: frozenset[int] = frozenset()  # what inference looks ahead for
    exchanges: int = 0
    lowest: int = 0
    highest: int = 0
    in_range: bool = False


def _survey(path: Path, rules: Sequence[redact.RedactionRule], selection: Selection,
            want_findings: bool) -> _Survey:
    with RecordingReader(path) as reader:
        validator = _validator(reader.header) if want_findings else None
        markers: list[Mapping[str, Any]] = []
        notes: list[Mapping[str, Any]] = []
        removed: set[str] = set()
        survey = _Survey(header=reader.header)
        lookahead = infer.LookaheadSurvey()
        for record, exchange in reader:
            if rules:
                removed.update(redact.redact_values(record, rules).values)
            kind = record.get("type")
            if kind == RecordType.MARKER:
                markers.append(record)
            elif kind == RecordType.NOTE:
                notes.append(record)
            if exchange is not None:
                _count(survey, exchange.seq, selection)
                lookahead.add(exchange)
            if validator is not None:
                validator.feed(record, exchange)
        survey.damage = tuple(reader.damage)
    survey.findings = tuple(validator.findings) if validator is not None else ()
    survey.markers, survey.notes, survey.removed = tuple(markers), tuple(notes), frozenset(removed)
    survey.released_alone = lookahead.released_alone(markers)
    return survey


def _count(survey: _Survey, seq: int, selection: Selection) -> None:
    survey.lowest = seq if not survey.exchanges else min(survey.lowest, seq)
    survey.highest = seq if not survey.exchanges else max(survey.highest, seq)
    survey.exchanges += 1
    survey.in_range = survey.in_range or any(
        low <= seq and (high is None or seq <= high) for low, high in selection.ranges)


def _by_seq(findings: Sequence[Finding]) -> dict[int, tuple[Finding, ...]]:
    """Findings indexed by exchange number, in their order: built once per trace, so asking
    for each exchange's findings costs nothing however many there are."""
    index: dict[int, list[Finding]] = {}
    for finding in findings:
        index.setdefault(finding.seq, []).append(finding)
    return {seq: tuple(found) for seq, found in index.items()}


def shown_originals(reader: RecordingReader, rules: Sequence[redact.RedactionRule],
                    shown: dict[int, Exchange], *, host: str | None = None) -> Iterator[Exchange]:
    """The exchanges of ``reader`` as recorded (inference reads those), each one's redacted view
    put in ``shown`` under the original's id; only ``host``'s in a merged file when given."""
    for record, exchange in reader:
        if exchange is None or (host is not None and record.get("host") != host):
            continue
        redacted = redact.redact_values(record, rules).record
        shown[id(exchange)] = exchange if redacted is record \
            else Exchange.from_json(redacted, docker_version=exchange.docker_version,
                                    address_role=exchange.address_role)
        yield exchange


class StreamedTrace:
    """One recording ready for export, read again from its file for each pass.

    ``sections`` and ``events`` are new iterators each time they are asked for (each a read
    of the file); everything else is held. ``last_pass`` is the ``Tally`` of the last pass
    over ``sections`` that went to the end."""

    def __init__(self, path: Path, survey: _Survey, *, selection: Selection,
                 rules: Sequence[redact.RedactionRule], options: Options, validate: bool) -> None:
        self.path = path
        self.source = path.name
        self.header = survey.header
        self.options = options
        self.hosts: tuple[str, ...] = ()
        self.redacted = tuple(rule.text for rule in rules)
        self.damage = survey.damage
        self._survey = survey
        self._selection = selection
        self._rules = tuple(rules)
        removed = survey.removed
        self._removed = removed
        self.findings: tuple[Finding, ...] = tuple(
            Finding(code=f.code, severity=f.severity, seq=f.seq,
                    message=redact.scrub(f.message, removed)) if removed else f
            for f in survey.findings) if validate else ()
        self._found = _by_seq(survey.findings)
        self._shown_findings = _by_seq(self.findings)
        self.markers = tuple({**m, "text": redact.scrub(str(m.get("text", "")), removed)}
                             for m in survey.markers)
        self.note_records = tuple({**n, "text": redact.scrub(str(n.get("text", "")), removed)}
                                  for n in survey.notes)
        notes: dict[int, list[str]] = {}
        for note in self.note_records:
            notes.setdefault(int(note["seq"]), []).append(note["text"])
        self._notes = {seq: tuple(texts) for seq, texts in notes.items()}
        self.last_pass: Tally | None = None

    def findings_for(self, seq: int) -> tuple[Finding, ...]:
        return self._shown_findings.get(seq, ())

    def notes_for(self, seq: int) -> tuple[str, ...]:
        return self._notes.get(seq, ())

    def host_of(self, seq: int) -> str | None:
        return None

    def at(self, t: float) -> _dt.datetime:
        """The wall-clock time of ``t`` seconds into the recording."""
        return header_started(self.header) + _dt.timedelta(seconds=t)

    @property
    def sections(self) -> Iterator[Section]:
        return self._sections()

    @property
    def events(self) -> Iterator[Mapping[str, Any]]:
        return self._events()

    def _sections(self) -> Iterator[Section]:
        counted = Tally()
        shown: dict[int, Exchange] = {}  # id of an original exchange -> what is shown of it
        selection, removed = self._selection, self._removed
        with RecordingReader(self.path) as reader:
            originals = shown_originals(reader, self._rules, shown)
            for section in infer.stream_sections(originals, self._survey.markers,
                                                 released_alone=self._survey.released_alone):
                context = FilterContext(section_title=section.title, section_source=section.source)
                inside = []
                for exchange in section.exchanges:
                    view = shown.pop(id(exchange))
                    if selection.accepts(view, FilterContext(
                            section_title=context.section_title,
                            section_source=context.section_source,
                            findings=self._found.get(exchange.seq, ()))):
                        inside.append(view)
                if not inside and selection.active:
                    continue
                kept = Section(title=redact.scrub(section.title, removed),
                               source=section.source, t=section.t, exchanges=tuple(inside),
                               detail=redact.scrub(section.detail, removed),
                               failed=section.failed)
                counted.add(kept)
                yield kept
        self.last_pass = counted

    def _events(self) -> Iterator[Mapping[str, Any]]:
        with RecordingReader(self.path) as reader:
            for record in reader.others():
                if record.get("type") in CONNECTION_EVENTS:
                    yield redact.redact_values(record, self._rules).record


def selection_of(ranges: str | None, endpoints: Sequence[str], errors: bool,
                 chosen: Filter | None) -> Selection:
    """The selection of the command-line options. Raises SelectionError for a bad range."""
    return Selection(ranges=parse_range(ranges) if ranges else (), endpoints=tuple(endpoints),
                     errors=errors, filter=chosen)


def _ignore(_damage: Damage) -> None:
    """No one to tell about a skipped line."""


def open_trace(paths: Sequence[Path], *, selection: Selection = Selection(),
               rules: Sequence[redact.RedactionRule] = (), options: Options = Options(),
               validate: bool = True,
               on_damage: Callable[[Damage], None] = _ignore) -> StreamedTrace | Trace:
    """The trace ``show`` and ``export`` lay out: one file streamed (``StreamedTrace``), or
    several files (one per host) merged into one ``Trace`` with a lane per host.

    ``on_damage`` hears of every line a reader skipped, file by file, before anything else
    can go wrong with the next file or the selection. Raises OSError or RecordingError for a
    file that cannot be read, SelectionError for a ``--range`` that names no exchange of a
    single recording."""
    if not paths:
        raise ValueError("open_trace needs at least one recording")
    if len(paths) > 1:
        from ipamx_spy.multihost.streamed import open_merged

        trace, merged = open_merged([Path(p) for p in paths], selection=selection, rules=rules,
                                    options=options, validate=validate)
        for damage in merged.damage:
            for item in damage:
                on_damage(item)
        return trace
    path = Path(paths[0])
    survey = _survey(path, rules, selection, validate or selection.filter is not None)
    for item in survey.damage:
        on_damage(item)
    if selection.ranges and not survey.in_range:
        known = (f"numbered {survey.lowest} to {survey.highest}" if survey.exchanges
                 else "none")
        raise SelectionError(f"--range selects no exchange of {path} (its exchanges: {known})")
    return StreamedTrace(path, survey, selection=selection, rules=rules, options=options,
                         validate=validate)


TEXT_STREAMS: dict[str, Callable[[TraceView], Iterator[str]]] = {
    "json": iter_json,
    "markdown": iter_markdown,
    "mermaid": iter_mermaid,
    "har": iter_har,
    "svg": iter_svg,
    "html": iter_html,
}
"""Every text format, each written as it goes (HTML and SVG spool their rows and write their
head, which counts them, first)."""


def export_pieces(name: str, trace: StreamedTrace | Trace) -> Iterator[str]:
    """A text format's output in pieces (``FORMATS``' text, joined), as it is made. Raises
    KeyError for an unknown format."""
    return TEXT_STREAMS[name](trace)


def export_chunks(name: str, trace: StreamedTrace | Trace) -> Iterator[bytes]:
    """A binary format's output (``STREAM_FORMATS``: mitm), a chunk (a flow) as each is
    made, from the sections as they are read."""
    return STREAM_FORMATS[name](trace)
