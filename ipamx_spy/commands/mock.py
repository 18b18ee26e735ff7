"""``ipamx-spy mock``: serve a recording as a fake plugin (reproduce a bug report)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ipamx_spy import address, render
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.aio.server import Server, ServerOptions
from ipamx_spy.commands import session_options as so
from ipamx_spy.commands.options import FAULT_HELP, faults_from
from ipamx_spy.commands.proxy import socket_mode
from ipamx_spy.console import err
from ipamx_spy.mock import Miss, MockPlugin, RecordingSurvey, survey
from ipamx_spy.mock_links import HostInterfaces
from ipamx_spy.proxy import ProxySession
from ipamx_spy.recording import RecordingError, make_header
from ipamx_spy.recording_reader import RecordingReader, problem_text

from .errors import fail, read_reporting

if TYPE_CHECKING:
    from ipamx_spy.netdriver.links import Netlink


def _recording_path(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("recordings") / f"mock-{name}-{stamp}.jsonl"


def _mode(text: str) -> int:
    return socket_mode(text)


def _announce(miss: Miss) -> None:
    err.print(Text(f"ipamx-spy mock: {miss.endpoint}: no recorded answer; {miss.reason}",
                   style="bold red"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def mock(
        recording: Annotated[Path, typer.Argument(help="The recording to serve.",
                                                  metavar="RECORDING")],
        name: Annotated[str, typer.Option("--name", "-n", metavar="NAME",
                                          help="Plugin name dockerd uses.")] = "ipamx",
        listen: Annotated[Path | None, typer.Option(
            metavar="PATH",
            help="Socket to listen on [default: /run/docker/plugins/NAME.sock].")] = None,
        socket_mode: Annotated[str, typer.Option(
            metavar="MODE", help="Mode of the listening socket, in octal.")] = "0660",
        record: Annotated[Path | None, typer.Option(
            metavar="PATH",
            help="Record the mock session, to a file that must not exist yet "
                 "[default: recordings/mock-NAME-TIMESTAMP.jsonl].")] = None,
        no_record: Annotated[bool, typer.Option("--no-record", help="Do not record.")] = False,
        compact: Annotated[bool, typer.Option("--compact",
                                              help="One line per exchange.")] = False,
        json_out: Annotated[bool, typer.Option(
            "--json", help="Write the recording to stdout as JSON Lines.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view.")] = False,
        headers: Annotated[bool, typer.Option("--headers/--no-headers",
                                              help="Show headers.")] = True,
        bodies: Annotated[bool, typer.Option("--bodies/--no-bodies",
                                             help="Show bodies.")] = True,
        fault: Annotated[list[str] | None, typer.Option(
            "--fault", metavar="FAULT", help=FAULT_HELP)] = None,
        veth: Annotated[bool, typer.Option(
            "--veth/--no-veth",
            help="Create the host interface each recorded NetworkDriver.Join names (a veth "
                 "pair, removed at DeleteEndpoint and on exit), so docker run works.")] = True,
    ) -> None:
        """Answer dockerd with the answers of a recording, as the recorded plugin did.

        Exit code 0 when every request found its recorded answer, 1 when some did not,
        2 when the recording or the socket cannot be used.
        """
        found = _survey(recording)
        listen_path = listen or address.SOCKET_DIR / f"{name}.sock"
        mode = _mode(socket_mode)
        faults = faults_from(fault or [])
        opts = so.LiveOptions(record=record or (None if no_record else _recording_path(name)),
                              no_record=no_record, compact=compact, json_out=json_out,
                              quiet=quiet, headers=headers, bodies=bodies, validate=False)
        setup = so.prepare(name, make_header(
            name=name, listen=str(listen_path), upstream=f"mock:{recording}"), opts)
        links = _links() if veth and found.joins else None
        reader = _reader(recording)  # read as the requests come (mock.RecordedWindow)
        plugin = MockPlugin(exchanges=reader.exchanges(), on_miss=_announce,
                            interfaces=None if links is None else HostInterfaces(links))
        server = Server(ServerOptions(listen=listen_path, socket_mode=mode, control=None,
                                      relay=RelayOptions(upstream=None, app=plugin,
                                                         faults=faults)),
                        setup.session)
        served = f"{render.plural(found.exchanges, 'recorded exchange')} of {recording}"
        try:
            so.serve_and_summarise(server, setup, served)
        finally:
            _close(plugin, links, reader)
        _report(setup.session, plugin)


def _survey(path: Path) -> RecordingSurvey:
    """The recording read once (its count, its Joins), warning about every skipped line;
    an unusable file exits 2."""
    return read_reporting(path, survey)


def _reader(path: Path) -> RecordingReader:
    try:
        return RecordingReader(path)
    except (RecordingError, OSError) as exc:  # it changed since the survey
        fail(problem_text(path, exc))


def _close(plugin: MockPlugin, links: Netlink | None, reader: RecordingReader) -> None:
    reader.close()
    if plugin.interfaces is not None:
        plugin.interfaces.close()
    if links is not None:
        links.close()


def _links() -> Netlink:
    from ipamx_spy.netdriver.links import Netlink  # pyroute2: only for a network driver

    return Netlink()


def _report(session: ProxySession, plugin: MockPlugin) -> None:
    err.print(f"answered from the recording: {plugin.answered}; "
              f"without a recorded answer: {len(plugin.misses)}")
    for miss in plugin.misses:
        err.print(Text(f"  {miss.endpoint}: {miss.reason}", style="red"), soft_wrap=True)
    unused, count = plugin.unused_tally(10)
    if count:
        listed = ", ".join(f"#{e.seq} {e.endpoint}" for e in unused)
        more = f" and {count - len(unused)} more" if count > len(unused) else ""
        err.print(f"recorded exchanges nobody asked for: {listed}{more}", soft_wrap=True)
    if plugin.misses:
        raise typer.Exit(1)
