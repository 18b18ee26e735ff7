"""The network driver against the real kernel, inside private network namespaces.

Every test makes its own namespace (``ipxt-<random>``) and removes it afterwards, so the host's
links are never touched. Needs root: skipped without it, failed under IPAMX_SPY_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute, netns

from ipamx_spy.app import BuiltinPlugin
from ipamx_spy.netdriver.core import AddBridge, DeleteLink
from ipamx_spy.netdriver.links import Netlink, NetlinkFailure
from ipamx_spy.netdriver.naming import Naming
from ipamx_spy.netdriver.service import NetworkService

NET = "39f13c07" + "0123456789abcdef" * 3 + "01234567"
NET2 = "7c1d0e55" + "fedcba9876543210" * 3 + "76543210"
EP = "f89f853e" + "00112233445566778899aabbccddeeff" + "0011223344556677"
EP2 = "a1b2c3d4" + "aa" * 28
NAMING = Naming.for_plugin("ipamx")


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("IPAMX_SPY_REQUIRE_DOCKER") == "1":
        pytest.fail("IPAMX_SPY_REQUIRE_DOCKER=1 but the netlink tests cannot run: not root")
    pytest.skip("the netlink tests need root (they make links in a private network namespace)")


@pytest.fixture
def make_netns() -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"ipxt-{uuid.uuid4().hex[:10]}"
        netns.create(name)
        made.append(name)
        return name

    yield make
    for name in made:
        netns.remove(name)


@pytest.fixture
def ns(make_netns: Callable[[], str]) -> str:
    return make_netns()


def links_in(namespace: str) -> dict[str, Any]:
    with IPRoute(netns=namespace, flags=0, groups=0) as ipr:
        return {link.get("ifname"): link for link in ipr.get_links()}


def addresses_of(namespace: str, name: str) -> set[str]:
    with IPRoute(netns=namespace, flags=0, groups=0) as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        return {f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(index=index)
                if a["scope"] == 0}


def network_body(network_id: str = NET, subnet: str = "10.4.4", v6: bool = False) -> bytes:
    ipv6 = [{"AddressSpace": "LocalDefault", "Gateway": "fd99:1:2:3::1/64",
             "Pool": "fd99:1:2:3::/64"}] if v6 else []
    return json.dumps({
        "NetworkID": network_id,
        "Options": {"com.docker.network.enable_ipv6": v6, "com.docker.network.generic": {}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Gateway": f"{subnet}.1/24",
                      "Pool": f"{subnet}.0/24"}],
        "IPv6Data": ipv6}).encode()


def endpoint_body(endpoint_id: str = EP, address: str = "10.4.4.21/24", mac: str = "",
                  network_id: str = NET) -> bytes:
    return json.dumps({"NetworkID": network_id, "EndpointID": endpoint_id,
                       "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": mac},
                       "Options": {}}).encode()


def ids(endpoint_id: str = EP, network_id: str = NET, **extra: str) -> bytes:
    return json.dumps({"NetworkID": network_id, "EndpointID": endpoint_id, **extra}).encode()


class Driver:
    """The driver as dockerd sees it: the built-in plugin answering raw request bodies."""

    def __init__(self, namespace: str, state_file: Path | None = None) -> None:
        self.service = NetworkService(name="ipamx", state_file=state_file, netns=namespace)
        self.plugin = BuiltinPlugin([self.service])

    def __call__(self, method: str, body: bytes = b"") -> Any:
        reply = self.plugin.handle(f"NetworkDriver.{method}", body)
        assert reply.status == 200
        return reply.value

    def close(self) -> None:
        self.service.close()


@pytest.fixture
def driver(ns: str) -> Iterator[Driver]:
    made = Driver(ns)
    yield made
    made.close()


def test_netlink_sees_a_fresh_namespace_and_refuses_a_missing_one(ns: str) -> None:
    layer = Netlink(ns)
    try:
        assert [link.name for link in layer.observe()] == ["lo"]
    finally:
        layer.close()
    missing = Netlink(f"ipxt-missing-{uuid.uuid4().hex[:6]}")
    try:
        with pytest.raises(NetlinkFailure, match="cannot open a netlink socket in network "
                                                 "namespace 'ipxt-missing"):
            missing.observe()
    finally:
        missing.close()


def test_the_whole_conversation_makes_and_removes_real_links(driver: Driver, ns: str) -> None:
    assert driver("CreateNetwork", network_body(v6=True)) == {}
    bridge = NAMING.link_name("bridge", NET[:8])
    link = links_in(ns)[bridge]
    assert link.get("ifalias") == NAMING.marker("bridge", NET) and link.get("flags") & 1  # UP
    assert addresses_of(ns, bridge) == {"10.4.4.1/24", "fd99:1:2:3::1/64"}

    created = driver("CreateEndpoint", endpoint_body())
    mac = created["Interface"]["MacAddress"]
    host, peer = NAMING.link_name("host", EP[:8]), NAMING.link_name("container", EP[:8])
    links = links_in(ns)
    assert links[host].get("master") == link["index"] and links[host].get("flags") & 1
    assert links[peer].get("address") == mac
    assert links[peer].get("ifalias") == NAMING.marker("container", EP)

    joined = driver("Join", ids(SandboxKey="/var/run/docker/netns/0123456789ab"))
    assert joined["InterfaceName"] == {"SrcName": peer, "DstPrefix": "eth"}
    assert joined["Gateway"] == "10.4.4.1"
    info = driver("EndpointOperInfo", ids())["Value"]
    assert (info["bridge"], info["host_veth"]) == (bridge, host)
    assert driver("Leave", ids()) == {}
    assert driver("DeleteEndpoint", ids()) == {}
    assert set(links_in(ns)) == {"lo", bridge}
    assert driver("DeleteNetwork", json.dumps({"NetworkID": NET}).encode()) == {}
    assert set(links_in(ns)) == {"lo"}


def test_it_works_under_a_running_event_loop_as_in_the_proxy(driver: Driver, ns: str) -> None:
    async def from_the_loop() -> Any:
        return driver("CreateNetwork", network_body())

    assert asyncio.run(from_the_loop()) == {}
    assert NAMING.link_name("bridge", NET[:8]) in links_in(ns)


def test_the_kernels_refusal_reaches_err_and_leaves_nothing(driver: Driver, ns: str) -> None:
    driver("CreateNetwork", network_body())
    answer = driver("CreateEndpoint", endpoint_body(mac="01:00:5e:00:00:01"))  # multicast
    assert answer["Err"].startswith("ipamx-spy: netlink: cannot create veth pair")
    assert answer["Err"].endswith("Cannot assign requested address (EADDRNOTAVAIL)")
    assert set(links_in(ns)) == {"lo", NAMING.link_name("bridge", NET[:8])}
    assert driver("Join", ids())["Err"].startswith(f"ipamx-spy: unknown endpoint {EP[:12]}")


def test_a_foreign_link_with_our_bridge_name_is_not_taken_over(driver: Driver, ns: str) -> None:
    bridge = NAMING.link_name("bridge", NET[:8])
    with IPRoute(netns=ns, flags=0, groups=0) as ipr:
        ipr.link("add", ifname=bridge, kind="bridge")
        ipr.link("set", ifname=bridge, ifalias="the lab uplink")
    answer = driver("CreateNetwork", network_body())
    assert "is not this plugin's (its alias is 'the lab uplink')" in answer["Err"]
    assert links_in(ns)[bridge].get("ifalias") == "the lab uplink"
    assert driver("DeleteNetwork", json.dumps({"NetworkID": NET}).encode())["Err"]


def test_a_bridge_that_cannot_be_configured_is_removed_again(driver: Driver, ns: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                    "net.ipv6.conf.default.disable_ipv6=1"], check=True)
    answer = driver("CreateNetwork", network_body(v6=True))
    bridge = NAMING.link_name("bridge", NET[:8])
    assert answer["Err"].startswith(f"ipamx-spy: netlink: cannot create bridge {bridge} with "
                                    "10.4.4.1/24, fd99:1:2:3::1/64: ")
    assert set(links_in(ns)) == {"lo"}
    assert driver("CreateNetwork", network_body()) == {}  # nothing was left to collide with


def test_delete_endpoint_succeeds_when_the_veth_is_already_gone(driver: Driver, ns: str) -> None:
    driver("CreateNetwork", network_body())
    driver("CreateEndpoint", endpoint_body())
    Netlink(ns).apply((DeleteLink(name=NAMING.link_name("container", EP[:8])),))
    assert driver("DeleteEndpoint", ids()) == {}


def test_restart_removes_unclaimed_links_and_restores_claimed_ones(
        ns: str, tmp_path: Path) -> None:
    state = tmp_path / "ipamx.network.json"
    first = Driver(ns, state)
    first("CreateNetwork", network_body())
    first("CreateEndpoint", endpoint_body())
    first("CreateNetwork", network_body(NET2, "10.5.5"))
    kept = set(links_in(ns))
    first.close()
    stray = NAMING.link_name("bridge", "0badcafe")  # made, then killed before saving
    unlabelled = NAMING.link_name("host", "00c0ffee")  # made, then killed before labelling
    other = Naming.for_plugin("other")
    foreign = other.link_name("bridge", "12345678")
    layer = Netlink(ns)
    layer.apply((AddBridge(name=stray, marker=NAMING.marker("bridge", "0badcafe")),
                 AddBridge(name=foreign, marker=other.marker("bridge", "n")),
                 DeleteLink(name=NAMING.link_name("bridge", NET2[:8]))))  # as after a reboot
    with IPRoute(netns=ns, flags=0, groups=0) as ipr:
        ipr.link("add", ifname=unlabelled, kind="bridge")
        ipr.link("add", ifname="lab0", kind="bridge")
    layer.close()

    second = Driver(ns, state)
    try:
        assert set(links_in(ns)) == kept | {foreign, "lab0"}
        assert addresses_of(ns, NAMING.link_name("bridge", NET2[:8])) == {"10.5.5.1/24"}
        assert second("Join", ids())["InterfaceName"]["SrcName"] == (
            NAMING.link_name("container", EP[:8]))
        second("DeleteEndpoint", ids())
        for network_id in (NET, NET2):
            second("DeleteNetwork", json.dumps({"NetworkID": network_id}).encode())
        assert set(links_in(ns)) == {"lo", foreign, "lab0"}
    finally:
        second.close()


def test_an_in_memory_driver_cleans_up_after_its_previous_run(ns: str) -> None:
    first = Driver(ns)
    first("CreateNetwork", network_body())
    first("CreateEndpoint", endpoint_body())
    first.close()
    assert len(links_in(ns)) == 4
    second = Driver(ns)
    second.close()
    assert set(links_in(ns)) == {"lo"}


def _sandbox(name: str, peer: str, driver_ns: str, address: str) -> None:
    """Do what dockerd does after Join: move the container end into the sandbox as eth0."""
    with IPRoute(netns=driver_ns, flags=0, groups=0) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], net_ns_fd=name)
    with IPRoute(netns=name, flags=0, groups=0) as ipr:
        index = ipr.link_lookup(ifname=peer)[0]
        ipr.link("set", index=index, ifname="eth0")
        ipr.addr("add", index=index, address=address, prefixlen=24)
        ipr.link("set", index=index, state="up")


def test_two_sandboxes_on_one_bridge_reach_each_other_and_the_gateway(
        driver: Driver, ns: str, make_netns: Callable[[], str]) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("needs busybox for ping (Debian package busybox-static)")
    driver("CreateNetwork", network_body())
    sandboxes = []
    for endpoint_id, address in ((EP, "10.4.4.21"), (EP2, "10.4.4.22")):
        driver("CreateEndpoint", endpoint_body(endpoint_id, f"{address}/24"))
        peer = driver("Join", ids(endpoint_id))["InterfaceName"]["SrcName"]
        sandbox = make_netns()
        _sandbox(sandbox, peer, ns, address)
        sandboxes.append(sandbox)
    for target in ("10.4.4.22", "10.4.4.1"):
        ping = subprocess.run(["ip", "netns", "exec", sandboxes[0], busybox, "ping", "-c", "1",
                               "-W", "5", target], capture_output=True, text=True, timeout=30)
        assert ping.returncode == 0, ping.stdout + ping.stderr
