"""The one error path of every command: how problems are said and which exit code follows.

Exit codes: 0 all well; 1 findings, failures, differences (the input was fine, the answer is
"no"); 2 unusable input, options or environment. Every diagnostic is one line on stderr,
``ipamx-spy: ...``, never wrapped and never read as rich markup, naming a file once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.text import Text

from ipamx_spy.console import err
from ipamx_spy.recording import Damage, Recording, RecordingError, RecordingWriter, load
from ipamx_spy.recording_reader import problem_text

if TYPE_CHECKING:
    from ipamx_spy.mock import RecordingSurvey

OK = 0
FINDINGS = 1
UNUSABLE = 2


def complain(message: str, style: str = "red") -> None:
    """One diagnostic line on stderr, never wrapped and never read as rich markup."""
    err.print(Text(f"ipamx-spy: {message}", style=style), soft_wrap=True)


def warn(message: str) -> None:
    complain(f"warning: {message}", style="yellow")


def fail(message: str, code: int = UNUSABLE) -> NoReturn:
    """Say what is wrong and end the command (exit 2 unless told otherwise)."""
    complain(message)
    raise typer.Exit(code)


def report_damage(damage: Sequence[Damage]) -> None:
    """A warning per line a reader skipped (a torn or damaged line), naming the line."""
    for item in damage:
        warn(str(item))


Read = TypeVar("Read", "Recording", "RecordingSurvey")


def read_reporting(path: Path, read: Callable[[Path], Read]) -> Read:
    """``read(path)`` (a whole load, or a survey of the file), warning about every line it
    skipped; an unusable file exits 2."""
    try:
        found = read(path)
    except (RecordingError, OSError) as exc:
        fail(problem_text(path, exc))
    report_damage(found.damage)
    return found


def open_recording(path: Path) -> Recording:
    """Load a recording, warning about every skipped line; unusable files exit 2."""
    return read_reporting(path, load)


def recording_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its ``*.jsonl`` files (sorted). A directory
    without any ends the command with exit 2; a missing file is left for the reader to name."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.jsonl") if p.is_file())
            if not found:
                fail(f"{path}: a directory without recordings (*.jsonl)")
            out += found
        else:
            out.append(path)
    return out


def open_writer(path: Path, header: dict[str, Any], *, group: str | None = None,
                make_parent: bool = False) -> RecordingWriter:
    """The recording writer for ``--record``; a file that cannot be written exits 2."""
    from ipamx_spy import session_setup  # the session's modules: not for every reader command

    try:
        return session_setup.open_writer(path, header, group=group, make_parent=make_parent)
    except session_setup.SetupError as exc:
        fail(str(exc))
