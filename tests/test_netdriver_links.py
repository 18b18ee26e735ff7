"""The link layers' shared contract: ``Netlink`` (real, in a private namespace) and ``MemoryLinks``.

The same scenarios run against both, so that the pretend layer used for replays behaves like the
kernel. The netlink variant needs root: skipped without it, failed under IPAMX_SPY_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from pyroute2 import netns

from ipamx_spy.netdriver.core import AddBridge, AddVeth, DeleteLink
from ipamx_spy.netdriver.links import LinkLayer, MemoryLinks, Netlink, NetlinkFailure

BRIDGE = AddBridge(name="ixt0b00000001", marker="ipamx-spy:bridge:n1:t",
                   addresses=("10.4.4.1/24",))
VETH = AddVeth(host="ixt0h00000001", container="ixt0c00000001", bridge=BRIDGE.name,
               mac="02:42:0a:04:04:15", host_marker="ipamx-spy:host:e1:t",
               container_marker="ipamx-spy:container:e1:t")


@pytest.fixture(params=["memory", "netlink"])
def layer(request: pytest.FixtureRequest) -> Iterator[LinkLayer]:
    if request.param == "memory":
        yield MemoryLinks()
        return
    if os.geteuid() != 0:
        if os.environ.get("IPAMX_SPY_REQUIRE_DOCKER") == "1":
            pytest.fail("IPAMX_SPY_REQUIRE_DOCKER=1 but the netlink tests cannot run: not root")
        pytest.skip("the netlink tests need root (they make links in a private namespace)")
    name = f"ipxt-{uuid.uuid4().hex[:10]}"
    netns.create(name)
    real = Netlink(name)
    try:
        yield real
    finally:
        real.close()
        netns.remove(name)


def names(layer: LinkLayer) -> set[str]:
    return {link.name for link in layer.observe()}


def test_links_are_made_labelled_and_deleted_with_their_peer(layer: LinkLayer) -> None:
    layer.apply((BRIDGE, VETH))
    seen = {link.name: link for link in layer.observe()}
    assert set(seen) == {"lo", BRIDGE.name, VETH.host, VETH.container}
    assert (seen[BRIDGE.name].alias, seen[BRIDGE.name].kind) == (BRIDGE.marker, "bridge")
    assert (seen[VETH.container].alias, seen[VETH.container].kind) == (
        VETH.container_marker, "veth")
    layer.apply((DeleteLink(name=VETH.host),))
    assert names(layer) == {"lo", BRIDGE.name}


def test_adding_our_bridge_again_is_harmless_and_deleting_twice_too(layer: LinkLayer) -> None:
    layer.apply((BRIDGE, BRIDGE))
    layer.apply((DeleteLink(name=BRIDGE.name), DeleteLink(name=BRIDGE.name)))
    assert names(layer) == {"lo"}


def test_a_bridge_with_someone_elses_alias_is_refused(layer: LinkLayer) -> None:
    layer.apply((BRIDGE,))
    other = AddBridge(name=BRIDGE.name, marker="ipamx-spy:bridge:n1:other")
    with pytest.raises(NetlinkFailure, match="is not this plugin's") as caught:
        layer.apply((DeleteLink(name="nothing-here"), other))
    assert caught.value.done == 1
    assert {link.alias for link in layer.observe() if link.name == BRIDGE.name} == {BRIDGE.marker}


def test_a_veth_needs_its_bridge_and_free_names(layer: LinkLayer) -> None:
    with pytest.raises(NetlinkFailure, match=f"bridge {BRIDGE.name} is missing"):
        layer.apply((VETH,))
    layer.apply((BRIDGE, VETH))
    with pytest.raises(NetlinkFailure, match="EEXIST"):
        layer.apply((VETH,))
    assert names(layer) == {"lo", BRIDGE.name, VETH.host, VETH.container}
