"""``proxy --web``: the live page served by a process of its own, never by the relay's.

Theory of operation
-------------------
``DetachedWeb`` is the proxy session's sink for the page. The proxy binds the page's socket and
makes the token (so that a bad address fails at start, and the address is printed at once);
then a forked child process, at lower priority and ended with its proxy (even by kill -9),
serves the page from that socket in its own event loop, with its own ``LiveBoard``, validator
and builds. Nothing of the page (inference, validation, HTML, the event stream) runs in the
proxy's process, so it cannot take the interpreter from the relay.

The proxy hands the child each record, after the answer went to dockerd, as the recording's
line on a non-blocking pipe, the way the terminal's live view gets them (``ipamx_spy.childproc``,
the pipe and child process both use): when the
pipe is full the line is dropped for the page and counted, never waited for (the recording has
it). ``follow_pending`` (a companion coroutine in the proxy's loop) sends the requests still
waiting for their answer whenever that set changes, looking every ``PENDING_S``. Lines: ``R``
a record, ``P`` the pending requests (each with its request once the proxy built it: the
page's waiting row shows it and the filter box judges it), ``W`` a request that has waited
long (a hung plugin). The child runs ``WEB_NICE`` levels below the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from ipamx_spy.childproc import (
    PIPE_SIZE,
    Feed,
    detach_from_signals,
    encode_line,
    open_pipe,
    start_child,
    stop_child,
)
from ipamx_spy.proxy import Pending
from ipamx_spy.recording import Exchange, Message

# the page's modules are imported here, before the fork, rather than by the child (this module
# itself is imported only when ``--web`` is given)
from .board import LiveBoard
from .server import WebView, url_of
from .view import PageMode

PENDING_S = 0.25
WEB_NICE = 5
"""How much lower the page's process runs than the proxy's: low enough that the relay always
comes first, not so low (the terminal view's 10, which a ``nice``d proxy makes 19) that any
other busy process on the machine keeps the page seconds behind."""
WEB_NAME = b"ipamx-spy web"  # the process's name (ps, top, /proc/PID/comm)


class DetachedWeb:
    """Starts the page's process at once; the session tells it records (``on_record``)."""

    def __init__(self, header: dict[str, Any], sock: socket.socket, token: str, *,
                 validate: bool, slow_ms: float, on_error: Callable[[str], None],
                 nice: int = WEB_NICE) -> None:
        self.url = url_of(sock, token)
        self._header, self._sock, self._token = header, sock, token
        self._validate, self._slow_ms, self._nice = validate, slow_ms, nice
        self._on_error = on_error
        self._parent = os.getpid()
        self._read_end, self._write_end = open_pipe()
        self._process = start_child(self._child, "ipamx-spy web view")
        os.close(self._read_end)
        sock.close()  # the child's copy serves; the port is free again when the child ends
        self._lost = False
        self.feed = Feed(self._write_end, self._gone)

    @property
    def dropped(self) -> int:
        return self.feed.dropped

    # -- the proxy's side: a session sink, cheap and never raising into the relay ----------

    def _gone(self) -> None:
        if not self._lost:
            self._lost = True
            self._on_error("the web view's process is gone; the proxy goes on")

    def on_line(self, line: bytes) -> None:
        """The record as the recording's line (encoded once, by the session)."""
        self.feed.put(b"R" + line)

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        """For a caller without the line (the session gives ``on_line``)."""
        try:
            self.on_line(encode_line(record))
        except (ValueError, RecursionError):  # not encodable: nothing for the page
            self.feed.dropped += 1

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self.feed.put(b"W" + encode_line({"args": [seq, conn, endpoint, waited_s]}))

    def on_sink_error(self, message: str) -> None:
        """The recording failing does not concern the page: the records still arrive."""

    async def follow_pending(self, pending: Callable[[], Mapping[int, Pending]]) -> None:
        """Send the unanswered requests (with their requests, once built, for the filter box
        and the row) whenever they change, until cancelled; then close."""
        last: tuple[tuple[int, bool], ...] = ()
        try:
            while not self.feed.closed:
                waiting = pending()
                now = tuple((seq, p.request is not None) for seq, p in waiting.items())
                if now != last:
                    last = now
                    self.feed.put(b"P" + encode_line({"pending": [
                        [p.seq, p.conn, p.endpoint, p.started, p.t,
                         None if p.request is None else p.request.to_json()]
                        for p in waiting.values()]}))
                await asyncio.sleep(PENDING_S)
        finally:
            self.close()

    def close(self) -> None:
        """Let the page's process end (bounded; killed when it does not)."""
        self.feed.close()  # the child reads to the end, then stops serving
        stop_child(self._process)
        if self.feed.dropped:
            self._on_error(f"the web view lagged and skipped {self.feed.dropped} record(s); "
                           "the recording has them")
            self.feed.dropped = 0

    # -- the child ----------------------------------------------------------------------

    def _child(self) -> None:
        detach_from_signals(self._parent, WEB_NAME)
        os.close(self._write_end)
        with contextlib.suppress(OSError):
            os.nice(self._nice)
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        waiting: list[Pending] = []
        board = LiveBoard(self._header, validate=self._validate, slow_ms=self._slow_ms,
                          pending=lambda: waiting, clock=time.monotonic)
        view = WebView(source=board, sock=self._sock, token=self._token, mode=PageMode.LIVE,
                       on_error=self._on_error)
        board.wake = view.wake
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        buffer = b""
        os.set_blocking(self._read_end, False)

        def take(line: bytes) -> None:
            kind, payload = line[:1], json.loads(line[1:])
            if kind == b"R":
                board.on_record(payload, None)
            elif kind == b"P":
                waiting[:] = [Pending(seq=int(seq), conn=int(conn), endpoint=str(endpoint),
                                      started=float(started), t=float(t),
                                      request=None if request is None
                                      else Message.from_json(request))
                              for seq, conn, endpoint, started, t, request
                              in payload["pending"]]
                board.wake()
            elif kind == b"W":
                board.on_waiting(*payload["args"])

        def readable() -> None:
            nonlocal buffer
            try:
                chunk = os.read(self._read_end, PIPE_SIZE)
            except BlockingIOError:
                return
            if not chunk:  # the proxy is done (or gone)
                loop.remove_reader(self._read_end)
                if not ended.done():
                    ended.set_result(None)
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                try:
                    take(line)
                except (ValueError, KeyError, TypeError) as exc:  # RecordingError too
                    self._on_error(f"web view: skipped a record it cannot read: {exc!r}")

        loop.add_reader(self._read_end, readable)
        serving = loop.create_task(view.run(), name="ipamx-spy web view")
        await asyncio.wait([serving, ended], return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            with contextlib.suppress(asyncio.CancelledError):
                failure = serving.exception()
                if failure is not None:
                    self._on_error(f"web view stopped: {type(failure).__name__}: {failure}; "
                                   "the proxy goes on")
            return
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
