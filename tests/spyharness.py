"""Run an ipamx-spy server in a background thread for socket tests."""

from __future__ import annotations

import threading
from pathlib import Path

from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.aio.server import Server, ServerOptions, event_loop_runner
from ipamx_spy.proxy import ProxySession, Sink
from ipamx_spy.recording import RecordingWriter, make_header


class SpyThread:
    def __init__(self, listen: Path, relay: RelayOptions, *, record: Path | None = None,
                 sinks: tuple[Sink, ...] = (), control: Path | None = None,
                 drain_timeout: float = 5.0) -> None:
        self.writer = None
        if record is not None:
            self.writer = RecordingWriter(record, make_header(name="test", listen=str(listen)))
        self.session = ProxySession(writer=self.writer, sinks=list(sinks))
        self.server = Server(ServerOptions(listen=listen, relay=relay, control=control,
                                           drain_timeout=drain_timeout, tick_interval=0.05),
                             self.session)
        self._ready = threading.Event()
        self.server.ready = self._ready.set
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            main, control = self.server.bind()
            event_loop_runner()(self.server.serve(main, control))  # uvloop, as in production
        except BaseException as exc:  # surfaced by start()/stop()
            self.error = exc
            self._ready.set()

    def start(self) -> SpyThread:
        self._thread.start()
        self._ready.wait(10)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        self.server.request_stop()
        self._thread.join(15)
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> SpyThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
