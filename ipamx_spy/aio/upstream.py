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
from collections.abc import Callable

from .. import tap
from ..address import Address
from ..recording import Fault


class UpstreamFault(Exception):
    """The plugin could not give an answer; ``fault`` says why (always the plugin side)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.fault = Fault(side="plugin", kind=kind, message=message)


StrayHandler = Callable[[Fault, bytes], None]
STRAY_KEPT = 4096


class _Link(asyncio.Protocol):
    """One connection to the plugin; answers at most the one request it was given."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.tap = tap.ResponseTap(upstream.max_body)
        self.waiter: asyncio.Future[tap.Message] | None = None
        self.closed = False

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
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

    def send(self, raw_request: bytes, method: str) -> asyncio.Future[tap.Message]:
        assert self.transport is not None and not self.closed
        self.waiter = asyncio.get_running_loop().create_future()
        self.tap.expect(method)
        self.transport.write(raw_request)
        return self.waiter

    def _ended(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.tap.feed(b"")
            self._advance()
        if self.waiter is not None and not self.waiter.done():
            self._fail("closed", "closed the connection without answering")
        self.close()

    def _advance(self) -> None:
        assert self.waiter is not None
        result = self.tap.next_message()
        if isinstance(result, tap.Message):
            extra = self.tap.pending
            reusable = result.keep_alive and self.tap.reusable() and not extra
            self.waiter.set_result(result)
            if extra:
                self._stray(extra, "sent more bytes than one answer (a second response or a "
                            "body longer than its Content-Length)")
            elif not reusable:
                self.close()
        elif isinstance(result, tap.TapError):
            kind = "too-large" if result.status == 413 else "malformed"
            self._fail(kind, f"malformed answer: {result.message}")
            self.close()
        elif result is tap.CLOSED:
            self._fail("closed", "closed the connection without answering")
            self.close()
        elif self.closed:  # NEED_DATA after the end: the answer is cut off
            self._fail("closed", "closed the connection in the middle of its answer")

    def _fail(self, kind: str, what: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(UpstreamFault(kind, f"upstream {self.upstream.address}: "
                                                    f"{what}"))

    def _stray(self, data: bytes, what: str) -> None:
        """Drop bytes that answer nothing (as Go's client does) and close the connection."""
        self.upstream.report_stray(data, what)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Upstream:
    """One keep-alive connection to the plugin, opened on first use and after a close."""

    def __init__(self, address: Address, *, timeout: float | None, max_body: int,
                 on_stray: StrayHandler | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self.max_body = max_body
        self.on_stray = on_stray
        self._link: _Link | None = None

    async def _dial(self) -> _Link:
        loop = asyncio.get_running_loop()
        try:
            if self.address.kind == "unix":
                _t, link = await loop.create_unix_connection(lambda: _Link(self),
                                                              self.address.path)
            else:
                _t, link = await loop.create_connection(lambda: _Link(self),
                                                         self.address.host, self.address.port)
        except OSError as exc:
            raise UpstreamFault("unreachable", f"upstream {self.address}: "
                                f"{exc.strerror or exc}") from exc
        return link

    async def exchange(self, raw_request: bytes, method: str) -> tap.Message:
        """Send one request and return the complete answer. Raises UpstreamFault."""
        link = self._link
        if link is None or link.closed:  # never used, or the plugin closed it while idle
            link = self._link = await self._dial()
        try:
            waiter = link.send(raw_request, method)
            if self.timeout is None:
                return await waiter
            return await asyncio.wait_for(waiter, self.timeout)
        except TimeoutError as exc:
            link.close()
            raise UpstreamFault("timeout", f"upstream {self.address}: no answer within "
                                f"{self.timeout:g} s (--upstream-timeout)") from exc
        except OSError as exc:
            link.close()
            raise UpstreamFault("closed", f"upstream {self.address}: "
                                f"{exc.strerror or exc}") from exc
        except BaseException:
            link.close()
            raise

    def report_stray(self, data: bytes, what: str) -> None:
        if self.on_stray is None:
            return
        message = (f"upstream {self.address}: {what}; {len(data)} byte(s) dropped and the "
                   "connection closed")
        with contextlib.suppress(Exception):
            self.on_stray(Fault(side="plugin", kind="extra-bytes", message=message),
                          data[:STRAY_KEPT])

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()
