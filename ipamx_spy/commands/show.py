"""``ipamx-spy show``: a recording in the terminal, drawn as the live view draws it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from ipamx_spy import render
from ipamx_spy.console import err, out
from ipamx_spy.export import Options, Selection, SelectionError, Trace, build_trace, parse_range
from ipamx_spy.export.terminal import print_trace
from ipamx_spy.recording import Recording, RecordingError, load
from ipamx_spy.redact import RedactionRuleError, parse_rules

from .options import FILTER, filter_from

RECORDING = typer.Argument(..., help="Recording file (JSON Lines) written by ipamx-spy proxy.")
RECORDINGS = typer.Argument(
    ..., help="Recording file (JSON Lines) written by ipamx-spy proxy; several (one per "
              "host) are merged by wall-clock time into one timeline with a lane per host.")
ENDPOINT_HELP = "Only endpoints whose name contains this text, e.g. RequestPool (repeatable)."
ERRORS_HELP = "Only exchanges that failed as dockerd sees them."
RANGE_HELP = "Exchange numbers: 3-7, 5, 3- (to the end), -7, or a list such as 1,4-6."
REDACT_HELP = ("Replace values before showing: a body path (Options.*macaddress, "
               "request.Address, **.Gateway) or header:NAME (repeatable; see docs/exports.md).")
VALIDATE_HELP = "Show the validator's findings (when ipamx_spy.validate is installed)."
ENDPOINT_OPTION = typer.Option([], "--endpoint", "-e", help=ENDPOINT_HELP)
REDACT_OPTION = typer.Option([], "--redact", help=REDACT_HELP)


def complain(message: str, style: str = "red") -> None:
    """One diagnostic line on stderr, never wrapped and never read as rich markup."""
    err.print(Text(f"ipamx-spy: {message}", style=style), soft_wrap=True)


def open_recording(path: Path) -> Recording:
    """Load a recording; unreadable files end the command with exit code 1."""
    try:
        return load(path)
    except FileNotFoundError:
        complain(f"{path}: no such recording")
        raise typer.Exit(1) from None
    except (RecordingError, OSError) as exc:
        complain(str(exc))
        raise typer.Exit(1) from None


def open_recordings(paths: list[Path]) -> list[Recording]:
    """Load each recording; an unreadable one ends the command with exit code 1."""
    return [open_recording(path) for path in paths]


def make_trace(
    recording: Recording | list[Recording],
    *,
    ranges: str | None,
    endpoints: list[str],
    errors: bool,
    redact: list[str],
    options: Options,
    validate: bool,
    filters: list[str] | None = None,
) -> Trace:
    """The trace for the command-line options; bad options end the command with exit code 2."""
    chosen = filter_from(filters or [])
    try:
        selection = Selection(ranges=parse_range(ranges) if ranges else (),
                              endpoints=tuple(endpoints), errors=errors, filter=chosen)
        rules = parse_rules(redact)
    except (SelectionError, RedactionRuleError) as exc:
        complain(str(exc))
        raise typer.Exit(2) from None
    if isinstance(recording, list) and len(recording) > 1:
        from ipamx_spy.multihost.timeline import build_merged_trace

        trace = build_merged_trace(recording, selection=selection, rules=rules,
                                   options=options, validate=validate)
    else:
        single = recording[0] if isinstance(recording, list) else recording
        trace = build_trace(single, selection=selection, rules=rules, options=options,
                            validate=validate)
    if selection.active and not trace.exchanges:
        complain("no exchange matches the filters", style="yellow")
    return trace


def register(app: typer.Typer) -> None:
    @app.command()
    def show(
        recordings: list[Path] = RECORDINGS,
        endpoint: list[str] = ENDPOINT_OPTION,
        errors: bool = typer.Option(False, "--errors", help=ERRORS_HELP),
        range_: str | None = typer.Option(None, "--range", "-r", help=RANGE_HELP),
        filter_: list[str] = FILTER,
        headers: bool = typer.Option(True, "--headers/--no-headers", help="Show headers."),
        bodies: bool = typer.Option(True, "--bodies/--no-bodies", help="Show bodies."),
        compact: bool = typer.Option(False, "--compact", help="One line per exchange."),
        summary: bool = typer.Option(False, "--summary", help="End with calls and latency "
                                     "per endpoint."),
        redact: list[str] = REDACT_OPTION,
        validate: bool = typer.Option(True, "--validate/--no-validate", help=VALIDATE_HELP),
    ) -> None:
        """Show a recording (or several hosts' merged): commands, exchanges, notes, findings."""
        options = Options(headers=headers, bodies=bodies, compact=compact)
        trace = make_trace(open_recordings(recordings), ranges=range_, endpoints=endpoint,
                           errors=errors, redact=redact, options=options, validate=validate,
                           filters=filter_)
        print_trace(trace, out)
        if summary:
            out.print(render.summary_table(trace.exchanges, f"{trace.source}: summary"))
