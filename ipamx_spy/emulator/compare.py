"""Compare the emulator with a real capture: same scenario, same answers, same bytes?

``compare(steps, rec)`` plays the scenario against a ``RecordedAnswers`` that answers each request
with the recording's next answer (so the emulator sees exactly what dockerd saw), with the
recording's random values (``ids.RecordedIds``: NetworkID, EndpointID, SandboxKey and
generated MACs, in order of first appearance; nothing else is substituted), and reports
every request whose bytes differ from the recorded one. Pools the recording shows dockerd
holding and asking again for (they overlapped the capture host's routes) are given to the
emulator as that host's reserved networks. A recording that starts after the
plugin's activation (no ``Plugin.Activate`` first) gets the plugins pre-activated, with the
address space of its first ``RequestPool`` and the MAC requirement its requests show.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ipamx_spy.address import Address, AddressKind
from ipamx_spy.dockerd import Endpoint, Interface
from ipamx_spy.dockerd.options import MAC_OPTION
from ipamx_spy.dockerd.versions import VersionRow, lookup
from ipamx_spy.noanswer import NoAnswerKind
from ipamx_spy.recording import Damage, Exchange, Recording
from ipamx_spy.recording_reader import REORDER_SLACK, RecordingReader, in_seq_order

from .core import BUILTIN_DRIVERS, BUILTIN_IPAMS
from .daemon import Daemon
from .driver import EmulatorNoAnswer, EmulatorSession, StepResult, SwarmSession, WireReply
from .ids import RecordedIds
from .model import PluginState
from .scenario import ContainerOp, NetworkCreate, Pause, RunContainer, Step
from .swarm import Swarm, node_names, recorded_choices

WINDOW = 16  # how far ahead a request of a parallel command may be found


class RecordedAnswers:
    """Answers each request with a recorded answer: the next unused one, or, while
    ``parallel`` is set, the first of the next ``WINDOW`` unused ones with the same bytes.

    ``recorded`` (in number order) is read as the requests come: it holds the unused
    exchanges read so far (``WINDOW`` at most: a request takes the oldest one, or one within
    the window), and compares each request with the one it takes as it is sent
    (``mismatches``); ``finish`` reads the rest, each a recorded request never sent."""

    def __init__(self, recorded: Iterable[Exchange], address: Address | None = None) -> None:
        self._source = iter(recorded)
        self.address = address or Address(kind=AddressKind.UNIX,
                                          path="/run/docker/plugins/x.sock")
        self.parallel = False
        self.pending: list[tuple[int, Exchange]] = []  # (place, exchange) read and unused
        self.read = 0  # recorded exchanges read so far
        self.sent = 0  # requests the emulator sent
        self.mismatches: list[Mismatch] = []

    @property
    def connected(self) -> bool:
        return True

    def _fill(self, count: int) -> None:
        while len(self.pending) < count:
            exchange = next(self._source, None)
            if exchange is None:
                return
            self.pending.append((self.read, exchange))
            self.read += 1

    def _pick(self, raw: bytes) -> Exchange | None:
        self._fill(WINDOW if self.parallel else 1)
        if not self.pending:
            return None
        at = 0
        if self.parallel:
            at = next((i for i, (_, e) in enumerate(self.pending[:WINDOW])
                       if e.request.raw() == raw), 0)
        return self.pending.pop(at)[1]

    def send(self, raw: bytes, endpoint: str, body: bytes) -> WireReply:
        picked = self._pick(raw)
        self.sent += 1
        expected = b"" if picked is None else picked.request.raw()
        if raw != expected:
            self.mismatches.append(Mismatch(
                index=self.sent, emulated=endpoint, diff=_diff(self.sent, expected, raw),
                recorded="" if picked is None else picked.endpoint))
        if picked is None:
            return WireReply(status=500, reason="Internal Server Error", headers=(),
                             body=b'{"Err":"ipamx-spy compare: more requests than recorded"}\n')
        response = picked.response
        if response is None:
            raise EmulatorNoAnswer(NoAnswerKind.CLOSED, "EOF")
        return WireReply(status=response.status, reason=response.reason, headers=response.headers,
                         body=response.raw_body)

    def finish(self) -> None:
        """Read the rest of the recording: every exchange no request took is a mismatch."""
        for place, exchange in self.pending:
            self.mismatches.append(Mismatch(index=place + 1, recorded=exchange.endpoint,
                                            emulated="", diff=""))
        self.pending = []
        for exchange in self._source:
            self.read += 1
            self.mismatches.append(Mismatch(index=self.read, recorded=exchange.endpoint,
                                            emulated="", diff=""))

    def close(self) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class Mismatch:
    index: int  # 1-based position in the request sequence
    recorded: str  # endpoint, or "" when the emulator sent more requests
    emulated: str
    diff: str


@dataclass(frozen=True, kw_only=True)
class Comparison:
    mismatches: tuple[Mismatch, ...]
    recorded: int
    emulated: int
    results: tuple[StepResult, ...]
    damage: tuple[Damage, ...] = ()  # lines the reader of a recording file skipped

    @property
    def equal(self) -> bool:
        return not self.mismatches and self.recorded == self.emulated

    def report(self) -> str:
        lines = [f"recorded {self.recorded} requests, emulated {self.emulated}"]
        for m in self.mismatches:
            lines.append(f"request {m.index}: recorded {m.recorded or '(none)'}, "
                         f"emulated {m.emulated or '(none)'}")
            lines.append(m.diff)
        return "\n".join(lines)


def _text(raw: bytes) -> list[str]:
    return raw.decode("utf-8", "replace").replace("\r\n", "\\r\\n\n").splitlines(keepends=True)


def _diff(index: int, recorded: bytes, emulated: bytes) -> str:
    return "".join(difflib.unified_diff(_text(recorded), _text(emulated),
                                        f"recorded #{index}", f"emulated #{index}"))


def plugin_names(steps: list[Step]) -> list[str]:
    """The plugin names a scenario uses (drivers and IPAM drivers that are not dockerd's)."""
    names: list[str] = []
    for step in steps:
        if isinstance(step.action, NetworkCreate):
            for name in (step.action.driver, step.action.ipam_driver):
                if name not in BUILTIN_DRIVERS | BUILTIN_IPAMS and name not in names:
                    names.append(name)
    return names


def prior_plugins(steps: list[Step], recorded: list[Exchange]) -> list[PluginState]:
    """Plugins a recording shows already activated (it started after ``Plugin.Activate``):
    their state as far as the recording tells it (address space, MAC requirement)."""
    facts = RecordingFacts()
    for exchange in recorded:
        facts.add(exchange)
    return facts.prior_plugins(steps)


def held_pools(recorded: list[Exchange]) -> tuple[str, ...]:
    """Pools dockerd held and asked again for (they overlapped a route or nameserver of the
    recording host): a dynamic RequestPool answered, then the same request at once."""
    facts = RecordingFacts()
    for exchange in recorded:
        facts.add(exchange)
    return tuple(facts.held)


@dataclass
class RecordingFacts:
    """What the emulator is told of a recording before it plays (``add`` each exchange in
    number order): whether it starts with ``Plugin.Activate``, the address space of its first
    ``RequestPool``, whether a ``RequestAddress`` asks for a MAC, and the pools dockerd held
    and asked again for (``held_pools``); what it holds does not grow with the recording."""

    first: str | None = None  # the first exchange's endpoint
    space: str | None = None  # the first RequestPool's AddressSpace
    mac: bool = False
    held: list[str] = field(default_factory=list)
    previous: Exchange | None = None

    def add(self, exchange: Exchange) -> None:
        self.first = exchange.endpoint if self.first is None else self.first
        body = exchange.request.value
        if isinstance(body, dict):
            if exchange.endpoint == Endpoint.REQUEST_POOL and self.space is None:
                self.space = str(body.get("AddressSpace", ""))
            self.mac = self.mac or (exchange.endpoint == Endpoint.REQUEST_ADDRESS
                                    and MAC_OPTION in (body.get("Options") or {}))
        held = _held(self.previous, exchange) if self.previous is not None else None
        if held is not None:
            self.held.append(held)
        self.previous = exchange

    def prior_plugins(self, steps: list[Step]) -> list[PluginState]:
        if self.first is None or self.first == Endpoint.ACTIVATE:
            return []
        return [PluginState(name=name, implements=(Interface.NETWORK, Interface.IPAM),
                            driver_ok=True, ipam_ok=True, requires_mac=self.mac,
                            local_space=self.space or "")
                for name in plugin_names(steps)]


def _held(first: Exchange, then: Exchange) -> str | None:
    body = first.request.value
    if (first.endpoint == then.endpoint == Endpoint.REQUEST_POOL
            and isinstance(body, dict) and not body.get("Pool")
            and first.request.raw_body == then.request.raw_body
            and first.response is not None and isinstance(first.response.value, dict)):
        return str(first.response.value.get("Pool", ""))
    return None


def parallel(step: Step) -> bool:
    """The docker CLI acts on several containers at once for these commands."""
    return isinstance(step.action, ContainerOp) and len(step.action.names) > 1 \
        and step.action.verb in {"stop", "rm", "restart"}


def waits(step: Step) -> bool:
    """A ``sleep``, during which the swarm's tasks stop on every node at about one time (their
    containers' stop grace period ends together), in an order no scenario fixes: the nodes'
    and the manager's requests are then matched as a set."""
    return isinstance(step.action, Pause) and step.action.waits


def compare(steps: list[Step], rec: Recording, *, version: VersionRow | None = None,
            ) -> Comparison:
    """Play ``steps`` against the recording's answers and compare the requests byte by byte.

    Requests of a command that acts on several containers (``docker stop a b``: the CLI runs
    them in parallel) are matched as a set; all others must come in the recorded order."""
    version = version or lookup(str(rec.header.get("docker_version") or "20.10"))
    recorded = sorted(rec.exchanges, key=lambda e: e.seq)
    facts = RecordingFacts()
    ids = RecordedIds.from_exchanges(_told(recorded, facts), exclude_macs=_user_macs(steps))
    return _played(steps, facts, ids, recorded, version)


def compare_path(steps: list[Step], path: Path | str, *, version: VersionRow | None = None,
                 slack: int = REORDER_SLACK) -> Comparison:
    """``compare`` of a recording file read record by record: once for what the emulator is
    told before it plays (``RecordingFacts``, and the recorded IDs: ``RecordedIds`` holds one
    entry per network, endpoint, sandbox and MAC the file shows), then as the emulator's
    requests come (``RecordedAnswers``), so the file's exchanges are never all held (``slack``
    of them, ``in_seq_order``'s, put back into number order); only the results of commands
    that did not end as the scenario says are kept, without the exchanges the emulator made
    (``exchanges`` empty). Raises
    RecordingError for a file that is not a usable recording, OSError for one that cannot be
    read."""
    facts = RecordingFacts()
    with RecordingReader(path) as reader:
        header, damage = reader.header, reader.damage
        ids = RecordedIds.from_exchanges(_told(in_seq_order(reader.exchanges(), slack), facts),
                                         exclude_macs=_user_macs(steps))
    version = version or lookup(str(header.get("docker_version") or "20.10"))
    with RecordingReader(path) as reader:
        played = _played(steps, facts, ids, in_seq_order(reader.exchanges(), slack), version,
                         keep_exchanges=False)
    return replace(played, damage=tuple(damage))


def _user_macs(steps: list[Step]) -> list[str]:
    return [s.action.mac for s in steps if isinstance(s.action, RunContainer) and s.action.mac]


def _told(exchanges: Iterable[Exchange], facts: RecordingFacts) -> Iterator[Exchange]:
    """``exchanges``, each told to ``facts`` as it passes."""
    for exchange in exchanges:
        facts.add(exchange)
        yield exchange


def _played(steps: list[Step], facts: RecordingFacts, ids: RecordedIds,
            recorded: Iterable[Exchange], version: VersionRow, *,
            keep_exchanges: bool = True) -> Comparison:
    target = RecordedAnswers(recorded)
    daemon = Daemon(version, ids=ids, rng=random.Random(0), reserved=tuple(facts.held))
    daemon.plugins.update({p.name: p for p in facts.prior_plugins(steps)})
    session = EmulatorSession(daemon, target, sleep=lambda _s: None, history=keep_exchanges)
    results = []
    for step in steps:
        target.parallel = parallel(step)
        result = session.play(step)
        if keep_exchanges:
            results.append(result)
        elif not result.as_expected:
            results.append(replace(result, exchanges=()))
    return _compared(target, results)


def _compared(target: RecordedAnswers, results: list[StepResult]) -> Comparison:
    target.finish()
    return Comparison(mismatches=tuple(target.mismatches), recorded=target.read,
                      emulated=target.sent, results=tuple(results))


@dataclass(frozen=True, kw_only=True)
class SwarmComparison:
    """One comparison per node of a swarm scenario (each node's requests against its spy)."""

    nodes: dict[str, Comparison]
    # nodes the emulator sent requests from that no recording is of (a node whose dockerd
    # sent nothing, as one without the plugin, needs none)
    missing: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return not self.missing and all(c.equal for c in self.nodes.values())

    def report(self) -> str:
        lines = [f"{name}: no recording" for name in self.missing]
        for name, comparison in self.nodes.items():
            lines.append(f"{name}: {comparison.report()}")
        return "\n".join(lines)


def compare_swarm(steps: list[Step], recordings: Mapping[str, Recording], *,
                  version: VersionRow | None = None) -> SwarmComparison:
    """Play a swarm scenario against every node's recorded answers (``recordings`` by the
    ``--context`` name of the node, the recording header's ``host``) and compare each node's
    requests byte by byte, in order (as a set while the scenario waits: ``waits``). The
    scheduler's placement and the order of node IDs
    are taken from the recordings (``swarm.recorded_choices``), as ``RecordedIds`` takes the
    random values of one daemon."""
    first = next(iter(recordings.values()), None)
    version = version or lookup(str((first.header if first else {}).get("docker_version")
                                    or "20.10"))
    names = node_names(steps)
    recorded = {name: sorted(rec.exchanges, key=lambda e: e.seq)
                for name, rec in recordings.items() if name in names}
    targets = {name: RecordedAnswers(recorded.get(name, [])) for name in names}
    swarm = Swarm(version, names, rng=random.Random(0), choices=recorded_choices(recordings),
                  ids=lambda name: RecordedIds.from_exchanges(recorded.get(name, [])))
    session = SwarmSession(swarm, targets, sleep=lambda _s: None)
    results = []
    for step in steps:
        for target in targets.values():
            target.parallel = waits(step)
        results.append(session.play(step))
    return SwarmComparison(
        nodes={name: _compared(targets[name], results) for name in recorded},
        missing=tuple(name for name in names if name not in recorded and targets[name].sent))
