"""``ipamx-spy serve``: the built-in reference plugin alone (no recording, no live view)."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import address
from ..aio.relay import RelayOptions
from ..aio.server import Server, ServerOptions
from ..builtin import AllocatorStore
from ..console import err
from ..proxy import ProxySession
from . import builtin_options as bo
from .proxy import socket_mode as parse_mode
from .session_options import HEADER_TIMEOUT, run_or_exit


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        name: str = typer.Option("ipamx", "--name", "-n", help="Plugin name dockerd uses."),
        listen: Path | None = typer.Option(
            None, help="Socket to listen on [default: /run/docker/plugins/NAME.sock]."),
        socket_mode: str = typer.Option("0660", help="Mode of the listening socket."),
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
        header_timeout: float = HEADER_TIMEOUT,
        group: str | None = bo.STATE_GROUP,
    ) -> None:
        """Run the built-in reference plugin on its own, without recording."""
        listen_path = listen or address.SOCKET_DIR / f"{name}.sock"

        def server_stop() -> None:
            server.request_stop()

        plugin = bo.build(name=name, state=state, compat=compat, local_space=local_space,
                          global_space=global_space, network_driver=network_driver,
                          local_pool=local_pool, global_pool=global_pool,
                          exclude=exclude, engine_id=engine_id,
                          store=store, host_id=host_id, group=group,
                          on_shutdown=server_stop if allow_shutdown else None)
        options = ServerOptions(listen=listen_path, socket_mode=parse_mode(socket_mode),
                                relay=RelayOptions(upstream=None, app=plugin,
                                                   header_timeout=header_timeout))
        server = Server(options, ProxySession(writer=None))
        server.ready = lambda: err.print(f"ipamx-spy: serving the built-in plugin on {listen_path}")
        try:
            run_or_exit(server)
        finally:
            plugin.close()
