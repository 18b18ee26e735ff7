"""The emulator's swarm: several emulated dockerd sharing one swarm allocator, byte for byte
against the real captures of docs/swarm/ (three dockerd 20.10.24 nodes, tests/test_swarm_e2e.py
makes such recordings), and played against the built-in plugin, one per node.

``compare_swarm`` gives every node the answers its own spy recorded and takes the scheduler's
placement and the order of node IDs from the recordings (``recorded_choices``); nothing else is
substituted, and each node's requests are compared whole (request line, headers, body) and in
order.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ipamx_spy.app import BuiltinPlugin, Reply
from ipamx_spy.cli import app
from ipamx_spy.dockerd import Endpoint
from ipamx_spy.dockerd.scopes import Scope
from ipamx_spy.dockerd.versions import lookup
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import compare_swarm
from ipamx_spy.emulator.driver import (
    EmulatorAppTarget,
    StepResult,
    SwarmSession,
    recording_header,
)
from ipamx_spy.emulator.networks import SWARM_MANAGER_REDIRECT
from ipamx_spy.emulator.probe import ProbePlugin
from ipamx_spy.emulator.scenario import ScenarioError, ServiceCreate, SwarmJoin
from ipamx_spy.emulator.swarm import Swarm, SwarmChoices, node_names, recorded_choices
from ipamx_spy.ipam.service import IpamService
from ipamx_spy.multihost.merge import merge
from ipamx_spy.multihost.timeline import merged_findings
from ipamx_spy.recording import Recording, RecordingWriter, encode_body, load
from ipamx_spy.validate import check_recording

SWARM = Path(__file__).resolve().parent.parent / "docs" / "swarm"
SCENARIO = SWARM / "overlay-service.scenario"
NODES = ("node1", "node2", "node3")


STOPS_FIRST = SWARM / "stops-first"  # tests/test_swarm_e2e.py's run: tasks stop, then network rm
RUNS = {"network-rm-first": (SWARM, SCENARIO),
        "tasks-stop-first": (STOPS_FIRST, SWARM / "stops-first.scenario")}


def captures(folder: Path = SWARM) -> dict[str, Recording]:
    return {name: load(folder / f"{name}.jsonl") for name in NODES}


def steps(path: Path = SCENARIO) -> list[scenario.Step]:
    return scenario.load(path)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_every_node_sends_what_its_dockerd_sent(run: str) -> None:
    folder, scenario_file = RUNS[run]
    recs = captures(folder)
    result = compare_swarm(steps(scenario_file), recs)
    assert result.equal, result.report()
    assert {name: c.recorded for name, c in result.nodes.items()} == {
        name: len(rec.exchanges) for name, rec in recs.items()}
    assert [r.outcome.exit_code for r in result.nodes["node1"].results] == [0] * len(
        steps(scenario_file))


def test_the_placement_and_node_order_come_from_the_recordings() -> None:
    choices = recorded_choices(captures())
    # the manager handed .3 .4 .5 to tasks that ran on node3, node1, node2, the load-balancer
    # addresses .6 .7 .8 to node3, node1, node2, and released those in node-ID order
    assert choices.placement == ["node3", "node1", "node2"]
    assert choices.attach_order == ["node3", "node1", "node2"]
    assert choices.node_order == ["node3", "node2", "node1"]
    # in the second run the assignments reached the allocator in another order than the tasks
    later = recorded_choices(captures(STOPS_FIRST))
    assert later.placement == ["node3", "node1", "node2"]
    assert later.attach_order == ["node2", "node3", "node1"]


def test_tasks_stopping_first_give_back_their_global_addresses_as_the_capture_shows() -> None:
    """The manager's releases while the tasks stop, as dockerd 20.10 sent them: each task's
    address, then (the node's last task) the node's load-balancer address; then network rm
    has only the gateway and the pool left."""
    result = compare_swarm(steps(SWARM / "stops-first.scenario"), captures(STOPS_FIRST))
    sent = [(e.endpoint, e.request.value) for r in result.nodes["node1"].results
            for e in r.exchanges if e.endpoint.startswith("IpamDriver.Release")]
    global_releases = [b.get("Address") or "pool" for ep, b in sent if isinstance(b, dict)
                       and str(b.get("PoolID", "")).startswith("GlobalDefault")]
    assert global_releases == ["10.4.4.2", "10.4.4.3", "10.4.4.7", "10.4.4.4", "10.4.4.8",
                               "10.4.4.5", "10.4.4.6", "10.4.4.1", "pool"]


def _changed(rec: Recording, seq: int, old: bytes, new: bytes) -> Recording:
    exchanges = list(rec.exchanges)
    index = next(i for i, e in enumerate(exchanges) if e.seq == seq)
    target = exchanges[index]
    raw = target.request.raw_body.replace(old, new)
    assert raw != target.request.raw_body
    request = dataclasses.replace(target.request, body=encode_body(raw))
    exchanges[index] = dataclasses.replace(target, request=request)
    return dataclasses.replace(rec, exchanges=tuple(exchanges))


def test_a_changed_byte_on_a_worker_is_reported_on_that_worker() -> None:
    recs = captures()
    # node2's gateway re-reservation, as if its dockerd had asked without the gateway label
    recs["node2"] = _changed(recs["node2"], 5, b'"RequestAddressType":"com.docker.network.gateway"',
                             b'"RequestAddressType":"com.docker.network.gatewax"')
    result = compare_swarm(steps(), recs)
    assert not result.equal
    assert result.nodes["node1"].equal and result.nodes["node3"].equal
    [mismatch] = result.nodes["node2"].mismatches
    assert mismatch.index == 5 and mismatch.recorded == "IpamDriver.RequestAddress"
    assert "gatewax" in mismatch.diff


def test_without_the_plugin_disable_node1_tears_its_task_down_too() -> None:
    """The capture's node1 ends before its task stopped: played to the end, node1 releases
    its task's and load-balancer addresses, the gateway and its local pool, which the
    recording does not have."""
    played = [s for s in steps() if "plugin disable" not in s.text]
    result = compare_swarm(played, captures())
    assert result.nodes["node2"].equal and result.nodes["node3"].equal
    extra = result.nodes["node1"].mismatches
    assert [m.emulated for m in extra] == ["IpamDriver.ReleaseAddress"] * 3 + [
        "IpamDriver.ReleasePool"]
    assert '"PoolID":"LocalDefault/10.4.4.0/24","Address":"10.4.4.4"' in extra[0].diff


def test_a_missing_node_recording_is_reported() -> None:
    recs = captures()
    del recs["node3"]
    result = compare_swarm(steps(), recs)
    assert not result.equal and result.missing == ("node3",)


# -- played against real allocators, one per node ------------------------------------------


def play(text: str, choices: SwarmChoices | None = None, record: Path | None = None,
         ) -> tuple[Swarm, SwarmSession, list[int]]:
    """Play ``text`` with each node's own built-in plugin; with ``record``, one recording per
    node there, all started at one instant and timed by one counting clock."""
    parsed = scenario.parse(text)
    names = node_names(parsed)
    swarm = Swarm(lookup("20.10"), names, rng=random.Random(7), choices=choices)
    targets = {name: EmulatorAppTarget(BuiltinPlugin([IpamService.from_options(compat="20.10")]))
               for name in names}
    writers = {}
    for name in names if record else ():
        assert record is not None
        header = {**recording_header(scenario="swarm.scenario", version=swarm.version,
                                     target=targets[name].address, host=name),
                  "started": "2026-12-02T06:00:00Z"}
        writers[name] = RecordingWriter(record / f"{name}.jsonl", header)
    ticks = itertools.count()
    session = SwarmSession(swarm, targets, writers=writers, sleep=lambda _s: None,
                           clock=lambda: next(ticks) / 1e6)  # a microsecond per reading
    for node in session.sessions.values():
        node.started = 0.0
    codes = [session.play(step).outcome.exit_code for step in parsed]
    for writer in writers.values():
        writer.close()
    return swarm, session, codes


SPREAD = """
docker -c m plugin enable p
docker -c w1 plugin enable p
docker -c w2 plugin enable p
docker -c m swarm init
docker -c w1 swarm join --token T 10.0.0.1:2377
docker -c w2 swarm join --token T 10.0.0.1:2377
docker -c m network create -d overlay --ipam-driver p:latest --subnet 10.9.0.0/24 ov
docker -c m service create --name web --replicas 4 --replicas-max-per-node 2 --network ov bb
"""


def requests(session: SwarmSession, node: str) -> list[tuple[str, object]]:
    return [(e.endpoint, e.request.value) for e in session.sessions[node].exchanges]


def test_the_default_spread_and_each_node_reserving_the_managers_choice() -> None:
    swarm, session, codes = play(SPREAD)
    assert codes == [0] * 8
    service = swarm.services["web"]
    assert [t.node for t in service.tasks] == ["m", "w1", "w2", "m"]
    assert service.vips == {"ov": "10.9.0.2/24"}
    assert [t.addresses["ov"] for t in service.tasks] == [f"10.9.0.{i}/24" for i in (3, 4, 5, 6)]
    lbs = swarm.allocator.networks["ov"].attachments if swarm.allocator else {}
    assert lbs == {"m": "10.9.0.7/24", "w1": "10.9.0.8/24", "w2": "10.9.0.9/24"}
    worker = requests(session, "w1")
    assert [ep for ep, _ in worker] == ["IpamDriver.GetCapabilities",
                                       "IpamDriver.GetDefaultAddressSpaces",
                                       "NetworkDriver.GetCapabilities", "IpamDriver.RequestPool",
                                       "IpamDriver.RequestAddress", "IpamDriver.RequestAddress",
                                       "IpamDriver.RequestAddress"]
    assert [body.get("Address") for ep, body in worker[4:] if isinstance(body, dict)] == [
        "10.9.0.1", "10.9.0.8", "10.9.0.4"]
    # the manager's node holds two tasks: one network, one load balancer, two task addresses
    local = [b for ep, b in requests(session, "m")
             if ep == "IpamDriver.RequestAddress" and isinstance(b, dict)
             and str(b.get("PoolID", "")).startswith("LocalDefault")]
    assert [b["Address"] for b in local] == ["10.9.0.1", "10.9.0.7", "10.9.0.3", "10.9.0.6"]


def test_tasks_that_stop_before_network_rm_give_their_global_addresses_back() -> None:
    swarm, session, codes = play(SPREAD + "docker -c m service rm web\nsleep 12\n"
                                    "docker -c m network rm ov\n")
    assert codes == [0] * 11
    for name in ("m", "w1", "w2"):
        calls = requests(session, name)
        requested = sum(ep == "IpamDriver.RequestAddress" for ep, _ in calls)
        released = sum(ep == "IpamDriver.ReleaseAddress" for ep, _ in calls)
        assert requested == released, name
        assert sum(ep == "IpamDriver.RequestPool" for ep, _ in calls) == sum(
            ep == "IpamDriver.ReleasePool" for ep, _ in calls)
    released = [b["Address"] for ep, b in requests(session, "m")
                if ep == "IpamDriver.ReleaseAddress" and isinstance(b, dict)
                and str(b["PoolID"]).startswith("GlobalDefault")]
    # the VIP at service rm, then per stopped task its address (and with a node's last task
    # that node's load balancer), then the gateway at network rm
    assert released == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.8", "10.9.0.5", "10.9.0.9",
                        "10.9.0.6", "10.9.0.7", "10.9.0.1"]


def test_the_played_swarm_passes_the_cross_host_rules(tmp_path: Path) -> None:
    _swarm, _session, codes = play(SPREAD + "docker -c m service rm web\nsleep 12\n"
                                   "docker -c m network rm ov\n", record=tmp_path)
    assert codes == [0] * 11
    recordings = [load(tmp_path / f"{name}.jsonl") for name in ("m", "w1", "w2")]
    assert all(check_recording(rec) == [] for rec in recordings)
    merged = merge(recordings)
    assert set(merged.lanes.values()) == {"m", "w1", "w2"}
    assert merged_findings(merged) == []


def test_refusals_of_a_swarm() -> None:
    text = """
docker -c a plugin enable p
docker -c b plugin enable p
docker -c a network create -d overlay --ipam-driver p:latest --subnet 10.9.0.0/24 ov
docker -c a swarm init
docker -c b swarm join --token T 10.0.0.1:2377
docker -c b network create -d overlay --ipam-driver p:latest --subnet 10.9.0.0/24 ov
docker -c a network create -d overlay --ipam-driver nope --subnet 10.9.0.0/24 ov
docker -c a service create --name s --network missing bb
docker -c a network create -d overlay --ipam-driver p:latest --subnet 10.9.0.0/24 ov
docker -c a service create --name s --network ov bb
docker -c a network rm ov
docker -c a service rm nope
"""
    _swarm, _session, codes = play(text)
    assert codes == [0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1]


def test_a_refused_re_reservation_fails_the_task_on_that_node_only() -> None:
    """Two nodes answered by one allocator share one local space: the second node's local
    pool for the manager's subnet is refused (IPX503's flow), and its task fails there only."""
    parsed = scenario.parse(SPREAD.replace("--replicas 4 --replicas-max-per-node 2",
                                           "--replicas 3"))
    names = node_names(parsed)
    swarm = Swarm(lookup("20.10"), names, rng=random.Random(7))
    shared = BuiltinPlugin([IpamService.from_options(compat="20.10")])
    targets = {"m": EmulatorAppTarget(shared),
               "w1": EmulatorAppTarget(shared),  # the manager's allocator answers w1 too
               "w2": EmulatorAppTarget(BuiltinPlugin([IpamService.from_options(compat="20.10")]))}
    session = SwarmSession(swarm, targets, sleep=lambda _s: None)
    for step in parsed:
        session.play(step)
    assert [(t.node, t.running) for t in swarm.services["web"].tasks] == [
        ("m", True), ("w1", False), ("w2", True)]


# -- the scenario language ------------------------------------------------------------------


def test_context_names_the_daemon_and_service_options_parse() -> None:
    [join, create] = scenario.parse(
        "docker --context=node2 swarm join --token T --advertise-addr 1.2.3.4 1.2.3.5:2377\n"
        "docker -c node1 service create -d --name s --replicas 3 --replicas-max-per-node 1 "
        "--network ov --network ov2 -e A=1 bb sleep 600\n")
    assert join.node == "node2"
    assert join.action == SwarmJoin(manager="1.2.3.5:2377", advertise="1.2.3.4")
    assert create.node == "node1" and create.action == ServiceCreate(
        name="s", networks=("ov", "ov2"), replicas=3, max_per_node=1)
    assert scenario.is_swarm([create]) and not scenario.is_swarm(
        scenario.parse("docker network create n\n"))
    assert node_names(scenario.parse("docker network create n\n")) == ["default"]


@pytest.mark.parametrize("line", [
    "docker service create --name s",
    "docker service create --replicas x bb",
    "docker service create --mode weird bb",
    "docker swarm join",
    "docker swarm leave now",
    "docker plugin install x",
    "docker --context",
])
def test_unplayable_swarm_lines_name_the_line(line: str) -> None:
    with pytest.raises(ScenarioError, match="<scenario>:1: "):
        scenario.parse(line + "\n")


# -- the drive command ----------------------------------------------------------------------


def test_drive_compares_each_node_and_records_one_file_per_node(tmp_path: Path) -> None:
    runner = CliRunner()
    paths = [str(SWARM / f"{name}.jsonl") for name in NODES]
    compared = runner.invoke(app, ["drive", str(SCENARIO), *(
        arg for path in paths for arg in ("--compare", path))])
    assert compared.exit_code == 0, compared.output
    assert "all 47 requests of 3 nodes equal their recordings byte for byte" in compared.output
    short = runner.invoke(app, ["drive", str(SCENARIO), "--compare", paths[0], "--compare",
                                paths[1]])
    assert short.exit_code == 1 and "node3: no recording" in short.output

    played = runner.invoke(app, ["drive", str(SCENARIO), "--check", "--record",
                                 str(tmp_path / "out")])
    assert played.exit_code == 0, played.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["node1.jsonl", "node2.jsonl", "node3.jsonl"]
    recs = [load(tmp_path / "out" / name) for name in written]
    assert [r.header["host"] for r in recs] == list(NODES)
    assert [len(r.exchanges) for r in recs] == [25, 11, 11]
    merged = runner.invoke(app, ["check", "--merge", *(str(tmp_path / "out" / n)
                                                       for n in written)])
    assert merged.exit_code == 0, merged.output
    bad = runner.invoke(app, ["drive", str(SCENARIO), "--target", "node9=builtin"])
    assert bad.exit_code == 2 and "node9 is not a node of the scenario" in bad.output


def test_an_overlay_on_swarms_own_ipam_sends_the_plugins_nothing() -> None:
    """``--ipam-driver default``: swarmkit's and every node's built-in IPAM choose and
    re-reserve in-process; the plugin only hears its own registrations. A local network
    removed with the swarm's in one ``network rm`` goes to the node."""
    own = SPREAD.replace("--ipam-driver p:latest ", "")
    swarm, session, codes = play(own)
    assert codes == [0] * 8
    assert all(t.running for t in swarm.services["web"].tasks)
    assert {name: sorted(node.overlays) for name, node in swarm.nodes.items()} == {
        "m": ["ov"], "w1": ["ov"], "w2": ["ov"]}
    for name in ("m", "w1", "w2"):
        assert all("10.9." not in str(body) for _ep, body in requests(session, name)), name
    _swarm, session, codes = play(own + (
        "docker -c m network create --ipam-driver p:latest --subnet 10.8.0.0/24 local\n"
        "docker -c m service rm web\nsleep 12\ndocker -c m network rm ov local\n"))
    assert codes == [0] * 12
    local = [(ep, body) for ep, body in requests(session, "m")][-2:]
    assert local == [("IpamDriver.ReleaseAddress", {"PoolID": "LocalDefault/10.8.0.0/24",
                                                    "Address": "10.8.0.1"}),
                     ("IpamDriver.ReleasePool", {"PoolID": "LocalDefault/10.8.0.0/24"})]


# -- what the real daemons were seen to do with network drivers in a swarm -----------------
# (tests/test_dockerd_swarm_verdict.py observed each on 20.10.24, 26.1.5 and 28.5.2)


def _probed(text: str, scope: str, faults: dict[str, list[Reply]] | None = None,
            ) -> tuple[dict[str, ProbePlugin], list[StepResult]]:
    """Play ``text`` with a probe plugin (network driver and IPAM, ``scope``) on each node."""
    parsed = scenario.parse(text)
    names = node_names(parsed)
    swarm = Swarm(lookup("20.10"), names, rng=random.Random(7))
    plugins = {name: ProbePlugin(scope=scope, faults=dict(faults or {})) for name in names}
    session = SwarmSession(swarm, {n: EmulatorAppTarget(p) for n, p in plugins.items()},
                           sleep=lambda _s: None)
    return plugins, [session.play(step) for step in parsed]


def _bodies(plugin: ProbePlugin, endpoint: Endpoint) -> list[object]:
    return [json.loads(body) if body else None for ep, body in plugin.calls
            if ep == endpoint.value]


def test_a_driver_registering_on_a_swarm_node_is_told_of_the_node() -> None:
    """Registered outside a swarm: nothing; on a member (a legacy plugin at its first use):
    DiscoverNew with the node's own address, and a failure is only logged, as a warning."""
    plugins, results = _probed(
        "docker -c m network create -d before n0\n"
        "docker -c m swarm init --advertise-addr 198.18.1.1\n"
        "docker -c m network create -d after n1\n", Scope.LOCAL,
        faults={Endpoint.DISCOVER_NEW.value: [Reply.json(500, {"Err": "swarm says no"})]})
    assert [r.outcome.exit_code for r in results] == [0, 0, 0]
    calls = [ep for ep, _body in plugins["m"].calls]
    second = calls.index(Endpoint.ACTIVATE.value, 1)  # "after", activated on the member
    assert Endpoint.DISCOVER_NEW.value not in calls[:second]
    assert calls[second:second + 3] == [Endpoint.ACTIVATE.value,
                                        Endpoint.NET_GET_CAPABILITIES.value,
                                        Endpoint.DISCOVER_NEW.value]
    assert _bodies(plugins["m"], Endpoint.DISCOVER_NEW) == [{"DiscoveryType": 1, "DiscoveryData": {
        "Address": "198.18.1.1", "BindAddress": "198.18.1.1", "Self": True}}]
    assert results[2].logged == (
        "Failed the node discovery in driver: NetworkDriver.DiscoverNew: swarm says no",)


def test_a_member_joining_is_told_to_drivers_of_global_connectivity_only() -> None:
    text = ("docker -c m swarm init --advertise-addr 198.18.1.1\n"
            "docker -c m network create -d d --scope local n\n"
            "docker -c w swarm join --token T --advertise-addr 198.18.1.2:2377 198.18.1.1:2377\n")
    member = {"DiscoveryType": 1, "DiscoveryData": {"Address": "198.18.1.2", "BindAddress": "",
                                                    "Self": False}}
    for scope, told in ((Scope.GLOBAL, [member]), (Scope.LOCAL, [])):
        plugins, results = _probed(text, scope)
        assert [r.outcome.exit_code for r in results] == [0, 0, 0]
        assert _bodies(plugins["m"], Endpoint.DISCOVER_NEW)[1:] == told, scope
        assert plugins["w"].calls == []


def test_a_legacy_global_scope_driver_is_refused_in_swarm_mode() -> None:
    """The network is the swarm's once the driver says ``Scope: global``; swarmkit refuses a
    legacy plugin before any address is asked for. Outside a swarm, 20.10's redirect."""
    plugins, results = _probed("docker -c m swarm init\ndocker -c m network create -d g n\n",
                               Scope.GLOBAL)
    assert results[1].outcome.exit_code == 1
    assert results[1].outcome.stderr == (
        "Error response from daemon: rpc error: code = InvalidArgument desc = legacy plugin g "
        "of type NetworkDriver is not supported in swarm mode",)
    # each interface's handlers: the engine's, then the manager's allocator's (a legacy
    # driver's second GetCapabilities: docs/swarm/driver/*/member-comes-and-goes.jsonl)
    ipam = [Endpoint.IPAM_GET_CAPABILITIES.value, Endpoint.GET_DEFAULT_ADDRESS_SPACES.value]
    assert [ep for ep, _body in plugins["m"].calls] == [
        Endpoint.ACTIVATE.value, Endpoint.NET_GET_CAPABILITIES.value,
        Endpoint.DISCOVER_NEW.value, Endpoint.NET_GET_CAPABILITIES.value,
        *ipam, *ipam]  # no address asked, no CreateNetwork
    _plugins, results = _probed("docker -c m network create -d g n\n", Scope.GLOBAL)
    assert results[0].outcome.stderr[0].endswith(SWARM_MANAGER_REDIRECT)


# -- a managed driver of global scope and a member leaving (docs/swarm/driver/: real dockerd
# 20.10.24, 26.1.5 and 28.5.2, recorded by tests/test_dockerd_swarm_verdict.py) --------------------

DRIVER = SWARM / "driver"
DRIVER_RUNS = [(version, stem) for version in ("20.10", "26.1", "28.5")
               for stem in ("managed-global-network", "member-comes-and-goes")]


@pytest.mark.parametrize(("version", "stem"), DRIVER_RUNS, ids=lambda v: str(v))
def test_the_swarm_only_calls_are_sent_as_the_real_daemon_sent_them(version: str,
                                                                    stem: str) -> None:
    """AllocateNetwork and FreeNetwork (a managed ``Scope: global`` driver), DiscoverNew and
    DiscoverDelete (a member joining and leaving), every request of the manager byte for byte;
    the worker, without a plugin, has no recording and needs none."""
    folder = DRIVER / version
    result = compare_swarm(scenario.load(folder / f"{stem}.scenario"),
                           {"node1": load(folder / f"{stem}.jsonl")}, version=lookup(version))
    assert result.equal, result.report()
    assert result.nodes["node1"].emulated == result.nodes["node1"].recorded > 0


def _endpoints(plugin: ProbePlugin) -> list[str]:
    return [ep for ep, _body in plugin.calls]


GLOBAL_DRIVER = ("docker -c m swarm init --advertise-addr 198.18.1.1\n"
                 "docker -c m plugin enable g:latest\n"
                 "docker -c m network create -d g:latest n\n"
                 "docker -c m network rm n\n")


def test_a_managed_global_driver_s_network_is_allocated_and_freed_by_the_manager() -> None:
    """No CreateNetwork or DeleteNetwork: AllocateNetwork with swarmkit's first pool after
    the ingress network's, and FreeNetwork with the same id; a local driver's network stays
    the node's."""
    plugins, results = _probed(GLOBAL_DRIVER, Scope.GLOBAL)
    assert [r.outcome.exit_code for r in results] == [0, 0, 0, 0]
    network = results[2].outcome.stdout[0]
    assert len(network) == 25 and network.isalnum()
    calls = _endpoints(plugins["m"])
    assert Endpoint.CREATE_NETWORK.value not in calls
    assert calls[-2:] == [Endpoint.ALLOCATE_NETWORK.value, Endpoint.FREE_NETWORK.value]
    assert _bodies(plugins["m"], Endpoint.ALLOCATE_NETWORK) == [{
        "NetworkID": network, "Options": {}, "IPv4Data": [
            {"AddressSpace": "", "Gateway": "10.0.1.1/24", "Pool": "10.0.1.0/24"}],
        "IPv6Data": None}]
    assert _bodies(plugins["m"], Endpoint.FREE_NETWORK) == [{"NetworkID": network}]
    plugins, results = _probed(GLOBAL_DRIVER, Scope.LOCAL)
    assert [r.outcome.exit_code for r in results] == [0, 0, 0, 0]
    assert Endpoint.ALLOCATE_NETWORK.value not in _endpoints(plugins["m"])
    assert Endpoint.CREATE_NETWORK.value in _endpoints(plugins["m"])


def test_the_allocator_s_failures_are_only_logged() -> None:
    """A refused AllocateNetwork: the command has returned (the network's id printed), the
    failure is logged as swarmkit logs it, and the unallocated network's removal sends no
    FreeNetwork. A refused FreeNetwork: ``network rm`` succeeds, the failure is logged."""
    no = [Reply.json(500, {"Err": "swarm says no"})]
    plugins, results = _probed(GLOBAL_DRIVER, Scope.GLOBAL,
                               faults={Endpoint.ALLOCATE_NETWORK.value: list(no)})
    assert [r.outcome.exit_code for r in results] == [0, 0, 0, 0]
    network = results[2].outcome.stdout[0]
    assert results[2].logged == (
        f'msg="Failed allocation for network {network}" error="failed while allocating '
        f'driver state for network {network}: NetworkDriver.AllocateNetwork: swarm says no"',)
    assert _endpoints(plugins["m"])[-1] == Endpoint.ALLOCATE_NETWORK.value  # rm: nothing
    assert results[3].logged == () and results[3].outcome.stdout == ("n",)
    plugins, results = _probed(GLOBAL_DRIVER, Scope.GLOBAL,
                               faults={Endpoint.FREE_NETWORK.value: list(no)})
    assert [r.outcome.exit_code for r in results] == [0, 0, 0, 0]
    assert len(results[3].logged) == 1 and "Failed during network free" in results[3].logged[0]
    assert results[3].outcome.stdout == ("n",)


def test_a_member_leaving_is_deleted_from_drivers_of_global_connectivity_only() -> None:
    text = ("docker -c m swarm init --advertise-addr 198.18.1.1\n"
            "docker -c m network create -d d --scope local n\n"
            "docker -c w swarm join --token T --advertise-addr 198.18.1.2 198.18.1.1:2377\n"
            "docker -c w swarm leave\n")
    member = {"DiscoveryType": 1, "DiscoveryData": {"Address": "198.18.1.2", "BindAddress": "",
                                                    "Self": False}}
    for scope, told in ((Scope.GLOBAL, [member]), (Scope.LOCAL, [])):
        plugins, results = _probed(text, scope)
        assert [r.outcome.exit_code for r in results] == [0, 0, 0, 0]
        assert _bodies(plugins["m"], Endpoint.DISCOVER_DELETE) == told, scope
        assert plugins["w"].calls == []


def test_leaving_a_swarm_is_refused_as_dockerd_refuses_it() -> None:
    """Not a member; the manager without ``--force``; once left, a worker can join again."""
    _plugins, results = _probed(
        "docker -c w swarm leave\n"
        "docker -c m swarm init\n"
        "docker -c m swarm leave\n"
        "docker -c w swarm join --token T 198.18.1.1:2377\n"
        "docker -c w swarm leave\n"
        "docker -c w swarm join --token T 198.18.1.1:2377\n"
        "docker -c m swarm leave --force\n", Scope.LOCAL)
    assert [r.outcome.exit_code for r in results] == [1, 0, 1, 0, 0, 0, 0]
    assert results[0].outcome.stderr == ("Error response from daemon: This node is not part "
                                         "of a swarm",)
    assert "participating as a manager" in results[2].outcome.stderr[0]
