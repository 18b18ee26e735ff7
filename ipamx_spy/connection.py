"""One docker-side connection of the relay, sans-IO: bytes in, events out.

The asyncio edge (``ipamx_spy.aio.relay``) hands this object what the docker side sent
(``receive``), asks it what to do next (``next_event``), and reports when the answer went out
(``answered``). The object frames requests (``ipamx_spy.tap``), refuses what must not reach the
plugin (malformed, too large, not POST), times out a request begun but never finished
(``header_timeout``, measured on the clock values the edge passes in), and decides whether the
connection stays open. It never touches a socket or a clock itself, so every rule is tested
with plain bytes (``tests/test_connection.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tap
from .recording import Fault
from .records import FaultKind, Side


@dataclass(frozen=True, kw_only=True)
class Request:
    """A complete request to answer. ``refusal`` is set when the spy answers it itself."""

    message: tap.WireMessage
    refusal: tuple[int, Fault] | None = None


@dataclass(frozen=True, kw_only=True)
class Refuse:
    """The docker side broke HTTP: answer ``status`` with ``fault``, then close."""

    status: int
    fault: Fault
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Closed:
    reason: str


class NeedData:
    """Nothing to do until more bytes arrive (or the deadline passes)."""


NEED_DATA = NeedData()
_new = object.__new__
Event = Request | Refuse | Closed | NeedData


class DockerConnection:
    """The state of one docker-side connection (see the module docstring)."""

    def __init__(self, *, max_body: int = tap.DEFAULT_MAX_BODY,
                 header_timeout: float = 10.0) -> None:
        self.header_timeout = header_timeout
        self._tap = tap.RequestTap(max_body)
        self._begun: float | None = None  # when the first byte of the next request came
        self._busy = False  # a request was handed out and not answered yet
        self._eof = False
        self._done: Closed | Refuse | None = None

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def buffered(self) -> int:
        return self._tap.buffered

    @property
    def idle(self) -> bool:
        """True when ``next_event`` can only be ``NEED_DATA`` with no deadline: nothing is
        busy, buffered or ended (between two requests of a keep-alive connection)."""
        return not (self._busy or self._tap.buffered or self._eof or self._done is not None)

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the docker side; ``b""`` when it closed its half."""
        if self._done is not None:
            return
        if not data:
            self._eof = True
        elif self._begun is None:
            self._begun = now
        self._tap.feed(data)

    def deadline(self) -> float | None:
        """When the request begun must be complete (None: no request begun, or one is busy)."""
        if self._busy or self._begun is None or self._done is not None:
            return None
        return self._begun + self.header_timeout

    def next_event(self, now: float) -> Event:
        """What to do next. While a request is busy, always ``NEED_DATA``."""
        if self._done is not None:
            return self._done
        if self._busy:
            return NEED_DATA
        result = self._tap.next_message()
        if result is tap.NEED_DATA and self._eof:  # h11 wants more after the end
            result = tap.TapError(status=400, kind=FaultKind.TRUNCATED,
                                  message="connection closed in the middle of a message")
        if result is tap.NEED_DATA:
            deadline = self.deadline()
            if deadline is not None and now >= deadline:
                return self._refuse(tap.TapError(
                    status=408, kind=FaultKind.TIMEOUT,
                    message=f"the request was not complete {self.header_timeout:g} s after its "
                            "first byte (--header-timeout)"))
            return NEED_DATA
        if result is tap.CLOSED:
            self._done = Closed(reason="docker side closed the connection")
            return self._done
        if isinstance(result, tap.TapError):
            return self._refuse(result)
        assert isinstance(result, tap.WireMessage)
        self._busy = True
        if result.method != "POST":
            message = (f"method {result.method} is not allowed: the plugin protocol is POST "
                       "only (not forwarded)")
            refused = Fault(side=Side.DOCKER, kind=FaultKind.METHOD, message=message)
            return Request(message=result, refusal=(405, refused))
        request = _new(Request)  # Request(message=result) without the frozen __init__
        request.__dict__.update(message=result, refusal=None)
        return request

    def answered(self, request: tap.WireMessage, reply_keep_alive: bool, now: float) -> bool:
        """The answer to the busy request went out; True when the connection stays open."""
        self._busy = False
        keep = request.keep_alive and reply_keep_alive and request.method != "CONNECT"
        if not self._tap.answered(keep_alive=keep):
            self._done = Closed(reason="connection not kept alive (Connection: close or "
                                "HTTP/1.0)" if not self._eof else
                                "docker side closed the connection")
            return False
        self._begun = now if self._tap.buffered else None
        return True

    def _refuse(self, error: tap.TapError) -> Refuse:
        side = Side.PROXY if error.status == 413 else Side.DOCKER
        what = {413: "request body too large", 408: "incomplete request"}.get(
            error.status, "malformed request")
        fault = Fault(side=side, kind=error.kind,
                      message=f"{what} from the docker side: {error.message}")
        self._done = Refuse(status=error.status, fault=fault, data=self._tap.pending)
        return self._done
