"""The network driver's state values and their JSON form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.netdriver.model import (
    DriverEndpoint,
    DriverState,
    Network,
    Subnet,
    state_from_json,
    state_to_json,
)

IDS = st.text("0123456789abcdef", min_size=1, max_size=64)
TEXT = st.text(max_size=20)


@st.composite
def states(draw: st.DrawFn) -> DriverState:
    subnets = st.lists(st.builds(Subnet, pool=TEXT, gateway=TEXT), max_size=2).map(tuple)
    networks = draw(st.lists(st.builds(Network, network_id=IDS, bridge=TEXT, ipv4=subnets,
                                       ipv6=subnets, internal=st.booleans()), max_size=3))
    state = DriverState(networks={n.network_id: n for n in networks})
    for network in state.networks.values():
        for endpoint_id in draw(st.lists(IDS, max_size=2)):
            state = state.with_endpoint(DriverEndpoint(
                endpoint_id=endpoint_id, network_id=network.network_id, host_veth=draw(TEXT),
                container_veth=draw(TEXT), mac=draw(TEXT), address=draw(TEXT),
                address6=draw(TEXT), sandbox=draw(TEXT)))
    return state


@given(states())
def test_the_state_survives_its_json_form(state: DriverState) -> None:
    stored = json.loads(json.dumps(state_to_json(state, "ipamx")))
    assert state_from_json(stored) == state
    assert state_to_json(state_from_json(stored), "ipamx") == stored


@pytest.mark.parametrize(("data", "complaint"), [
    ([], "not an ipamx-spy network-driver state"),
    ({"format": "ipamx-spy-state", "version": 1}, "not an ipamx-spy network-driver state"),
    ({"format": "ipamx-spy-network-state", "version": 2}, "version 2 is not supported"),
    ({"format": "ipamx-spy-network-state", "version": 1, "networks": [{"bridge": "b"}]},
     "malformed entry"),
    ({"format": "ipamx-spy-network-state", "version": 1, "endpoints": [
        {"endpoint_id": "e", "network_id": "n", "host_veth": "h", "container_veth": "c",
         "mac": "02:00:00:00:00:01"}]}, "endpoints of unknown networks"),
])
def test_a_broken_state_is_refused_with_the_reason(data: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        state_from_json(data)


def test_removing_a_network_removes_its_endpoints_only() -> None:
    state = DriverState()
    for network_id in ("n1", "n2"):
        state = state.with_network(Network(network_id=network_id, bridge=f"br{network_id}"))
        state = state.with_endpoint(DriverEndpoint(endpoint_id=f"e{network_id}",
                                                   network_id=network_id,
                                                   host_veth=f"h{network_id}",
                                                   container_veth=f"c{network_id}", mac="m"))
    after = state.without_network("n1")
    assert set(after.networks) == {"n2"} and set(after.endpoints) == {"en2"}
    assert after.link_names() == {"brn2", "hn2", "cn2"}
    assert state.endpoints_of("n1") == (state.endpoints["en1"],)


def test_gateway_for_prefers_the_pool_holding_the_address() -> None:
    network = Network(network_id="n", bridge="b", ipv4=(
        Subnet(pool="10.1.0.0/24"), Subnet(pool="10.2.0.0/24", gateway="10.2.0.1/24"),
        Subnet(pool="10.3.0.0/24", gateway="10.3.0.9/24")))
    assert network.gateway_for("10.3.0.5/24", network.ipv4) == "10.3.0.9"
    assert network.gateway_for("10.1.0.5/24", network.ipv4) == "10.2.0.1"  # first with one
    assert network.gateway_for("", network.ipv4) == ""
    assert Network(network_id="n", bridge="b").gateway_for("10.1.0.5/24", ()) == ""
