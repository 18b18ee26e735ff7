"""``ipamx-spy export``: a recording as Markdown, HTML, SVG, Mermaid, HAR or JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ipamx_spy.export import FORMATS, HEADERS_BY_DEFAULT, Options

from .options import FILTER
from .show import (
    ENDPOINT_OPTION,
    ERRORS_HELP,
    RANGE_HELP,
    RECORDING,
    REDACT_OPTION,
    VALIDATE_HELP,
    complain,
    make_trace,
    open_recording,
)

FORMAT_HELP = ("markdown (docs), html (one self-contained page), svg (terminal rendering, "
               "for slides), mermaid (sequence diagram), har (mitmproxy, browser devtools), "
               "json (normalized records, for scripts).")


def _check_format(name: str) -> str:
    if name not in FORMATS:
        complain(f"--format {name!r}: choose one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    return name


def write_output(text: str, output: str) -> None:
    """Write to a file, or to stdout for ``-``; an unwritable file ends with exit code 1."""
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        complain(f"cannot write {output}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_(
        recording: Path = RECORDING,
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
        trace = make_trace(open_recording(recording), ranges=range_, endpoints=endpoint,
                           errors=errors, redact=redact, options=options, validate=validate,
                           filters=filter_)
        write_output(FORMATS[name](trace), output)
        if output != "-":
            complain(f"wrote {output} ({name}, {len(trace.exchanges)} exchanges, "
                     f"{len(trace.sections)} sections)", style="")
