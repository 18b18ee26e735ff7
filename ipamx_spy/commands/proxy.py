"""``ipamx-spy proxy``: the recording proxy, in front of a plugin or the built-in one."""

from __future__ import annotations

import socket
from pathlib import Path

import typer

from .. import address
from ..aio.relay import RelayOptions
from ..aio.server import Server, ServerOptions
from ..builtin import AllocatorStore
from ..console import err
from ..places import control_path
from ..recording import make_header
from . import builtin_options as bo
from . import session_options as so
from .options import FAULT_HELP, faults_from, filter_from, switches_from
from .web import WEB, OptionalWebCommand, serve_beside

__all__ = ["register", "socket_mode"]


def socket_mode(text: str) -> int:
    """The octal ``--socket-mode``; a bad one is a usage error (exit 2)."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise typer.BadParameter(f"{text!r} is not an octal mode such as 0660",
                                 param_hint="--socket-mode")
    return mode


def register(app: typer.Typer) -> None:
    @app.command(cls=OptionalWebCommand)
    def proxy(
        name: str = typer.Option("ipamx", "--name", "-n", help="Plugin name dockerd uses."),
        listen: Path | None = typer.Option(
            None, help="Socket to listen on [default: /run/docker/plugins/NAME.sock]."),
        upstream: str | None = typer.Option(
            None, "--upstream", "-u",
            help="Real plugin: socket path, unix://PATH, tcp://HOST:PORT or a plugin name. "
                 "Without it, the built-in reference plugin answers."),
        socket_mode_text: str = typer.Option("0660", "--socket-mode", metavar="MODE",
                                             help="Mode of the listening socket, in octal."),
        record: Path | None = so.RECORD,
        no_record: bool = so.NO_RECORD,
        group: str | None = bo.RECORD_AND_STATE_GROUP,
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
        fault: list[str] = typer.Option([], "--fault", metavar="FAULT", help=FAULT_HELP),
        control: Path | None = so.CONTROL,
        drain_timeout: float = so.DRAIN_TIMEOUT,
        header_timeout: float = so.HEADER_TIMEOUT,
        state: str = bo.STATE,
        store: AllocatorStore = bo.STORE,
        host_id: str | None = bo.HOST_ID,
        compat: str = bo.COMPAT,
        local_space: str = bo.LOCAL_SPACE,
        global_space: str = bo.GLOBAL_SPACE,
        network_driver: bool = bo.NETWORK_DRIVER,
        local_pool: list[str] = bo.LOCAL_POOL,
        global_pool: list[str] = bo.GLOBAL_POOL,
        exclude: list[str] = bo.EXCLUDE,
        engine_id: str | None = bo.ENGINE_ID,
        allow_shutdown: bool = bo.ALLOW_SHUTDOWN,
        web: str | None = WEB,
    ) -> None:
        """Sit between dockerd and a plugin: relay, record and explain every exchange."""
        listen_path = listen or address.SOCKET_DIR / f"{name}.sock"
        target = _upstream(upstream, listen_path)
        opts = so.LiveOptions(
            record=record, no_record=no_record, compact=compact, json_out=json_out, quiet=quiet,
            headers=headers, bodies=bodies, on_record_error=on_record_error,
            redact=tuple(redact), validate=validate, slow_ms=slow_ms,
            filter=filter_from(filter_), switches=switches_from(ignore_rule), group=group,
            upstream_timeout=upstream_timeout)
        header = make_header(name=name, listen=str(listen_path),
                             upstream=str(target) if target else "builtin",
                             host=host_id or socket.gethostname())
        mode = socket_mode(socket_mode_text)
        faults = faults_from(fault)
        setup = so.prepare(name, header, opts)
        plugin = None

        def server_stop() -> None:
            server.request_stop()

        if target is None:
            plugin = bo.build(name=name, state=state, compat=compat, local_space=local_space,
                              global_space=global_space, network_driver=network_driver,
                              local_pool=local_pool, global_pool=global_pool,
                              exclude=exclude, engine_id=engine_id,
                              store=store, host_id=host_id, group=group,
                              on_shutdown=server_stop if allow_shutdown else None)
        options = ServerOptions(
            listen=listen_path, socket_mode=mode,
            control=control or control_path(name), drain_timeout=drain_timeout,
            relay=RelayOptions(upstream=target, app=plugin, max_body=max_body,
                               upstream_timeout=upstream_timeout, faults=faults,
                               header_timeout=header_timeout))
        server = Server(options, setup.session)
        if web is not None:
            serve_beside(server, setup.session, header, web, validate=validate,
                         slow_ms=slow_ms)
        try:
            so.serve_and_summarise(
                server, setup, str(target) if target else "the built-in reference plugin")
        finally:
            if plugin is not None:
                plugin.close()


def _upstream(text: str | None, listen_path: Path) -> address.Address | None:
    if text is None:
        return None
    try:
        target = address.parse(text)
    except address.AddressError as exc:
        err.print(f"[red]ipamx-spy: --upstream: {exc}[/]")
        raise typer.Exit(2) from exc
    if target.kind is address.AddressKind.BUILTIN:
        return None
    if target.kind is address.AddressKind.UNIX \
            and Path(target.path).resolve() == listen_path.resolve():
        err.print(f"[red]ipamx-spy: --upstream {target} is the socket ipamx-spy listens on[/]")
        raise typer.Exit(2)
    return target
