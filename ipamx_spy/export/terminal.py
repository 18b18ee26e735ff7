"""The terminal rendering of a trace, as the live view draws it: ``show`` prints it, the SVG
export records it."""

from __future__ import annotations

import io
from collections.abc import Iterator

from rich.console import Console, RenderableType
from rich.text import Text

from ipamx_spy import render
from ipamx_spy.infer import MARKER, Section

from .painted import Painter
from .trace import TraceView


def section_rule(section: Section) -> Text:
    """A marker as the live view prints it; an inferred command dimmer, saying it is inferred."""
    if section.source == MARKER:
        text = render.marker_rule(section.heading)
    else:
        text = Text(f"──── {section.heading} ────", style="dim yellow")
    if section.detail:
        text.append(f"  {section.detail}", style="dim")
    if not section.exchanges:
        text.append("  (no plugin calls)", style="dim italic")
    return text


def renderables(trace: TraceView) -> Iterator[RenderableType]:
    """Everything ``show`` prints, in order, each as its section is read (a streamed trace
    is drawn while its file is read, a section at a time)."""
    yield from opening(trace)
    for section in trace.sections:
        yield from section_renderables(trace, section)
    yield from closing(trace)


def opening(trace: TraceView) -> Iterator[RenderableType]:
    """What comes before the first section: the hosts of a merged timeline."""
    if trace.hosts:
        yield Text(f"merged timeline of {len(trace.hosts)} hosts: {', '.join(trace.hosts)}",
                   style="bold")


def section_renderables(trace: TraceView, section: Section) -> Iterator[RenderableType]:
    """One section: its rule, then a panel (or a compact line) per exchange."""
    options = trace.options
    yield section_rule(section)
    shown_host = None
    for exchange in section.exchanges:
        findings = trace.findings_for(exchange.seq)
        host = trace.host_of(exchange.seq)
        if options.compact:
            line = render.compact_line(exchange, findings)
            if host is not None:
                line = Text.assemble((f"{host} ", "bold magenta"), line)
            for note in trace.notes_for(exchange.seq):
                line.append(f"  note: {note}", style="bold yellow")
            yield line
        else:
            if host is not None and host != shown_host:
                yield Text(f"on {host}:", style="bold magenta")
                shown_host = host
            yield render.exchange_panel(exchange, view=options.view, findings=findings,
                                        notes=trace.notes_for(exchange.seq))


def closing(trace: TraceView) -> Iterator[RenderableType]:
    """What comes after the last section: the findings about the whole session."""
    for finding in trace.findings:
        if finding.seq == 0:
            yield Text(f"{finding.code} {finding.severity}: {finding.message}",
                       style=render.SEVERITY_STYLE[finding.severity])


BATCH = 64
"""Painted renderables held back to go out in one write."""


def print_trace(trace: TraceView, console: Console, *, soft_wrap: bool | None = None) -> None:
    """Print the trace; compact lines are not wrapped unless ``soft_wrap`` is False.

    Each renderable goes out as the string ``painted.Painter`` paints for it (the bytes
    rich would write, ``BATCH`` to a write), or through ``console.print`` when the painter
    declines it (and always on a recording console: the SVG export reads its segments)."""
    wrap = trace.options.compact if soft_wrap is None else soft_wrap
    painter = Painter(console)
    held: list[str] = []
    for renderable in renderables(trace):
        painted = painter.paint(renderable, soft_wrap=wrap)
        if painted is not None:
            held.append(painted)
            if len(held) < BATCH:
                continue
        _write(console, held)
        if painted is None:
            console.print(renderable, soft_wrap=wrap)
    _write(console, held)


def _write(console: Console, held: list[str]) -> None:
    if held:
        console.file.write("".join(held))
        console.file.flush()
        held.clear()


def recording_console(width: int) -> Console:
    """A console that draws into memory, the same everywhere (for SVG and tests)."""
    return Console(record=True, width=width, file=io.StringIO(), force_terminal=True,
                   color_system="truecolor", legacy_windows=False, highlight=False,
                   emoji=False, _environ={})
