"""Differential test: ipamx-spy's allocator against dockerd's own default IPAM, per daemon.

Each case runs the same docker commands twice on one dockerd of the matrix (20.10.24, 26.1.5,
28.5.2): once with the daemon's built-in IPAM and once with ``--ipam-driver <ipamx-spy>``
started with ``--docker-compat <that daemon's version>``, and compares what dockerd reports:
pools, gateways, container addresses and which commands fail. Dynamic pool choice (with
release and re-create) and ``--default-address-pool`` are compared on a daemon of their own,
plugin first, so that the daemon's own cursor is fresh for its own run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, Daemon, Docker, SpyProcess, fresh_dockerd, spawn_spy

pytestmark = pytest.mark.docker

Facts = dict[str, object]
Case = Callable[[Docker, list[str], str], Facts]


def run(docker: Docker, name: str, net: str, *extra: str) -> None:
    docker.run("run", "-d", "--name", name, "--net", net, *extra, "bb:latest", "sleep", "600")


def addresses(docker: Docker, container: str, net: str) -> tuple[str, str, str]:
    settings = docker.inspect("inspect", container)[0]["NetworkSettings"]["Networks"][net]
    return settings["IPAddress"], settings["Gateway"], settings["GlobalIPv6Address"]


def subnets(docker: Docker, net: str) -> list[str]:
    return [c["Subnet"] for c in docker.network(net)["IPAM"]["Config"]]


def cleanup(docker: Docker, containers: list[str], nets: list[str]) -> None:
    docker.run("rm", "-f", *containers, check=False)
    for net in nets:
        docker.run("network", "rm", net, check=False)


def case_subnet(docker: Docker, ipam: list[str], tag: str) -> Facts:
    net = f"d1{tag}"
    docker.run("network", "create", *ipam, "--subnet", "10.70.0.0/24", net)
    run(docker, f"{net}a", net)
    run(docker, f"{net}b", net, "--ip", "10.70.0.50")
    run(docker, f"{net}c", net)
    facts = {c: addresses(docker, f"{net}{c}", net) for c in "abc"}
    cleanup(docker, [f"{net}{c}" for c in "abc"], [net])
    return facts


def case_ip_range(docker: Docker, ipam: list[str], tag: str) -> Facts:
    net = f"d2{tag}"
    docker.run("network", "create", *ipam, "--subnet", "10.71.0.0/16",
               "--ip-range", "10.71.5.0/24", net)
    run(docker, f"{net}a", net)
    run(docker, f"{net}b", net)
    facts = {c: addresses(docker, f"{net}{c}", net) for c in "ab"}
    cleanup(docker, [f"{net}a", f"{net}b"], [net])
    return facts


def case_gateway_aux(docker: Docker, ipam: list[str], tag: str) -> Facts:
    net = f"d3{tag}"
    docker.run("network", "create", *ipam, "--subnet", "10.73.0.0/24", "--ip-range",
               "10.73.0.64/26", "--gateway", "10.73.0.1", "--aux-address", "r=10.73.0.64", net)
    run(docker, f"{net}a", net)
    run(docker, f"{net}b", net, "--ip", "10.73.0.9")
    facts = {c: addresses(docker, f"{net}{c}", net) for c in "ab"}
    cleanup(docker, [f"{net}a", f"{net}b"], [net])
    return facts


def case_dual_stack(docker: Docker, ipam: list[str], tag: str) -> Facts:
    net = f"d4{tag}"
    docker.run("network", "create", *ipam, "--ipv6", "--subnet", "10.74.0.0/24",
               "--subnet", "fd00:74::/64", net)
    run(docker, f"{net}a", net)
    run(docker, f"{net}b", net, "--ip6", "fd00:74::99")
    facts = {c: addresses(docker, f"{net}{c}", net) for c in "ab"}
    cleanup(docker, [f"{net}a", f"{net}b"], [net])
    return facts


def case_reuse(docker: Docker, ipam: list[str], tag: str) -> Facts:
    """Freed addresses come back at once (lowest free) in both allocators."""
    net = f"d5{tag}"
    docker.run("network", "create", *ipam, "--subnet", "10.75.0.0/24", net)
    run(docker, f"{net}a", net)
    run(docker, f"{net}b", net)
    docker.run("rm", "-f", f"{net}a")
    run(docker, f"{net}c", net)
    facts = {c: addresses(docker, f"{net}{c}", net) for c in "bc"}
    cleanup(docker, [f"{net}b", f"{net}c"], [net])
    return facts


def attempt(docker: Docker, *args: str) -> bool:
    return docker.run(*args, check=False).returncode == 0


def small_case(subnet: str) -> Case:
    """A tiny IPv4 subnet: which containers get an address, and which one."""
    def case(docker: Docker, ipam: list[str], tag: str) -> Facts:
        net = f"d7{tag}{subnet.split('/')[1]}"
        made = attempt(docker, "network", "create", *ipam, "--subnet", subnet, net)
        facts: Facts = {"created": made}
        if made:
            facts["gateway"] = docker.network(net)["IPAM"]["Config"][0].get("Gateway", "")
            for c in "ab":
                ran = attempt(docker, "run", "-d", "--name", f"{net}{c}", "--net", net,
                              "bb:latest", "sleep", "600")
                facts[c] = addresses(docker, f"{net}{c}", net) if ran else "refused"
        cleanup(docker, [f"{net}a", f"{net}b"], [net])
        return facts
    return case


def case_v6_120(docker: Docker, ipam: list[str], tag: str) -> Facts:
    net = f"d8{tag}"
    docker.run("network", "create", *ipam, "--ipv6", "--subnet", "10.78.0.0/24",
               "--subnet", "fd00:78::/120", net)
    run(docker, f"{net}a", net)
    run(docker, f"{net}b", net)
    docker.run("rm", "-f", f"{net}a")
    run(docker, f"{net}c", net)
    facts = {c: addresses(docker, f"{net}{c}", net) for c in "bc"}
    cleanup(docker, [f"{net}b", f"{net}c"], [net])
    return facts


def case_dynamic(docker: Docker, ipam: list[str], tag: str) -> Facts:
    """No --subnet: pool choice, then rm and create again (round-robin in 20.10)."""
    nets = [f"d6{tag}{i}" for i in range(3)]
    docker.run("network", "create", *ipam, nets[0])
    docker.run("network", "create", *ipam, nets[1])
    first = subnets(docker, nets[0]) + subnets(docker, nets[1])
    docker.run("network", "rm", nets[0])
    docker.run("network", "create", *ipam, nets[2])
    run(docker, f"{nets[2]}a", nets[2])
    facts: Facts = {"first": first, "again": subnets(docker, nets[2]),
                    "a": addresses(docker, f"{nets[2]}a", nets[2])}
    cleanup(docker, [f"{nets[2]}a"], nets[1:])
    return facts


CASES: dict[str, Case] = {
    "subnet": case_subnet, "ip-range": case_ip_range, "gateway-aux": case_gateway_aux,
    "dual-stack": case_dual_stack, "reuse": case_reuse, "ipv6-120": case_v6_120,
    "slash30": small_case("10.76.0.0/30"), "slash31": small_case("10.76.1.0/31"),
    "slash32": small_case("10.76.2.0/32"),
}


def spawn_allocator(docker: Docker, name: str, *extra: str, record: Path | None = None
                    ) -> SpyProcess:
    """The built-in allocator behind the proxy, imitating ``docker``'s own IPAM."""
    recording = ["--record", str(record)] if record else ["--no-record"]
    return spawn_spy(["proxy", "--name", name, "--docker-compat", docker.version, "--state",
                      "none", *recording, "--quiet", *extra], PLUGIN_DIR / f"{name}.sock",
                     record)


@pytest.fixture
def spy_plugin(dockerd: Docker, plugin_name: str, sockdir: Path) -> Iterator[str]:
    spy = spawn_allocator(dockerd, plugin_name, record=sockdir / "diff.jsonl")
    try:
        yield plugin_name
    finally:
        spy.stop()


@pytest.mark.parametrize("case", sorted(CASES))
def test_addresses_match_dockers_own_ipam(dockerd: Docker, spy_plugin: str, case: str) -> None:
    builtin = CASES[case](dockerd, [], "b")
    ours = CASES[case](dockerd, ["--ipam-driver", spy_plugin], "p")
    assert ours == builtin


@pytest.mark.usefixtures("host_routes")
def test_dynamic_pool_choice_matches_on_a_fresh_daemon(daemon: Daemon, plugin_name: str) -> None:
    with fresh_dockerd(daemon) as docker:
        spy = spawn_allocator(docker, plugin_name)
        try:
            ours = case_dynamic(docker, ["--ipam-driver", plugin_name], "p")
            builtin = case_dynamic(docker, [], "b")
        finally:
            spy.stop()
    assert ours == builtin


@pytest.mark.usefixtures("host_routes")
def test_default_address_pools_match_on_a_fresh_daemon(daemon: Daemon, plugin_name: str
                                                       ) -> None:
    """dockerd --default-address-pool against the allocator's --local-pool of the same list."""
    pools = ("10.201.0.0/16", 24)
    with fresh_dockerd(daemon, extra=("--default-address-pool",
                                      f"base={pools[0]},size={pools[1]}")) as docker:
        spy = spawn_allocator(docker, plugin_name, "--local-pool", f"{pools[0]}:{pools[1]}")
        try:
            ours = case_dynamic(docker, ["--ipam-driver", plugin_name], "p")
            builtin = case_dynamic(docker, [], "b")
        finally:
            spy.stop()
    assert ours == builtin
    assert all(str(s).startswith("10.201.") for s in ours["first"])  # type: ignore[attr-defined]
