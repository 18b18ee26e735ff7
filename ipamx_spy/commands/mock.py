"""``ipamx-spy mock``: serve a recording as a fake plugin (reproduce a bug report)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ipamx_spy import address, render
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.aio.server import Server, ServerOptions
from ipamx_spy.commands.session_options import run_or_exit
from ipamx_spy.console import err, out
from ipamx_spy.live import DetachedView, LiveView
from ipamx_spy.mock import Miss, MockPlugin
from ipamx_spy.proxy import Session
from ipamx_spy.recording import RecordingError, RecordingWriter, load, make_header


def _recording_path(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("recordings") / f"mock-{name}-{stamp}.jsonl"


def _mode(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an octal mode such as 0660") from None


def _announce(miss: Miss) -> None:
    err.print(Text(f"ipamx-spy mock: {miss.endpoint}: no recorded answer; {miss.reason}",
                   style="bold red"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def mock(
        recording: Annotated[Path, typer.Argument(help="The recording to serve.")],
        name: Annotated[str, typer.Option("--name", "-n",
                                          help="Plugin name dockerd uses.")] = "ipamx",
        listen: Annotated[Path | None, typer.Option(
            help="Socket to listen on [default: /run/docker/plugins/NAME.sock].")] = None,
        socket_mode: Annotated[str, typer.Option(help="Mode of the listening socket.")] = "0660",
        record: Annotated[Path | None, typer.Option(
            help="Record the mock session [default: recordings/mock-NAME-TIMESTAMP.jsonl]."
        )] = None,
        no_record: Annotated[bool, typer.Option("--no-record", help="Do not record.")] = False,
        compact: Annotated[bool, typer.Option("--compact",
                                              help="One line per exchange.")] = False,
        json_out: Annotated[bool, typer.Option(
            "--json", help="Write records to stdout as JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view.")] = False,
        headers: Annotated[bool, typer.Option("--headers/--no-headers",
                                              help="Show headers.")] = True,
        bodies: Annotated[bool, typer.Option("--bodies/--no-bodies",
                                             help="Show bodies.")] = True,
    ) -> None:
        """Answer dockerd with the answers of a recording, as the recorded plugin did.

        Exit code 0 when every request found its recorded answer, 1 when some did not,
        2 when the recording or the socket cannot be used.
        """
        try:
            exchanges = load(recording).exchanges
        except (OSError, RecordingError) as exc:
            err.print(f"[red]ipamx-spy mock: {getattr(exc, 'strerror', None) or exc}[/]")
            raise typer.Exit(2) from exc
        listen_path = listen or address.SOCKET_DIR / f"{name}.sock"
        mode = "json" if json_out else "compact" if compact else "quiet" if quiet else "full"
        live = LiveView(console=out, diagnostics=err, mode=mode,
                        view=render.View(headers=headers, bodies=bodies))
        writer = None
        if not no_record:
            writer = RecordingWriter(record or _recording_path(name), make_header(
                name=name, listen=str(listen_path), upstream=f"mock:{recording}"))
        sink: LiveView | DetachedView = live if mode == "quiet" else DetachedView(live)
        plugin = MockPlugin(exchanges=exchanges, on_miss=_announce)
        session = Session(writer=writer, sinks=[sink])
        server = Server(ServerOptions(listen=listen_path, socket_mode=_mode(socket_mode),
                                      control=None, relay=RelayOptions(upstream=None,
                                                                       app=plugin)), session)
        _serve(server, writer, sink, recording, len(exchanges))
        _report(session, plugin)


def _serve(server: Server, writer: RecordingWriter | None, sink: LiveView | DetachedView,
           recording: Path, count: int) -> None:
    def ready() -> None:
        err.print(f"[bold]ipamx-spy mock[/] listening on [cyan]{server.options.listen}[/]")
        err.print(f"  answering with: {count} recorded exchange(s) of {recording}")
        err.print(f"  recording to:   {writer.path if writer else '(not recording)'}")

    server.ready = ready
    try:
        run_or_exit(server, "ipamx-spy mock")
    finally:
        if writer is not None:
            writer.close()
        if isinstance(sink, DetachedView):
            sink.close()


def _report(session: Session, plugin: MockPlugin) -> None:
    err.print(render.summary_table(session.summary, "ipamx-spy mock summary"))
    err.print(f"answered from the recording: {len(plugin.served)}; "
              f"without a recorded answer: {len(plugin.misses)}")
    for miss in plugin.misses:
        err.print(Text(f"  {miss.endpoint}: {miss.reason}", style="red"), soft_wrap=True)
    unused = plugin.unused()
    if unused:
        listed = ", ".join(f"#{e.seq} {e.endpoint}" for e in unused[:10])
        more = f" and {len(unused) - 10} more" if len(unused) > 10 else ""
        err.print(f"recorded exchanges nobody asked for: {listed}{more}", soft_wrap=True)
    if plugin.misses:
        raise typer.Exit(1)
