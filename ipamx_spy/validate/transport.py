"""Transport checks (codes 4xx): slow answers, hang-ups, content types, and the empty-body
retry of PROTOCOL.md 1.6 (a POST with ``Content-Length: 0`` where a body is required, sent
about 1 s after an attempt that got no answer)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from ipamx_spy.dockerd.verdict import retry_waits
from ipamx_spy.findings import Finding
from ipamx_spy.recording import Exchange
from ipamx_spy.records import AnsweredBy, Side

from .context import CheckContext
from .plain import json_content_type
from .rules import finding

RETRY_WINDOW_S = (0.5, 3.0)  # how far back an unanswered first attempt is looked for


class Attempt(NamedTuple):
    """A request that got no answer, as the empty-body rule looks back at it."""

    number: int  # the how-manieth attempt the transport has seen (from 1)
    seq: int
    conn: int
    t: float
    endpoint: str


RECENT = 64  # how many attempts back the empty-body rule looks for the first one


@dataclass
class Transport:
    slow_ms: float = 1000.0
    reported: set[int] = field(default_factory=set)  # seqs already reported as unanswered
    attempts: int = 0  # how many attempts were seen so far
    # The unanswered attempts among the last RECENT: an answered one is never the first
    # attempt of a retry, so it is counted, not kept (most are; keeping each cost ~0.5 us).
    unanswered_attempts: deque[Attempt] = field(default_factory=lambda: deque(maxlen=RECENT))

    def check(self, ctx: CheckContext) -> list[Finding]:
        exchange = ctx.exchange
        found = self._unanswered(ctx) + self._slow(ctx) + self._content_type(ctx)
        found += self._empty_body(ctx)
        self.seen(exchange, ctx.answered)
        return found

    def seen(self, exchange: Exchange, answered: bool) -> None:
        """Remember an attempt (the empty-body retry rule looks back at them)."""
        self.attempts += 1
        if not answered:
            self.unanswered_attempts.append(Attempt(
                self.attempts, exchange.seq, exchange.conn, exchange.t, exchange.endpoint))

    def _unanswered(self, ctx: CheckContext) -> list[Finding]:
        exchange = ctx.exchange
        fault = exchange.fault
        if fault is not None and fault.side == Side.DOCKER:
            return []
        relayed = exchange.answered_by == AnsweredBy.PLUGIN
        if exchange.response is not None and (fault is None or relayed):
            return []
        reason = f" ({fault.message})" if fault is not None else ""
        return [self.unanswered(exchange.seq, exchange.endpoint, reason)]

    def unanswered(self, seq: int, endpoint: str, reason: str = "") -> Finding:
        """IPX402, with the retries the authority's ``read_no_answer`` promises."""
        self.reported.add(seq)
        first, *later = retry_waits()
        then = ", ".join(f"{w:g}" for w in later[:-1]) + f" and {later[-1]:g}"
        return finding("IPX402", seq, (
            f"{endpoint or 'the request'} got no answer from the plugin{reason}: dockerd "
            f"retries {first:g} s later on a new connection (then after {then} s); a request "
            "it had already written goes out again with an EMPTY body (its request buffer is "
            "spent), one that never got out (connection refused) with its body; only if every "
            f"attempt fails does the command fail, about {first + sum(later):g} s after the "
            "first; answer every request, with an error if need be, and never close a "
            "connection that has a request pending"))

    def _slow(self, ctx: CheckContext) -> list[Finding]:
        exchange = ctx.exchange
        if exchange.response is None or exchange.duration_ms < self.slow_ms:
            return []
        return [finding("IPX401", ctx.seq, (
            f"the answer took {exchange.duration_ms:.0f} ms (threshold {self.slow_ms:.0f} ms): "
            "dockerd has no timeout for legacy plugins, so the docker command waited as long; "
            "answer without blocking on slow work"))]

    def _content_type(self, ctx: CheckContext) -> list[Finding]:
        response = ctx.exchange.response
        if response is None or not ctx.answered or ctx.status != 200:
            return []
        value = response.header("Content-Type")
        if json_content_type(value):
            return []
        shown = "no Content-Type" if value is None else f"Content-Type {value!r}"
        return [finding("IPX403", ctx.seq, (
            f"the answer has {shown}: dockerd ignores it, but HTTP tools and other clients "
            "expect application/vnd.docker.plugins.v1.2+json (or application/json)"))]

    def _empty_body(self, ctx: CheckContext) -> list[Finding]:
        if ctx.row is None or not ctx.row.takes_body or ctx.exchange.request.raw_body.strip():
            return []
        first = self._first_attempt(ctx)
        origin = (f", {ctx.exchange.t - first.t:.1f} s after #{first.seq} went unanswered"
                  if first is not None else "")
        found = [finding("IPX404", ctx.seq, (
            f"{ctx.endpoint} arrived with an empty body{origin}: this is dockerd's retry after "
            "a connection closed without an answer, and the arguments are lost; the plugin "
            "must answer every request and keep idle connections open"))]
        if ctx.answered and ctx.plugin_error is None:
            found.append(finding("IPX405", ctx.seq, (
                "the plugin answered the empty-body request with success, acting on zero "
                "values instead of real arguments; refuse an empty body with an error")))
        return found

    def _first_attempt(self, ctx: CheckContext) -> Attempt | None:
        low, high = RETRY_WINDOW_S
        oldest = self.attempts - RECENT  # the last RECENT attempts are numbered above it
        for attempt in reversed(self.unanswered_attempts):
            if attempt.number <= oldest:
                break
            delta = ctx.exchange.t - attempt.t
            if attempt.endpoint == ctx.endpoint and low <= delta <= high:
                return attempt
        return None
