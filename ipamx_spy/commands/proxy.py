"""``ipamx-spy proxy``: the recording proxy, in front of a plugin or the built-in one."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import typer

from .. import address, render
from ..aio.listen import SocketInUse
from ..aio.relay import RelayOptions
from ..aio.server import Server, ServerOptions, run
from ..console import err, out
from ..live import DetachedView, LiveView
from ..proxy import Session
from ..recording import RecordingWriter, make_header
from ..tap import DEFAULT_MAX_BODY
from . import builtin_options as bo

CONTROL_DIR = Path("/run/ipamx-spy")


def default_recording(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("recordings") / f"ipamx-{name}-{stamp}.jsonl"


def control_path(name: str) -> Path:
    return CONTROL_DIR / f"{name}.ctl"


def _socket_mode(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an octal mode such as 0660") from None


def _redactor(rules: list[str]) -> Any:
    if not rules:
        return None
    from .. import redact

    parsed = redact.parse_rules(rules)
    return lambda record: redact.redact_exchange_record(record, parsed)


def _checker(slow_ms: float, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from ..validate import Validator
    except ImportError:
        return None
    return Validator(slow_ms=slow_ms)


def register(app: typer.Typer) -> None:
    @app.command()
    def proxy(
        name: str = typer.Option("ipamx", "--name", "-n", help="Plugin name dockerd uses."),
        listen: Path | None = typer.Option(
            None, help="Socket to listen on [default: /run/docker/plugins/NAME.sock]."),
        upstream: str | None = typer.Option(
            None, "--upstream", "-u",
            help="Real plugin: socket path, unix://PATH, tcp://HOST:PORT or a plugin name. "
                 "Without it, the built-in reference plugin answers."),
        socket_mode: str = typer.Option("0660", help="Mode of the listening socket."),
        record: Path | None = typer.Option(
            None, help="Recording file [default: recordings/ipamx-NAME-TIMESTAMP.jsonl]."),
        no_record: bool = typer.Option(False, "--no-record", help="Do not record."),
        compact: bool = typer.Option(False, "--compact", help="One line per exchange."),
        json_out: bool = typer.Option(False, "--json", help="Write records to stdout as JSON."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No live view."),
        headers: bool = typer.Option(True, "--headers/--no-headers", help="Show headers."),
        bodies: bool = typer.Option(True, "--bodies/--no-bodies", help="Show bodies."),
        max_body: int = typer.Option(DEFAULT_MAX_BODY, help="Largest body accepted (bytes)."),
        upstream_timeout: float | None = typer.Option(
            None, help="Seconds to wait for the plugin [default: none, as dockerd]."),
        on_record_error: str = typer.Option(
            "continue", help="When the recording cannot be written: continue or refuse."),
        redact: list[str] = typer.Option(
            [], "--redact", help="JSON path or header:NAME to redact at record time."),
        validate: bool = typer.Option(True, "--validate/--no-validate",
                                      help="Check each exchange against the protocol."),
        slow_ms: float = typer.Option(1000.0, help="Answers slower than this are flagged."),
        control: Path | None = typer.Option(
            None, help="Control socket for `ipamx-spy mark` [default: /run/ipamx-spy/NAME.ctl]."),
        drain_timeout: float = typer.Option(5.0, help="Seconds to let exchanges finish on exit."),
        state: str = bo.STATE,
        compat: str = bo.COMPAT,
        local_space: str = bo.LOCAL_SPACE,
        global_space: str = bo.GLOBAL_SPACE,
        network_driver: bool = bo.NETWORK_DRIVER,
        local_pool: list[str] = bo.LOCAL_POOL,
        global_pool: list[str] = bo.GLOBAL_POOL,
        exclude: list[str] = bo.EXCLUDE,
        engine_id: str | None = bo.ENGINE_ID,
    ) -> None:
        """Sit between dockerd and a plugin: relay, record and explain every exchange."""
        listen_path = listen or address.SOCKET_DIR / f"{name}.sock"
        target = _upstream(upstream, listen_path)
        mode = "json" if json_out else "compact" if compact else "quiet" if quiet else "full"
        live = LiveView(console=out, diagnostics=err, mode=mode,
                        view=render.View(headers=headers, bodies=bodies),
                        checker=_checker(slow_ms, validate))
        writer = None
        if not no_record:
            record_path = record or default_recording(name)
            header = make_header(name=name, listen=str(listen_path),
                                 upstream=str(target) if target else "builtin")
            writer = RecordingWriter(record_path, header)
        sink: LiveView | DetachedView = live if mode in {"json", "quiet"} else DetachedView(live)
        session = Session(writer=writer, sinks=[sink], on_record_error=on_record_error,
                          redact=_redactor(redact))
        plugin = None
        if target is None:
            plugin = bo.build(name=name, state=state, compat=compat, local_space=local_space,
                              global_space=global_space, network_driver=network_driver,
                              local_pool=local_pool, global_pool=global_pool,
                              exclude=exclude, engine_id=engine_id,
                              on_shutdown=lambda: server.request_stop())
        options = ServerOptions(
            listen=listen_path, socket_mode=_socket_mode(socket_mode),
            control=control or control_path(name), drain_timeout=drain_timeout,
            relay=RelayOptions(upstream=target, app=plugin, max_body=max_body,
                               upstream_timeout=upstream_timeout))
        server = Server(options, session)
        try:
            _run(server, session, sink, target, writer)
        finally:
            if plugin is not None:
                plugin.close()


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


def _upstream(text: str | None, listen_path: Path) -> address.Address | None:
    if text is None:
        return None
    try:
        target = address.parse(text)
    except address.AddressError as exc:
        err.print(f"[red]ipamx-spy: --upstream: {exc}[/]")
        raise typer.Exit(2) from exc
    if target.kind == "builtin":
        return None
    if target.kind == "unix" and Path(target.path).resolve() == listen_path.resolve():
        err.print(f"[red]ipamx-spy: --upstream {target} is the socket ipamx-spy listens on[/]")
        raise typer.Exit(2)
    return target


def _run(server: Server, session: Session, sink: LiveView | DetachedView,
         target: address.Address | None, writer: RecordingWriter | None) -> None:
    def ready() -> None:
        err.print(f"[bold]ipamx-spy[/] listening on [cyan]{server.options.listen}[/]")
        err.print(f"  answering with: {target if target else 'the built-in reference plugin'}")
        err.print(f"  recording to:   {writer.path if writer else '(not recording)'}")
        err.print(f"  control socket: {server.options.control}  (ipamx-spy mark TEXT)")

    server.ready = ready
    try:
        run_or_exit(server)
    finally:
        if writer is not None:
            writer.close()
        findings = sink.close() if isinstance(sink, DetachedView) else sink.findings
    err.print(render.summary_table(session.exchanges))
    if findings:
        errors = sum(1 for f in findings if f.severity == "error")
        err.print(f"validation: {len(findings)} finding(s), {errors} error(s)")
    if session.backlog:
        err.print(f"[bold red]ipamx-spy: {len(session.backlog)} record(s) could not be written "
                  f"to {writer.path if writer else '?'}[/]")
        raise typer.Exit(1)
