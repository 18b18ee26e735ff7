"""Notes on exchanges: the record ``ipamx-spy note`` appends to a recording.

A note is a record of its own (``{"type": "note", "seq": N, "text": ..., "t": ...}``, ``t`` in
seconds since the recording started, like every other record); the exchange line is never
rewritten. Exports and ``show`` print notes next to their exchange.
"""

from __future__ import annotations

import datetime as _dt

from .recording import Recording
from .records import NoteRecord


class NoteError(ValueError):
    """A note that cannot be added; the message says why."""


def _seconds_since_start(recording: Recording, now: _dt.datetime) -> float:
    text = str(recording.header.get("started", ""))
    try:
        started = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if started.tzinfo is None:
        started = started.replace(tzinfo=_dt.UTC)
    return round((now - started).total_seconds(), 6)


def note_record(recording: Recording, seq: int, text: str, now: _dt.datetime) -> NoteRecord:
    """The note record to append. Raises NoteError for an unknown exchange or an empty text,
    and for a recording whose last line is torn (appending would glue the note to it)."""
    if not text.strip():
        raise NoteError("the note is empty")
    seqs = sorted(e.seq for e in recording.exchanges)
    if seq not in seqs:
        known = f"exchanges are numbered {seqs[0]} to {seqs[-1]}" if seqs else "it has none"
        raise NoteError(f"{recording.path}: no exchange #{seq} ({known})")
    if recording.torn_tail:
        raise NoteError(f"{recording.path}: the last line is incomplete (a writer was stopped "
                        "mid-line); a note appended now would be glued to it")
    return NoteRecord(seq=seq, text=text.strip(), t=_seconds_since_start(recording, now))
