"""show's painted output (``export.painted``) is the bytes rich prints, in every colour system."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.console import Console, RenderableType

from ipamx_spy import render
from ipamx_spy.export.painted import Painter
from ipamx_spy.export.stream import open_trace
from ipamx_spy.export.terminal import print_trace, renderables
from ipamx_spy.export.trace import Options
from ipamx_spy.findings import Finding, Severity
from ipamx_spy.recording import Exchange, load

RECORDINGS = sorted((Path(__file__).parent.parent / "recordings").rglob("*.jsonl"))
SYSTEMS = (None, "standard", "256", "truecolor")
VIEWS = (render.View(), render.View(headers=False), render.View(bodies=False, annotation=False))


def console(system: str | None, width: int) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=system,  # type: ignore[arg-type]
                   force_terminal=system is not None)


def printed(sink: Console, renderable: RenderableType, *, soft_wrap: bool = False) -> str:
    file = sink.file
    assert isinstance(file, io.StringIO)
    file.seek(0)
    file.truncate()
    sink.print(renderable, soft_wrap=soft_wrap)
    return file.getvalue()


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("width", (60, 100, 143))
def test_panels_of_every_recording_are_what_rich_prints(system: str | None, width: int) -> None:
    sink = console(system, width)
    painter = Painter(sink)
    painted = 0
    finding = Finding(code="IPX101", severity=Severity.WARNING, seq=1,
                      message="a finding long enough to wrap on a narrow console " * 3)
    for path in RECORDINGS:
        for number, exchange in enumerate(load(path).exchanges):
            panel = render.exchange_panel(exchange, view=VIEWS[number % len(VIEWS)],
                                          findings=(finding,) if number % 5 == 0 else (),
                                          notes=("a note ✓ 漢字",) if number % 7 == 0 else ())
            got = painter.paint(panel)
            if got is not None:
                painted += 1
                assert got == printed(sink, panel), (path.name, exchange.seq)
    if width >= 100:  # every panel of the recordings is painted, not left to rich
        assert painted == sum(len(load(path).exchanges) for path in RECORDINGS)


def test_a_wide_console_s_side_by_side_panel_is_left_to_rich() -> None:
    exchange = load(RECORDINGS[0]).exchanges[0]
    assert Painter(console(None, 160)).paint(render.exchange_panel(exchange)) is None
    assert Painter(console(None, 143)).paint(render.exchange_panel(exchange)) is not None


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("compact", (False, True))
def test_print_trace_writes_what_rich_prints(system: str | None, compact: bool) -> None:
    for path in RECORDINGS:
        trace = open_trace([path], options=Options(compact=compact))
        want = console(system, 100)
        for renderable in renderables(trace):
            want.print(renderable, soft_wrap=compact)
        got = console(system, 100)
        print_trace(trace, got)
        assert got.file.getvalue() == want.file.getvalue(), path.name  # type: ignore[attr-defined]


ODD_TEXT = st.lists(st.sampled_from(
    ["a", "Z", "0", " ", "  ", "-", "\n", "é", "漢", "字", "✓", "\u0301", "😀", "{", "}", '"',
     "\\", ":", "x" * 30, "longwordwithoutanyspaces" * 4, "\t", "\x1b", "\u200b"]),
    max_size=30).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=10)
BODIES = st.one_of(
    st.just({"encoding": "empty"}),
    JSON_VALUES.map(lambda value: {"encoding": "json", "json": value}),
    ODD_TEXT.map(lambda text: {"encoding": "text", "text": text}),
)
HEADER_VALUE = st.lists(st.sampled_from(["a", " ", "é", "-", "/", "x" * 40]),
                        max_size=8).map("".join)


def exchange_of(body: dict[str, Any], answer: dict[str, Any] | None, header: str,
                endpoint: str) -> Exchange:
    record: dict[str, Any] = {
        "type": "exchange", "seq": 7, "conn": 2, "t": 1.5, "endpoint": endpoint,
        "duration_ms": 0.7,
        "request": {"method": "POST", "target": "/Plugin.Odd", "http_version": "1.1",
                    "headers": [["Host", ""], ["X-Odd", header]], "body": body},
        "response": None if answer is None else {
            "status": 200, "reason": "OK", "http_version": "1.1",
            "headers": [["Content-Type", "application/json"]], "body": answer},
        "fault": None,
    }
    return Exchange.from_json(record)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, answer=st.none() | BODIES, header=HEADER_VALUE,
       endpoint=st.sampled_from(["IpamDriver.RequestAddress", "Plugin.Activate",
                                 "NetworkDriver.Join", "Odd.漢字✓"]),
       system=st.sampled_from(SYSTEMS), width=st.sampled_from((40, 61, 80, 120)),
       note=st.none() | ODD_TEXT)
def test_odd_bodies_paint_as_rich_prints(body: dict[str, Any], answer: dict[str, Any] | None,
                                         header: str, endpoint: str, system: str | None,
                                         width: int, note: str | None) -> None:
    exchange = exchange_of(body, answer, header, endpoint)
    sink = console(system, width)
    painter = Painter(sink)
    panel = render.exchange_panel(exchange, notes=() if note is None else (note,))
    got = painter.paint(panel)
    event("panel painted" if got is not None else "panel left to rich")
    if got is not None:
        assert got == printed(sink, panel)
    line = render.compact_line(exchange)
    got = painter.paint(line, soft_wrap=True)
    if got is not None:
        assert got == printed(sink, line, soft_wrap=True)


def test_plain_bodies_are_painted() -> None:
    """The fast path is taken for ordinary exchanges (the property test only checks that
    what is painted is right)."""
    exchange = exchange_of({"encoding": "json", "json": {"Address": "10.0.0.2/24", "Data": {}}},
                           {"encoding": "text", "text": "plain words " * 20},
                           "value", "IpamDriver.RequestAddress")
    for system in SYSTEMS:
        sink = console(system, 80)
        panel = render.exchange_panel(exchange)
        assert Painter(sink).paint(panel) == printed(sink, panel)


def test_a_recording_console_is_left_to_rich() -> None:
    from ipamx_spy.export.terminal import recording_console

    exchange = load(RECORDINGS[0]).exchanges[0]
    assert Painter(recording_console(100)).paint(render.exchange_panel(exchange)) is None


@pytest.mark.parametrize("note", ["\n\n", "a\n\nb", "x\n\n"])
def test_a_blank_line_in_a_text_is_drawn_as_rich_draws_it(note: str) -> None:
    """Found by the property test: a note holding an empty line painted unlike rich (the
    painter now leaves such a panel to rich)."""
    exchange = exchange_of({"encoding": "empty"}, None, "", "IpamDriver.RequestAddress")
    for system in SYSTEMS:
        sink = console(system, 61)
        panel = render.exchange_panel(exchange, notes=(note,))
        got = Painter(sink).paint(panel)
        assert got is None or got == printed(sink, panel)
