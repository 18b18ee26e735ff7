"""``ipamx-spy show``: a recording in the terminal, drawn as the live view draws it."""

from __future__ import annotations

from pathlib import Path

import typer

from ipamx_spy import render
from ipamx_spy.console import out
from ipamx_spy.export import Options, SelectionError, Trace
from ipamx_spy.export.stream import StreamedTrace, open_trace, selection_of
from ipamx_spy.export.terminal import print_trace
from ipamx_spy.export.trace import tally
from ipamx_spy.recording import RecordingError
from ipamx_spy.recording_reader import problem_text
from ipamx_spy.redact import RedactionRuleError, parse_rules

from .errors import complain, fail, warn
from .options import FILTER, filter_from

__all__ = ["complain", "open_traced", "register", "selects"]

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


def open_traced(recordings: list[Path], *, ranges: str | None, endpoints: list[str],
                errors: bool, redact: list[str], options: Options, validate: bool,
                filters: list[str]) -> StreamedTrace | Trace:
    """The library's trace for the command-line options: bad options, and files that cannot
    be read, end the command with exit code 2; skipped lines are warned about."""
    chosen = filter_from(filters)
    try:
        selection = selection_of(ranges, endpoints, errors, chosen)
        rules = parse_rules(redact)
    except (SelectionError, RedactionRuleError) as exc:
        fail(str(exc))
    path = recordings[0]
    try:
        return open_trace(recordings, selection=selection, rules=rules, options=options,
                          validate=validate, on_damage=lambda d: warn(str(d)))
    except SelectionError as exc:
        fail(str(exc))
    except (OSError, RecordingError) as exc:
        where = Path(exc.filename) if isinstance(exc, OSError) and exc.filename else path
        fail(problem_text(where, exc))


def selects(*options: object) -> bool:
    """Whether any selecting option (--range, --endpoint, --errors, --filter) was given."""
    return any(options)


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
        trace = open_traced(recordings, ranges=range_, endpoints=endpoint, errors=errors,
                            redact=redact, options=options, validate=validate,
                            filters=filter_)
        print_trace(trace, out)
        shown = tally(trace)
        if selects(range_, endpoint, errors, filter_) and not shown.exchanges:
            complain("no exchange matches the filters", style="yellow")
        if summary:
            out.print(render.summary_table(shown.summary, f"{trace.source}: summary"))
