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
host (``lanes`` maps the numbers to the hosts).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ipamx_spy.app import BuiltinPlugin, Service
from ipamx_spy.builtin import BuiltinConfig, NetworkLinks
from ipamx_spy.dockerd import Interface
from ipamx_spy.ipam.config import DEFAULT_ENGINE_ID, IpamConfig
from ipamx_spy.ipam.errors import IpamError, StateError
from ipamx_spy.ipam.shared import GLOBAL_LOG, MemoryLog, host_log
from ipamx_spy.ipam.shared_service import SharedIpamService
from ipamx_spy.recording import Recording
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import Replayer, ReplayResult, ReplayVerdict
from ipamx_spy.replay.target import (
    ReplayAppTarget,
    ReplayTarget,
    ReplayUnusable,
    TargetSpec,
    parse_target,
    recorded_interfaces,
)

from .merge import Merged, lane_recording, merge


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
    config = config or BuiltinConfig(name="replay")
    ipam = _ipam_config(config)
    merged = merge(recordings)
    global_log = MemoryLog(GLOBAL_LOG)
    missing = sorted(set(merged.hosts) - set(targets or merged.hosts))
    if missing:
        raise ReplayUnusable(f"no target for host {', '.join(missing)} (hosts: "
                             f"{', '.join(merged.hosts)})")
    replayers: dict[str, Replayer] = {}
    opened: list[ReplayTarget] = []
    try:
        for host in merged.hosts:
            part = lane_recording(merged, host)
            target: ReplayTarget
            if targets is not None:
                target = targets[host].open(part)
            else:
                driver = auto_driver and Interface.NETWORK in recorded_interfaces(part)
                target = ReplayAppTarget(  # starts the host's plugin: ReplayUnusable if not
                    factory=functools.partial(host_plugin, config, ipam, host, global_log,
                                              MemoryLog(host_log(host)), driver),
                    label=f"builtin on {host}")
            opened.append(target)
            replayers[host] = Replayer(part, target, rules)
        verdicts = tuple(_replayed(merged, replayers))
    finally:
        for target in opened:
            target.close()
    if targets is not None:
        label = "; ".join(f"{host}: {targets[host].label}" for host in merged.hosts)
    else:
        label = (f"builtin per host (in-process, --docker-compat {config.compat}, one global "
                 f"address space shared by {', '.join(merged.hosts)})")
    source = "merged timeline of " + ", ".join(
        f"{host} ({path})" for host, path in zip(merged.hosts, merged.sources, strict=True))
    result = ReplayResult(source=source, target=label, rules=rules, verdicts=verdicts,
                          warnings=tuple(str(d) for r in recordings for d in r.damage))
    return MergedReplay(result=result, lanes=dict(merged.lanes), hosts=merged.hosts)


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


def _replayed(merged: Merged, replayers: dict[str, Replayer]) -> list[ReplayVerdict]:
    verdicts = []
    for exchange in sorted(merged.recording.exchanges, key=lambda e: e.seq):
        host = merged.lanes[exchange.seq]
        verdict = replayers[host].step(exchange)
        note = f"on {host}" + (f"; {verdict.note}" if verdict.note else "")
        verdicts.append(replace(verdict, note=note))
    return verdicts
