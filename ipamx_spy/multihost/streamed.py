"""Several hosts' recordings merged as they are read: ``show`` and ``export`` of a merged
timeline without holding the files.

Theory of operation
-------------------
``write_merged`` merges the files with ``heapq.merge`` over one reader per file (each put in
time order through a heap of ``slack`` records: a file holds each exchange when its answer
came, so it is out of order by no more than the calls in flight at once) and writes the records
``merge`` makes (renumbered, tagged with their host, notes last) to a temporary file, holding
only the exchange numbers that markers and notes point at. ``open_merged`` surveys that file
once (the validator per host, the cross-host rules, inference's look-ahead per host) and
returns a ``MergedStreamedTrace``: a ``StreamedTrace`` of the merged file whose sections are
each host's, inferred from that host's calls alone and merged by time, as ``lane_sections``
orders them. The same trace ``build_merged_trace`` builds, read a section at a time.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from ipamx_spy import infer, redact
from ipamx_spy.export.stream import StreamedTrace, _count, _Survey, _validator, shown_originals
from ipamx_spy.export.trace import Options, Selection, Tally
from ipamx_spy.filters import FilterContext
from ipamx_spy.findings import Finding
from ipamx_spy.infer import Section
from ipamx_spy.recording import Damage, Exchange, Recording
from ipamx_spy.recording_reader import RecordingReader
from ipamx_spy.records import RecordType

from .merge import EPOCH, _header, host_names, started_at, tagged_record
from .rules import CrossHost

Timed = tuple[float, int, int, dict[str, Any], Exchange | None]


def _timed(reader: RecordingReader, lane: int, start: float, slack: int) -> Iterator[Timed]:
    """(wall-clock seconds, lane, position, record, exchange) of one file in time order."""
    heap: list[Timed] = []
    for position, (record, exchange) in enumerate(reader):
        heapq.heappush(heap, (start + float(record.get("t", 0.0)), lane, position, record,
                              exchange))
        if len(heap) > slack:
            yield heapq.heappop(heap)
    while heap:
        yield heapq.heappop(heap)


def _pointed_at(path: Path) -> set[int]:
    """The exchange numbers a file's markers and notes name."""
    with RecordingReader(path) as reader:
        return {int(r.get("after_seq" if r.get("type") == RecordType.MARKER else "seq", 0) or 0)
                for r in reader.others()
                if r.get("type") in (RecordType.MARKER, RecordType.NOTE)}


@dataclass(frozen=True, kw_only=True)
class MergedFile:
    """What writing the merged file learnt: its hosts, their sources and the damage read."""

    hosts: tuple[str, ...]
    names: tuple[str, ...]
    damage: tuple[tuple[Damage, ...], ...]


def write_merged(paths: Sequence[Path], out: IO[str], *, slack: int = 1024) -> MergedFile:
    """``merge``'s recording of ``paths``, written to ``out`` as JSON Lines. Raises OSError or
    RecordingError for a file that cannot be read."""
    pointed = [_pointed_at(path) for path in paths]
    readers: list[RecordingReader] = []
    try:
        readers = [RecordingReader(path) for path in paths]
        shells = [Recording(header=r.header, records=(), path=Path(p))
                  for r, p in zip(readers, paths, strict=True)]
        hosts = host_names(shells)
        starts = [(started_at(r.header) - EPOCH).total_seconds() for r in readers]
        origin = min(starts)
        out.write(_line(_header(shells, hosts, origin)))
        streams = [_timed(r, lane, start, slack)
                   for lane, (r, start) in enumerate(zip(readers, starts, strict=True))]
        notes = _write_records(heapq.merge(*streams, key=lambda row: (row[0], row[1])),
                               hosts, origin, pointed, out)
        for note in notes:
            out.write(_line(note))
        return MergedFile(hosts=hosts, names=tuple(Path(p).name for p in paths),
                          damage=tuple(tuple(r.damage) for r in readers))
    finally:
        for reader in readers:
            reader.close()


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _write_records(rows: Iterator[Timed], hosts: tuple[str, ...], origin: float,
                   pointed: list[set[int]], out: IO[str]) -> list[dict[str, Any]]:
    """The records in merged order, as ``merge`` makes them; the notes, renumbered, are
    returned (they go last)."""
    renumber: dict[tuple[int, int], int] = {}
    seq = 0
    notes: list[tuple[int, dict[str, Any]]] = []
    for when, lane, _position, record, old in rows:
        kind = record.get("type")
        tagged = tagged_record(record, when - origin, hosts[lane], lane)
        if kind == RecordType.EXCHANGE:
            if old is None:
                continue
            seq += 1
            if old.seq in pointed[lane]:
                renumber[(lane, old.seq)] = seq
            exchange = replace(old, seq=seq, t=tagged["t"], conn=int(tagged["conn"]))
            out.write(_line({**exchange.to_json(), "host": hosts[lane]}))
        elif kind == RecordType.NOTE:
            notes.append((lane, tagged))
        elif kind == RecordType.MARKER:
            old_after = int(record.get("after_seq", 0) or 0)
            after = renumber.get((lane, old_after), seq) if old_after else 0
            out.write(_line({**tagged, "after_seq": after, "text": record.get("text", "")}))
        else:
            out.write(_line(tagged))
    return [{**note, "seq": renumber[(lane, int(note.get("seq", 0)))]}
            for lane, note in notes if (lane, int(note.get("seq", 0))) in renumber]


@dataclass
class _HostSurvey:
    """What the survey keeps of one host: its markers and inference's look-ahead."""

    markers: list[Mapping[str, Any]]
    lookahead: infer.LookaheadSurvey
    released_alone: frozenset[int] = frozenset()


def _lane_header(header: Mapping[str, Any], host: str) -> dict[str, Any]:
    """The header ``lane_recording`` gives one host."""
    lane = {**header, "host": host}
    for part in header.get("merged", []):
        if part.get("host") == host:
            lane.update({k: v for k, v in part.items() if v is not None})
    return lane


def _survey_merged(path: Path, hosts: tuple[str, ...], rules: Sequence[redact.RedactionRule],
                   selection: Selection,
                   want_findings: bool) -> tuple[_Survey, dict[str, _HostSurvey]]:
    """``_survey`` of the merged file, with the validator per host and the cross-host rules
    (``merged_findings``) and each host's markers and look-ahead."""
    per_host = {h: _HostSurvey(markers=[], lookahead=infer.LookaheadSurvey()) for h in hosts}
    with RecordingReader(path) as reader:
        survey = _Survey(header=reader.header)
        validators = {h: _validator(_lane_header(reader.header, h)) if want_findings else None
                      for h in hosts}
        walk = CrossHost()
        cross: list[Finding] = []
        markers: list[Mapping[str, Any]] = []
        notes: list[Mapping[str, Any]] = []
        removed: set[str] = set()
        for record, exchange in reader:
            host = str(record.get("host", ""))
            if rules:
                removed.update(redact.redact_values(record, rules).values)
            kind = record.get("type")
            if kind == RecordType.MARKER:
                markers.append(record)
                per_host[host].markers.append(record)
            elif kind == RecordType.NOTE:
                notes.append(record)
            if exchange is not None:
                _count(survey, exchange.seq, selection)
                per_host[host].lookahead.add(exchange)
                if want_findings:
                    cross.extend(walk.observe(host, exchange))
            validator = validators.get(host)
            if validator is not None:
                validator.feed(record, exchange)
    found: list[Finding] = []
    for host, validator in validators.items():
        for finding in validator.findings if validator is not None else ():
            where = f"{host}: " if finding.seq == 0 else ""
            found.append(replace(finding, message=where + finding.message))
    survey.findings = tuple(sorted(found + cross, key=lambda f: f.seq))
    survey.markers, survey.notes, survey.removed = tuple(markers), tuple(notes), frozenset(removed)
    for part in per_host.values():
        part.released_alone = part.lookahead.released_alone(part.markers)
    return survey, per_host


def _order(section: Section) -> tuple[float, int]:
    """``lane_sections``' order: by time, then by the first exchange's number."""
    return (section.t, section.exchanges[0].seq if section.exchanges else 0)


class MergedStreamedTrace(StreamedTrace):
    """A merged timeline read again from its merged file for each pass; each section is one
    host's (``host_of`` answers for the exchanges of the sections in hand)."""

    def __init__(self, path: Path, survey: _Survey, per_host: dict[str, _HostSurvey], *,
                 merged: MergedFile, selection: Selection,
                 rules: Sequence[redact.RedactionRule], options: Options,
                 validate: bool) -> None:
        super().__init__(path, survey, selection=selection, rules=rules, options=options,
                         validate=validate)
        self.source = " + ".join(merged.names)
        self.hosts = merged.hosts
        self._per_host = per_host
        self._lanes: dict[int, str] = {}  # the host of the exchanges handed out lately
        self._recent = (0, 0)  # the sizes of the last two sections handed out

    LANES_KEPT = 8192
    """How many exchanges' hosts ``host_of`` knows beyond the last two sections' (a format
    may ask of an exchange while it holds it back, as mitm does until its events come)."""

    def host_of(self, seq: int) -> str | None:
        return self._lanes.get(seq)

    def _handed_out(self, host: str, section: Section) -> None:
        for exchange in section.exchanges:
            self._lanes.pop(exchange.seq, None)
            self._lanes[exchange.seq] = host
        self._recent = (self._recent[1], len(section.exchanges))
        while len(self._lanes) > self.LANES_KEPT + sum(self._recent):
            del self._lanes[next(iter(self._lanes))]

    def _raw_sections(self, host: str,
                      shown: dict[int, Exchange]) -> Iterator[tuple[str, Section]]:
        """One host's sections, titled with the host, from a reader of its own."""
        part = self._per_host[host]
        with RecordingReader(self.path) as reader:
            originals = shown_originals(reader, self._rules, shown, host=host)
            for section in infer.stream_sections(originals, part.markers,
                                                 released_alone=part.released_alone):
                yield host, replace(section, title=f"{host}: {section.title}")

    def _sections(self) -> Iterator[Section]:
        counted = Tally()
        shown: dict[int, Exchange] = {}
        merged = heapq.merge(*(self._raw_sections(h, shown) for h in self.hosts),
                             key=lambda row: _order(row[1]))
        for host, section in merged:
            kept = self._kept(section, shown)
            if kept is None:
                continue
            self._handed_out(host, kept)
            counted.add(kept)
            yield kept
        self.last_pass = counted

    def _kept(self, section: Section, shown: dict[int, Exchange]) -> Section | None:
        """The section as the selection and the redaction leave it (None: nothing left)."""
        selection, removed = self._selection, self._removed
        inside = []
        for exchange in section.exchanges:
            view = shown.pop(id(exchange))
            if selection.accepts(view, FilterContext(
                    section_title=section.title, section_source=section.source,
                    findings=self._found.get(exchange.seq, ()))):
                inside.append(view)
        if not inside and selection.active:
            return None
        return Section(title=redact.scrub(section.title, removed), source=section.source,
                       t=section.t, exchanges=tuple(inside),
                       detail=redact.scrub(section.detail, removed), failed=section.failed)


def open_merged(paths: Sequence[Path], *, selection: Selection = Selection(),
                rules: Sequence[redact.RedactionRule] = (), options: Options = Options(),
                validate: bool = True) -> tuple[MergedStreamedTrace, MergedFile]:
    """The merged timeline of ``paths``, streamed (the merged file is removed with the
    trace). Raises OSError or RecordingError for a file that cannot be read."""
    handle, name = tempfile.mkstemp(prefix="ipamx-merged-", suffix=".jsonl")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            merged = write_merged(paths, out)
        path = Path(name)
        survey, per_host = _survey_merged(path, merged.hosts, rules, selection,
                                          validate or selection.filter is not None)
        trace = MergedStreamedTrace(path, survey, per_host, merged=merged,
                                    selection=selection, rules=rules, options=options,
                                    validate=validate)
    except BaseException:
        os.unlink(name)
        raise
    weakref.finalize(trace, os.unlink, name)
    return trace, merged
