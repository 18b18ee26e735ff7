"""The options every recording command shares, and how such a command serves and ends.

``proxy``, ``attach`` and ``mock`` declare the same recording and live-view options (the
constants below), parse them into ``ipamx_spy.session_setup.LiveOptions``, prepare their session
with ``prepare`` and serve with ``serve_and_summarise``. The session itself (checks, recording,
live view, checking sink, the order things start and stop in) is ``ipamx_spy.session_setup``'s;
here are only the options, the announcement, the summary and the exit codes.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer

from .. import render
from ..aio.relay import DEFAULT_HEADER_TIMEOUT
from ..aio.server import Server
from ..console import err
from ..proxy import OnRecordError
from ..session_setup import (
    LiveOptions,
    LiveSetup,
    SetupError,
    live_session,
    print_summary,
    run_server,
    serve_session,
)
from ..tap import DEFAULT_MAX_BODY
from .errors import FINDINGS, fail
from .options import FILTER_HELP, IGNORE_RULE_HELP

__all__ = ["LiveOptions", "OnRecordError", "prepare", "run_or_exit", "serve_and_summarise"]

RECORD = typer.Option(
    None, "--record", metavar="PATH",
    help="Recording file, which must not exist yet "
         "[default: recordings/ipamx-NAME-TIMESTAMP.jsonl].")
NO_RECORD = typer.Option(False, "--no-record", help="Do not record.")
GROUP = typer.Option(
    None, "--group", metavar="NAME",
    help="Group that may read the new recording (mode 0640) [default: only you, mode 0600].")
COMPACT = typer.Option(False, "--compact", help="One line per exchange.")
JSON_OUT = typer.Option(False, "--json", help="Write records to stdout as JSON.")
QUIET = typer.Option(False, "--quiet", "-q", help="No live view.")
HEADERS = typer.Option(True, "--headers/--no-headers", help="Show headers.")
BODIES = typer.Option(True, "--bodies/--no-bodies", help="Show bodies.")
MAX_BODY = typer.Option(DEFAULT_MAX_BODY, "--max-body", metavar="BYTES",
                        help="Largest body accepted, in bytes.")
UPSTREAM_TIMEOUT = typer.Option(
    None, "--upstream-timeout", metavar="SECONDS",
    help="Seconds to wait for the plugin [default: none, as dockerd].")
ON_RECORD_ERROR = typer.Option(
    OnRecordError.CONTINUE, "--on-record-error", case_sensitive=False,
    help="When the recording cannot be written: keep relaying (continue) or answer 500 until "
         "it works again (refuse).")
REDACT = typer.Option([], "--redact", metavar="PATH",
                      help="Body path or header:NAME to redact at record time (repeatable).")
VALIDATE = typer.Option(True, "--validate/--no-validate",
                        help="Check each exchange against the protocol.")
SLOW_MS = typer.Option(1000.0, "--slow-ms", metavar="MS",
                       help="Answers slower than this many milliseconds are flagged.")
CONTROL = typer.Option(
    None, "--control", metavar="PATH",
    help="Control socket for `ipamx-spy mark` [default: /run/ipamx-spy/NAME.ctl].")
HEADER_TIMEOUT = typer.Option(
    DEFAULT_HEADER_TIMEOUT, "--header-timeout", metavar="SECONDS",
    help="Seconds a docker-side request may take to arrive once begun (then 408).")
DRAIN_TIMEOUT = typer.Option(5.0, "--drain-timeout", metavar="SECONDS",
                             help="Seconds to let exchanges finish on exit.")
LIVE_FILTER = typer.Option([], "--filter", metavar="FILTER",
                           help="Draw only matching exchanges; all are recorded. " + FILTER_HELP)
IGNORE_RULE = typer.Option([], "--ignore-rule", metavar="CODE", help=IGNORE_RULE_HELP)


def _unusable(exc: SetupError) -> NoReturn:
    fail(str(exc))


def prepare(name: str, header: dict[str, Any], opts: LiveOptions) -> LiveSetup:
    """The session for these options; a bad option or ``--record`` file exits 2."""
    try:
        return live_session(name, header, opts)
    except SetupError as exc:
        _unusable(exc)


def run_or_exit(server: Server) -> None:
    """Serve until stopped; a socket that cannot be listened on exits 2."""
    try:
        run_server(server)
    except SetupError as exc:
        _unusable(exc)


def _announce(server: Server, setup: LiveSetup, answering: str) -> None:
    err.print(f"[bold]ipamx-spy[/] listening on [cyan]{server.options.listen}[/]")
    err.print(f"  answering with: {answering}")
    err.print(f"  recording to:   {setup.writer.path if setup.writer else '(not recording)'}")
    err.print(f"  control socket: {server.options.control}  (ipamx-spy mark TEXT)")


def serve_and_summarise(server: Server, setup: LiveSetup, answering: str) -> None:
    """Announce, serve until stopped, print the summary; exit 1 if records were lost, 2 if
    the recording or the socket cannot be used."""
    if server.ready is None:
        server.ready = lambda: _announce(server, setup, answering)
    try:
        end = serve_session(server, setup)
    except SetupError as exc:
        _unusable(exc)
    print_summary(err, end.summary, end.findings, end.recorded)
    if end.lost:
        fail(f"{render.plural(end.lost, 'record')} could not be written to "
             f"{end.recorded or '?'}", FINDINGS)
