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
from collections.abc import Mapping
from dataclasses import dataclass, field

from ipamx_spy.address import Address, AddressKind
from ipamx_spy.dockerd import Endpoint, Interface
from ipamx_spy.dockerd.options import MAC_OPTION
from ipamx_spy.dockerd.versions import VersionRow, lookup
from ipamx_spy.noanswer import NoAnswerKind
from ipamx_spy.recording import Exchange, Recording

from .core import BUILTIN_DRIVERS, BUILTIN_IPAMS
from .daemon import Daemon
from .driver import EmulatorNoAnswer, EmulatorSession, StepResult, SwarmSession, WireReply
from .ids import RecordedIds
from .model import PluginState
from .scenario import ContainerOp, NetworkCreate, Pause, RunContainer, Step
from .swarm import Swarm, node_names, recorded_choices

WINDOW = 16  # how far ahead a request of a parallel command may be found


@dataclass
class RecordedAnswers:
    """Answers each request with a recorded answer: the next unused one, or, while
    ``parallel`` is set, the first of the next ``WINDOW`` unused ones with the same bytes."""

    recorded: list[Exchange]
    address: Address = field(default_factory=lambda: Address(kind=AddressKind.UNIX,
                                                             path="/run/docker/plugins/x.sock"))
    parallel: bool = False
    sent: list[tuple[str, bytes, int | None]] = field(default_factory=list)
    used: set[int] = field(default_factory=set)

    @property
    def connected(self) -> bool:
        return True

    def _pick(self, raw: bytes) -> int | None:
        free = [i for i in range(len(self.recorded)) if i not in self.used]
        if self.parallel:
            same = [i for i in free[:WINDOW] if self.recorded[i].request.raw() == raw]
            free = same or free
        return free[0] if free else None

    def send(self, raw: bytes, endpoint: str, body: bytes) -> WireReply:
        index = self._pick(raw)
        self.sent.append((endpoint, raw, index))
        if index is None:
            return WireReply(status=500, reason="Internal Server Error", headers=(),
                             body=b'{"Err":"ipamx-spy compare: more requests than recorded"}\n')
        self.used.add(index)
        response = self.recorded[index].response
        if response is None:
            raise EmulatorNoAnswer(NoAnswerKind.CLOSED, "EOF")
        return WireReply(status=response.status, reason=response.reason, headers=response.headers,
                         body=response.raw_body)

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
    if not recorded or recorded[0].endpoint == Endpoint.ACTIVATE:
        return []
    bodies = [(e.endpoint, e.request.value) for e in recorded if isinstance(e.request.value, dict)]
    space = next((b.get("AddressSpace", "") for ep, b in bodies
                  if ep == Endpoint.REQUEST_POOL), "")
    mac = any(ep == Endpoint.REQUEST_ADDRESS and MAC_OPTION in (b.get("Options") or {})
              for ep, b in bodies)
    return [PluginState(name=name, implements=(Interface.NETWORK, Interface.IPAM), driver_ok=True,
                        ipam_ok=True, requires_mac=mac, local_space=str(space))
            for name in plugin_names(steps)]


def held_pools(recorded: list[Exchange]) -> tuple[str, ...]:
    """Pools dockerd held and asked again for (they overlapped a route or nameserver of the
    recording host): a dynamic RequestPool answered, then the same request at once."""
    held = []
    for first, then in zip(recorded, recorded[1:], strict=False):
        body = first.request.value
        if (first.endpoint == then.endpoint == Endpoint.REQUEST_POOL
                and isinstance(body, dict) and not body.get("Pool")
                and first.request.raw_body == then.request.raw_body
                and first.response is not None and isinstance(first.response.value, dict)):
            held.append(str(first.response.value.get("Pool", "")))
    return tuple(held)


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
    user_macs = [s.action.mac for s in steps if isinstance(s.action, RunContainer)
                 and s.action.mac]
    ids = RecordedIds.from_exchanges(recorded, exclude_macs=user_macs)
    target = RecordedAnswers(recorded)
    daemon = Daemon(version, ids=ids, rng=random.Random(0), reserved=held_pools(recorded))
    daemon.plugins.update({p.name: p for p in prior_plugins(steps, recorded)})
    session = EmulatorSession(daemon, target, sleep=lambda _s: None)
    results = []
    for step in steps:
        target.parallel = parallel(step)
        results.append(session.play(step))
    return _compared(target, recorded, results)


def _compared(target: RecordedAnswers, recorded: list[Exchange],
              results: list[StepResult]) -> Comparison:
    mismatches = []
    for number, (endpoint, raw, index) in enumerate(target.sent, 1):
        expected = None if index is None else recorded[index]
        expected_raw = b"" if expected is None else expected.request.raw()
        if raw != expected_raw:
            mismatches.append(Mismatch(index=number, emulated=endpoint,
                                       recorded="" if expected is None else expected.endpoint,
                                       diff=_diff(number, expected_raw, raw)))
    for index in sorted(set(range(len(recorded))) - target.used):
        mismatches.append(Mismatch(index=index + 1, recorded=recorded[index].endpoint,
                                   emulated="", diff=""))
    return Comparison(mismatches=tuple(mismatches), recorded=len(recorded),
                      emulated=len(target.sent), results=tuple(results))


@dataclass(frozen=True, kw_only=True)
class SwarmComparison:
    """One comparison per node of a swarm scenario (each node's requests against its spy)."""

    nodes: dict[str, Comparison]
    missing: tuple[str, ...] = ()  # nodes the scenario names that no recording is of

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
        nodes={name: _compared(targets[name], recorded[name], results) for name in recorded},
        missing=tuple(name for name in names if name not in recorded))
