"""A recording session from its options to its end: what ``proxy``, ``attach`` and ``mock``
share once their options are parsed.

Theory of operation
-------------------
Every option is checked before anything starts. ``live_session`` only prepares: it builds the
redaction, the validator and the live view, and refuses a ``--record`` file that exists. The
recording file is opened and the live view's and the checking sink's processes are started by
``serve_session`` right before serving, so a usage error never leaves a child process or an
empty recording behind. When serving ends, however it ends, the checking sink is closed first
(its last findings are still recorded), then the view, then the recording; a recording this run
created and never served into is removed again.

Problems a user can fix (an option, a file, a socket) are raised as ``SetupError`` with the
one sentence to say; the command says it and exits 2. Nothing here raises ``typer.Exit``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from . import render
from .aio.listen import SocketInUse
from .aio.server import Server, run
from .atomic import MissingDirectory, UnsafePath
from .console import err, out
from .filters import Filter
from .findings import Finding, Severity
from .live import Checker, DetachedChecker, DetachedView, Diagnostics, LiveView, ViewMode
from .places import RECORDINGS_DIR, default_recording
from .proxy import OnRecordError, ProxySession, Redactor
from .recording import RecordingError, RecordingWriter, header_docker_version
from .stats import Summary
from .switches import RuleSwitches, Switched


class SetupError(Exception):
    """An option, a file or a socket makes the session impossible. ``str()`` is the sentence
    to say (it names the option or the file); the caller says it and gives up: nothing that
    was started is left running."""


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """The recording and live-view options, parsed (``filter`` and ``switches`` are the parsed
    ``--filter`` and ``--ignore-rule``; ``redact`` keeps the rules' text, ``live_session``
    parses it)."""

    record: Path | None = None
    no_record: bool = False
    compact: bool = False
    json_out: bool = False
    quiet: bool = False
    headers: bool = True
    bodies: bool = True
    on_record_error: OnRecordError = OnRecordError.CONTINUE
    redact: tuple[str, ...] = ()
    validate: bool = True
    slow_ms: float = 1000.0
    filter: Filter | None = None
    switches: RuleSwitches = field(default_factory=RuleSwitches)
    group: str | None = None
    upstream_timeout: float | None = None

    @property
    def mode(self) -> ViewMode:
        return (ViewMode.JSON if self.json_out else ViewMode.COMPACT if self.compact
                else ViewMode.QUIET if self.quiet else ViewMode.FULL)


def check_options(opts: LiveOptions) -> None:
    """Refuse contradictory or impossible options before anything starts (``SetupError``)."""
    if opts.compact and opts.json_out:
        raise SetupError("--compact and --json cannot be combined (--json writes records, not "
                         "a view)")
    if opts.upstream_timeout is not None and not opts.upstream_timeout > 0:
        raise SetupError(f"--upstream-timeout {opts.upstream_timeout:g}: give a positive "
                         "number of seconds")
    if opts.slow_ms < 0:
        raise SetupError(f"--slow-ms {opts.slow_ms:g}: give zero or more milliseconds")


def redactor(rules: tuple[str, ...]) -> Redactor | None:
    """The record-time redaction for ``--redact`` rules (raises ValueError for a bad rule)."""
    if not rules:
        return None
    from . import redact

    parsed = redact.parse_rules(list(rules))
    return lambda record: redact.redact_exchange_record(record, parsed)


def checker(slow_ms: float, enabled: bool, switches: RuleSwitches = RuleSwitches(), *,
            docker_version: str | None = None) -> Checker | None:
    """The live validator, unless ``--no-validate``; switched-off rules say nothing.
    ``docker_version``: the daemon the session's header names (None: the validator's
    default), so the live findings are those ``ipamx-spy check`` finds in the recording."""
    if not enabled:
        return None
    from .validate import Validator

    validator = Validator(slow_ms=slow_ms, docker_version=docker_version)
    return Switched(validator, switches) if switches else validator


def open_writer(path: Path, header: dict[str, Any], *, group: str | None = None,
                make_parent: bool = False) -> RecordingWriter:
    """The recording writer for ``--record``; a file that cannot be written is a
    ``SetupError`` saying why and what to do."""
    try:
        return RecordingWriter(path, header, group=group, make_parent=make_parent)
    except RecordingError as exc:
        raise SetupError(str(exc)) from exc
    except ValueError as exc:  # an unknown --group
        raise SetupError(f"--group: {exc}") from exc
    except PermissionError as exc:
        raise SetupError(f"cannot write the recording {path}: permission denied (run as a "
                         "user who may write there, or give --record PATH)") from exc
    except (UnsafePath, MissingDirectory) as exc:
        raise SetupError(str(exc)) from exc
    except OSError as exc:
        raise SetupError(f"cannot write the recording {path}: {exc.strerror or exc}") from exc


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
        """Open the recording (``SetupError`` if it cannot be) and start the live view (a
        child process for drawn views)."""
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
                                        diagnostics=self.live.diagnostics,
                                        docker_version=header_docker_version(self.header))
        sinks: list[Any] = [self.checking, Diagnostics(self.live)] if quiet \
            else [self.checking]
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
    """Where this run records; a ``SetupError`` when ``--record`` names a file that exists.

    A recording holds one session: its header, then its exchanges numbered from 1. Appending a
    second run would repeat the numbers under the first header, so an existing file is refused.
    """
    if opts.no_record:
        return None
    path = opts.record or default_recording(name)
    if path.is_symlink():
        raise SetupError(f"--record {path} is a symbolic link; ipamx-spy does not write "
                         "through links (give a new file name)")
    if path.exists():
        raise SetupError(
            f"--record {path}: the file exists; a recording holds one session, so give a new "
            "file name (or remove the old recording first)")
    return path


def live_session(name: str, header: dict[str, Any], opts: LiveOptions) -> LiveSetup:
    """The session of a recording command: every option checked (``SetupError``), nothing
    started yet."""
    check_options(opts)
    try:
        redact = redactor(opts.redact)
    except ValueError as exc:
        raise SetupError(f"--redact: {exc}") from exc
    path = record_target(opts, name)
    live = LiveView(console=out, diagnostics=err, mode=opts.mode,
                    view=render.View(headers=opts.headers, bodies=opts.bodies),
                    checker=checker(opts.slow_ms, opts.validate, opts.switches,
                                    docker_version=header_docker_version(header)),
                    filter=opts.filter, header=header if opts.mode is ViewMode.JSON else None,
                    docker_version=header_docker_version(header))
    session = ProxySession(writer=None, sinks=[], on_record_error=opts.on_record_error,
                           redact=redact)
    return LiveSetup(session=session, live=live, record_path=path, header=header,
                     group=opts.group,
                     make_parent=opts.record is None or opts.record.parent == RECORDINGS_DIR)


def run_server(server: Server) -> None:
    """Serve until stopped; a socket that cannot be listened on is a ``SetupError``."""
    try:
        run(server)
    except (SocketInUse, FileExistsError) as exc:
        raise SetupError(str(exc)) from exc
    except OSError as exc:
        raise SetupError(f"cannot listen on {server.options.listen}: "
                         f"{exc.strerror or exc}") from exc


def web_beside(server: Server, session: ProxySession, header: dict[str, Any],
               sock: socket.socket, token: str, *, validate: bool, slow_ms: float,
               on_error: Callable[[str], None], on_url: Callable[[str], None]) -> None:
    """``proxy --web``: start the page's own process on the bound ``sock``, fed each record
    after its answer went to dockerd (``ipamx_spy.web.detached``). The proxy's loop only hands
    it records and, once serving (``on_url`` is told the page's address then), the pending
    requests."""
    from .web.detached import DetachedWeb

    web = DetachedWeb(header, sock, token, validate=validate, slow_ms=slow_ms,
                      on_error=on_error)
    session.sinks = [*session.sinks, web]

    async def web_view_pending() -> None:  # starts right after the "listening on" lines
        on_url(web.url)
        await web.follow_pending(lambda: session.pending)

    server.companions.append(web_view_pending)


@dataclass(frozen=True, kw_only=True)
class SessionEnd:
    """How a served session ended: what the summary says, and how many records were lost."""

    summary: Summary
    findings: tuple[Finding, ...]
    recorded: Path | None  # the recording, None without one
    lost: int  # records that could not be written (the command exits 1)


def serve_session(server: Server, setup: LiveSetup) -> SessionEnd:
    """Start the setup, serve until stopped, stop the setup (also when serving fails).

    Raises ``SetupError`` when the recording cannot be opened or the socket cannot be listened
    on; the setup is stopped then too, so no child process outlives the command."""
    setup.start()
    try:
        run_server(server)
    finally:
        findings = setup.stop()
    return SessionEnd(summary=setup.session.summary, findings=tuple(findings),
                      recorded=setup.writer.path if setup.writer else None,
                      lost=len(setup.session.backlog))


def next_steps(path: Path) -> tuple[str, ...]:
    """What to do with a recording just made."""
    stem = path.with_suffix("").name
    return (f"ipamx-spy show {path} --compact",
            f"ipamx-spy check {path}",
            f"ipamx-spy export {path} -f html -o {stem}.html",
            f"ipamx-spy replay {path} --target PLUGIN")


def print_summary(console: Console, summary: Summary, findings: Sequence[Finding],
                  path: Path | None) -> None:
    """The exit summary on ``console``, on a line of its own (after the terminal's ``^C``)."""
    console.print()
    console.print(render.summary_table(summary))
    if findings:
        errors = sum(1 for f in findings if f.severity == Severity.ERROR)
        console.print(f"validation: {render.plural(len(findings), 'finding')}, "
                      f"{render.plural(errors, 'error')}")
    if path is None:
        return
    console.print(f"recorded {render.plural(summary.calls, 'exchange')} to [cyan]{path}[/]")
    if summary.calls:
        console.print("next:")
        for command in next_steps(path):
            console.print(f"  {command}", highlight=False)
