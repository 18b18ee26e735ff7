"""A swarm of three real dockerd hosts with ipamx-spy as the managed IPAM plugin on every node.

Each host is a dockerd in its own network namespace on a test bridge (``multihost_env``); the
first inits the swarm, the others join. The ipamx-spy image is built once, loaded into the other
daemons, and installed as a managed plugin on every node with ``IPAMX_SPY_HOST_ID`` set to the
node's name, so each node's spy records its own calls in its own folder. The plugins keep their
allocator in one etcd (``IPAMX_SPY_STORE=etcd://…``), started on the test bridge's address so
that every node's namespace reaches it. An overlay network with ``--ipam-driver`` the plugin, a
service with one replica per node; ``status --store`` shows the manager's global leases and each
node's local ones; then the recordings are merged into one timeline that ``check --merge``
passes, and the emulator's swarm playing docs/swarm/stops-first.scenario sends what the three
dockerd sent, byte for byte. What the captures show about who calls what is written down in
docs/swarm.md; with ``IPAMX_SPY_SWARM_CAPTURES=DIR`` the test copies its three recordings there
(docs/swarm/stops-first/ was made so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_env import Docker
from etcd_cluster import EtcdCluster
from multihost_env import Hosts
from test_image_e2e import build_image

from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import compare_swarm
from ipamx_spy.ipam.cluster import read_cluster
from ipamx_spy.multihost.merge import merge
from ipamx_spy.recording import load

# The nodes run the machine's dockerd 20.10 (multihost_env), so the session daemon that builds the
# image is 20.10 too: the 26.1 and 28.5 groups would only repeat the same swarm.
pytestmark = [pytest.mark.docker, pytest.mark.dockerd("20.10")]
SUBNET = "10.4.4.0/24"
STOPS_FIRST = Path(__file__).resolve().parent.parent / "docs" / "swarm" / "stops-first.scenario"


def spy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], env=env,
                          capture_output=True, text=True, timeout=600)


Swarm = tuple[Hosts, str, Path, EtcdCluster]


@pytest.fixture(scope="module")
def swarm(dockerd: Docker) -> Iterator[Swarm]:
    """Three nodes, the plugin enabled on each with its allocator in one etcd; the image is
    built once, in the session's dockerd (shared with the other image tests), and loaded into
    every node."""
    plugin = f"ipx{uuid.uuid4().hex[:6]}"
    out = Path(tempfile.mkdtemp(prefix="ipx-swarm-", dir="/tmp"))
    image = build_image(dockerd)
    archive = out / "image.tar"
    dockerd.run("save", "-o", str(archive), image, timeout=900)
    with Hosts(3) as hosts, EtcdCluster(1, host=f"{hosts.subnet}.254") as etcd:
        for host in hosts.hosts:
            host.d.run("load", "-i", str(archive), timeout=900)
            state = out / host.name
            state.mkdir()
            built = spy(host.d.env, "plugin", "build", "--image", image, "--name", plugin,
                        "--no-enable")
            assert built.returncode == 0, built.stderr
            host.d.run("plugin", "set", plugin, f"state.source={state}",
                       f"IPAMX_SPY_HOST_ID={host.name}", f"IPAMX_SPY_STORE={etcd.store_url}")
            host.d.run("plugin", "enable", plugin, timeout=300)
        archive.unlink()
        hosts.swarm()
        yield hosts, f"{plugin}:latest", out, etcd
        for host in hosts.hosts:
            host.d.run("plugin", "disable", "-f", plugin, check=False, timeout=120)
    subprocess.run(["rm", "-rf", str(out)], check=False)


def wait_running(hosts: Hosts, service: str, replicas: int) -> str:
    manager = hosts.hosts[0].d
    deadline = time.monotonic() + 240
    listing = ""
    while time.monotonic() < deadline:
        listing = manager.run("service", "ps", service, "--format",
                              "{{.Node}} {{.CurrentState}} {{.Error}}", check=False).stdout
        if listing.count("Running") >= replicas:
            return listing
        time.sleep(1)
    raise AssertionError(f"{service} did not get {replicas} running tasks:\n{listing}")


def task_addresses(hosts: Hosts, network: str) -> dict[str, str]:
    """Container name -> its address on ``network``, over every node."""
    found = {}
    for host in hosts.hosts:
        for name in host.d.run("ps", "--format", "{{.Names}}").stdout.split():
            data: Any = host.d.inspect("inspect", name)[0]
            found[f"{host.name}/{name}"] = data["NetworkSettings"]["Networks"][network][
                "IPAddress"]
    return found


def stored_leases(etcd: EtcdCluster) -> set[tuple[str, str, str]]:
    """What ``status --store`` shows: (host, address space, address) of every lease in etcd."""
    view = read_cluster(etcd.store_url)
    return {(v.host, v.lease.address_space, v.lease.address) for v in view.leases}


def test_overlay_service_over_three_nodes(swarm: Swarm) -> None:
    hosts, plugin, out, etcd = swarm
    manager = hosts.hosts[0].d
    net = f"ov{uuid.uuid4().hex[:6]}"
    manager.run("network", "create", "-d", "overlay", "--ipam-driver", plugin,
                "--subnet", SUBNET, net)
    manager.run("service", "create", "--detach", "--name", net, "--replicas", "3",
                "--replicas-max-per-node", "1", "--network", net, "bb:latest", "sleep", "600")
    wait_running(hosts, net, 3)
    addresses = task_addresses(hosts, net)
    assert len(addresses) == 3 and {a.split("/")[0] for a in addresses} == {
        h.name for h in hosts.hosts}
    assert all(ip.startswith("10.4.4.") for ip in addresses.values())
    assert len(set(addresses.values())) == 3

    first = sorted(addresses)[0]
    node, container = first.split("/")
    pinger = next(h for h in hosts.hosts if h.name == node)
    pings = {name: pinger.d.run("exec", container, "ping", "-c", "1", "-W", "5", ip,
                                check=False).returncode
             for name, ip in addresses.items() if name != first}
    # in etcd: the manager's global allocation, and each node's local re-reservation of its
    # own task's address (every local space stays per host)
    stored = stored_leases(etcd)
    for name, address in addresses.items():
        node = name.split("/")[0]
        assert ("node1", "GlobalDefault", address) in stored, (name, sorted(stored))
        assert (node, "LocalDefault", address) in stored, (name, sorted(stored))
    shown = spy({**os.environ, "COLUMNS": "200"}, "status", "--store", etcd.store_url)
    assert shown.returncode == 0 and "node2" in shown.stdout, shown.stderr
    manager.run("service", "rm", net)
    # the containers stop on every node, and the manager frees each stopped task's global
    # address and each node's load-balancer address: only the gateway stays in the global
    # space (a network rm before that would leave those to the pool's release)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (any(
            h.d.run("ps", "-q").stdout.strip() for h in hosts.hosts) or len(
            [lease for lease in stored_leases(etcd) if lease[1] == "GlobalDefault"]) > 1):
        time.sleep(1)
    manager.run("network", "rm", net)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and stored_leases(etcd):
        time.sleep(1)
    assert stored_leases(etcd) == set(), "leases left in etcd after network rm"

    recordings = {h.name: sorted((out / h.name / "recordings").glob("*.jsonl"))
                  for h in hosts.hosts}
    assert all(recordings.values()), recordings
    loaded = [load(paths[-1]) for paths in recordings.values()]
    assert [r.header.get("host") for r in loaded] == [h.name for h in hosts.hosts]
    merged = merge(loaded)
    by_host: dict[str, list[str]] = {}
    for e in merged.recording.exchanges:
        by_host.setdefault(merged.lanes[e.seq], []).append(e.endpoint)
    assert "IpamDriver.RequestPool" in by_host["node1"]
    checked = spy(dict(os.environ), "check", "--merge",
                  *(str(paths[-1]) for paths in recordings.values()))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    keep = os.environ.get("IPAMX_SPY_SWARM_CAPTURES")  # how docs/swarm/stops-first/ is made
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name, paths in recordings.items():
            shutil.copy(paths[-1], Path(keep) / f"{name}.jsonl")
    # the emulator's swarm sends what the three real dockerd sent, byte for byte
    emulated = compare_swarm(scenario.load(STOPS_FIRST), dict(zip(
        [h.name for h in hosts.hosts], loaded, strict=True)))
    assert emulated.equal, emulated.report()
    assert all(code == 0 for code in pings.values()), pings
