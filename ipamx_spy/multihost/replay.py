"""Replay of a merged timeline: one allocator per host, all sharing the global address space.

``replay_merged`` merges several hosts' recordings by wall-clock time (``merge.merge``) and
replays every exchange, in the merged order, against the allocator of the host that recorded
it: the built-in reference plugin of each host is a ``SharedIpamService`` over logs in this
process (``ipam.shared.MemoryLog``), every host with its own local log and all with one global
log, as ``--store etcd://`` shares them between machines. So what one host holds in the global
space is held for all: a swarm's workers re-reserve in their local spaces what the manager
chose in the global one (docs/swarm.md), a second host asking for a global subnet another host
holds attaches to it, and an exact global address another host holds is refused, which a
recording made with one separate allocator per host may not show. Each host keeps its own
bindings and ledger (its dockerd's view, as replaying its recording alone does); a host whose
dockerd restarted (a second ``Plugin.Activate``) gets a new allocator on the same logs, which
sees every lease. With ``auto_driver`` a host whose recorded calls went to ``NetworkDriver.*``
also gets the built-in network driver, with pretend links.

With ``targets`` the hosts are plugins under test instead (one per host: say, a plugin on
every node with its own shared store), each host's exchanges sent to its own, still in the
merged order. The shared allocator keeps its own state (``RequiresRequestReplay: false``), so
a recording of an allocator that asked dockerd to replay its pools differs in that answer.
The result is one ``ReplayResult`` in the merged numbering, each verdict's note naming its
host (``lanes`` maps the numbers to the hosts). ``replay_merged_paths`` (``replay --merge``)
does the same for files read record by record, merged as they are read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ipamx_spy.app import BuiltinPlugin, Service
from ipamx_spy.builtin import BuiltinConfig, NetworkLinks
from ipamx_spy.dockerd import Interface
from ipamx_spy.ipam.config import DEFAULT_ENGINE_ID, IpamConfig
from ipamx_spy.ipam.errors import IpamError, StateError
from ipamx_spy.ipam.shared import GLOBAL_LOG, MemoryLog, host_log
from ipamx_spy.ipam.shared_service import SharedIpamService
from ipamx_spy.recording import Damage, Exchange, Recording, RecordingError
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import (
    PASS,
    Replayer,
    ReplayListener,
    ReplayOutcome,
    ReplayResult,
    ReplayVerdict,
    target_digest,
)
from ipamx_spy.replay.target import (
    ReplayAppTarget,
    ReplayTarget,
    ReplayUnusable,
    TargetSpec,
    parse_target,
    recorded_interfaces,
)

from .merge import host_names, lane_recording, merge, stream_merged


@dataclass(frozen=True, kw_only=True)
class MergedReplay:
    """The merged timeline replayed: verdicts in merged order, and each number's host."""

    result: ReplayResult
    lanes: dict[int, str] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()

    def host_of(self, verdict: ReplayVerdict) -> str:
        return self.lanes.get(verdict.seq, "")


def _ipam_config(config: BuiltinConfig) -> IpamConfig:
    try:
        return IpamConfig.build(
            compat=config.compat, local_space=config.local_space,
            global_space=config.global_space, local_pools=config.local_pools,
            global_pools=config.global_pools, exclude=config.exclude,
            engine_id=config.engine_id or DEFAULT_ENGINE_ID)
    except (IpamError, ValueError) as exc:
        raise ReplayUnusable(f"the shared reference allocator cannot start: {exc}") from exc


def host_plugin(config: BuiltinConfig, ipam: IpamConfig, host: str, global_log: MemoryLog,
                local_log: MemoryLog, network_driver: bool) -> BuiltinPlugin:
    """One host's built-in plugin: its network driver (pretend links) if wanted, and its
    allocator on the shared logs. Raises ReplayUnusable when it cannot start."""
    services: list[Service] = []
    if network_driver:
        from ipamx_spy.netdriver.service import NetworkService

        services.append(NetworkService.from_config(replace(
            config, network_driver=True, network_links=NetworkLinks.MEMORY, network_state=None)))
    try:
        services.append(SharedIpamService.in_process(ipam, host, global_log, local_log))
    except (StateError, IpamError) as exc:
        raise ReplayUnusable(f"host {host}: the shared allocator cannot start: {exc}") from exc
    return BuiltinPlugin(services)


def replay_merged(recordings: Sequence[Recording], rules: Rules, *,
                  config: BuiltinConfig | None = None, auto_driver: bool = True,
                  targets: Mapping[str, TargetSpec] | None = None) -> MergedReplay:
    """Replay ``recordings`` as one timeline, each host on its own allocator, one global space.

    With ``targets`` (host name -> the plugin under test on that host, e.g. a plugin deployed
    on every node with its own shared store), every host's exchanges go to its own target
    instead, in the merged order: what that plugin's hosts make of the same timeline. A host
    without a target is unusable then.

    Raises ReplayUnusable when there is nothing to merge, a host has no target, or a target
    cannot be reached or started."""
    if not recordings:
        raise ReplayUnusable("a merged replay needs at least one recording")
    merged = merge(recordings)
    parts = {host: lane_recording(merged, host) for host in merged.hosts}
    timeline = ((merged.lanes[e.seq], e)
                for e in sorted(merged.recording.exchanges, key=lambda e: e.seq))
    replay = _Merged(parts, rules, config or BuiltinConfig(name="replay"), auto_driver, targets)
    result = replay.run(timeline, merged.sources, None, keep_all=True)
    result = replace(result, warnings=tuple(str(d) for r in recordings for d in r.damage))
    return MergedReplay(result=result, lanes=dict(merged.lanes), hosts=merged.hosts)


def replay_merged_paths(paths: Sequence[Path], rules: Rules, *,
                        config: BuiltinConfig | None = None, auto_driver: bool = True,
                        targets: Mapping[str, TargetSpec] | None = None,
                        listener: ReplayListener | None = None,
                        keep_all: bool = True, slack: int = 1024) -> MergedReplay:
    """``replay_merged`` of recording files read record by record (``replay --merge``): each
    host's target is set up from its file's first few exchanges (``target_digest``), then the
    files are merged as they are read (``merge.stream_merged``, a ``heapq.merge`` of one
    reader per file) and every exchange is replayed on its host as it comes; ``listener``
    hears of each verdict then. With ``keep_all=False`` the result keeps only the failed and
    skipped verdicts (and their hosts in ``lanes``) and counts the rest, so memory does not
    grow with the files (it holds ``slack`` exchanges per file, ``stream_merged``'s reordering,
    and each shared log up to its compaction). Raises ReplayUnusable as ``replay_merged``
    does, and for a file that cannot be read."""
    if not paths:
        raise ReplayUnusable("a merged replay needs at least one recording")
    digests = [target_digest(path) for path in paths]
    hosts = host_names(digests)
    parts = {host: replace(digest, header={**digest.header, "host": host})
             for host, digest in zip(hosts, digests, strict=True)}
    damage: list[Damage] = []
    replay = _Merged(parts, rules, config or BuiltinConfig(name="replay"), auto_driver, targets)
    try:
        timeline = stream_merged(paths, slack=slack, damage=damage)
        result = replay.run(timeline, tuple(map(str, paths)), listener, keep_all=keep_all)
    except (OSError, RecordingError) as exc:  # a file changed since its digest was read
        raise ReplayUnusable(f"merged replay: {exc}") from exc
    warnings = tuple(str(d) for d in damage)
    if listener is not None:
        for warning in warnings:
            listener.skipped(warning)
    return MergedReplay(result=replace(result, warnings=warnings), lanes=replay.lanes,
                        hosts=hosts)


class _Merged:
    """One merged replay: a ``Replayer`` and a target per host, opened from each host's part
    (the exchanges its target's set-up reads), then ``run`` over the timeline."""

    def __init__(self, parts: Mapping[str, Recording], rules: Rules, config: BuiltinConfig,
                 auto_driver: bool, targets: Mapping[str, TargetSpec] | None) -> None:
        self.parts, self.rules, self.config = parts, rules, config
        self.auto_driver, self.targets = auto_driver, targets
        self.lanes: dict[int, str] = {}
        missing = sorted(set(parts) - set(targets or parts))
        if missing:
            raise ReplayUnusable(f"no target for host {', '.join(missing)} (hosts: "
                                 f"{', '.join(parts)})")

    def _open(self, host: str, part: Recording, ipam: IpamConfig,
              global_log: MemoryLog) -> ReplayTarget:
        if self.targets is not None:
            return self.targets[host].open(part)
        driver = self.auto_driver and Interface.NETWORK in recorded_interfaces(part)
        return ReplayAppTarget(  # starts the host's plugin: ReplayUnusable if not
            factory=functools.partial(host_plugin, self.config, ipam, host, global_log,
                                      MemoryLog(host_log(host)), driver),
            label=f"builtin on {host}")

    def run(self, timeline: Iterable[tuple[str, Exchange]], sources: Sequence[str],
            listener: ReplayListener | None, *, keep_all: bool) -> ReplayResult:
        ipam = _ipam_config(self.config)
        global_log = MemoryLog(GLOBAL_LOG)
        replayers: dict[str, Replayer] = {}
        opened: list[ReplayTarget] = []
        counts = dict.fromkeys(ReplayOutcome, 0)
        kept: list[ReplayVerdict] = []
        try:
            for host, part in self.parts.items():
                opened.append(self._open(host, part, ipam, global_log))
                replayers[host] = Replayer(part, opened[-1], self.rules, every_meaning=keep_all)
            if listener is not None:
                listener.started(self._source(sources), self._label())
            for host, exchange in timeline:
                verdict = replayers[host].step(exchange)
                verdict = replace(verdict, note=f"on {host}" + (
                    f"; {verdict.note}" if verdict.note else ""))
                counts[verdict.outcome] += 1
                if keep_all or verdict.outcome != PASS:
                    kept.append(verdict)
                    self.lanes[verdict.seq] = host
                if listener is not None:
                    listener.verdict(verdict)
        finally:
            for target in opened:
                target.close()
            if listener is not None and replayers:
                listener.finished()
        return ReplayResult(source=self._source(sources), target=self._label(),
                            rules=self.rules, verdicts=tuple(kept),
                            counts=None if keep_all else counts)

    def _source(self, sources: Sequence[str]) -> str:
        return "merged timeline of " + ", ".join(
            f"{host} ({path})" for host, path in zip(self.parts, sources, strict=True))

    def _label(self) -> str:
        if self.targets is not None:
            return "; ".join(f"{host}: {self.targets[host].label}" for host in self.parts)
        return (f"builtin per host (in-process, --docker-compat {self.config.compat}, one "
                f"global address space shared by {', '.join(self.parts)})")


def host_targets_from(items: Sequence[str], *, config: BuiltinConfig, timeout: float | None,
                      ) -> dict[str, TargetSpec] | None:
    """``--host-target HOST=TARGET`` values as targets by host; None for none given. Raises
    ReplayUnusable for a value without ``=`` or a target that cannot be parsed."""
    if not items:
        return None
    specs: dict[str, TargetSpec] = {}
    for item in items:
        host, sep, text = item.partition("=")
        if not host or not sep or not text:
            raise ReplayUnusable(f"--host-target {item!r}: use HOST=TARGET")
        specs[host] = parse_target(text, config=config, timeout=timeout)
    return specs
