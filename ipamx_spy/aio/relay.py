"""One docker-side connection: frame requests, get each answered, record, write back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import catalogue, tap
from ..address import Address
from ..app import PluginApp
from ..proxy import Session, answer, spy_answer
from ..recording import Exchange, Fault
from .upstream import Upstream, UpstreamFault

DEFAULT_HEADER_TIMEOUT = 10.0
STOPPING = ("ipamx-spy is stopping: the request was still waiting for its answer when the drain "
            "timeout ran out")


@dataclass(frozen=True, kw_only=True)
class RelayOptions:
    """Where answers come from: an upstream plugin address, or the in-process app."""

    upstream: Address | None
    app: PluginApp | None
    max_body: int = tap.DEFAULT_MAX_BODY
    upstream_timeout: float | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT


@dataclass(frozen=True, kw_only=True)
class Answer:
    raw: bytes
    message: tap.Message
    upstream_ms: float | None = None
    fault: Fault | None = None
    answered_by: str = "plugin"


class Relay:
    """Serves docker-side connections for one session.

    Calls the in-process app marks as blocking (the network driver's netlink work) run on one
    worker thread, so they never stall the other connections; the rest run inline, because a
    thread hop costs more than the allocator's whole answer.
    """

    def __init__(self, session: Session, options: RelayOptions) -> None:
        if (options.upstream is None) == (options.app is None):
            raise ValueError("a relay needs exactly one of an upstream address or an app")
        self.session = session
        self.options = options
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipamx-spy app")

    def close(self) -> None:
        """Wait for the app call in progress, if any, and stop the worker thread."""
        self._worker.shutdown(wait=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one docker-side connection until it closes; never raises."""
        conn = self.session.open()
        upstream = None
        if self.options.upstream is not None:
            upstream = Upstream(self.options.upstream, timeout=self.options.upstream_timeout,
                                max_body=self.options.max_body,
                                on_stray=lambda fault, data: self.session.fault(conn, fault, data))
        reason = "docker side closed the connection"
        try:
            reason = await self._serve(conn, reader, writer, upstream)
        except (ConnectionError, OSError) as exc:
            reason = f"docker side connection failed: {exc.strerror or exc}"
        except asyncio.CancelledError:
            reason = "ipamx-spy shut down"
        finally:
            with contextlib.suppress(Exception):
                self.session.close(conn, reason)
            if upstream is not None:
                await upstream.close()
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, request_tap: tap.RequestTap,
                    first_byte: float | None) -> bytes:
        """The next bytes from the docker side; a message begun must end in header_timeout."""
        if first_byte is None:
            return await reader.read(65536)
        loop = asyncio.get_running_loop()
        left = first_byte + self.options.header_timeout - loop.time()
        if left <= 0:
            raise TimeoutError
        return await asyncio.wait_for(reader.read(65536), left)

    async def _serve(self, conn: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, upstream: Upstream | None) -> str:
        request_tap = tap.RequestTap(self.options.max_body)
        loop = asyncio.get_running_loop()
        first_byte: float | None = None
        eof = False
        while True:
            result = request_tap.next_message()
            if result is tap.NEED_DATA and eof:  # h11 wants more after the end: cut off
                result = tap.TapError(status=400, kind="truncated",
                                      message="connection closed in the middle of a message")
            if result is tap.NEED_DATA:
                if first_byte is None and request_tap.pending:
                    first_byte = loop.time()
                try:
                    data = await self._read(reader, request_tap, first_byte)
                except TimeoutError:
                    await self._refuse(conn, writer, tap.TapError(
                        status=408, kind="timeout",
                        message=f"the request was not complete {self.options.header_timeout:g} s "
                                "after its first byte (--header-timeout)"), request_tap.pending)
                    return "docker side sent an incomplete request (timed out)"
                eof = not data
                if first_byte is None and data:
                    first_byte = loop.time()
                request_tap.feed(data)
                continue
            if result is tap.CLOSED:
                return "docker side closed the connection"
            if isinstance(result, tap.TapError):
                await self._refuse(conn, writer, result, request_tap.pending)
                return f"docker side sent a bad request ({result.kind})"
            assert isinstance(result, tap.Message)
            reply, exchange, stopping = await self._answer(conn, result, upstream)
            writer.write(reply.raw)
            await writer.drain()
            if exchange is not None:
                self.session.publish(exchange)
            if stopping:
                return "ipamx-spy shut down"
            keep_alive = (result.keep_alive and reply.message.keep_alive
                          and result.method != "CONNECT")
            if not request_tap.answered(keep_alive=keep_alive):
                return "connection not kept alive (Connection: close or HTTP/1.0)"
            first_byte = loop.time() if request_tap.pending else None

    async def _refuse(self, conn: int, writer: asyncio.StreamWriter, error: tap.TapError,
                      data: bytes) -> None:
        side = "proxy" if error.status == 413 else "docker"
        what = {413: "request body too large", 408: "incomplete request"}.get(
            error.status, "malformed request")
        message = f"{what} from the docker side: {error.message}"
        with contextlib.suppress(Exception):
            self.session.fault(conn, Fault(side=side, kind=error.kind, message=message), data)
        writer.write(spy_answer(error.status, message, close=True).raw)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _answer(self, conn: int, request: tap.Message,
                      upstream: Upstream | None) -> tuple[Answer, Exchange | None, bool]:
        """The answer to one request, recorded; never raises (but for the docker side's I/O).

        Returns the answer, its exchange (None when recording it failed) and whether the
        spy is stopping (the request was cancelled by the shutdown)."""
        pending = self.session.begin(conn, request.target)
        stopping = False
        try:
            reply = await self._reply(request, upstream)
        except asyncio.CancelledError:
            reply = _spy(500, STOPPING, Fault(side="proxy", kind="stopping", message=STOPPING))
            stopping = True
        except Exception as exc:  # a bug of ours: still an answer, and the next request works
            reply = _spy(500, f"internal error: {exc!r}",
                         Fault(side="proxy", kind="crash", message=repr(exc)))
        try:
            exchange = self.session.complete(
                pending, request, reply.message, upstream_ms=reply.upstream_ms,
                fault=reply.fault, answered_by=reply.answered_by)
        except Exception as exc:
            self.session.pending.pop(pending.seq, None)
            with contextlib.suppress(Exception):
                self.session.fault(conn, Fault(side="proxy", kind="recording",
                                               message=f"exchange #{pending.seq} could not be "
                                               f"recorded: {exc!r}"), b"")
            return reply, None, stopping
        return reply, exchange, stopping

    async def _reply(self, request: tap.Message, upstream: Upstream | None) -> Answer:
        if request.method != "POST":
            message = (f"method {request.method} is not allowed: the plugin protocol is POST "
                       "only (not forwarded)")
            return _spy(405, message, Fault(side="docker", kind="method", message=message))
        if self.session.refusing:
            return _spy(500, "the recording cannot be written (on-record-error=refuse)",
                        Fault(side="proxy", kind="recording", message="recording failing"))
        if upstream is None:
            return await self._from_app_async(request)
        return await _from_upstream(upstream, request)

    async def _from_app_async(self, request: tap.Message) -> Answer:
        """Fast calls run inline; calls the app says may block run on the worker thread."""
        assert self.options.app is not None
        if not self.options.app.blocking(catalogue.endpoint_name(request.target)):
            return self._from_app(request)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._from_app, request)

    def _from_app(self, request: tap.Message) -> Answer:
        assert self.options.app is not None
        started = time.perf_counter()
        try:
            reply = self.options.app.handle(catalogue.endpoint_name(request.target), request.body)
        except Exception as exc:  # a bug in the built-in plugin must not take the proxy down
            return _spy(500, f"built-in plugin failed: {exc!r}",
                        Fault(side="plugin", kind="crash", message=repr(exc)))
        message = answer(reply.status, reply.body, reply.content_type)
        return Answer(raw=message.raw, message=message,
                      upstream_ms=(time.perf_counter() - started) * 1000, answered_by="builtin")


def _spy(status: int, message: str, fault: Fault) -> Answer:
    reply = spy_answer(status, message)
    return Answer(raw=reply.raw, message=reply, fault=fault, answered_by="spy")


async def _from_upstream(upstream: Upstream, request: tap.Message) -> Answer:
    started = time.perf_counter()
    try:
        message = await upstream.exchange(request.raw, request.method)
    except UpstreamFault as exc:
        return _spy(500, str(exc), exc.fault)
    return Answer(raw=message.raw, message=message,
                  upstream_ms=(time.perf_counter() - started) * 1000)
