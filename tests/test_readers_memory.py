"""``check``, ``show``, every export format, ``replay`` and ``note`` hold no more for a recording
ten times longer (issue #14's readers that stream, record by record in constant memory).

What a streaming reader holds is bounded by named constants: the inference window
(``infer.SECTION_WINDOW``), the reorder slack (``recording_reader.REORDER_SLACK``), the verdicts
and failures remembered per exchange (``render.VERDICTS_KEPT``, ``infer.FAILED_KEPT``), the
painter's laid-out texts (``export.painted.LAYOUTS_KEPT``) and the HTML and SVG spools kept in
memory (``SPOOL_BYTES``). Each is a few thousand exchanges, more than a test can read fast, so
here each is set to a few dozen: both files then fill every bound, and what is left to grow
with the file is what a reader that held the recording would keep (about tenfold from the short
file to the long one; with the bounds left as they are, the exports' peaks grew 5-9 times).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from memory_peak import BOUND, TALK, peaks, repeated
from rich.console import Console

import ipamx_spy.export.html as html_export
import ipamx_spy.export.painted as painted
import ipamx_spy.export.svg as svg_export
import ipamx_spy.replay.engine as engine
from ipamx_spy import infer, recording_reader, render
from ipamx_spy.export import STREAM_FORMATS
from ipamx_spy.export.stream import TEXT_STREAMS, export_chunks, export_pieces, open_trace
from ipamx_spy.export.terminal import print_trace
from ipamx_spy.notes import note_record
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.target import parse_target
from ipamx_spy.validate import check_file

BOUNDS = 8  # every window, slack and memo of the readers, for these tests
SHORT, LONG = 80, 800  # exchanges: both well past every bound above
SVG_SHORT, SVG_LONG = 30, 300  # the SVG export draws each panel through rich (slow)


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infer, "stream_sections",
                        functools.partial(infer.stream_sections, window=BOUNDS))
    ordered = functools.partial(recording_reader.in_seq_order, slack=BOUNDS)
    monkeypatch.setattr(infer, "in_seq_order", ordered)
    monkeypatch.setattr(engine, "in_seq_order", ordered)
    monkeypatch.setattr(infer, "LookaheadSurvey",
                        functools.partial(infer.LookaheadSurvey, slack=BOUNDS))
    monkeypatch.setattr(render, "VERDICTS_KEPT", BOUNDS)
    monkeypatch.setattr(infer, "FAILED_KEPT", BOUNDS)
    monkeypatch.setattr(painted, "LAYOUTS_KEPT", BOUNDS)
    monkeypatch.setattr(html_export, "SPOOL_BYTES", 1 << 14)
    monkeypatch.setattr(svg_export, "SPOOL_BYTES", 1 << 14)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    where = tmp_path_factory.mktemp("long")
    return {n: repeated(TALK, n, where / f"{n}.jsonl") for n in (SHORT, LONG, SVG_SHORT, SVG_LONG)}


def _drained(pieces: Iterable[object]) -> None:
    for _ in pieces:
        pass


def _shown(path: Path) -> None:
    with open("/dev/null", "w", encoding="utf-8") as null:
        print_trace(open_trace([path]), Console(file=null, width=100, force_terminal=True,
                                                color_system="truecolor"))


def _exported(name: str) -> Callable[[Path], None]:
    if name in STREAM_FORMATS:
        return lambda path: _drained(export_chunks(name, open_trace([path])))
    return lambda path: _drained(export_pieces(name, open_trace([path])))


READERS: dict[str, Callable[[Path], object]] = {
    "check": check_file,
    "show": _shown,
    **{f"export -f {name}": _exported(name) for name in (*TEXT_STREAMS, *STREAM_FORMATS)},
    "replay": lambda path: engine.replay_path(path, parse_target("builtin"), Rules(),
                                              keep_all=False),
    "note": lambda path: note_record(path, 4, "why", dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
}


def test_every_reader_and_format_is_measured() -> None:
    assert {name.removeprefix("export -f ") for name in READERS} >= {
        *TEXT_STREAMS, *STREAM_FORMATS, "check", "show", "replay", "note"}
    assert {"json", "markdown", "mermaid", "har", "html", "svg", "mitm"} <= {
        *TEXT_STREAMS, *STREAM_FORMATS}


@pytest.mark.usefixtures("small_bounds")
@pytest.mark.parametrize("name", list(READERS))
def test_a_ten_times_longer_recording_is_read_in_the_same_memory(
        name: str, files: dict[int, Path]) -> None:
    short, long = (SVG_SHORT, SVG_LONG) if name == "export -f svg" else (SHORT, LONG)
    short_peak, long_peak = peaks(READERS[name], files[short], files[long])
    print(name, short_peak, long_peak, f"{long_peak / short_peak:.2f}")
    assert long_peak < BOUND * short_peak, (name, short_peak, long_peak)


def test_the_long_file_is_read_to_its_end(files: dict[int, Path]) -> None:
    """The readers above read the whole file (a reader that stopped early would pass)."""
    long = files[LONG]
    assert check_file(long).exchanges == LONG
    trace = open_trace([long])
    assert sum(len(s.exchanges) for s in trace.sections) == LONG
    out = io.StringIO()
    print_trace(trace, Console(file=out, width=100, color_system=None))
    assert f"#{LONG} " in out.getvalue()
    assert engine.replay_path(long, parse_target("builtin"), Rules(),
                              keep_all=False).count(engine.PASS) == LONG
