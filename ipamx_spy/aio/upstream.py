"""The plugin side of one relayed connection: dial lazily, send raw bytes, frame the answer.

Strict framing, as Go's HTTP client: exactly one answer per request. Bytes the plugin sends
beyond that answer (a second response, a body longer than its Content-Length, an answer before
any request) are dropped, reported through ``on_stray`` and the connection is closed, so they
never become the answer to the next request. A plugin that closes an idle keep-alive
connection gets a fresh connection for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import cast

from .. import tap
from ..address import Address, AddressKind
from ..noanswer import NoAnswerKind
from ..recording import Fault
from ..records import FaultKind, Side


class UpstreamNoAnswer(Exception):
    """The plugin could not give an answer; ``kind`` says why, ``fault`` is its record (always
    the plugin side)."""

    def __init__(self, kind: NoAnswerKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.fault = Fault(side=Side.PLUGIN, kind=kind.fault, message=message)


StrayHandler = Callable[[Fault, bytes], None]
STRAY_KEPT = 4096
Done = Callable[[tap.WireMessage | UpstreamNoAnswer, float], None]


class _Link(asyncio.Protocol):
    """One connection to the plugin; answers at most the one request it was given.

    The answer is handed to the request's callback as soon as it is framed, inside
    ``data_received`` (a future would cost a turn of the event loop per exchange). The link's
    state is settled before the callback runs (closed if it cannot carry another request),
    because the callback may send the next request on it at once."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.tap = tap.ResponseTap(upstream.max_body)
        self.waiting: Done | None = None  # the callback of the request sent, until answered
        self.began = 0.0  # when that request was sent (``time.perf_counter``)
        self.timer: asyncio.TimerHandle | None = None  # its --upstream-timeout
        self.closed = False

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.waiting is None:
            self._stray(data, "sent bytes while no request was waiting for an answer")
            return
        self.tap.feed(data)
        self._advance()

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended()

    # -- framing ------------------------------------------------------------------------

    def send(self, raw_request: bytes, method: str, done: Done, began: float) -> None:
        if self.transport is None or self.closed:
            raise ConnectionResetError("the plugin closed the connection")
        self.waiting = done
        self.began = began
        self.tap.expect(method)
        self.transport.write(raw_request)

    def _answer(self, result: tap.WireMessage | UpstreamNoAnswer) -> None:
        """Give the request's callback its answer (or fault) and the time it took, once."""
        done, self.waiting = self.waiting, None
        if done is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if isinstance(result, UpstreamNoAnswer):
            self.close()
        done(result, (time.perf_counter() - self.began) * 1000)

    def _ended(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.close()
        if self.waiting is not None:
            self.tap.feed(b"")
            self._advance()
        if self.waiting is not None:
            self._fail(NoAnswerKind.CLOSED, "closed the connection without answering")

    def _advance(self) -> None:
        """Frame what came; the link is closed (when it must be) before the answer is given."""
        result = self.tap.next_message()
        if isinstance(result, tap.WireMessage):
            extra = self.tap.pending
            reusable = result.keep_alive and self.tap.reusable() and not extra
            if extra:  # reported (and recorded) before the exchange, as it happened
                self._stray(extra, "sent more bytes than one answer (a second response or a "
                            "body longer than its Content-Length)")
            elif not reusable:
                self.close()
            self._answer(result)
        elif isinstance(result, tap.TapError):
            kind = NoAnswerKind.TOO_LARGE if result.status == 413 else NoAnswerKind.MALFORMED
            self.close()
            self._fail(kind, f"malformed answer: {result.message}")
        elif result is tap.CLOSED:
            self.close()
            self._fail(NoAnswerKind.CLOSED, "closed the connection without answering")
        elif self.closed:  # NEED_DATA after the end: the answer is cut off
            self._fail(NoAnswerKind.CLOSED, "closed the connection in the middle of its answer")

    def _fail(self, kind: NoAnswerKind, what: str) -> None:
        self._answer(UpstreamNoAnswer(kind, f"upstream {self.upstream.address}: {what}"))

    def _stray(self, data: bytes, what: str) -> None:
        """Drop bytes that answer nothing (as Go's client does) and close the connection."""
        self.upstream.report_stray(data, what)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


DIAL_BUSY_S = 2.0  # how long a full backlog (EAGAIN) is retried before the dial fails


async def _connect_unix(path: str) -> socket.socket:
    """Connect to a Unix socket, waiting (bounded) while its backlog is full.

    asyncio takes EAGAIN from ``connect`` for a connection in progress and hands back a socket
    that is not connected; a busy plugin gets its connection a moment later instead.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DIAL_BUSY_S
    delay = 0.001
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
            return sock
        except BlockingIOError as exc:
            sock.close()
            if loop.time() >= deadline:
                raise OSError(exc.errno, f"{exc.strerror} (the plugin's backlog stayed full for "
                              f"{DIAL_BUSY_S:g} s)") from exc
        except BaseException:
            sock.close()
            raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


class Upstream:
    """One keep-alive connection to the plugin, opened on first use and after a close.

    ``request`` is callback-based (no task per exchange): ``done(answer_or_fault, upstream_ms)``
    is called exactly once, from the event loop. Only dialing runs as a task.
    """

    def __init__(self, address: Address, *, timeout: float | None, max_body: int,
                 on_stray: StrayHandler | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self.max_body = max_body
        self.on_stray = on_stray
        self._link: _Link | None = None
        self._dialing: set[asyncio.Task[None]] = set()

    async def _dial(self) -> _Link:
        loop = asyncio.get_running_loop()
        try:
            if self.address.kind is AddressKind.UNIX:
                sock = await _connect_unix(self.address.path)
                _t, link = await loop.create_unix_connection(lambda: _Link(self), sock=sock)
            else:
                _t, link = await loop.create_connection(lambda: _Link(self),
                                                         self.address.host, self.address.port)
        except OSError as exc:
            raise UpstreamNoAnswer(NoAnswerKind.UNREACHABLE, f"upstream {self.address}: "
                                f"{exc.strerror or exc}") from exc
        return link

    def request(self, raw_request: bytes, method: str, done: Done) -> None:
        """Send one request; ``done`` gets the complete answer or an UpstreamNoAnswer."""
        link = self._link
        if link is not None and not link.closed:
            self._send(link, raw_request, method, done)
            return
        task = asyncio.get_running_loop().create_task(
            self._dial_and_send(raw_request, method, done), name="ipamx-spy dial")
        self._dialing.add(task)
        task.add_done_callback(self._dialing.discard)

    async def _dial_and_send(self, raw_request: bytes, method: str, done: Done) -> None:
        started = time.perf_counter()
        try:
            link = self._link = await self._dial()
            if link.closed:  # closed before the request was sent: one fresh connection
                link = self._link = await self._dial()
        except UpstreamNoAnswer as exc:
            done(exc, (time.perf_counter() - started) * 1000)
            return
        except asyncio.CancelledError:
            done(UpstreamNoAnswer(NoAnswerKind.CLOSED,
                                  f"upstream {self.address}: dial cancelled"), 0.0)
            raise
        self._send(link, raw_request, method, done, started)

    def _send(self, link: _Link, raw_request: bytes, method: str, done: Done,
              started: float | None = None) -> None:
        """Send on ``link``; the link calls ``done`` with the answer and the time since
        ``started`` (now, when not given) in ms (no closure per exchange)."""
        began = time.perf_counter() if started is None else started
        try:
            link.send(raw_request, method, done, began)
        except OSError as exc:
            link.close()
            done(UpstreamNoAnswer(NoAnswerKind.CLOSED,
                                  f"upstream {self.address}: {exc.strerror or exc}"), 0.0)
            return
        if self.timeout is not None:
            link.timer = asyncio.get_running_loop().call_later(self.timeout, self._expire,
                                                               link)

    def _expire(self, link: _Link) -> None:
        assert self.timeout is not None
        link.close()
        link._fail(NoAnswerKind.TIMEOUT,
                   f"no answer within {self.timeout:g} s (--upstream-timeout)")

    def report_stray(self, data: bytes, what: str) -> None:
        if self.on_stray is None:
            return
        message = (f"upstream {self.address}: {what}; {len(data)} byte(s) dropped and the "
                   "connection closed")
        with contextlib.suppress(Exception):
            self.on_stray(Fault(side=Side.PLUGIN, kind=FaultKind.EXTRA_BYTES, message=message),
                          data[:STRAY_KEPT])

    def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()
        for task in list(self._dialing):
            task.cancel()
