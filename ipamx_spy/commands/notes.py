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
from ipamx_spy.recording import RecordingError, append_records
from ipamx_spy.recording_reader import problem_text

from .errors import fail, warn
from .show import RECORDING, complain


def register(app: typer.Typer) -> None:
    @app.command()
    def note(
        recording: Path = RECORDING,
        seq: int = typer.Argument(..., help="Number of the exchange (as shown by show)."),
        text: str = typer.Argument(..., help="The note, in plain words."),
    ) -> None:
        """Attach a note to exchange N of a recording (appended; nothing is rewritten)."""
        try:
            record = note_record(recording, seq, text, _dt.datetime.now(_dt.UTC),
                                 on_damage=lambda d: warn(str(d)))
        except NoteError as exc:
            fail(str(exc))
        except (OSError, RecordingError) as exc:
            fail(problem_text(recording, exc))
        append_records(recording, [record.to_json()])
        complain(f"note added to #{seq} in {recording}", style="")
