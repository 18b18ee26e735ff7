"""What every recording command shares: its options, its session, and how it ends.

``proxy`` and ``attach`` declare the same recording and live-view options (the constants below),
build their session with ``live_session`` and serve with ``serve_and_summarise``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from .. import render
from ..aio.listen import SocketInUse
from ..aio.relay import DEFAULT_HEADER_TIMEOUT
from ..aio.server import Server, run
from ..console import err, out
from ..findings import Finding
from ..live import Checker, DetachedView, LiveView
from ..proxy import Redactor, Session
from ..recording import RecordingWriter
from ..tap import DEFAULT_MAX_BODY

CONTROL_DIR = Path("/run/ipamx-spy")

RECORD = typer.Option(
    None, "--record", help="Recording file [default: recordings/ipamx-NAME-TIMESTAMP.jsonl].")
NO_RECORD = typer.Option(False, "--no-record", help="Do not record.")
COMPACT = typer.Option(False, "--compact", help="One line per exchange.")
JSON_OUT = typer.Option(False, "--json", help="Write records to stdout as JSON.")
QUIET = typer.Option(False, "--quiet", "-q", help="No live view.")
HEADERS = typer.Option(True, "--headers/--no-headers", help="Show headers.")
BODIES = typer.Option(True, "--bodies/--no-bodies", help="Show bodies.")
MAX_BODY = typer.Option(DEFAULT_MAX_BODY, "--max-body", help="Largest body accepted (bytes).")
UPSTREAM_TIMEOUT = typer.Option(
    None, "--upstream-timeout", help="Seconds to wait for the plugin [default: none, as dockerd].")
ON_RECORD_ERROR = typer.Option(
    "continue", "--on-record-error",
    help="When the recording cannot be written: continue or refuse.")
REDACT = typer.Option([], "--redact", help="JSON path or header:NAME to redact at record time.")
VALIDATE = typer.Option(True, "--validate/--no-validate",
                        help="Check each exchange against the protocol.")
SLOW_MS = typer.Option(1000.0, "--slow-ms", help="Answers slower than this are flagged.")
CONTROL = typer.Option(
    None, "--control",
    help="Control socket for `ipamx-spy mark` [default: /run/ipamx-spy/NAME.ctl].")
HEADER_TIMEOUT = typer.Option(
    DEFAULT_HEADER_TIMEOUT, "--header-timeout",
    help="Seconds a docker-side request may take to arrive once begun (then 408).")
DRAIN_TIMEOUT = typer.Option(5.0, "--drain-timeout",
                             help="Seconds to let exchanges finish on exit.")


def default_recording(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("recordings") / f"ipamx-{name}-{stamp}.jsonl"


def control_path(name: str) -> Path:
    return CONTROL_DIR / f"{name}.ctl"


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """The recording and live-view options, as the user gave them."""

    record: Path | None = None
    no_record: bool = False
    compact: bool = False
    json_out: bool = False
    quiet: bool = False
    headers: bool = True
    bodies: bool = True
    on_record_error: str = "continue"
    redact: tuple[str, ...] = ()
    validate: bool = True
    slow_ms: float = 1000.0

    @property
    def mode(self) -> str:
        return ("json" if self.json_out else "compact" if self.compact
                else "quiet" if self.quiet else "full")


def redactor(rules: tuple[str, ...]) -> Redactor | None:
    """The record-time redaction for ``--redact`` rules (raises ValueError for a bad rule)."""
    if not rules:
        return None
    from .. import redact

    parsed = redact.parse_rules(list(rules))
    return lambda record: redact.redact_exchange_record(record, parsed)


def checker(slow_ms: float, enabled: bool) -> Checker | None:
    """The live validator, unless ``--no-validate``."""
    if not enabled:
        return None
    from ..validate import Validator

    return Validator(slow_ms=slow_ms)


Sink = LiveView | DetachedView


def live_session(name: str, header: dict[str, Any],
                 opts: LiveOptions) -> tuple[Session, Sink, RecordingWriter | None]:
    """The session of a recording command: its writer, its live view and its validator."""
    try:
        redact = redactor(opts.redact)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--redact") from exc
    live = LiveView(console=out, diagnostics=err, mode=opts.mode,
                    view=render.View(headers=opts.headers, bodies=opts.bodies),
                    checker=checker(opts.slow_ms, opts.validate))
    writer = None
    if not opts.no_record:
        writer = RecordingWriter(opts.record or default_recording(name), header)
    sink: Sink = live if opts.mode == "quiet" and live.checker is None else DetachedView(live)
    session = Session(writer=writer, sinks=[sink],
                      on_record_error=opts.on_record_error, redact=redact)
    return session, sink, writer


def run_or_exit(server: Server, label: str = "ipamx-spy") -> None:
    """Serve until stopped; a socket that cannot be listened on exits with code 2."""
    try:
        run(server)
    except (SocketInUse, FileExistsError) as exc:
        err.print(f"[red]{label}: {exc}[/]")
        raise typer.Exit(2) from exc
    except OSError as exc:
        err.print(f"[red]{label}: cannot listen on {server.options.listen}: "
                  f"{exc.strerror or exc}[/]")
        raise typer.Exit(2) from exc


def serve_and_summarise(server: Server, session: Session, sink: Sink,
                        writer: RecordingWriter | None, answering: str) -> None:
    """Announce, serve until stopped, then print the summary; exit 1 if records were lost."""
    def ready() -> None:
        err.print(f"[bold]ipamx-spy[/] listening on [cyan]{server.options.listen}[/]")
        err.print(f"  answering with: {answering}")
        err.print(f"  recording to:   {writer.path if writer else '(not recording)'}")
        err.print(f"  control socket: {server.options.control}  (ipamx-spy mark TEXT)")

    if server.ready is None:
        server.ready = ready
    findings: list[Finding] = []
    try:
        run_or_exit(server)
    finally:
        if writer is not None:
            writer.close()
        findings = sink.close() if isinstance(sink, DetachedView) else sink.findings
    err.print(render.summary_table(session.summary))
    if findings:
        errors = sum(1 for f in findings if f.severity == "error")
        err.print(f"validation: {len(findings)} finding(s), {errors} error(s)")
    if session.backlog:
        err.print(f"[bold red]ipamx-spy: {len(session.backlog)} record(s) could not be written "
                  f"to {writer.path if writer else '?'}[/]")
        raise typer.Exit(1)

