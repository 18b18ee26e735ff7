"""What every recording command shares: its options, its session, and how it ends.

``proxy`` and ``attach`` declare the same recording and live-view options (the constants below),
build their session with ``live_session`` and serve with ``serve_and_summarise``.

Every option is checked before anything starts: ``live_session`` only prepares (it parses the
redaction rules, the filter and the rule switches, and refuses a ``--record`` file that exists);
the recording file is opened and the live view's process is started by ``serve_and_summarise``
right before serving, so a usage error never leaves a child process or an empty recording
behind.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from .. import render
from ..aio.listen import SocketInUse
from ..aio.relay import DEFAULT_HEADER_TIMEOUT
from ..aio.server import Server, run
from ..console import err, out
from ..findings import Finding
from ..live import Checker, DetachedChecker, DetachedView, LiveView, ViewMode
from ..places import RECORDINGS_DIR, default_recording
from ..proxy import ProxySession, Redactor
from ..recording import RecordingWriter
from ..stats import Summary
from ..switches import RuleSwitches, Switched
from ..tap import DEFAULT_MAX_BODY
from .errors import fail, open_writer
from .options import FILTER_HELP, IGNORE_RULE_HELP, filter_from, switches_from, usage_error


class OnRecordError(enum.StrEnum):
    """What the proxy does when the recording cannot be written (``ipamx_spy.proxy``)."""

    CONTINUE = "continue"
    REFUSE = "refuse"


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
    filters: tuple[str, ...] = ()
    ignore_rules: tuple[str, ...] = ()
    group: str | None = None

    @property
    def mode(self) -> ViewMode:
        return (ViewMode.JSON if self.json_out else ViewMode.COMPACT if self.compact
                else ViewMode.QUIET if self.quiet else ViewMode.FULL)


def check_options(opts: LiveOptions, upstream_timeout: float | None = None) -> None:
    """Refuse contradictory or impossible options (exit 2) before anything starts."""
    if opts.compact and opts.json_out:
        fail("--compact and --json cannot be combined (--json writes records, not a view)")
    if upstream_timeout is not None and not upstream_timeout > 0:
        fail(f"--upstream-timeout {upstream_timeout:g}: give a positive number of seconds")
    if opts.slow_ms < 0:
        fail(f"--slow-ms {opts.slow_ms:g}: give zero or more milliseconds")


def redactor(rules: tuple[str, ...]) -> Redactor | None:
    """The record-time redaction for ``--redact`` rules (raises ValueError for a bad rule)."""
    if not rules:
        return None
    from .. import redact

    parsed = redact.parse_rules(list(rules))
    return lambda record: redact.redact_exchange_record(record, parsed)


def checker(slow_ms: float, enabled: bool,
            switches: RuleSwitches = RuleSwitches()) -> Checker | None:
    """The live validator, unless ``--no-validate``; switched-off rules say nothing."""
    if not enabled:
        return None
    from ..validate import Validator

    validator = Validator(slow_ms=slow_ms)
    return Switched(validator, switches) if switches else validator


@dataclass
class LiveSetup:
    """A recording command's session, prepared but not started (see the module docstring)."""

    session: ProxySession
    live: LiveView
    record_path: Path | None
    header: dict[str, Any]
    view: LiveView | DetachedView | None = None
    checking: DetachedChecker | None = None
    writer: RecordingWriter | None = None
    created: bool = False
    findings: list[Finding] = field(default_factory=list)
    group: str | None = None
    make_parent: bool = False

    def start(self) -> None:
        """Open the recording and start the live view (a child process for drawn views)."""
        if self.record_path is not None:
            self.created = not self.record_path.exists()
            self.writer = open_writer(self.record_path, self.header, group=self.group,
                                      make_parent=self.make_parent)
            self.session.writer = self.writer
        # Validation and the verdicts run in the checking sink's process, drawing and --json
        # output in the view's; both are fed through pipes that never block the relay. A
        # quiet run draws nothing: its view stays in this process, for diagnostics only.
        checker, self.live.checker = self.live.checker, None
        quiet = self.live.mode is ViewMode.QUIET
        detached = None if quiet else DetachedView(self.live)
        self.view = self.live if detached is None else detached
        self.checking = DetachedChecker(checker, on_finding=self.session.finding,
                                        on_failed=self.session.failed, view=detached,
                                        diagnostics=self.live.diagnostics)
        sinks: list[Any] = [self.checking, self.live] if quiet else [self.checking]
        self.session.sinks = [*sinks, *self.session.sinks]  # keep the web board

    def stop(self) -> list[Finding]:
        """Close the checking sink (its last findings are still recorded), the view, then the
        recording; a recording this run created and left empty (it never served) is removed.
        Returns the validator's findings."""
        if self.checking is not None:
            self.checking.close()
        if isinstance(self.view, DetachedView):
            self.findings = [*self.session.findings, *self.view.close()]
        else:
            self.findings = list(self.session.findings)
        if self.writer is not None:
            self.writer.close()
            if (self.created and not self.session.exchanges_done
                    and _only_header(self.writer.path)):
                self.writer.path.unlink(missing_ok=True)
        return self.findings


def _only_header(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            file.readline()
            return not file.read(1)
    except OSError:
        return False


def record_target(opts: LiveOptions, name: str) -> Path | None:
    """Where this run records; exit 2 when ``--record`` names a file that exists.

    A recording holds one session: its header, then its exchanges numbered from 1. Appending a
    second run would repeat the numbers under the first header, so an existing file is refused.
    """
    if opts.no_record:
        return None
    path = opts.record or default_recording(name)
    if path.is_symlink():
        raise usage_error(f"--record {path} is a symbolic link; ipamx-spy does not write "
                          "through links (give a new file name)")
    if path.exists():
        raise usage_error(
            f"--record {path}: the file exists; a recording holds one session, so give a new "
            "file name (or remove the old recording first)")
    return path


def live_session(name: str, header: dict[str, Any], opts: LiveOptions) -> LiveSetup:
    """The session of a recording command: every option checked, nothing started yet."""
    try:
        redact = redactor(opts.redact)
    except ValueError as exc:
        raise usage_error(f"--redact: {exc}") from exc
    chosen = filter_from(opts.filters)
    switches = switches_from(opts.ignore_rules)
    path = record_target(opts, name)
    live = LiveView(console=out, diagnostics=err, mode=opts.mode,
                    view=render.View(headers=opts.headers, bodies=opts.bodies),
                    checker=checker(opts.slow_ms, opts.validate, switches), filter=chosen,
                    header=header if opts.mode is ViewMode.JSON else None)
    session = ProxySession(writer=None, sinks=[], on_record_error=str(opts.on_record_error),
                      redact=redact)
    return LiveSetup(session=session, live=live, record_path=path, header=header,
                     group=opts.group,
                     make_parent=opts.record is None or opts.record.parent == RECORDINGS_DIR)


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


def serve_and_summarise(server: Server, setup: LiveSetup, answering: str) -> None:
    """Start, announce, serve until stopped, then print the summary; exit 1 if records were
    lost."""
    def ready() -> None:
        err.print(f"[bold]ipamx-spy[/] listening on [cyan]{server.options.listen}[/]")
        err.print(f"  answering with: {answering}")
        err.print(f"  recording to:   {setup.writer.path if setup.writer else '(not recording)'}")
        err.print(f"  control socket: {server.options.control}  (ipamx-spy mark TEXT)")

    if server.ready is None:
        server.ready = ready
    setup.start()
    served = False
    try:
        run_or_exit(server)
        served = True
    finally:
        findings = setup.stop()
        if served:
            print_summary(setup.session.summary, findings,
                          setup.writer.path if setup.writer else None)
    if setup.session.backlog:
        path = setup.writer.path if setup.writer else "?"
        err.print(f"[bold red]ipamx-spy: {render.plural(len(setup.session.backlog), 'record')} "
                  f"could not be written to {path}[/]")
        raise typer.Exit(1)


def print_summary(summary: Summary, findings: Sequence[Finding], path: Path | None) -> None:
    """The exit summary, on a line of its own (after the terminal's ``^C``)."""
    err.print()
    err.print(render.summary_table(summary))
    if findings:
        errors = sum(1 for f in findings if f.severity == "error")
        err.print(f"validation: {render.plural(len(findings), 'finding')}, "
                  f"{render.plural(errors, 'error')}")
    if path is None:
        return
    err.print(f"recorded {render.plural(summary.calls, 'exchange')} to [cyan]{path}[/]")
    if summary.calls:
        err.print("next:")
        for command in next_steps(path):
            err.print(f"  {command}", highlight=False)


def next_steps(path: Path) -> tuple[str, ...]:
    """What to do with a recording just made."""
    stem = path.with_suffix("").name
    return (f"ipamx-spy show {path} --compact",
            f"ipamx-spy check {path}",
            f"ipamx-spy export {path} -f html -o {stem}.html",
            f"ipamx-spy replay {path} --target PLUGIN")
