"""``ipamx-spy export``: a recording as Markdown, HTML, SVG, Mermaid, HAR, JSON or mitmproxy."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer

from ipamx_spy.export import FORMATS, HEADERS_BY_DEFAULT, STREAM_FORMATS, Options
from ipamx_spy.export.output import OutputError, write_chunks, write_pieces
from ipamx_spy.export.stream import export_chunks, export_pieces
from ipamx_spy.export.trace import tally

from .options import FILTER
from .show import (
    ENDPOINT_OPTION,
    ERRORS_HELP,
    RANGE_HELP,
    RECORDINGS,
    REDACT_OPTION,
    VALIDATE_HELP,
    complain,
    open_traced,
    selects,
)

FORMAT_HELP = ("markdown (docs), html (one self-contained page), svg (terminal rendering, "
               "for slides), mermaid (sequence diagram), har (mitmproxy, browser devtools), "
               "json (normalized records, for scripts), mitm (a mitmproxy flow file: "
               "mitmweb -r FILE).")


def _check_format(name: str) -> str:
    if name not in FORMATS and name not in STREAM_FORMATS:
        complain(f"--format {name!r}: choose one of {', '.join([*FORMATS, *STREAM_FORMATS])}")
        raise typer.Exit(2)
    return name


def _written(write: Callable[[], None]) -> None:
    try:
        write()
    except OutputError as exc:
        complain(str(exc))
        raise typer.Exit(exc.code) from None


def register(app: typer.Typer) -> None:
    @app.command("mitm-addon")
    def mitm_addon() -> None:
        """Print the path of the mitmproxy addon: mitmweb -s "$(ipamx-spy mitm-addon)" -r F.mitm"""
        import ipamx_spy

        sys.stdout.write(str(Path(ipamx_spy.__file__).parent / "mitm_addon.py") + "\n")

    @app.command("export")
    def export_(
        recordings: list[Path] = RECORDINGS,
        format_: str = typer.Option(..., "--format", "-f", help=FORMAT_HELP),
        output: str = typer.Option("-", "--output", "-o", help="File to write; - is stdout."),
        range_: str | None = typer.Option(None, "--range", "-r", help=RANGE_HELP),
        endpoint: list[str] = ENDPOINT_OPTION,
        errors: bool = typer.Option(False, "--errors", help=ERRORS_HELP),
        filter_: list[str] = FILTER,
        headers: bool | None = typer.Option(
            None, "--headers/--no-headers",
            help="Show HTTP headers [default: not in markdown and mermaid, else shown]."),
        bodies: bool = typer.Option(True, "--bodies/--no-bodies", help="Show bodies."),
        compact: bool = typer.Option(False, "--compact", help="svg: one line per exchange."),
        width: int = typer.Option(100, "--width", min=40, help="svg: terminal columns."),
        redact: list[str] = REDACT_OPTION,
        validate: bool = typer.Option(True, "--validate/--no-validate", help=VALIDATE_HELP),
    ) -> None:
        """Export a recording for docs, slides, browsers, mitmproxy or scripts."""
        name = _check_format(format_)
        options = Options(headers=HEADERS_BY_DEFAULT[name] if headers is None else headers,
                          bodies=bodies, compact=compact, width=width)
        trace = open_traced(recordings, ranges=range_, endpoints=endpoint, errors=errors,
                            redact=redact, options=options, validate=validate,
                            filters=filter_)
        if name in STREAM_FORMATS:
            _written(lambda: write_chunks(export_chunks(name, trace), output))
        else:
            _written(lambda: write_pieces(export_pieces(name, trace), output))
        shown = tally(trace)
        if selects(range_, endpoint, errors, filter_) and not shown.exchanges:
            complain("no exchange matches the filters", style="yellow")
        if output != "-":
            complain(f"wrote {output} ({name}, {shown.exchanges} exchanges, "
                     f"{shown.sections} sections)", style="")
