"""The sans-IO network driver: requests in, plans (state, response, link changes) out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ipamx_spy import dockerd
from ipamx_spy.dockerd import Endpoint
from ipamx_spy.netdriver.core import (
    FIXED_ANSWERS,
    HANDLERS,
    AddBridge,
    AddVeth,
    DeleteLink,
    Driver,
    LinkPlan,
    ObservedLink,
    Refusal,
    reconcile,
    undo,
)
from ipamx_spy.netdriver.model import DriverState
from ipamx_spy.netdriver.naming import LINK_NAME_MAX, Naming

NET = "39f13c07" + "0123456789abcdef" * 3 + "01234567"
NET2 = "7c1d0e55" + "fedcba9876543210" * 3 + "76543210"
EP = "f89f853e" + "00112233445566778899aabbccddeeff" + "0011223344556677"
EP2 = "a1b2c3d4" + "aa" * 28
NAMING = Naming.for_plugin("ipamx")
DRIVER = Driver(naming=NAMING)
PORTS = {"com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": []}


def create_network(network_id: str = NET, **extra: Any) -> dict[str, Any]:
    """PROTOCOL.md 7, CreateNetwork as dockerd 20.10 sends it (with an aux address)."""
    body: dict[str, Any] = {
        "NetworkID": network_id,
        "Options": {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": {}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "AuxAddresses": {"a1": "10.4.4.5/24"},
                      "Gateway": "10.4.4.1/24", "Pool": "10.4.4.0/24"}],
        "IPv6Data": [],
    }
    body.update(extra)
    return body


def create_endpoint(endpoint_id: str = EP, network_id: str = NET, address: str = "10.4.4.21/24",
                    mac: str = "", address6: str = "") -> dict[str, Any]:
    return {"NetworkID": network_id, "EndpointID": endpoint_id,
            "Interface": {"Address": address, "AddressIPv6": address6, "MacAddress": mac},
            "Options": PORTS}


def ids(endpoint_id: str = EP, network_id: str = NET) -> dict[str, str]:
    return {"NetworkID": network_id, "EndpointID": endpoint_id}


def run(state: DriverState,
        *calls: tuple[Endpoint, dict[str, Any]]) -> tuple[DriverState, LinkPlan]:
    plan = LinkPlan(state=state, response=None)
    for method, request in calls:
        plan = DRIVER.plan(method, state, request)
        state = plan.state
    return state, plan


def with_endpoint(**endpoint: Any) -> DriverState:
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()),
                   (Endpoint.CREATE_ENDPOINT, create_endpoint(**endpoint)))
    return state


# -- answers that need no state ---------------------------------------------------------------


def test_handlers_cover_every_network_driver_endpoint_of_the_rows() -> None:
    expected = {e for e in dockerd.Endpoint if e.interface == "NetworkDriver"}
    assert set(HANDLERS) == expected


@pytest.mark.parametrize(("method", "answer"), [
    (Endpoint.NET_GET_CAPABILITIES, {"Scope": "local", "ConnectivityScope": "local"}),
    (Endpoint.GW_ALLOC_CHECK, {"SkipIPv4": False, "SkipIPv6": False}),
    (Endpoint.ALLOCATE_NETWORK, {"Options": {}}),
    (Endpoint.FREE_NETWORK, {}),
    (Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY, {}),
    (Endpoint.REVOKE_EXTERNAL_CONNECTIVITY, {}),
    (Endpoint.DISCOVER_NEW, {}),
    (Endpoint.DISCOVER_DELETE, {}),
])
def test_fixed_answers_leave_the_state_alone(method: Endpoint, answer: object) -> None:
    state = with_endpoint()
    plan = DRIVER.plan(method, state, ids())
    assert plan.response == answer
    assert plan.state is state and plan.setup == plan.teardown == ()
    assert set(FIXED_ANSWERS) <= set(HANDLERS)


# -- networks -------------------------------------------------------------------------------


def test_create_network_plans_a_marked_bridge_with_the_gateway() -> None:
    plan = DRIVER.plan(Endpoint.CREATE_NETWORK, DriverState(), create_network())
    assert plan.response == {}
    (bridge,) = plan.setup
    assert isinstance(bridge, AddBridge)
    assert bridge.name == NAMING.link_name("bridge", NET[:8])
    assert len(bridge.name) <= LINK_NAME_MAX and NAMING.owns(bridge.name, bridge.marker)
    assert bridge.marker == f"ipamx-spy:bridge:{NET}:ipamx"
    assert bridge.addresses == ("10.4.4.1/24",)  # the aux address is not the bridge's
    assert plan.state.networks[NET].bridge == bridge.name


def test_dual_stack_network_puts_both_gateways_on_the_bridge() -> None:
    body = create_network(IPv6Data=[{"AddressSpace": "LocalDefault", "Gateway": "fd99:1:2:3::7/64",
                                     "Pool": "fd99:1:2:3::/64"}])
    (bridge,) = DRIVER.plan(Endpoint.CREATE_NETWORK, DriverState(), body).setup
    assert isinstance(bridge, AddBridge)
    assert bridge.addresses == ("10.4.4.1/24", "fd99:1:2:3::7/64")


def test_a_network_without_gateway_gets_a_bare_bridge_and_no_join_gateway() -> None:
    body = create_network(IPv4Data=[{"AddressSpace": "LocalDefault", "Pool": "10.4.4.0/24"}])
    state, plan = run(DriverState(), (Endpoint.CREATE_NETWORK, body),
                      (Endpoint.CREATE_ENDPOINT, create_endpoint()), (Endpoint.JOIN, ids()))
    assert state.networks[NET].bridge_addresses == ()
    assert plan.response["Gateway"] == ""


@pytest.mark.parametrize(("change", "complaint"), [
    ({"IPv4Data": [{"Pool": "10.4.4.0/33", "Gateway": "10.4.4.1/24"}]}, "IPv4Data[0].Pool"),
    ({"IPv4Data": [{"Pool": "10.4.4.0/24", "Gateway": "10.9.9.1/24"}]}, "IPv4Data[0].Gateway"),
    ({"IPv4Data": [{"Pool": "10.4.4.0/24", "Gateway": "10.4.4.1"}]}, "address/length"),
    ({"IPv4Data": [{"Pool": "fd00::/64"}]}, "not an IPv4 pool"),
    ({"IPv6Data": "fd00::/64"}, "IPv6Data must be a list"),
    ({"NetworkID": ""}, "no NetworkID"),
    # what Go's net.ParseCIDR refuses although Python's ipaddress reads it (issue #12, G2)
    ({"IPv4Data": [{"Pool": "10.4.4.0/255.255.255.0"}]}, "IPv4Data[0].Pool"),
    ({"IPv4Data": [{"Pool": "10.4.4.0"}]}, "IPv4Data[0].Pool"),
    ({"IPv6Data": [{"Pool": "fd00::/64", "Gateway": "fd00::1%eth0/64"}]}, "IPv6Data[0].Gateway"),
    ({"IPv4Data": [{"Pool": "10.4.4.0/24", "Gateway": "10.4.4.1/ 24"}]}, "IPv4Data[0].Gateway"),
])
def test_create_network_refuses_malformed_requests(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(Refusal, match=re.escape(complaint)):
        DRIVER.plan(Endpoint.CREATE_NETWORK, DriverState(), create_network(**change))


def test_create_network_twice_is_refused() -> None:
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()))
    with pytest.raises(Refusal, match=f"network {NET[:12]} already exists"):
        DRIVER.plan(Endpoint.CREATE_NETWORK, state, create_network())


def test_delete_network_removes_the_bridge_after_any_leftover_endpoint() -> None:
    state = with_endpoint()
    plan = DRIVER.plan(Endpoint.DELETE_NETWORK, state, {"NetworkID": NET})
    host = state.endpoints[EP].host_veth
    assert plan.teardown == (DeleteLink(name=host), DeleteLink(name=state.networks[NET].bridge))
    assert plan.setup == () and plan.response == {}
    assert plan.state == DriverState()


def test_unknown_network_is_refused_with_its_id() -> None:
    for method, body in ((Endpoint.DELETE_NETWORK, {"NetworkID": NET}),
                         (Endpoint.CREATE_ENDPOINT, create_endpoint())):
        with pytest.raises(Refusal, match=f"unknown network {NET[:12]}"):
            DRIVER.plan(method, DriverState(), body)


# -- endpoints ------------------------------------------------------------------------------


def test_create_endpoint_generates_a_mac_and_reports_only_that() -> None:
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()))
    plan = DRIVER.plan(Endpoint.CREATE_ENDPOINT, state, create_endpoint())
    mac = plan.state.endpoints[EP].mac
    assert plan.response == {"Interface": {"MacAddress": mac}}  # never Address: dockerd set it
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast
    (veth,) = plan.setup
    assert isinstance(veth, AddVeth)
    assert (veth.mac, veth.bridge) == (mac, state.networks[NET].bridge)
    assert {len(veth.host), len(veth.container)} == {LINK_NAME_MAX}
    assert NAMING.owns(veth.host, veth.host_marker)
    assert NAMING.owns(veth.container, veth.container_marker)


def test_create_endpoint_keeps_the_mac_dockerd_gave_and_changes_nothing() -> None:
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()))
    plan = DRIVER.plan(Endpoint.CREATE_ENDPOINT, state, create_endpoint(mac="7A-1F-3C-00-12-9E"))
    assert plan.response == {"Interface": None}
    assert plan.state.endpoints[EP].mac == "7a:1f:3c:00:12:9e"


def test_create_endpoint_reads_keys_case_insensitively_like_go() -> None:
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()))
    body = {"networkid": NET, "endpointid": EP,
            "interface": {"address": "10.4.4.9/24", "macaddress": "02:00:00:00:00:09"}}
    plan = DRIVER.plan(Endpoint.CREATE_ENDPOINT, state, body)
    assert plan.response == {"Interface": None}
    assert plan.state.endpoints[EP].address == "10.4.4.9/24"


@pytest.mark.parametrize(("given", "kept"), [
    ("aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"), ("AA-BB-CC-DD-EE-0F", "aa:bb:cc:dd:ee:0f")])
def test_create_endpoint_reads_the_mac_as_go_parsemac_does(given: str, kept: str) -> None:
    """dockerd hands the driver ``HardwareAddr.String()`` (colons); a driver reading it with Go's
    ``net.ParseMAC`` also takes the hyphen and dotted forms (issue #12, G2)."""
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()))
    plan = DRIVER.plan(Endpoint.CREATE_ENDPOINT, state, create_endpoint(mac=given))
    assert plan.state.endpoints[EP].mac == kept


@pytest.mark.parametrize(("interface", "complaint"), [
    ({"MacAddress": "02:00:00:00:00"}, "6-byte Ethernet address"),
    ({"MacAddress": "02:00:00:00:00:00:00:01"}, "is 8 bytes long"),
    ({"MacAddress": " 02:00:00:00:00:01"}, "not a MAC address"),
    ({"Address": "10.4.4.21/255.255.255.0"}, "Interface.Address"),
    ({"Address": "10.4.4.21"}, "Interface.Address"),
    ("eth0", "Interface must be an object"),
])
def test_create_endpoint_refuses_a_malformed_interface(interface: object, complaint: str) -> None:
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network()))
    body = {**create_endpoint(), "Interface": interface}
    with pytest.raises(Refusal, match=complaint):
        DRIVER.plan(Endpoint.CREATE_ENDPOINT, state, body)


def test_create_endpoint_twice_is_refused() -> None:
    with pytest.raises(Refusal, match=f"endpoint {EP[:12]} already exists"):
        DRIVER.plan(Endpoint.CREATE_ENDPOINT, with_endpoint(), create_endpoint())


def test_endpoint_ids_sharing_a_prefix_get_different_link_names() -> None:
    twin = EP[:8] + "ff" * 28
    state = with_endpoint()
    plan = DRIVER.plan(Endpoint.CREATE_ENDPOINT, state, create_endpoint(endpoint_id=twin))
    first, second = state.endpoints[EP], plan.state.endpoints[twin]
    assert first.host_veth != second.host_veth and first.container_veth != second.container_veth
    assert second.host_veth.endswith(twin[8:16])


def test_join_hands_over_the_container_end_and_the_gateway() -> None:
    state = with_endpoint()
    key = "/var/run/docker/netns/90e8be181597"
    plan = DRIVER.plan(Endpoint.JOIN, state, {**ids(), "SandboxKey": key, "Options": PORTS})
    assert plan.response == {
        "InterfaceName": {"SrcName": state.endpoints[EP].container_veth, "DstPrefix": "eth"},
        "Gateway": "10.4.4.1", "GatewayIPv6": "", "DisableGatewayService": False}
    assert plan.state.endpoints[EP].sandbox == key and plan.setup == plan.teardown == ()


def test_join_gives_the_ipv6_gateway_only_to_an_endpoint_with_an_ipv6_address() -> None:
    v6 = [{"AddressSpace": "LocalDefault", "Gateway": "fd99::1/64", "Pool": "fd99::/64"}]
    state, _ = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network(IPv6Data=v6)))
    both, _ = run(state, (Endpoint.CREATE_ENDPOINT, create_endpoint(address6="fd99::21/64")))
    only4, _ = run(state, (Endpoint.CREATE_ENDPOINT, create_endpoint()))
    assert DRIVER.plan(Endpoint.JOIN, both, ids()).response["GatewayIPv6"] == "fd99::1"
    assert DRIVER.plan(Endpoint.JOIN, only4, ids()).response["GatewayIPv6"] == ""


def test_join_picks_the_gateway_of_the_pool_holding_the_address() -> None:
    pools = [{"Gateway": "10.4.4.1/24", "Pool": "10.4.4.0/24"},
             {"Gateway": "10.5.5.254/24", "Pool": "10.5.5.0/24"}]
    state, plan = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network(IPv4Data=pools)),
                      (Endpoint.CREATE_ENDPOINT, create_endpoint(address="10.5.5.7/24")),
                      (Endpoint.JOIN, ids()))
    assert plan.response["Gateway"] == "10.5.5.254"
    assert state.networks[NET].bridge_addresses == ("10.4.4.1/24", "10.5.5.254/24")


def test_join_on_an_internal_network_gives_no_gateway() -> None:
    options = {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": {},
               "com.docker.network.internal": True}
    _, plan = run(DriverState(), (Endpoint.CREATE_NETWORK, create_network(Options=options)),
                  (Endpoint.CREATE_ENDPOINT, create_endpoint()), (Endpoint.JOIN, ids()))
    assert (plan.response["Gateway"], plan.response["GatewayIPv6"]) == ("", "")


def test_endpoint_oper_info_reports_links_as_strings() -> None:
    state, _ = run(with_endpoint(), (Endpoint.JOIN, {**ids(), "SandboxKey": "/run/docker/netns/x"}))
    value = DRIVER.plan(Endpoint.ENDPOINT_OPER_INFO, state, ids()).response["Value"]
    endpoint = state.endpoints[EP]
    assert value == {"bridge": state.networks[NET].bridge, "host_veth": endpoint.host_veth,
                     "container_veth": endpoint.container_veth, "mac_address": endpoint.mac,
                     "sandbox": "/run/docker/netns/x"}


def test_leave_forgets_the_sandbox_and_delete_endpoint_removes_the_veth() -> None:
    state, leave = run(with_endpoint(), (Endpoint.JOIN, {**ids(), "SandboxKey": "/x"}),
                       (Endpoint.LEAVE, ids()))
    assert leave.response == {} and state.endpoints[EP].sandbox == ""
    plan = DRIVER.plan(Endpoint.DELETE_ENDPOINT, state, ids())
    assert plan.teardown == (DeleteLink(name=state.endpoints[EP].host_veth),)
    assert EP not in plan.state.endpoints and NET in plan.state.networks


@pytest.mark.parametrize("method", [Endpoint.JOIN, Endpoint.LEAVE, Endpoint.DELETE_ENDPOINT,
                                    Endpoint.ENDPOINT_OPER_INFO])
def test_endpoint_calls_refuse_unknown_or_mismatched_endpoints(method: Endpoint) -> None:
    state = with_endpoint()
    with pytest.raises(Refusal, match=f"unknown endpoint {EP2[:12]} on network {NET[:12]}"):
        DRIVER.plan(method, state, ids(endpoint_id=EP2))
    with pytest.raises(Refusal, match=f"belongs to network {NET[:12]}, not {NET2[:12]}"):
        DRIVER.plan(method, state, ids(network_id=NET2))


# -- undo and reconcile ---------------------------------------------------------------------


def test_undo_deletes_what_setup_made_newest_first() -> None:
    bridge = AddBridge(name="b", marker="m")
    veth = AddVeth(host="h", container="c", bridge="b", mac="02:00:00:00:00:01",
                   host_marker="m", container_marker="m")
    assert undo((bridge, veth, DeleteLink(name="x"))) == (DeleteLink(name="h"),
                                                          DeleteLink(name="b"))


def test_reconcile_deletes_only_our_unclaimed_links_and_restores_bridges() -> None:
    state = with_endpoint()
    network, endpoint = state.networks[NET], state.endpoints[EP]
    stray_bridge = NAMING.link_name("bridge", "0badcafe")
    crashed = NAMING.link_name("host", "00000000")  # made, not yet labelled, then killed
    other = Naming.for_plugin("other")
    observed = (
        ObservedLink(name="lo"), ObservedLink(name="eth0"), ObservedLink(name="docker0"),
        ObservedLink(name=endpoint.host_veth, alias=NAMING.marker("host", EP)),
        ObservedLink(name=stray_bridge, alias=NAMING.marker("bridge", "gone")),
        ObservedLink(name=crashed),
        ObservedLink(name=other.link_name("bridge", "12345678"),
                     alias=other.marker("bridge", "n")),
        ObservedLink(name=NAMING.link_name("bridge", "87654321"), alias="someone else's"),
    )
    actions = reconcile(NAMING, state, observed)
    assert actions == (
        DeleteLink(name=stray_bridge), DeleteLink(name=crashed),
        AddBridge(name=network.bridge, marker=NAMING.marker("bridge", NET),
                  addresses=("10.4.4.1/24",)),
    )


def test_reconcile_of_an_empty_state_removes_every_link_of_ours() -> None:
    names = [NAMING.link_name(role, "abcdef01") for role in ("bridge", "host", "container")]
    observed = [ObservedLink(name=n, alias=NAMING.marker("bridge", "x")) for n in names]
    assert reconcile(NAMING, DriverState(), observed) == tuple(DeleteLink(name=n) for n in names)
