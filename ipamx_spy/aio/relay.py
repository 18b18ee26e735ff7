"""One docker-side connection: frame requests, get each answered, record, write back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import catalogue, tap
from ..address import Address
from ..app import CONTENT_TYPE, PluginApp
from ..faults import FaultPlan, Injection
from ..proxy import Session, answer, spy_answer
from ..recording import Exchange, Fault
from .upstream import Upstream, UpstreamFault


@dataclass(frozen=True, kw_only=True)
class RelayOptions:
    """Where answers come from: an upstream plugin address, or the in-process app."""

    upstream: Address | None
    app: PluginApp | None
    max_body: int = tap.DEFAULT_MAX_BODY
    upstream_timeout: float | None = None
    faults: FaultPlan | None = None


@dataclass(frozen=True, kw_only=True)
class Answer:
    raw: bytes
    message: tap.Message
    upstream_ms: float | None = None
    fault: Fault | None = None
    answered_by: str = "plugin"
    injection: Injection | None = None


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
                                max_body=self.options.max_body)
        reason = "docker side closed the connection"
        try:
            reason = await self._serve(conn, reader, writer, upstream)
        except _Dropped:
            reason = "ipamx-spy closed the connection without answering (injected fault)"
        except (ConnectionError, OSError) as exc:
            reason = f"docker side connection failed: {exc.strerror or exc}"
        except asyncio.CancelledError:
            reason = "ipamx-spy shut down"
        finally:
            self.session.close(conn, reason)
            if upstream is not None:
                await upstream.close()
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, conn: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, upstream: Upstream | None) -> str:
        request_tap = tap.RequestTap(self.options.max_body)
        while True:
            result = request_tap.next_message()
            if result is tap.NEED_DATA:
                request_tap.feed(await reader.read(65536))
                continue
            if result is tap.CLOSED:
                return "docker side closed the connection"
            if isinstance(result, tap.TapError):
                await self._refuse(conn, writer, result, request_tap.pending)
                return f"docker side sent a bad request ({result.kind})"
            assert isinstance(result, tap.Message)
            reply, exchange = await self._answer(conn, result, upstream)
            writer.write(reply.raw)
            await writer.drain()
            self.session.publish(exchange)
            keep_alive = result.keep_alive and reply.message.keep_alive
            if not request_tap.answered(keep_alive=keep_alive):
                return "connection not kept alive (Connection: close or HTTP/1.0)"

    async def _refuse(self, conn: int, writer: asyncio.StreamWriter, error: tap.TapError,
                      data: bytes) -> None:
        side = "proxy" if error.status == 413 else "docker"
        what = "request body too large" if error.status == 413 else "malformed request"
        message = f"{what} from the docker side: {error.message}"
        self.session.fault(conn, Fault(side=side, kind=error.kind, message=message), data)
        writer.write(spy_answer(error.status, message, close=True).raw)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _answer(self, conn: int, request: tap.Message,
                      upstream: Upstream | None) -> tuple[Answer, Exchange]:
        pending = self.session.begin(conn, request.target)
        faults = self.options.faults
        injection = faults.injection(catalogue.endpoint_name(request.target)) if faults else None
        if self.session.refusing:
            reply = _spy(500, "the recording cannot be written (on-record-error=refuse)",
                          Fault(side="proxy", kind="recording", message="recording failing"))
        elif upstream is None:
            reply = await self._from_app_async(request)
        else:
            reply = await _from_upstream(upstream, request)
        reply = await _inject(injection or reply.injection, reply)
        exchange = self.session.complete(
            pending, request, reply.message, upstream_ms=reply.upstream_ms,
            fault=reply.fault, answered_by=reply.answered_by)
        return reply, exchange

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
                      upstream_ms=(time.perf_counter() - started) * 1000, answered_by="builtin",
                      injection=reply.injection)


class _Dropped(Exception):
    """An injected fault closes the connection without an answer."""


async def _inject(injection: Injection | None, reply: Answer) -> Answer:
    """Wait, hang, drop or rewrite the answer as an injected fault says (``faults``)."""
    if injection is None:
        return reply
    if injection.delay_s:
        await asyncio.sleep(injection.delay_s)
    if injection.hang:
        await asyncio.get_running_loop().create_future()  # cancelled when the proxy stops
    if injection.drop:
        raise _Dropped
    if not injection.rewrites:
        return reply
    status, body = injection.rewrite(reply.message.status, reply.message.body)
    message = answer(status, body, reply.message.header("Content-Type") or CONTENT_TYPE)
    return Answer(raw=message.raw, message=message, upstream_ms=reply.upstream_ms,
                  fault=reply.fault, answered_by=reply.answered_by)


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
