"""Several hosts' recordings as one timeline, merged by wall-clock time (sans-IO).

Every record of a recording carries ``t``, seconds since its header's ``started`` (an ISO
time of the host's clock). ``merge`` turns each record's ``t`` into wall-clock time, merges
the files with ``heapq.merge`` over one time-ordered iterator per file, and writes one
recording: exchanges renumbered 1..N in time order, connection numbers made unique per host,
notes pointing at the new numbers, ``t`` measured from the earliest start, and each record
tagged with its ``host``. ``Merged.lanes`` maps each new exchange number to its host.

A host's name is its header's ``host`` (the proxy writes the machine's name), else the file's
stem; two files naming the same host become ``NAME`` and ``NAME#2``. The clocks of the hosts are
trusted as they are: skew between them shows as a shifted lane.
"""

from __future__ import annotations

import datetime as _dt
import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ipamx_spy.recording import FORMAT, VERSION, Damage, Exchange, Recording
from ipamx_spy.recording_reader import RecordingReader
from ipamx_spy.records import HeaderRecord, RecordType

CONN_STRIDE = 1_000_000
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True, kw_only=True)
class Merged:
    """The merged recording, each exchange's host, and the hosts in lane order."""

    recording: Recording
    lanes: Mapping[int, str]
    hosts: tuple[str, ...]
    sources: tuple[str, ...] = ()
    origin: Mapping[int, tuple[str, int]] = field(default_factory=dict)  # new seq -> (host, seq)


def started_at(header: Mapping[str, Any]) -> _dt.datetime:
    """The header's ``started``; the epoch when it is missing or unreadable."""
    text = str(header.get("started", ""))
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return EPOCH
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def host_names(recordings: Sequence[Recording]) -> tuple[str, ...]:
    """One distinct lane name per recording (header ``host``, else the file stem)."""
    names: list[str] = []
    for index, recording in enumerate(recordings):
        base = str(recording.header.get("host") or "")
        if not base:
            base = Path(recording.path).stem if recording.path else f"host{index + 1}"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}#{n}"
        names.append(name)
    return tuple(names)


def _timed(recording: Recording, lane: int) -> Iterator[tuple[float, int, int, dict[str, Any]]]:
    """(wall-clock seconds, lane, position, record) in time order for one file."""
    start = (started_at(recording.header) - EPOCH).total_seconds()
    rows = [(start + float(r.get("t", 0.0)), lane, i, r) for i, r in enumerate(recording.records)]
    rows.sort(key=lambda row: (row[0], row[2]))
    yield from rows


def tagged_record(record: Mapping[str, Any], t: float, host: str,
                  lane: int) -> dict[str, Any]:
    """A record as it stands in a merged timeline: its time from the merge's origin, its host,
    and its connection number made unique across the lanes."""
    tagged = {**record, "t": round(t, 6), "host": host}
    if "conn" in record:
        tagged["conn"] = lane * CONN_STRIDE + int(record.get("conn", 0))
    return tagged


def merge(recordings: Sequence[Recording]) -> Merged:
    """One recording from several. Raises ValueError when given none."""
    if not recordings:
        raise ValueError("merge needs at least one recording")
    hosts = host_names(recordings)
    origin_time = min((started_at(r.header) - EPOCH).total_seconds() for r in recordings)
    streams = [_timed(r, lane) for lane, r in enumerate(recordings)]
    renumber: dict[tuple[int, int], int] = {}
    by_old = [{e.seq: e for e in r.exchanges} for r in recordings]
    records: list[dict[str, Any]] = []
    exchanges: list[Exchange] = []
    lanes: dict[int, str] = {}
    origin: dict[int, tuple[str, int]] = {}
    pending_notes: list[tuple[int, dict[str, Any]]] = []
    for when, lane, _pos, record in heapq.merge(*streams, key=lambda row: (row[0], row[1])):
        kind = record.get("type")
        tagged = tagged_record(record, when - origin_time, hosts[lane], lane)
        if kind == RecordType.EXCHANGE:
            old = by_old[lane].get(int(record["seq"]))
            if old is None:
                continue
            seq = len(exchanges) + 1
            renumber[(lane, old.seq)] = seq
            exchange = replace(old, seq=seq, t=tagged["t"], conn=int(tagged["conn"]))
            exchanges.append(exchange)
            lanes[seq] = hosts[lane]
            origin[seq] = (hosts[lane], old.seq)
            records.append({**exchange.to_json(), "host": hosts[lane]})
        elif kind == RecordType.NOTE:
            pending_notes.append((lane, tagged))
        elif kind == RecordType.MARKER:
            old_after = int(record.get("after_seq", 0) or 0)
            after = renumber.get((lane, old_after), len(exchanges)) if old_after else 0
            records.append({**tagged, "after_seq": after, "text": record.get("text", "")})
        else:
            records.append(tagged)
    for lane, note in pending_notes:
        new = renumber.get((lane, int(note.get("seq", 0))))
        if new is not None:
            records.append({**note, "seq": new})
    header = _header(recordings, hosts, origin_time)
    merged = Recording(header=header, records=tuple(records), exchanges=tuple(exchanges),
                       torn_tail=any(r.torn_tail for r in recordings))
    sources = tuple(str(r.path) if r.path else f"<{h}>" for r, h in zip(recordings, hosts,
                                                                        strict=True))
    return Merged(recording=merged, lanes=lanes, hosts=hosts, sources=sources, origin=origin)


def _header(recordings: Sequence[Recording], hosts: tuple[str, ...],
            origin_time: float) -> dict[str, Any]:
    started = (EPOCH + _dt.timedelta(seconds=origin_time)).isoformat(timespec="microseconds")
    first = recordings[0].header
    fields = {
        "name": first.get("name", ""), "host": ", ".join(hosts), "hosts": list(hosts),
        "merged": [{"host": h, "started": r.header.get("started"),
                    "name": r.header.get("name"), "listen": r.header.get("listen"),
                    "upstream": r.header.get("upstream"),
                    "docker_version": r.header.get("docker_version")}
                   for h, r in zip(hosts, recordings, strict=True)],
        "listen": ", ".join(str(r.header.get("listen", "?")) for r in recordings),
        "upstream": ", ".join(str(r.header.get("upstream", "?")) for r in recordings),
    }
    return HeaderRecord(format=FORMAT, version=VERSION, tool=first.get("tool", ""),
                        started=started.replace("+00:00", "Z"), fields=fields).to_json()


def lane_recording(merged: Merged, host: str) -> Recording:
    """The part of a merged recording that one host recorded (merged numbers kept)."""
    records = tuple(r for r in merged.recording.records if r.get("host") == host)
    exchanges = tuple(e for e in merged.recording.exchanges if merged.lanes.get(e.seq) == host)
    header = {**merged.recording.header, "host": host}
    for part in merged.recording.header.get("merged", []):
        if part.get("host") == host:
            header.update({k: v for k, v in part.items() if v is not None})
    return Recording(header=header, records=records, exchanges=exchanges)


def _timed_exchanges(reader: RecordingReader, lane: int, start: float,
                     slack: int) -> Iterator[tuple[float, int, int, Exchange]]:
    """(wall-clock seconds, lane, position, exchange) of one file in time order, holding at
    most ``slack`` exchanges (a file holds each exchange when its answer came: concurrent
    calls are out of order by no more than the calls in flight at once)."""
    heap: list[tuple[float, int, int, Exchange]] = []
    for position, exchange in enumerate(reader.exchanges()):
        heapq.heappush(heap, (start + exchange.t, lane, position, exchange))
        if len(heap) > slack:
            yield heapq.heappop(heap)
    while heap:
        yield heapq.heappop(heap)


def stream_merged(paths: Sequence[Path], *, slack: int = 1024,
                  damage: list[Damage] | None = None) -> Iterator[tuple[str, Exchange]]:
    """``merge``'s exchanges, ``(host, exchange)`` renumbered 1..N in wall-clock order, read
    record by record: a ``heapq.merge`` of one reader per file, so memory holds ``slack``
    exchanges per file, not the files. Hosts are named as ``merge`` names them. ``damage``
    gets every line the readers skipped, file by file, when the merge ends. Raises
    OSError or RecordingError for a file that cannot be read."""
    readers: list[RecordingReader] = []
    try:
        for path in paths:
            readers.append(RecordingReader(path))
        shells = [Recording(header=r.header, records=(), path=Path(p))
                  for r, p in zip(readers, paths, strict=True)]
        hosts = host_names(shells)
        starts = [(started_at(r.header) - EPOCH).total_seconds() for r in readers]
        origin = min(starts)
        streams = [_timed_exchanges(r, lane, start, slack)
                   for lane, (r, start) in enumerate(zip(readers, starts, strict=True))]
        for seq, (when, lane, _, old) in enumerate(
                heapq.merge(*streams, key=lambda row: (row[0], row[1])), 1):
            yield hosts[lane], replace(old, seq=seq, t=round(when - origin, 6),
                                       conn=lane * CONN_STRIDE + old.conn)
    finally:
        for reader in readers:
            if damage is not None:
                damage.extend(reader.damage)
            reader.close()
