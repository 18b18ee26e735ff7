"""``ipamx-spy note``: attach a note to one exchange of a recording.

The note is a record of its own, appended to the file (``{"type": "note", "seq": N, "text":
..., "t": ...}``, ``t`` in seconds since the recording started, like every other record); the
exchange line is never rewritten. Exports and ``show`` print notes next to their exchange.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import typer

from ipamx_spy.notes import NoteError, note_record
from ipamx_spy.recording import append_records

from .show import RECORDING, complain, open_recording


def register(app: typer.Typer) -> None:
    @app.command()
    def note(
        recording: Path = RECORDING,
        seq: int = typer.Argument(..., help="Number of the exchange (as shown by show)."),
        text: str = typer.Argument(..., help="The note, in plain words."),
    ) -> None:
        """Attach a note to exchange N of a recording (appended; nothing is rewritten)."""
        loaded = open_recording(recording)
        try:
            record = note_record(loaded, seq, text, _dt.datetime.now(_dt.UTC))
        except NoteError as exc:
            complain(str(exc))
            raise typer.Exit(2) from None
        append_records(recording, [record.to_json()])
        complain(f"note added to #{seq} in {recording}", style="")
