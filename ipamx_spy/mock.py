"""Mock mode: a recording served as a fake plugin, to reproduce a bug report without the plugin.

Theory of operation
-------------------
``MockPlugin`` is a sans-IO plugin app (``handle(endpoint, body) -> Reply``) that the lead's
asyncio server runs like the built-in plugin. For each request dockerd sends, it looks for the
recorded exchange of the same endpoint whose request means the same (JSON-aware: key order,
spacing and key case never matter), taking unused exchanges in recorded order. Values dockerd
makes up itself (the endpoint rows' ``made_up`` paths: network and endpoint IDs, sandbox keys,
container names, random MACs) may differ from the recording; the first time one is seen it is
bound (recorded -> live), and from then on it must stay consistent. That is replay's bindings in
reverse: the mock learns from requests and rewrites the recorded answers it sends back.

The answer is the recorded one: status, Content-Type and body bytes (re-encoded in the recorded
layout only when a binding changed a value). Read-only calls (rows marked ``repeatable``) may be
answered again once their recorded exchanges are used up. A request that matches nothing gets HTTP
500 ``{"Err": "ipamx-spy mock: ..."}`` naming the nearest recorded exchange and how it differs (what
vcrpy says when a cassette has no match); dockerd shows that text to the user.

For a network driver, a Join answer names a host interface dockerd moves into the container;
with ``interfaces`` set (``mock_links.HostInterfaces``) the mock creates it before the answer
goes out and removes it at DeleteEndpoint.

The recording is read as the requests come (``RecordedWindow``), not loaded: the mock holds
the recorded exchanges from ``window`` (4,096) places before the furthest one it has answered
to ``window`` places after it, so a recording of any length is served in constant memory. A
recording no longer than the window is held whole, as before; in a longer one, a request finds
its answer only within ``window`` places of where the session has got to (dockerd asks in about
the recorded order), and an exchange left more than ``window`` places behind is given up as
unused.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ipamx_spy import dockerd
from ipamx_spy.app import Reply
from ipamx_spy.dockerd.gotypes import field_value
from ipamx_spy.faults import Injection
from ipamx_spy.mock_links import HostInterfaces
from ipamx_spy.recording import Damage, Exchange
from ipamx_spy.recording_reader import RecordingReader
from ipamx_spy.records import FaultKind
from ipamx_spy.replay import paths
from ipamx_spy.replay.bindings import Bindings, rewrite_body

JSON = Any
def made_up(endpoint: str) -> tuple[paths.Path, ...]:
    """Request values dockerd makes up for this endpoint (its row's ``made_up`` paths)."""
    row = dockerd.ANY_BY_NAME.get(endpoint)
    return row.made_up if row is not None else ()


def _repeatable(endpoint: str) -> bool:
    row = dockerd.ANY_BY_NAME.get(endpoint)
    return row is not None and row.repeatable


@dataclass(frozen=True, kw_only=True)
class Miss:
    """A request the recording has no answer for."""

    endpoint: str
    request: JSON
    reason: str


@dataclass(frozen=True, kw_only=True)
class Served:
    """A request answered from the recording."""

    endpoint: str
    recorded_seq: int
    rewritten: bool


def decode(body: bytes) -> JSON:
    """A request body as mock compares it: None when empty, JSON, or else the text."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


MOCK_WINDOW = 4096
"""How far, in recorded exchanges, mock reads ahead of (and keeps behind) the furthest recorded
exchange it has answered (``RecordedWindow``)."""


class RecordedWindow:
    """The recorded exchanges mock can answer with, read from ``exchanges`` (in the file's
    order) as the session goes on: every unused one up to ``window`` places after the furthest
    one used, none more than ``window`` places before it (those are given up, counted as
    unused), and the last ``window`` used ones (those of read-only calls, rows marked
    ``repeatable``, may answer again; the others are named in a miss's nearest). Not
    thread-safe: ``MockPlugin`` holds its lock around it."""

    def __init__(self, exchanges: Iterable[Exchange], window: int = MOCK_WINDOW) -> None:
        if window < 1:
            raise ValueError("the window must hold at least one exchange")
        self._source: Iterator[Exchange] | None = iter(exchanges)
        self.window = window
        self._fresh: dict[str, dict[int, tuple[int, Exchange]]] = {}  # endpoint -> seq -> ...
        self._order: deque[tuple[int, Exchange]] = deque()  # (place, exchange) as read
        self._used: deque[Exchange] = deque(maxlen=window)  # the last ones used
        self.read = 0  # exchanges read so far
        self.furthest = -1  # the place of the furthest exchange used
        self.given_up = 0  # unused exchanges left behind
        self.given_up_first: list[Exchange] = []  # the first ten of them
        self.dropped = 0  # exchanges no longer in hand, used or not
        self._fill()

    def _fill(self) -> None:
        while self._source is not None and self.read <= self.furthest + self.window:
            exchange = next(self._source, None)
            if exchange is None:
                self._source = None
                break
            self._fresh.setdefault(exchange.endpoint, {})[exchange.seq] = (self.read, exchange)
            self._order.append((self.read, exchange))
            self.read += 1
        while self._order and self._order[0][0] < self.furthest - self.window:
            place, exchange = self._order.popleft()
            self.dropped += 1
            if self._fresh.get(exchange.endpoint, {}).pop(exchange.seq, None) is not None:
                self.given_up += 1
                if len(self.given_up_first) < 10:
                    self.given_up_first.append(exchange)

    @property
    def whole(self) -> bool:
        """Whether every exchange of the recording is in hand (read to its end, none dropped)."""
        return self._source is None and not self.dropped

    def fresh(self, endpoint: str) -> list[Exchange]:
        """The unused exchanges of ``endpoint`` in hand, in the file's order."""
        return [e for _, e in self._fresh.get(endpoint, {}).values()]

    def answered(self, endpoint: str) -> list[Exchange]:
        """The used exchanges of ``endpoint`` in hand, the latest first."""
        return [e for e in reversed(self._used) if e.endpoint == endpoint]

    def is_used(self, exchange: Exchange) -> bool:
        return exchange.seq not in self._fresh.get(exchange.endpoint, {})

    def use(self, exchange: Exchange) -> None:
        entry = self._fresh.get(exchange.endpoint, {}).pop(exchange.seq, None)
        if entry is not None:
            self.furthest = max(self.furthest, entry[0])
            self._used.append(exchange)
        self._fill()

    def unused(self) -> list[Exchange]:
        """The unused exchanges in hand, in the file's order."""
        return [e for _, e in self._order if not self.is_used(e)]

    def tally(self, limit: int = 10) -> tuple[list[Exchange], int]:
        """The first ``limit`` exchanges never used and how many there are: those given up, those
        in hand and the rest of the file (read to its end now, counted, not held)."""
        first = (self.given_up_first + self.unused())[:limit]
        total = self.given_up + len(self.unused())
        if self._source is not None:
            for exchange in self._source:
                total += 1
                if len(first) < limit:
                    first.append(exchange)
            self._source = None
        return first, total


@dataclass
class MockPlugin:
    """Serves recorded answers; ``misses`` and ``served`` say how it went (``served``: the
    last ``window``; ``answered`` counts them all)."""

    exchanges: Iterable[Exchange]
    on_miss: Callable[[Miss], None] | None = None
    bindings: Bindings = field(default_factory=Bindings)
    misses: list[Miss] = field(default_factory=list)
    served: deque[Served] = field(default_factory=lambda: deque(maxlen=MOCK_WINDOW))
    interfaces: HostInterfaces | None = None  # creates the host interfaces Join answers name
    window: int = MOCK_WINDOW
    answered: int = 0

    def __post_init__(self) -> None:
        self.recorded = RecordedWindow(self.exchanges, self.window)
        self.served = deque(self.served, maxlen=self.window)
        self._lock = threading.Lock()  # a Join or DeleteEndpoint is handled on a thread

    def blocking(self, endpoint: str) -> bool:
        """Answers are computed in memory; only a Join or DeleteEndpoint that changes host
        interfaces (netlink) is worth a thread."""
        return self.interfaces is not None and endpoint in HOST_SIDE

    def handle(self, endpoint: str, body: bytes) -> Reply:
        live = decode(body)
        with self._lock:
            found, reply = self._reply(endpoint, live)
        if found and self.interfaces is not None and endpoint in HOST_SIDE \
                and isinstance(live, dict):
            return self._host_side(self.interfaces, endpoint, live, reply)
        return reply

    def _reply(self, endpoint: str, live: JSON) -> tuple[bool, Reply]:
        """Whether a recorded exchange matched, and the answer (a miss's 500 when none did)."""
        repeatable = _repeatable(endpoint)
        found = self._match(endpoint, live, repeatable)
        if found is None:
            return False, self._miss(endpoint, live)
        self.recorded.use(found)
        if isinstance(found.request.value, dict | list) and isinstance(live, dict | list):
            self.bindings.learn(found.request.value, live)
        return True, self._answer(found)

    @staticmethod
    def _host_side(interfaces: HostInterfaces, endpoint: str, live: dict[str, Any],
                   reply: Reply) -> Reply:
        endpoint_id = str(live.get("EndpointID", ""))
        if endpoint == dockerd.Endpoint.DELETE_ENDPOINT:
            interfaces.delete(endpoint_id)
            return reply
        src = _src_name(reply) if reply.status == 200 else ""
        problem = interfaces.join(endpoint_id, src) if src else None
        if problem is None:
            return reply
        return Reply.json(500, {"Err": f"ipamx-spy mock: cannot create the host interface "
                                       f"{src} that the recorded Join names: {problem}"})

    def unused(self) -> list[Exchange]:
        """Recorded exchanges in hand that no request has asked for (yet)."""
        with self._lock:
            return self.recorded.unused()

    def unused_tally(self, limit: int = 10) -> tuple[list[Exchange], int]:
        """The first ``limit`` recorded exchanges no request asked for, and how many there are
        in the whole recording (the rest of the file is read now, to count them)."""
        with self._lock:
            return self.recorded.tally(limit)

    def _match(self, endpoint: str, live: JSON, repeatable: bool) -> Exchange | None:
        again = self.recorded.answered(endpoint) if repeatable else []
        for exchange in self.recorded.fresh(endpoint) + again:
            if not self.differences(exchange, live):
                return exchange
        return None

    def differences(self, exchange: Exchange, live: JSON) -> list[paths.Difference]:
        """How ``live`` differs from the recorded request, after bindings."""
        recorded = exchange.request.value
        if recorded is None or live is None or isinstance(recorded, str):
            same = recorded == live
            return [] if same else [paths.Difference(path=(), expected=recorded, actual=live)]
        chosen = made_up(exchange.endpoint)
        patterns = tuple(paths.render(p) for p in chosen)
        found = paths.diff(recorded, live, translate=self.bindings.translate,
                           prune=lambda path: paths.matches(path, patterns))
        for where in chosen:
            was, now = paths.get(recorded, where), paths.get(live, where)
            bound = self.bindings.lookup(was) if isinstance(was, str) else None
            if bound is not None and now != bound:
                found.append(paths.Difference(path=where, expected=bound, actual=now))
        return found

    def _answer(self, exchange: Exchange) -> Reply:
        response = exchange.response
        if response is None:
            reason = exchange.fault.message if exchange.fault else "no answer"
            self.served.append(Served(endpoint=exchange.endpoint, recorded_seq=exchange.seq,
                                      rewritten=False))
            self.answered += 1
            reply = Reply.json(500, {"Err": f"ipamx-spy mock: in the recording the plugin "
                                            f"gave no answer here (#{exchange.seq}: {reason})"})
            return replace(reply, injection=recorded_fault(exchange))
        body = rewrite_body(response, self.bindings)
        self.served.append(Served(endpoint=exchange.endpoint, recorded_seq=exchange.seq,
                                  rewritten=body.changed))
        self.answered += 1
        return Reply(status=response.status, body=body.body,
                     content_type=response.header("Content-Type"))

    def _miss(self, endpoint: str, live: JSON) -> Reply:
        candidates = self.recorded.fresh(endpoint) + self.recorded.answered(endpoint)
        if not candidates:
            reason = f"the recording has no {endpoint} call" + (
                "" if self.recorded.whole else
                f" within {self.recorded.window:,} exchanges of the last one answered")
        else:
            nearest = min(candidates, key=lambda e: (len(self.differences(e, live)),
                                                     self.recorded.is_used(e), e.seq))
            reason = self._nearest_text(nearest, live)
        miss = Miss(endpoint=endpoint, request=live, reason=reason)
        self.misses.append(miss)
        if self.on_miss is not None:
            self.on_miss(miss)
        return Reply.json(500, {"Err": f"ipamx-spy mock: no recorded {endpoint} matches this "
                                       f"request; {reason}"})

    def _nearest_text(self, nearest: Exchange, live: JSON) -> str:
        found = self.differences(nearest, live)
        used = " (already answered)" if self.recorded.is_used(nearest) else ""
        if not found:
            return f"the matching recorded call #{nearest.seq} was already answered"
        shown = "; ".join(f"{paths.render(d.path)}: recorded {_show(d.expected)}, "
                          f"got {_show(d.actual)}" for d in found[:3])
        more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
        return f"nearest is #{nearest.seq}{used}: {shown}{more}"


# The calls whose host side mock makes real (``--veth``): Join's interface, removed again at
# DeleteEndpoint. A name finds its member (``Endpoint`` is a ``StrEnum``).
HOST_SIDE: frozenset[str] = frozenset({dockerd.Endpoint.JOIN, dockerd.Endpoint.DELETE_ENDPOINT})


def _src_name(reply: Reply) -> str:
    """``InterfaceName.SrcName`` of a Join answer (keys as Go reads them: any case)."""
    try:
        value = json.loads(reply.body)
    except ValueError:
        return ""
    names = _field(value, "InterfaceName")
    src = _field(names, "SrcName")
    return src if isinstance(src, str) else ""


def _field(value: JSON, name: str) -> JSON:
    return field_value(value, name) if isinstance(value, dict) else None


def recorded_fault(exchange: Exchange) -> Injection:
    """How the recorded plugin failed to answer, as a fault to inject: a stall (a timeout, or
    no fault at all) hangs, anything else (closed, unreachable, malformed) drops the
    connection; dockerd then sees what it saw when the recording was made."""
    kind = exchange.fault.kind if exchange.fault is not None else FaultKind.TIMEOUT
    return Injection(hang=True) if kind is FaultKind.TIMEOUT else Injection(drop=True)


@dataclass(frozen=True, kw_only=True)
class RecordingSurvey:
    """What ``mock`` says of its recording before serving it: how many exchanges, whether a
    ``NetworkDriver.Join`` is among them (host interfaces are then needed), the lines skipped."""

    exchanges: int
    joins: bool
    damage: tuple[Damage, ...]


def survey(path: Path | str) -> RecordingSurvey:
    """Read ``path`` once, record by record, for ``RecordingSurvey``. Raises RecordingError
    for a file that is not a usable recording, OSError for one that cannot be read."""
    count, joins = 0, False
    with RecordingReader(path) as reader:
        for exchange in reader.exchanges():
            count += 1
            joins = joins or exchange.endpoint == dockerd.Endpoint.JOIN
        return RecordingSurvey(exchanges=count, joins=joins, damage=tuple(reader.damage))


def _show(value: JSON) -> str:
    if value is paths.MISSING:
        return "nothing"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
