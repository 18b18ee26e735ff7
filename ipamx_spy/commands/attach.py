"""``ipamx-spy attach NAME`` and ``ipamx-spy detach NAME``: the proxy in front of an installed
plugin, without restarting it, and back out again (also after a crash of the spy)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..aio.relay import RelayOptions
from ..aio.server import ServerOptions
from ..attach import AttachError, AttachPlan, AttachTarget, locate, plan_for
from ..attach.docker import DockerAPI, DockerError, docker_host
from ..attach.lifecycle import Detached, DetachOutcome, begin_journal, refuse_if_attached
from ..attach.lifecycle import detach as detach_journal
from ..attach.server import AttachedServer
from ..console import err
from ..places import CONTROL_DIR, control_path, journal_path
from ..recording import make_header
from . import session_options as so
from .options import filter_from, switches_from


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]ipamx-spy: {message}[/]")
    return typer.Exit(code)


def _target(name: str, host: str | None) -> AttachTarget:
    try:
        target, warning = locate(name, DockerAPI(docker_host(host)))
    except (AttachError, DockerError, OSError) as exc:
        raise _fail(str(exc)) from exc
    if warning:
        err.print(f"[yellow]ipamx-spy: {warning}; looking for a legacy plugin only[/]")
    return target


def _announce(server: AttachedServer) -> None:
    plan = server.journal.plan
    err.print(f"[bold]ipamx-spy[/] attached to [cyan]{plan.target.name}[/]: {plan.target.how}")
    if plan.moved is not None:
        err.print(f"  the plugin answers meanwhile at {plan.moved}")
    else:
        err.print(f"  {plan.target.path} now names the spy; dockerd reads it when it looks the "
                  "plugin up: a plugin it already uses is reached through the spy after dockerd "
                  "restarts")
    handover = server.handover
    if handover is not None:
        where = f" ({'; '.join(handover.elsewhere)})" if handover.elsewhere else ""
        err.print(f"  connections dockerd held to the plugin, handed over: {handover.closed}"
                  f"{where}")
        for reason in handover.failed:
            err.print(f"[yellow]  kept by the plugin: {reason}[/]")
    err.print(f"  journal: {server.journal_path}  (after a crash: ipamx-spy detach "
              f"{plan.target.name})")
    server.session.marker(f"ipamx-spy attached to {plan.target.name}")


def _step_back(server: AttachedServer) -> bool:
    """Restore the plugin (if the server did not already); report; never raises."""
    name = server.journal.plan.target.name
    try:
        done = server.restore()
    except OSError as exc:
        err.print(f"[bold red]ipamx-spy: could not detach from {name}: {exc}; the journal "
                  f"{server.journal_path} is kept: fix that and run `ipamx-spy detach {name}`[/]")
        return False
    for step in done:
        err.print(f"ipamx-spy: detached from {name}: {step}")
    return True


def register(app: typer.Typer) -> None:
    @app.command()
    def attach(
        name: str = typer.Argument(..., help="The plugin's name, as in --ipam-driver NAME."),
        docker_host_option: str | None = typer.Option(
            None, "--docker-host", "-H",
            help="dockerd's API, to find managed plugins "
                 "[default: $DOCKER_HOST or unix:///var/run/docker.sock]."),
        handover: bool = typer.Option(
            True, "--handover/--no-handover",
            help="Close the connections dockerd already holds to the plugin once their "
                 "exchange is done, so that dockerd reconnects through the spy."),
        record: Path | None = so.RECORD,
        no_record: bool = so.NO_RECORD,
        group: str | None = so.GROUP,
        compact: bool = so.COMPACT,
        json_out: bool = so.JSON_OUT,
        quiet: bool = so.QUIET,
        headers: bool = so.HEADERS,
        bodies: bool = so.BODIES,
        max_body: int = so.MAX_BODY,
        upstream_timeout: float | None = so.UPSTREAM_TIMEOUT,
        on_record_error: so.OnRecordError = so.ON_RECORD_ERROR,
        redact: list[str] = so.REDACT,
        validate: bool = so.VALIDATE,
        slow_ms: float = so.SLOW_MS,
        filter_: list[str] = so.LIVE_FILTER,
        ignore_rule: list[str] = so.IGNORE_RULE,
        control: Path | None = so.CONTROL,
        drain_timeout: float = so.DRAIN_TIMEOUT,
    ) -> None:
        """Put the spy in front of a running plugin without restarting it; undo it on exit."""
        path = journal_path(name)
        try:
            refuse_if_attached(path, name)
            plan = plan_for(_target(name, docker_host_option), CONTROL_DIR)
        except AttachError as exc:
            raise _fail(str(exc)) from exc
        opts = so.LiveOptions(
            record=record, no_record=no_record, compact=compact, json_out=json_out, quiet=quiet,
            headers=headers, bodies=bodies, on_record_error=on_record_error,
            redact=tuple(redact), validate=validate, slow_ms=slow_ms,
            filter=filter_from(filter_), switches=switches_from(ignore_rule), group=group,
            upstream_timeout=upstream_timeout)
        setup = so.prepare(name, _header(plan), opts)
        try:
            journal = begin_journal(path, plan, control or control_path(name))
        except AttachError as exc:
            raise _fail(str(exc)) from exc
        options = ServerOptions(
            listen=plan.listen, control=journal.control,
            drain_timeout=drain_timeout,
            relay=RelayOptions(upstream=plan.upstream, app=None, max_body=max_body,
                               upstream_timeout=upstream_timeout))
        server = AttachedServer(options, setup.session, journal=journal, journal_path=path,
                                handover=handover)
        server.on_attached = _announce
        try:
            so.serve_and_summarise(server, setup, str(plan.upstream))
        except AttachError as exc:
            raise _fail(str(exc)) from exc
        finally:
            restored = _step_back(server)
        if not restored:
            raise typer.Exit(1)

    @app.command()
    def detach(
        name: str = typer.Argument(..., help="The plugin's name, as given to attach."),
        timeout: float = typer.Option(
            10.0, help="Seconds to wait for a running spy to step back before restoring here."),
    ) -> None:
        """Undo `ipamx-spy attach NAME`: stop the spy if it runs, or restore after a crash."""
        path = journal_path(name)
        try:
            done = detach_journal(path, timeout)
        except AttachError as exc:
            raise _fail(str(exc)) from exc
        except OSError as exc:
            raise _fail(f"could not detach from {name}: {exc}; the journal {path} is kept", 1) \
                from exc
        _said_detached(name, path, timeout, done)


def _said_detached(name: str, path: Path, timeout: float, done: DetachOutcome) -> None:
    if done.how is Detached.NOT_ATTACHED:
        err.print(f"ipamx-spy: not attached to {name} (no journal {path}); nothing to do")
    elif done.how is Detached.BY_THE_SPY:
        err.print(f"ipamx-spy: the spy (pid {done.pid}) detached from {name} itself")
    else:
        if done.spy_hung:
            err.print(f"[yellow]ipamx-spy: pid {done.pid} did not detach within {timeout:g} s; "
                      "restored from the journal[/]")
        for step in done.steps or ("nothing was left to put back",):
            err.print(f"ipamx-spy: detached from {name}: {step}")


def _header(plan: AttachPlan) -> dict[str, object]:
    return make_header(name=plan.target.name, listen=str(plan.listen),
                       upstream=str(plan.upstream), attached=plan.target.how)
