"""Replay of a merged timeline: one built-in allocator per host, one shared global space.

The swarm captures (docs/swarm/, three real dockerd 20.10.24 nodes) replay green as one
timeline: the workers' local re-reservations of the manager's global choices succeed, since
each host's local space is its own. Two hosts whose recordings were made with separate
allocators, both holding one global subnet with the same static address, pass when each is
replayed alone but not merged: the shared global space refuses the second host's address.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from brokenplugin import record, talk_calls
from etcd_cluster import EtcdCluster

from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.multihost.replay import replay_merged
from ipamx_spy.recording import Exchange, Recording, load, make_header
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import FAIL, PASS, SKIP, replay_recording
from ipamx_spy.replay.target import ReplayUnusable, TargetSpec, parse_target

SWARM = Path(__file__).resolve().parent.parent / "docs" / "swarm"
T0 = dt.datetime(2026, 12, 2, 6, 0, 0, tzinfo=dt.UTC)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def write(path: Path, host: str, exchanges: list[Exchange], offset: float) -> Path:
    header: dict[str, Any] = make_header(name="ipamx", listen="/run/docker/plugins/ipamx.sock",
                                         upstream="builtin", host=host)
    header["started"] = (T0 + dt.timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")
    lines = [header, *(e.to_json() for e in exchanges)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def swarm() -> list[Recording]:
    return [load(SWARM / f"node{i}.jsonl") for i in (1, 2, 3)]


def test_the_swarm_captures_replay_green_as_one_timeline() -> None:
    replayed = replay_merged(swarm(), Rules())
    result = replayed.result
    assert result.ok, [(v.seq, v.note, v.problems) for v in result.failures]
    assert result.count(PASS) == 47 and result.count(SKIP) == 0
    assert replayed.hosts == ("node1", "node2", "node3")
    hosts = [replayed.host_of(v) for v in result.verdicts]
    assert [v.note.split(";")[0] for v in result.verdicts] == [f"on {h}" for h in hosts]
    # the manager's global allocation comes first, then each node's local re-reservation
    first_local = {h: next(v.seq for v in result.verdicts if replayed.host_of(v) == h
                           and isinstance(v.sent, dict)
                           and v.sent.get("AddressSpace") == "LocalDefault")
                   for h in replayed.hosts}
    last_global = max(v.seq for v in result.verdicts if isinstance(v.sent, dict)
                      and v.sent.get("AddressSpace") == "GlobalDefault")
    assert all(seq > last_global for seq in first_local.values())


def test_a_worker_asking_the_global_space_for_the_managers_address_fails_merged(
        tmp_path: Path) -> None:
    """What an IPAM driver with one address set for every space would have to answer: node2
    re-reserving the manager's choice in the *global* space is refused by the shared store,
    while node2's recording alone replays green."""
    recs = swarm()
    path = tmp_path / "node2.jsonl"
    path.write_text((SWARM / "node2.jsonl").read_text().replace("LocalDefault", "GlobalDefault"))
    edited = load(path)
    alone = replay_recording(edited, parse_target("builtin"), Rules())
    assert alone.ok
    merged = replay_merged([recs[0], edited, recs[2]], Rules()).result
    failed = [(v.note, v.endpoint, v.sent.get("Address") if isinstance(v.sent, dict) else None)
              for v in merged.failures]
    assert failed and all(note.startswith("on node2") for note, _ep, _a in failed)
    assert ("on node2", "IpamDriver.RequestAddress", "10.4.4.8") in failed


@pytest.fixture
def separate(tmp_path: Path) -> list[Path]:
    """Two hosts, each with its own (unshared) allocator, one global subnet, one static
    address on both: a pair of recordings a shared store could never have produced."""
    calls = talk_calls("GlobalDefault")
    # allocators that keep their state (RequiresRequestReplay false), as the shared one does
    a = record(make_plugin(BuiltinConfig(state=tmp_path / "a-state.json")), calls)
    b = record(make_plugin(BuiltinConfig(state=tmp_path / "b-state.json")), calls)
    return [write(tmp_path / "a.jsonl", "node-a", a, 0.0),
            write(tmp_path / "b.jsonl", "node-b", b, 0.005)]


def test_one_static_global_address_on_two_hosts_fails_only_merged(separate: list[Path]) -> None:
    alone = [replay_recording(load(p), parse_target("builtin"), Rules()) for p in separate]
    assert all(r.ok for r in alone)
    result = replay_merged([load(p) for p in separate], Rules()).result
    [failure] = result.failures
    assert failure.note == "on node-b" and failure.outcome == FAIL
    assert failure.endpoint == "IpamDriver.RequestAddress"
    assert isinstance(failure.sent, dict) and failure.sent["Address"] == "10.4.4.21"
    # node-b's pool attaches to node-a's (same PoolID) and its gateway is the next address
    assert result.count(PASS) == len(result.verdicts) - 1


def test_replay_merge_on_the_command_line(separate: list[Path]) -> None:
    green = run("replay", "--merge", "--json", str(SWARM))
    assert green.returncode == 0, green.stdout + green.stderr
    report = json.loads(green.stdout)
    [merged] = report["recordings"]
    assert "merged timeline of node1" in merged["source"] and merged["passed"] == 47
    red = run("replay", "--merge", *map(str, separate))
    assert red.returncode == 1 and "on node-b" in red.stdout
    refused = run("replay", "--merge", "--target", "/tmp/nothere.sock", str(SWARM))
    assert refused.returncode == 2 and "--merge replays against the built-in" in refused.stderr


def test_nothing_to_merge_is_unusable() -> None:
    with pytest.raises(ReplayUnusable):
        replay_merged([], Rules())


def test_the_second_swarm_run_replays_green_merged() -> None:
    """docs/swarm/stops-first/: the tasks stopped before network rm, the plugins on etcd."""
    recs = [load(SWARM / "stops-first" / f"node{i}.jsonl") for i in (1, 2, 3)]
    result = replay_merged(recs, Rules()).result
    assert result.ok and result.count(PASS) == sum(len(r.exchanges) for r in recs) == 54


# -- the plugin under test on every host ----------------------------------------------------


def test_unshared_allocators_per_host_do_not_see_the_other_hosts_address(
        separate: list[Path]) -> None:
    """The same timeline against one *unshared* built-in per host passes: such a plugin gives
    both hosts 10.4.4.21, the duplicate ``check --merge`` calls IPX501."""
    targets = {host: parse_target("builtin:state=temp") for host in ("node-a", "node-b")}
    result = replay_merged([load(p) for p in separate], Rules(), targets=targets).result
    assert result.ok, [(v.note, v.problems) for v in result.failures]
    assert result.target == ("node-a: builtin; node-b: builtin")


def test_a_plugin_on_etcd_on_every_host_refuses_the_second_hosts_address(
        separate: list[Path]) -> None:
    """Each host's plugin under test keeps its allocator in one etcd (``--store``): the merged
    timeline fails where the shared space refuses node-b's static global address."""
    with EtcdCluster(1) as cluster:
        targets = {host: TargetSpec(label=f"builtin on etcd as {host}", builtin=BuiltinConfig(
            store=cluster.store_url, host_id=host), state="none")
            for host in ("node-a", "node-b")}
        result = replay_merged([load(p) for p in separate], Rules(), targets=targets).result
    [failure] = result.failures
    assert failure.note == "on node-b" and isinstance(failure.sent, dict)
    assert failure.sent["Address"] == "10.4.4.21"


def test_host_targets_on_the_command_line(separate: list[Path]) -> None:
    unshared = run("replay", "--merge", "--host-target", "node-a=builtin:state=temp",
                   "--host-target", "node-b=builtin:state=temp", *map(str, separate))
    assert unshared.returncode == 0, unshared.stdout + unshared.stderr
    missing = run("replay", "--merge", "--host-target", "node-a=builtin", *map(str, separate))
    assert missing.returncode == 2 and "no target for host node-b" in missing.stderr
    alone = run("replay", "--host-target", "node-a=builtin", *map(str, separate))
    assert alone.returncode == 2 and "--host-target goes with --merge" in alone.stderr
