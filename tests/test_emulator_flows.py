"""The emulator's sans-IO flows, driven by a plain loop against the in-memory probe plugin."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.app import Reply
from ipamx_spy.dockerd.versions import VERSION_ROWS
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.core import Call, CallAnswer, call_answer
from ipamx_spy.emulator.daemon import CommandOutcome, Daemon
from ipamx_spy.emulator.model import EmulatedEndpoint, EmulatedNetwork, Sandbox, less
from ipamx_spy.emulator.probe import ProbePlugin

Responder = Callable[[Call], CallAnswer]

TALK = """
docker network create --ipam-driver ipamx --subnet 10.4.4.0/24 talknet
docker run -d --name c1 --net talknet --ip 10.4.4.21 bb sleep 1000
docker run -d --name c2 --net talknet bb sleep 1000
docker stop c1
docker stop c2
docker network rm talknet
"""


def by_plugin(plugin: ProbePlugin, major: int = 20) -> Responder:
    def respond(call: Call) -> CallAnswer:
        reply = plugin.handle(call.endpoint, call.body)
        return call_answer(call.endpoint, reply.status, reply.body, major=major)
    return respond


def run(text: str, respond: Responder | None = None, version: str = "20.10",
        **options: object) -> tuple[list[Call], list[CommandOutcome]]:
    daemon = Daemon(VERSION_ROWS[version], rng=random.Random(0), **options)  # type: ignore[arg-type]
    respond = respond or by_plugin(ProbePlugin(), daemon.version.major)
    calls: list[Call] = []
    outcomes: list[CommandOutcome] = []
    for step in scenario.parse(text):
        flow = daemon.play(step)
        try:
            call = next(flow)
            while True:
                calls.append(call)
                call = flow.send(respond(call))
        except StopIteration as stop:
            outcomes.append(stop.value)
    return calls, outcomes


def names(calls: list[Call]) -> list[str]:
    return [c.endpoint.split(".")[1] for c in calls]


def body(call: Call) -> dict[str, object]:
    value = json.loads(call.body)
    assert isinstance(value, dict)
    return value


def fail(status: int, text: str) -> Reply:
    return Reply(status=status, body=text.encode())


def test_talk_on_20_10() -> None:
    calls, outcomes = run(TALK)
    assert names(calls) == [
        "Activate", "GetCapabilities", "GetCapabilities", "GetDefaultAddressSpaces",
        "RequestPool", "RequestAddress", "RequestAddress", "RequestAddress",
        "ReleaseAddress", "ReleaseAddress", "ReleaseAddress", "ReleasePool"]
    assert body(calls[6]) == {"PoolID": "probe/10.4.4.0/24", "Address": "10.4.4.21",
                              "Options": None}
    assert [o.exit_code for o in outcomes] == [0] * 6
    assert outcomes[3].stdout == ("c1",) and len(outcomes[0].stdout[0]) == 64


def test_v27_asks_for_address_spaces_per_create_and_per_pool() -> None:
    calls, _ = run(TALK, version="27")
    assert names(calls)[:7] == ["Activate", "GetCapabilities", "GetCapabilities",
                                "GetDefaultAddressSpaces", "GetDefaultAddressSpaces",
                                "RequestPool", "RequestAddress"]


def test_v29_names_the_endpoint_and_sends_enable_ipv4() -> None:
    plugin = ProbePlugin(faults={"NetworkDriver.GetCapabilities": [Reply.json(
        200, {"Scope": "local", "GwAllocChecker": True})]})
    calls, _ = run("docker network create -d ipamx --ipam-driver ipamx --subnet 10.7.0.0/24 n\n"
                   "docker run -d --name web --net n bb", by_plugin(plugin, 29), version="29")
    check = next(c for c in calls if c.endpoint == "NetworkDriver.GwAllocCheck")
    assert body(check) == {"Options": {"com.docker.network.enable_ipv4": True,
                                       "com.docker.network.enable_ipv6": False,
                                       "com.docker.network.generic": {}}}
    container = [c for c in calls if c.endpoint == "IpamDriver.RequestAddress"][-1]
    assert body(container)["Options"] == {"com.docker.network.endpoint.name": "web"}


def test_transport_failures_retry_with_dockerds_backoff_and_empty_body() -> None:
    def hang_up(call: Call) -> CallAnswer:
        if call.endpoint == "IpamDriver.RequestPool":
            return CallAnswer.unreachable("EOF", sent=True)
        return by_plugin(ProbePlugin())(call)

    calls, outcomes = run("docker network create --ipam-driver ipamx --subnet 10.4.4.0/24 n",
                          hang_up, version="27")
    pools = [c for c in calls if c.endpoint == "IpamDriver.RequestPool"]
    assert [c.delay_s for c in pools] == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert pools[0].body and not any(c.body for c in pools[1:])
    assert outcomes[0].stderr == ('Error response from daemon: Post '
                                  '"http://plugin.moby.localhost/IpamDriver.RequestPool": EOF',)


def test_dial_failures_keep_the_body() -> None:
    def refuse(call: Call) -> CallAnswer:
        return CallAnswer.unreachable("dial unix /x.sock: connect: connection refused", sent=False)

    calls, outcomes = run("docker network create --ipam-driver ipamx n", refuse,
                          url_host="%2Fx.sock")
    assert len(calls) == 5 and all(c.endpoint == "Plugin.Activate" for c in calls)
    assert outcomes[0].stderr[0].startswith(
        'Error response from daemon: legacy plugin: Post "http://%2Fx.sock/Plugin.Activate": '
        "dial unix")


def test_create_network_failure_releases_gateway_aux_and_pool() -> None:
    plugin = ProbePlugin(faults={"NetworkDriver.CreateNetwork": [
        Reply.json(200, {"Err": "nope"})]})
    calls, outcomes = run("docker network create -d ipamx --ipam-driver ipamx --subnet "
                          "10.21.0.0/24 --aux-address a=10.21.0.7 bad", by_plugin(plugin))
    assert names(calls)[-4:] == ["CreateNetwork", "ReleaseAddress", "ReleaseAddress",
                                 "ReleasePool"]
    assert [body(c).get("Address") for c in calls[-3:-1]] == ["10.21.0.1", "10.21.0.7"]
    assert outcomes[0].stderr == ("Error response from daemon: remote: nope",)


def test_ipv6_failure_releases_the_ipv4_side() -> None:
    plugin = ProbePlugin(faults={"IpamDriver.RequestAddress": [
        Reply.json(200, {"Address": "10.1.0.1/24"}), fail(500, '{"Err":"no v6 gateway"}')]})
    calls, outcomes = run("docker network create --ipam-driver ipamx --ipv6 --subnet "
                          "10.1.0.0/24 --subnet fd01::/64 n", by_plugin(plugin))
    assert names(calls)[-4:] == ["RequestAddress", "ReleasePool", "ReleaseAddress",
                                 "ReleasePool"]
    assert body(calls[-3]) == {"PoolID": "probe/fd01::/64"}
    assert outcomes[0].stderr == ("Error response from daemon: failed to allocate gateway (): "
                                  "IpamDriver.RequestAddress: no v6 gateway",)


def test_pools_overlapping_host_routes_are_held_and_asked_again() -> None:
    calls, _ = run("docker network create --ipam-driver ipamx n",
                   reserved=("10.250.1.0/24", "192.168.0.0/16"))
    assert names(calls)[4:8] == ["RequestPool", "RequestPool", "ReleasePool", "RequestAddress"]
    assert body(calls[6]) == {"PoolID": "probe/10.250.1.0/24"}
    assert body(calls[7])["PoolID"] == "probe/10.250.2.0/24"


def test_pools_held_for_overlaps_are_released_last_first_on_20_10_only() -> None:
    """20.10.24 releases the held pools from a defer inside its retry loop (seen live with
    three host routes in 172.17-19.0.0/16); 25 and later release them in the order they came."""
    reserved = ("10.250.1.0/24", "10.250.2.0/24", "10.250.3.0/24")
    for version, order in (("20.10", ["3", "2", "1"]), ("26", ["1", "2", "3"]),
                           ("28", ["1", "2", "3"])):
        calls, _ = run("docker network create --ipam-driver ipamx n", version=version,
                       reserved=reserved)
        released = [str(body(c)["PoolID"]) for c in calls if c.endpoint == "IpamDriver.ReleasePool"]
        assert released == [f"probe/10.250.{n}.0/24" for n in order], version


def test_a_driver_that_changes_a_set_address_is_rolled_back() -> None:
    plugin = ProbePlugin(faults={"NetworkDriver.CreateEndpoint": [Reply.json(
        200, {"Interface": {"Address": "10.7.0.99/24"}})]})
    calls, outcomes = run("docker network create -d ipamx --ipam-driver ipamx --subnet "
                          "10.7.0.0/24 n\ndocker run -d --name c --net n bb", by_plugin(plugin))
    assert names(calls)[-3:] == ["CreateEndpoint", "DeleteEndpoint", "ReleaseAddress"]
    assert outcomes[1].exit_code == 125 and outcomes[1].stderr[0] == (
        "docker: Error response from daemon: failed to create endpoint c on network n: driver "
        "modified interface address: endpoint interface IP present (10.7.0.2/24). Cannot be "
        "modified with (10.7.0.99/24).; rolled back")


def test_user_mac_and_required_mac() -> None:
    plugin = ProbePlugin(requires_mac=True)
    calls, _ = run("docker network create -d ipamx --ipam-driver ipamx --subnet 10.7.0.0/24 n\n"
                   "docker run -d --name a --net n --mac-address 02:42:AC:11:00:99 bb\n"
                   "docker run -d --name b --net n bb", by_plugin(plugin))
    created = [body(c) for c in calls if c.endpoint == "NetworkDriver.CreateEndpoint"]
    assert created[0]["Interface"]["MacAddress"] == "02:42:ac:11:00:99"  # type: ignore[index]
    assert created[0]["Options"]["com.docker.network.endpoint.macaddress"] == "AkKsEQCZ"  # type: ignore[index]
    generated = created[1]["Interface"]["MacAddress"]  # type: ignore[index]
    assert generated.startswith("02:42:") and "com.docker.network.endpoint.macaddress" not in \
        created[1]["Options"]  # type: ignore[operator]


def test_cli_messages() -> None:
    _, outcomes = run("docker network create --ipam-driver ipamx --subnet 10.4.4.0/24 n\n"
                      "docker run -d --name c --net n bb\n"
                      "docker network rm n\n"
                      "docker rm c\n"
                      "docker stop nothere\n"
                      "docker network create --ipam-driver ipamx --gateway 10.0.0.1 m\n"
                      "docker network create --ipam-driver ipamx --subnet 10.4.5.0/24 n\n")
    assert outcomes[2].stderr[0].startswith(
        "Error response from daemon: error while removing network: network n id ")
    assert outcomes[3].stderr[0].startswith("Error response from daemon: You cannot remove a "
                                            "running container")
    assert outcomes[4].stderr == ("Error response from daemon: No such container: nothere",)
    assert outcomes[5].stderr == ("Error response from daemon: every ip-range or gateway must "
                                  "have a corresponding subnet",)
    assert outcomes[6].stderr == ("Error response from daemon: network with name n already "
                                  "exists",)


def test_a_plugin_without_the_interface_is_refused() -> None:
    plugin = ProbePlugin(implements=("IpamDriver",))
    _, outcomes = run("docker network create -d ipamx n", by_plugin(plugin))
    assert outcomes[0].stderr == ("Error response from daemon: Plugin does not implement the "
                                  "requested driver",)


def _endpoint(name: str, *, internal: bool = False, gw4: str = "", gw6: str = "",
              gwnet: bool = False) -> EmulatedEndpoint:
    network = EmulatedNetwork(id=name, name=name, driver="x", ipam_driver="x", remote_driver=True,
                              remote_ipam=True, internal=internal)
    return EmulatedEndpoint(id=name, name="c", network=network, gw4=gw4, gw6=gw6, gwnet=gwnet,
                            joined=True)


def test_sandbox_order_follows_libnetwork() -> None:
    sb = Sandbox()
    for ep in (_endpoint("zz", gw4="1"), _endpoint("in", internal=True),
               _endpoint("gw", gwnet=True), _endpoint("aa", gw4="2"),
               _endpoint("dual", gw4="3", gw6="4")):
        sb.push(ep)
    # a heap array, not a sorted list: dockerd walks it in this order
    assert [e.network.name for e in sb.ordered()] == ["dual", "aa", "gw", "in", "zz"]
    assert sb.gateway_endpoint() is sb.ordered()[0]
    sb.remove(sb.ordered()[0])
    assert [e.network.name for e in sb.ordered()] == ["aa", "zz", "gw", "in"]


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 7)), max_size=30))
def test_sandbox_heap_invariant(operations: list[tuple[bool, int]]) -> None:
    sb = Sandbox()
    pool = [_endpoint(f"n{i}", internal=i == 5, gw4="1" if i % 2 else "", gwnet=i == 7)
            for i in range(8)]
    for push, index in operations:
        ep = pool[index]
        if push and ep not in sb.endpoints:
            sb.push(ep)
        elif not push and ep in sb.endpoints:
            sb.remove(ep)
        heap = sb.endpoints
        assert all(not less(heap[i], heap[(i - 1) // 2]) for i in range(1, len(heap)))
