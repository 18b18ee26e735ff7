"""The web view's one asyncio edge: an aiohttp app in whichever event loop runs it.

Routes (all GET; the view is read-only): ``/`` the page, ``/events`` the live feed (server-sent
events: one ``state`` event per change, carrying the page order and only the items that
changed since the last event on that connection), ``/api/filter?q=`` the ids the filter keeps.

Safe by default: the socket is bound by ``bind`` (loopback unless told otherwise) before
anything runs, and every request needs the token printed at start, either as ``?token=`` (the
page then sets a same-site cookie, as Jupyter does) or as that cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from .board import Build, Rendered
from .query import QueryError, compile_query, shown
from .view import Board, PageMode, page_html

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8500
COOKIE = "ipamx_spy_token"
POLL_S = 0.5
MIN_GAP_S = 0.05
KEEPALIVE_S = 15.0
HISTORY = 64  # snapshots kept to bring a page up to date with only what changed
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                "script-src 'unsafe-inline'; connect-src 'self'; "
                                "img-src 'self'; base-uri 'none'; form-action 'none'"),
}


class Source(Protocol):
    def version(self) -> int: ...

    def snapshot(self) -> Build: ...


class ListenAddressError(ValueError):
    """A ``HOST:PORT`` that cannot be used."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``HOST`` (port 8500); ``[::1]:8500`` for IPv6."""
    text = text.strip()
    host, port = DEFAULT_HOST, str(DEFAULT_PORT)
    if text.isdigit():
        port = text
    elif text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        host, port = inside, rest.removeprefix(":") or port
    elif ":" in text:
        host, _, port = text.rpartition(":")
        host = host or DEFAULT_HOST
    elif text:
        host = text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (raises OSError: address in use, no such address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def new_token() -> str:
    return secrets.token_urlsafe(24)


def url_of(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{port}/?token={token}"


@dataclass(frozen=True, kw_only=True)
class PageBuild:
    """One build of the page, shared by every connection, and how it differs from the one
    before it (``number`` - 1): the first ``keep`` items are as they were, ``changed`` holds
    every id whose HTML is new."""

    number: int
    version: int
    rendered: Rendered
    keep: int = 0
    changed: frozenset[str] = frozenset()

    @property
    def board(self) -> Board:
        return self.rendered.board

    def full(self) -> dict[str, Any]:
        """The event that sets the whole page (a page that has nothing, or lags too far)."""
        rendered = self.rendered
        return {"v": self.number, "full": True, "order": list(rendered.order),
                "items": dict(rendered.html), "meta": rendered.meta,
                "findings": rendered.findings}

    def since(self, history: Sequence[PageBuild]) -> dict[str, Any]:
        """The event that brings a page at ``history[0]`` to this one (``history``: every
        snapshot from that one to this, in order): only the items that changed, and the
        order from the first place it changed."""
        keep = min((s.keep for s in history[1:]), default=len(self.rendered.order))
        changed = frozenset[str]().union(*(s.changed for s in history[1:]))
        html = self.rendered.html
        return {"v": self.number, "keep": keep, "tail": list(self.rendered.order[keep:]),
                "items": {i: html[i] for i in changed if i in html},
                "meta": self.rendered.meta, "findings": self.rendered.findings}


def difference(before: Rendered, after: Rendered) -> tuple[int, frozenset[str]]:
    """``keep`` and ``changed`` of ``after`` against ``before``: what the build says when it
    was built on ``before``, found by comparing otherwise (recordings on disk)."""
    if after.base is not None and after.base == before.serial:
        return after.keep, after.changed
    keep = 0
    for old, new in zip(before.order, after.order, strict=False):
        if old != new:
            break
        keep += 1
    return keep, frozenset(i for i in after.order if before.html.get(i) != after.html[i])


@dataclass
class WebView:
    """Serves ``source`` on ``sock``; ``run()`` until cancelled (or ``stop()``)."""

    source: Source
    sock: socket.socket
    token: str
    mode: PageMode = PageMode.LIVE
    on_error: Callable[[str], None] = lambda message: None
    on_listening: Callable[[str], None] = lambda url: None
    current: PageBuild | None = None
    history: deque[PageBuild] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _changed: asyncio.Condition | None = None
    _wake: asyncio.Event | None = None
    _closing: bool = False
    _loop: asyncio.AbstractEventLoop | None = None
    _build_s: float = 0.0

    @property
    def url(self) -> str:
        return url_of(self.sock, self.token)

    def wake(self) -> None:
        """Something changed: rebuild soon (cheap; safe from any thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- lifetime ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Build the first board, serve, keep the board up to date; cleans up when cancelled."""
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._loop = loop
        await self._rebuild()
        runner = web.AppRunner(self.app(), handle_signals=False, access_log=None,
                               shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, self.sock).start()
        self.on_listening(self.url)
        try:
            await self._follow()
        finally:
            self._closing = True
            async with self._changed:
                self._changed.notify_all()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(runner.cleanup()), timeout=3.0)

    async def _follow(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_S)
            self._wake.clear()
            if self.current is None or self.source.version() != self.current.version:
                await self._rebuild()
                # whatever comes meanwhile goes into the next build: one event for many
                # records. A build of everything (recordings on disk) is spaced out so
                # that such builds never take more than a quarter of the time; a build of
                # what changed (a live board) is not, it costs what came
                whole = self.current is not None and self.current.rendered.base is None
                await asyncio.sleep(max(MIN_GAP_S, 3 * self._build_s if whole else 0.0))

    async def _rebuild(self) -> None:
        version = self.source.version()
        build = self.source.snapshot()
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            rendered = await loop.run_in_executor(None, build)
        except (OSError, ValueError) as exc:
            if self.current is None:
                raise
            self.on_error(f"web view: keeping the last good page: {exc}")
            self.current = dataclasses.replace(self.current, version=version)
            return
        last = self.current
        if last is None:
            self.current = PageBuild(number=1, version=version, rendered=rendered)
        else:
            keep, changed = difference(last.rendered, rendered)
            self.current = PageBuild(number=last.number + 1, version=version,
                                     rendered=rendered, keep=keep, changed=changed)
        self.history.append(self.current)
        self._build_s = loop.time() - began
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def event_since(self, number: int) -> dict[str, Any]:
        """The event that brings a page showing snapshot ``number`` to the current one (the
        whole page when that snapshot is too old to be known)."""
        assert self.current is not None
        known = [s.number for s in self.history]
        if number in known:
            return self.current.since(list(self.history)[known.index(number):])
        return self.current.full()

    # -- the app ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/events", self._events)
        app.router.add_get("/api/filter", self._filter)
        return app

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=403, text=(
                "ipamx-spy web view: this page needs the token printed when it started "
                "(open the address shown there, with ?token=...)\n"), headers=HEADERS)
        response = await handler(request)
        response.headers.update(HEADERS)
        if request.query.get("token"):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def _page(self, request: web.Request) -> web.Response:
        current = self.current
        assert current is not None
        rendered = current.rendered
        page = page_html(rendered.board, mode=self.mode, version=current.number,
                         rendered=[rendered.html[i] for i in rendered.order],
                         meta=rendered.meta)
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def _filter(self, request: web.Request) -> web.Response:
        assert self.current is not None
        try:
            keep = compile_query(request.query.get("q", ""))
        except QueryError as exc:
            return web.json_response({"error": str(exc)})
        return web.json_response({"shown": shown(self.current.board, keep)})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """The live feed: from the page's own build (``?since=`` its number) on, one event
        per new build with only what changed since the last event sent on it."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               **HEADERS})
        await response.prepare(request)
        since = request.query.get("since", "")
        last = int(since) if since.isdigit() else 0
        async for snapshot in self._snapshots():
            try:
                if snapshot is None:
                    await response.write(b": keep-alive\n\n")
                    continue
                data = json.dumps(self.event_since(last), ensure_ascii=False)
                last = snapshot.number
                await response.write(f"event: state\ndata: {data}\n\n".encode())
            except (ConnectionError, RuntimeError):
                break
        return response

    async def _snapshots(self) -> AsyncIterator[PageBuild | None]:
        """Every new snapshot (None: nothing new for a while, time for a keep-alive); one
        that lags gets the newest (``event_since`` gives it what it missed)."""
        assert self._changed is not None and self.current is not None
        last = self.current
        yield last
        while not self._closing:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=KEEPALIVE_S)
            if self._closing:
                return
            if self.current is last:
                yield None
                continue
            last = self.current
            yield last
