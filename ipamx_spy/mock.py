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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ipamx_spy import dockerd
from ipamx_spy.app import Reply
from ipamx_spy.dockerd.gotypes import field_value
from ipamx_spy.faults import Injection
from ipamx_spy.mock_links import HostInterfaces
from ipamx_spy.recording import Exchange
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


@dataclass
class MockPlugin:
    """Serves recorded answers; ``misses`` and ``served`` say how it went."""

    exchanges: Sequence[Exchange]
    on_miss: Callable[[Miss], None] | None = None
    bindings: Bindings = field(default_factory=Bindings)
    used: set[int] = field(default_factory=set)
    misses: list[Miss] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    interfaces: HostInterfaces | None = None  # creates the host interfaces Join answers name

    def blocking(self, endpoint: str) -> bool:
        """Answers are computed in memory; only a Join or DeleteEndpoint that changes host
        interfaces (netlink) is worth a thread."""
        return self.interfaces is not None and endpoint in HOST_SIDE

    def handle(self, endpoint: str, body: bytes) -> Reply:
        live = decode(body)
        candidates = [e for e in self.exchanges if e.endpoint == endpoint]
        found = self._match(candidates, live, _repeatable(endpoint))
        if found is None:
            return self._miss(endpoint, live, candidates)
        self.used.add(found.seq)
        if isinstance(found.request.value, dict | list) and isinstance(live, dict | list):
            self.bindings.learn(found.request.value, live)
        reply = self._answer(found)
        if self.interfaces is not None and endpoint in HOST_SIDE and isinstance(live, dict):
            return self._host_side(self.interfaces, endpoint, live, reply)
        return reply

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
        """Recorded exchanges no request has asked for (yet)."""
        return [e for e in self.exchanges if e.seq not in self.used]

    def _match(self, candidates: list[Exchange], live: JSON, repeatable: bool) -> Exchange | None:
        fresh = [e for e in candidates if e.seq not in self.used]
        again = [e for e in reversed(candidates) if e.seq in self.used] if repeatable else []
        for exchange in fresh + again:
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
            reply = Reply.json(500, {"Err": f"ipamx-spy mock: in the recording the plugin "
                                            f"gave no answer here (#{exchange.seq}: {reason})"})
            return replace(reply, injection=recorded_fault(exchange))
        body = rewrite_body(response, self.bindings)
        self.served.append(Served(endpoint=exchange.endpoint, recorded_seq=exchange.seq,
                                  rewritten=body.changed))
        return Reply(status=response.status, body=body.body,
                     content_type=response.header("Content-Type"))

    def _miss(self, endpoint: str, live: JSON, candidates: list[Exchange]) -> Reply:
        if not candidates:
            reason = f"the recording has no {endpoint} call"
        else:
            nearest = min(candidates, key=lambda e: (len(self.differences(e, live)),
                                                     e.seq in self.used, e.seq))
            reason = self._nearest_text(nearest, live)
        miss = Miss(endpoint=endpoint, request=live, reason=reason)
        self.misses.append(miss)
        if self.on_miss is not None:
            self.on_miss(miss)
        return Reply.json(500, {"Err": f"ipamx-spy mock: no recorded {endpoint} matches this "
                                       f"request; {reason}"})

    def _nearest_text(self, nearest: Exchange, live: JSON) -> str:
        found = self.differences(nearest, live)
        used = " (already answered)" if nearest.seq in self.used else ""
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


def _show(value: JSON) -> str:
    if value is paths.MISSING:
        return "nothing"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
