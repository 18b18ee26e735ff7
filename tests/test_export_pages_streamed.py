"""The HTML and SVG exports written as the sections are read are the pages laid out whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipamx_spy import recording
from ipamx_spy.export import Options, Selection, build_trace, html, svg
from ipamx_spy.export.stream import export_pieces, open_trace
from ipamx_spy.export.terminal import recording_console, renderables
from ipamx_spy.export.trace import Trace
from ipamx_spy.multihost.timeline import build_merged_trace
from ipamx_spy.web.view import PageMode, board_of_merged, page_html

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = sorted((ROOT / "recordings").rglob("*.jsonl"))
OPTIONS = (Options(), Options(compact=True, width=80), Options(headers=False, width=140))
_REMOTE_FONT = re.compile(r',\s*url\("https?://[^"]*"\)\s*format\("[^"]*"\)')


def svg_whole(trace: Trace) -> str:
    """The SVG as it was made before it was streamed: rich's export of the whole recorded
    terminal."""
    console = recording_console(trace.options.width)
    for renderable in renderables(trace):
        console.print(renderable, soft_wrap=False)
    seqs = [e.seq for e in trace.exchanges]
    title = f"ipamx-spy show {trace.source}" + (f" #{seqs[0]}–#{seqs[-1]}" if seqs else "")
    return _REMOTE_FONT.sub("", console.export_svg(title=title))


def html_whole(trace: Trace) -> str:
    """The page as it was made before it was streamed: every item laid out at once."""
    return page_html(board_of_merged(trace), mode=PageMode.STATIC)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_streamed_pages_are_the_whole_pages(path: Path) -> None:
    for number, options in enumerate(OPTIONS):
        selection = Selection(ranges=((2, 6),)) if number == 2 else Selection()
        whole = build_trace(recording.load(path), options=options, selection=selection)
        streamed = open_trace([path], options=options, selection=selection)
        assert "".join(export_pieces("svg", streamed)) == svg_whole(whole), options
        assert "".join(export_pieces("html", streamed)) == html_whole(whole), options


def test_merged_pages_are_the_whole_pages() -> None:
    paths = [ROOT / "recordings" / "dual-stack.jsonl", ROOT / "recordings" / "talk.jsonl"]
    merged = build_merged_trace([recording.load(p) for p in paths])
    assert svg.export_svg(merged) == svg_whole(merged)
    assert html.export_html(merged) == html_whole(merged)


def test_spooled_to_disk_and_read_in_small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the spool's size the rows go to disk; an id placeholder split between two reads
    of the spool is still replaced."""
    monkeypatch.setattr(svg, "SPOOL_BYTES", 1)
    monkeypatch.setattr(html, "SPOOL_BYTES", 1)
    path = ROOT / "recordings" / "talk.jsonl"
    whole = build_trace(recording.load(path))
    streamed = open_trace([path])
    for size in (1, 2, 3, 7, 64):
        monkeypatch.setattr(svg, "READ_CHARS", size)
        assert "".join(svg.iter_svg(streamed)) == svg_whole(whole), size
    assert "".join(html.iter_html(streamed)) == html_whole(whole)
