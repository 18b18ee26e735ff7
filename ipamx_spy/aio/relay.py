"""The docker side of the relay: an asyncio ``Protocol`` around ``connection.DockerConnection``.

Per exchange the event loop runs callbacks only, no task and no coroutine: bytes arrive
(``data_received``), the sans-IO connection frames a request, the answer comes from the
in-process app (inline, or on a worker thread for calls that may block) or from the plugin
(``Upstream.request``, a callback when the answer is complete), the session records the
exchange, and only then is the answer written to the docker side; the live view hears of it
last. The exchanges whose answers came in one turn of the event loop are finished together
(``Relay.flush_answers``, called soon after the first, or at once when no other exchange is
waiting): their lines in one write, then their answers, then the sinks, one call each.
Whatever fails in between (an encoder, a sink, a bug) is answered with a 500 ``Err`` and the
next request is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

from .. import tap
from ..address import Address
from ..app import CONTENT_TYPE, PluginApp
from ..connection import NEED_DATA, Closed, DockerConnection, Refuse, Request
from ..faults import FaultPlan, Injection
from ..proxy import Pending, ProxySession, answer, spy_answer
from ..recording import Exchange, Fault, made
from ..records import AnsweredBy, FaultKind, Side
from .upstream import Upstream, UpstreamNoAnswer

DEFAULT_HEADER_TIMEOUT = 10.0
STOPPING = ("ipamx-spy is stopping: the request was still waiting for its answer when the drain "
            "timeout ran out")
READ_LIMIT = 256 * 1024  # bytes buffered behind a busy request before reading pauses


@dataclass(frozen=True, kw_only=True)
class RelayOptions:
    """Where answers come from: an upstream plugin address, or the in-process app."""

    upstream: Address | None
    app: PluginApp | None
    max_body: int = tap.DEFAULT_MAX_BODY
    upstream_timeout: float | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    faults: FaultPlan | None = None


@dataclass(frozen=True, kw_only=True)
class RelayedAnswer:
    raw: bytes
    message: tap.WireMessage
    upstream_ms: float | None = None
    fault: Fault | None = None
    answered_by: AnsweredBy = AnsweredBy.PLUGIN
    injection: Injection | None = None


class Relay:
    """Serves docker-side connections for one session (``protocol`` is the factory).

    Calls the in-process app marks as blocking (the network driver's netlink work) run on one
    worker thread, so they never stall the other connections; the rest run inline, because a
    thread hop costs more than the allocator's whole answer.
    """

    def __init__(self, session: ProxySession, options: RelayOptions) -> None:
        if (options.upstream is None) == (options.app is None):
            raise ValueError("a relay needs exactly one of an upstream address or an app")
        self.session = session
        self.options = options
        self.protocols: set[DockerProtocol] = set()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipamx-spy app")
        self._outgoing: list[DockerProtocol] = []  # recorded (held), answer not written yet

    def hold(self, protocol: DockerProtocol) -> None:
        """``protocol``'s exchange is recorded (its line held): answer it at the end of the
        turn, with the others of the turn; at once when no other exchange is waiting for its
        answer (none can join it: one connection's exchange pays no extra turn)."""
        self._outgoing.append(protocol)
        if not self.session.pending:
            self.flush_answers()
        elif len(self._outgoing) == 1:
            protocol.loop.call_soon(self.flush_answers)

    def flush_answers(self) -> None:
        """Write the held lines (one write), then each held answer, then tell the sinks (one
        call each), then let each connection go on to its next request."""
        outgoing, self._outgoing = self._outgoing, []
        if not outgoing:
            return
        try:
            self.session.flush()
        except Exception:  # noqa: S110 - a write that fails is the policy's to handle
            pass
        for protocol in outgoing:
            protocol.send_answer()
        try:
            self.session.flush_sinks()
        except Exception:  # noqa: S110 - a sink's failure is the session's to report
            pass
        for protocol in outgoing:
            protocol.answer_sent()

    def protocol(self) -> DockerProtocol:
        return DockerProtocol(self)

    def close(self) -> None:
        """Wait for the app call in progress, if any, and stop the worker thread."""
        self._worker.shutdown(wait=True)

    def stop_all(self) -> None:
        """Shutdown after the drain: answer what still waits (500), close every connection."""
        for protocol in list(self.protocols):
            protocol.stop()

    async def wait_closed(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.protocols and loop.time() < deadline:
            await asyncio.sleep(0.02)

    def from_app(self, request: tap.WireMessage, endpoint: str) -> RelayedAnswer:
        """The in-process app's answer to ``request`` (``endpoint``: its target's name)."""
        assert self.options.app is not None
        started = time.perf_counter()
        try:
            reply = self.options.app.handle(endpoint, request.body)
        except Exception as exc:  # a bug in the built-in plugin must not take the proxy down
            return _spy(500, f"built-in plugin failed: {exc!r}",
                        Fault(side=Side.PLUGIN, kind=FaultKind.CRASH, message=repr(exc)))
        message = answer(reply.status, reply.body, reply.content_type)
        return made(RelayedAnswer, raw=message.raw, message=message,
                    upstream_ms=(time.perf_counter() - started) * 1000, fault=None,
                    answered_by=AnsweredBy.BUILTIN, injection=getattr(reply, "injection", None))

    def submit(self, request: tap.WireMessage, endpoint: str) -> Future[RelayedAnswer]:
        return self._worker.submit(self.from_app, request, endpoint)


class DockerProtocol(asyncio.Protocol):
    """One docker-side connection: the asyncio edge of a ``DockerConnection``."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.session = relay.session
        options = relay.options
        self.core = DockerConnection(max_body=options.max_body,
                                     header_timeout=options.header_timeout)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn = 0
        self.upstream: Upstream | None = None
        self._current: tuple[tap.WireMessage, Pending] | None = None
        # recorded, the answer not written yet (Relay.flush_answers writes it)
        self._outgoing: tuple[tap.WireMessage, RelayedAnswer, Exchange | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pumping = False
        self._write_paused = False
        self._read_paused = False
        self._lost = False
        self._finished: str | None = None  # the close reason, once the connection is done

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.relay.protocols.add(self)
        self.conn = self.session.open()
        address = self.relay.options.upstream
        if address is not None:
            self.upstream = Upstream(address, timeout=self.relay.options.upstream_timeout,
                                     max_body=self.relay.options.max_body,
                                     on_stray=self._stray)

    def data_received(self, data: bytes) -> None:
        self.core.receive(data, self.loop.time())
        if self.core.busy and self.core.buffered > READ_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self._read_paused = True
        self._pump()

    def eof_received(self) -> bool:
        self.core.receive(b"", self.loop.time())
        self._pump()
        return True  # keep the transport: the answer may still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_timer()
        if self._current is None and self._outgoing is None:
            self._end(self._finished or (f"docker side connection failed: {exc}" if exc else
                                         "docker side closed the connection"))
        # else: the answer is still recorded (and told) when it comes, then the connection
        # ends (answer_sent), so the close comes after the exchange everywhere

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._pump()

    # -- the loop of one connection -------------------------------------------------------

    def _pump(self) -> None:
        """Act on every event the connection has, until it needs data or waits for an answer."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while (self._current is None and self._finished is None and not self._lost
                   and not self._write_paused):
                if self.core.idle:  # between requests: nothing to frame, no deadline
                    self._cancel_timer()
                    return
                event = self.core.next_event(self.loop.time())
                if event is NEED_DATA:
                    self._arm_timer()
                    return
                if isinstance(event, Request):
                    self._start(event)
                elif isinstance(event, Refuse):
                    self._refuse(event)
                elif isinstance(event, Closed):
                    self._close(event.reason)
        finally:
            self._pumping = False

    def _start(self, event: Request) -> None:
        self._cancel_timer()
        request = event.message
        pending = self.session.begin(self.conn, request.target)
        self._current = (request, pending)
        try:
            if event.refusal is not None:
                status, fault = event.refusal
                self._reply(_spy(status, fault.message, fault))
            elif self.session.refusing:
                self._reply(_spy(500, "the recording cannot be written (on-record-error=refuse)",
                                 Fault(side=Side.PROXY, kind=FaultKind.RECORDING,
                                       message="recording failing")))
            elif self.upstream is not None:
                self.upstream.request(request.raw, request.method, self._from_upstream)
                self.session.prepare(pending, request)  # while the plugin works
            else:
                self.session.prepare(pending, request)
                self._from_app(request, pending.endpoint)
        except Exception as exc:  # a bug of ours: still an answer, and the next request works
            self._reply(_spy(500, f"internal error: {exc!r}",
                             Fault(side=Side.PROXY, kind=FaultKind.CRASH, message=repr(exc))))

    def _from_app(self, request: tap.WireMessage, endpoint: str) -> None:
        app = self.relay.options.app
        assert app is not None
        if not app.blocking(endpoint):
            self._reply(self.relay.from_app(request, endpoint))
            return
        future = self.relay.submit(request, endpoint)

        def done(_f: Future[RelayedAnswer]) -> None:
            self.loop.call_soon_threadsafe(self._reply_from_future, future)

        future.add_done_callback(done)

    def _reply_from_future(self, future: Future[RelayedAnswer]) -> None:
        try:
            reply = future.result()
        except Exception as exc:
            reply = _spy(500, f"built-in plugin failed: {exc!r}",
                         Fault(side=Side.PLUGIN, kind=FaultKind.CRASH, message=repr(exc)))
        self._reply(reply)

    def _from_upstream(self, result: tap.WireMessage | UpstreamNoAnswer,
                       upstream_ms: float) -> None:
        if isinstance(result, UpstreamNoAnswer):
            self._reply(_spy(500, str(result), result.fault))
        else:
            self._reply(_relayed(result, upstream_ms))

    def _reply(self, reply: RelayedAnswer) -> None:
        """The answer is ready: apply an injected fault (``--fault``), then deliver it."""
        if self._current is None:  # answered already (the spy stopped meanwhile)
            return
        faults = self.relay.options.faults
        injection = faults.injection(self._current[1].endpoint) if faults else None
        injection = injection or reply.injection
        if injection is None:
            self._deliver(reply)
            return
        if injection.delay_s and not injection.hang:
            self.loop.call_later(injection.delay_s, self._after_delay, injection, reply)
            return
        self._after_delay(injection, reply)

    def _after_delay(self, injection: Injection, reply: RelayedAnswer) -> None:
        if self._current is None:
            return
        if injection.hang:
            return  # answered by stop() when the proxy stops
        if injection.drop:
            self._current = None  # unanswered: the close record lists it
            self._close("ipamx-spy closed the connection without answering (injected fault)")
            return
        if injection.rewrites:
            status, body = injection.rewrite(reply.message.status, reply.message.body)
            message = answer(status, body, reply.message.header("Content-Type") or CONTENT_TYPE)
            reply = RelayedAnswer(raw=message.raw, message=message, upstream_ms=reply.upstream_ms,
                                  fault=reply.fault, answered_by=reply.answered_by)
        self._deliver(reply)

    def _deliver(self, reply: RelayedAnswer) -> None:
        """Record the answer (its line held); the relay writes the line, then the answer,
        then tells the live sinks, at the end of this turn of the event loop."""
        if self._current is None:
            return
        request, pending = self._current
        self._current = None
        exchange = None
        try:
            exchange = self.session.complete(
                pending, request, reply.message, upstream_ms=reply.upstream_ms,
                fault=reply.fault, answered_by=reply.answered_by, hold=True)
        except Exception as exc:
            self.session.pending.pop(pending.seq, None)
            with contextlib.suppress(Exception):
                self.session.fault(self.conn, Fault(
                    side=Side.PROXY, kind=FaultKind.RECORDING,
                    message=f"exchange #{pending.seq} could not be recorded: {exc!r}"), b"")
        self._outgoing = (request, reply, exchange)
        self.relay.hold(self)

    def send_answer(self) -> None:
        """The line is written (``Relay.flush_answers``): write the answer, publish it."""
        if self._outgoing is None:
            return
        _request, reply, exchange = self._outgoing
        try:
            if self.transport is not None and not self._lost:
                self.transport.write(reply.raw)
            if exchange is not None:
                self.session.publish(exchange, hold=True)
        except Exception:  # noqa: S110 - a sink's failure is the session's to report
            pass

    def answer_sent(self) -> None:
        """The answer went out: keep the connection for the next request, or close it."""
        if self._outgoing is None:
            return
        request, reply, _exchange = self._outgoing
        self._outgoing = None
        try:
            self._next_after(request, reply)
        except Exception as exc:  # a bug of ours: this connection ends, the others go on
            self._close(f"internal error after an answer: {exc!r}")

    def _next_after(self, request: tap.WireMessage, reply: RelayedAnswer) -> None:
        keep = self.core.answered(request, reply.message.keep_alive, self.loop.time())
        if self._lost:
            self._end(self._finished or "docker side closed the connection")
            return
        if not keep:
            event = self.core.next_event(self.loop.time())
            self._close(event.reason if isinstance(event, Closed) else "connection closed")
            return
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()
        self._pump()

    def _refuse(self, event: Refuse) -> None:
        with contextlib.suppress(Exception):
            self.session.fault(self.conn, event.fault, event.data)
        if self.transport is not None:
            self.transport.write(spy_answer(event.status, event.fault.message, close=True).raw)
        self._close(f"docker side sent a bad request ({event.fault.kind})")

    # -- timers and the end --------------------------------------------------------------

    def _arm_timer(self) -> None:
        deadline = self.core.deadline()
        if deadline is None:
            self._cancel_timer()
        elif self._timer is None or self._timer.when() != deadline:
            self._cancel_timer()
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stray(self, fault: Fault, data: bytes) -> None:
        self.session.fault(self.conn, fault, data)

    def _close(self, reason: str) -> None:
        """Close after what was written has gone out; the session hears of it once."""
        self._finished = self._finished or reason
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()
        if self._lost or self.transport is None:
            self._end(reason)

    def _end(self, reason: str) -> None:
        if self not in self.relay.protocols:
            return
        self.relay.protocols.discard(self)
        self._cancel_timer()
        with contextlib.suppress(Exception):
            self.session.close(self.conn, self._finished or reason)
        if self.upstream is not None:
            self.upstream.close()

    def stop(self) -> None:
        """The spy stops: a request still waiting gets a 500 saying so; then close."""
        self._finished = self._finished or "ipamx-spy shut down"
        if self._outgoing is not None:  # recorded: its answer goes out before the close
            self.relay.flush_answers()
        if self._current is not None:
            self._deliver(_spy(500, STOPPING, Fault(side=Side.PROXY, kind=FaultKind.STOPPING,
                                                  message=STOPPING)))
            self.relay.flush_answers()
        self._close(self._finished)
        if self.transport is not None and self._write_paused:
            self.transport.abort()  # a docker side that reads nothing never holds the exit
        self._end(self._finished)


def _relayed(message: tap.WireMessage, upstream_ms: float) -> RelayedAnswer:
    """``RelayedAnswer(raw=message.raw, message=message, upstream_ms=upstream_ms)``, the
    plugin's answer, without the frozen dataclass's ``__init__`` (once per exchange)."""
    return made(RelayedAnswer, raw=message.raw, message=message, upstream_ms=upstream_ms,
                fault=None, answered_by=AnsweredBy.PLUGIN, injection=None)


def _spy(status: int, message: str, fault: Fault) -> RelayedAnswer:
    reply = spy_answer(status, message)
    return RelayedAnswer(raw=reply.raw, message=reply, fault=fault, answered_by=AnsweredBy.SPY)
