"""Run the proxy: listen, serve connections, tick, stop gracefully on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..proxy import ProxySession
from .control import serve_control
from .listen import UnixListener, bind_unix
from .relay import Relay, RelayOptions
from .tasks import TaskGroup


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    listen: Path
    relay: RelayOptions
    socket_mode: int = 0o660
    control: Path | None = None
    drain_timeout: float = 5.0
    tick_interval: float = 0.5


class Server:
    """A running proxy. ``request_stop()`` may be called from any thread or signal handler."""

    def __init__(self, options: ServerOptions, session: ProxySession) -> None:
        self.options = options
        self.session = session
        self.relay = Relay(session, options.relay)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self.ready: Callable[[], None] | None = None
        self.companions: list[Callable[[], Coroutine[Any, Any, None]]] = []
        """Coroutines run beside the relay in this loop (the web view): started once the
        sockets listen, cancelled after the last exchange is drained."""

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def bind(self) -> tuple[UnixListener, UnixListener | None]:
        """Bind the listening sockets (raises SocketInUse, FileExistsError, OSError)."""
        main = bind_unix(self.options.listen, self.options.socket_mode)
        control = None
        if self.options.control is not None:
            try:
                control = bind_unix(self.options.control, 0o600)
            except OSError:
                main.close()
                raise
        return main, control

    async def serve(self, main: UnixListener, control: UnixListener | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        signals = _install_signals(self._loop, self._stop)
        readers = self._watch_sinks(self._loop)
        server = await self._loop.create_unix_server(self.relay.protocol, sock=main.sock)
        control_server = None
        if control is not None:
            control_server = await asyncio.start_unix_server(self._on_control, sock=control.sock)
        ticker = TaskGroup()
        ticker.spawn(self._tick(), name="ipamx-spy tick")
        helpers = TaskGroup()
        for start in self.companions:
            helpers.spawn(start(), name=f"ipamx-spy {getattr(start, '__qualname__', 'helper')}")
        if self.ready is not None:
            self.ready()
        try:
            await self._stop.wait()
        finally:
            server.close()
            if control_server is not None:
                control_server.close()
            self.stopping()
            await self._drain()
            self.relay.close()
            ticker.cancel()
            helpers.cancel()
            await helpers.wait(timeout=5.0)
            main.close()
            if control is not None:
                control.close()
            for signum in signals:
                self._loop.remove_signal_handler(signum)
            for fd in readers:
                self._loop.remove_reader(fd)

    def _watch_sinks(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        """Read what sinks send back (the checking sink's findings) when it arrives: in the
        loop, between exchanges, never on the relay's path."""
        watched = []
        for sink in self.session.sinks:
            readers: list[tuple[int, Callable[[], bool]]] = getattr(sink, "readers", [])
            for fd, take in readers:
                watched.append(self._watch(loop, fd, take))
        return watched

    @staticmethod
    def _watch(loop: asyncio.AbstractEventLoop, fd: int, take: Callable[[], bool]) -> int:
        def readable() -> None:
            if not take():
                loop.remove_reader(fd)

        loop.add_reader(fd, readable)
        return fd

    def stopping(self) -> None:
        """Called once no new connection is accepted, before in-flight exchanges finish.

        Subclasses hook in here (``attach`` gives the socket path back to the plugin)."""

    async def _drain(self) -> None:
        """Let in-flight exchanges finish (bounded); answer what still waits; close all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.drain_timeout
        while self.session.pending and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self.relay.stop_all()
        await self.relay.wait_closed(timeout=2.0)

    async def _on_control(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        await serve_control(reader, writer, self._control)

    def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "mark":
            text = str(request.get("text", "")).strip()
            if not text:
                raise ValueError("a marker needs text")
            record = self.session.marker(text)
            return {"ok": True, "marker": record}
        if op == "status":
            return {"ok": True, "exchanges": self.session.exchanges_done,
                    "pending": len(self.session.pending),
                    "recording": None if self.session.path is None else str(self.session.path)}
        raise ValueError(f"unknown control op {op!r} (mark, status)")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_interval)
            self.session.tick()


def _install_signals(loop: asyncio.AbstractEventLoop,
                     stop: asyncio.Event) -> list[signal.Signals]:
    """SIGINT/SIGTERM stop the server (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return []
    signals = [signal.SIGINT, signal.SIGTERM]
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    return signals


def event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's runner where it is installed (about twice as fast), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def run(server: Server) -> None:
    """Bind, serve until stopped, clean up. Raises what ``Server.bind`` raises."""
    main, control = server.bind()
    try:
        event_loop_runner()(server.serve(main, control))
    except BaseException:
        main.close()
        if control is not None:
            control.close()
        raise
