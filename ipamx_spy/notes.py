"""Notes on exchanges: the record ``ipamx-spy note`` appends to a recording.

A note is a record of its own (``{"type": "note", "seq": N, "text": ..., "t": ...}``, ``t`` in
seconds since the recording started, like every other record); the exchange line is never
rewritten. Exports and ``show`` print notes next to their exchange.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .recording import Damage, Recording
from .recording_reader import RecordingReader
from .records import NoteRecord


class NoteError(ValueError):
    """A note that cannot be added; the message says why."""


@dataclass(frozen=True, kw_only=True)
class _Known:
    """What a note needs to know of its recording: its start, whether the exchange is in it
    (and the numbers there are, to say so), whether its last line is torn."""

    path: Path | None
    header: dict[str, Any]
    found: bool
    count: int
    lowest: int
    highest: int
    torn_tail: bool


def _known(recording: Recording, seq: int) -> _Known:
    seqs = [e.seq for e in recording.exchanges]
    return _Known(path=recording.path, header=recording.header, found=seq in seqs,
                  count=len(seqs), lowest=min(seqs, default=0), highest=max(seqs, default=0),
                  torn_tail=recording.torn_tail)


def _read(path: Path, seq: int, on_damage: Callable[[Damage], None]) -> _Known:
    """``_known`` of a file, read record by record (nothing of it is held)."""
    found, count, lowest, highest = False, 0, 0, 0
    with RecordingReader(path) as reader:
        for exchange in reader.exchanges():
            lowest = exchange.seq if not count else min(lowest, exchange.seq)
            highest = exchange.seq if not count else max(highest, exchange.seq)
            count += 1
            found = found or exchange.seq == seq
        for item in reader.damage:
            on_damage(item)
        return _Known(path=path, header=reader.header, found=found, count=count,
                      lowest=lowest, highest=highest, torn_tail=reader.torn_tail)


def _seconds_since_start(header: dict[str, Any], now: _dt.datetime) -> float:
    text = str(header.get("started", ""))
    try:
        started = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if started.tzinfo is None:
        started = started.replace(tzinfo=_dt.UTC)
    return round((now - started).total_seconds(), 6)


def _unheard(_damage: Damage) -> None:
    """No one to tell about a skipped line."""


def note_record(recording: Recording | Path, seq: int, text: str, now: _dt.datetime, *,
                on_damage: Callable[[Damage], None] = _unheard) -> NoteRecord:
    """The note record to append to a recording (loaded, or a file read record by record,
    telling ``on_damage`` of every line it skips). Raises NoteError for an unknown exchange
    or an empty text, and for a recording whose last line is torn (appending would glue the
    note to it); OSError or RecordingError for a file that cannot be read."""
    known = _known(recording, seq) if isinstance(recording, Recording) \
        else _read(Path(recording), seq, on_damage)
    if not text.strip():
        raise NoteError("the note is empty")
    if not known.found:
        numbers = (f"exchanges are numbered {known.lowest} to {known.highest}" if known.count
                   else "it has none")
        raise NoteError(f"{known.path}: no exchange #{seq} ({numbers})")
    if known.torn_tail:
        raise NoteError(f"{known.path}: the last line is incomplete (a writer was stopped "
                        "mid-line); a note appended now would be glued to it")
    return NoteRecord(seq=seq, text=text.strip(), t=_seconds_since_start(known.header, now))
