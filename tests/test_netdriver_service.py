"""NetworkService over a fake kernel: order of link changes, state saves and answers.

The real netlink layer is tested in test_netdriver_netlink.py (root, private namespace); here a
small in-memory kernel stands in for it so that failures can be injected anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ipamx_spy import dockerd
from ipamx_spy.app import BuiltinPlugin, PluginError
from ipamx_spy.builtin import BuiltinConfig
from ipamx_spy.dockerd import Endpoint
from ipamx_spy.netdriver.core import Action, AddBridge, AddVeth, DeleteLink, ObservedLink
from ipamx_spy.netdriver.links import NetlinkFailure
from ipamx_spy.netdriver.model import DriverState
from ipamx_spy.netdriver.naming import Naming
from ipamx_spy.netdriver.service import NetworkService
from ipamx_spy.netdriver.store import FileStore

NET = "39f13c07" + "0123456789abcdef" * 3 + "01234567"
EP = "f89f853e" + "00112233445566778899aabbccddeeff" + "0011223344556677"
NAMING = Naming.for_plugin("ipamx")


@dataclass
class FakeLink:
    kind: str
    alias: str = ""
    peer: str = ""
    master: str = ""
    mac: str = ""
    addresses: set[str] = field(default_factory=set)
    up: bool = False


@dataclass
class FakeKernel:
    """Links by name, with the semantics the netlink layer promises (links.py)."""

    links: dict[str, FakeLink] = field(default_factory=lambda: {"lo": FakeLink(kind="")})
    refuse: set[str] = field(default_factory=set)  # creating or deleting these fails
    fail_after_create: set[str] = field(default_factory=set)  # created, then the next step fails
    applied: list[Action] = field(default_factory=list)

    def observe(self) -> tuple[ObservedLink, ...]:
        return tuple(ObservedLink(name=n, alias=link.alias, kind=link.kind)
                     for n, link in self.links.items())

    def apply(self, actions: Sequence[Action]) -> None:
        for done, action in enumerate(actions):
            self.applied.append(action)
            try:
                self._apply(action)
            except NetlinkFailure as exc:
                raise NetlinkFailure(str(exc), exc.code, done) from None

    def _apply(self, action: Action) -> None:
        if isinstance(action, AddBridge):
            self._bridge(action)
        elif isinstance(action, AddVeth):
            self._veth(action)
        else:
            self._delete(action)

    def close(self) -> None:
        return None

    def _check(self, name: str, what: str) -> None:
        if name in self.refuse:
            raise NetlinkFailure(f"netlink: cannot {what}: Operation not permitted (EPERM)", 1)

    def _bridge(self, action: AddBridge) -> None:
        self._check(action.name, action.describe())
        link = self.links.setdefault(action.name, FakeLink(kind="bridge", alias=action.marker))
        if link.alias != action.marker:
            raise NetlinkFailure(f"netlink: {action.name} is not ours", 17)
        link.addresses |= set(action.addresses)
        link.up = True

    def _veth(self, action: AddVeth) -> None:
        self._check(action.host, action.describe())
        if action.bridge not in self.links or {action.host, action.container} & set(self.links):
            raise NetlinkFailure(f"netlink: cannot {action.describe()}: File exists", 17)
        self.links[action.host] = FakeLink(kind="veth", peer=action.container)
        self.links[action.container] = FakeLink(kind="veth", peer=action.host, mac=action.mac)
        if action.host in self.fail_after_create:  # the layer removes what it just made
            self._delete(DeleteLink(name=action.host))
            raise NetlinkFailure(f"netlink: cannot {action.describe()}: Invalid argument", 22)
        self.links[action.host].alias = action.host_marker
        self.links[action.container].alias = action.container_marker
        self.links[action.host].master = action.bridge
        self.links[action.host].up = True

    def _delete(self, action: DeleteLink) -> None:
        self._check(action.name, action.describe())
        link = self.links.pop(action.name, None)
        if link is not None and link.peer:
            self.links.pop(link.peer, None)

    @property
    def names(self) -> set[str]:
        return set(self.links) - {"lo"}


@dataclass
class CountingStore:
    """A store that survives service restarts, counts saves and can be told to fail."""

    saved: DriverState | None = None
    saves: int = 0
    failing: bool = False

    def load(self) -> DriverState | None:
        return self.saved

    def save(self, state: DriverState) -> None:
        if self.failing:
            raise OSError(28, "No space left on device")
        self.saves += 1
        self.saved = state


def service(kernel: FakeKernel, store: CountingStore | None = None,
            state_file: Path | None = None) -> NetworkService:
    return NetworkService(name="ipamx", state_file=state_file, links=kernel, store=store)


def create_network(network_id: str = NET) -> dict[str, Any]:
    return {"NetworkID": network_id,
            "Options": {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": {}},
            "IPv4Data": [{"AddressSpace": "LocalDefault", "Gateway": "10.4.4.1/24",
                          "Pool": "10.4.4.0/24"}], "IPv6Data": []}


def create_endpoint(endpoint_id: str = EP, network_id: str = NET) -> dict[str, Any]:
    return {"NetworkID": network_id, "EndpointID": endpoint_id,
            "Interface": {"Address": "10.4.4.21/24", "AddressIPv6": "", "MacAddress": ""},
            "Options": {}}


def ids(endpoint_id: str = EP, network_id: str = NET) -> dict[str, str]:
    return {"NetworkID": network_id, "EndpointID": endpoint_id}


# -- the Service contract -------------------------------------------------------------------


def test_routes_serve_every_network_driver_endpoint() -> None:
    svc = service(FakeKernel())
    expected = {e.name for e in dockerd.ALL_ROWS if e.interface == "NetworkDriver"}
    assert svc.interface == "NetworkDriver" and set(svc.routes()) == expected


def test_from_config_names_links_after_the_plugin_and_keeps_state_in_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeKernel()
    monkeypatch.setattr("ipamx_spy.netdriver.service.Netlink", lambda netns: kernel)
    path = tmp_path / "ipx.network.json"
    svc = NetworkService.from_config(BuiltinConfig(name="ipx", network_state=path,
                                                   network_driver=True))
    svc.call(Endpoint.CREATE_NETWORK, create_network())
    assert svc.naming == Naming.for_plugin("ipx")
    assert FileStore(path, "ipx").load() == svc.state


def test_in_the_builtin_plugin_refusals_reach_dockerd_as_err_in_a_200() -> None:
    plugin = BuiltinPlugin([service(FakeKernel())])
    assert plugin.handle("Plugin.Activate", b"").value == {"Implements": ["NetworkDriver"]}
    reply = plugin.handle("NetworkDriver.Join", json.dumps(ids()).encode())
    assert reply.status == 200
    assert dockerd.error_message("NetworkDriver.Join", reply.status, reply.value) == (
        f"remote: ipamx-spy: unknown endpoint {EP[:12]} on network {NET[:12]} "
        "(never created here, or already deleted)")


# -- ordering: links, state file, answer ----------------------------------------------------


def test_the_state_file_holds_each_change_before_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    kernel = FakeKernel()
    svc = service(kernel, state_file=path)
    for method, body in ((Endpoint.CREATE_NETWORK, create_network()),
                         (Endpoint.CREATE_ENDPOINT, create_endpoint()),
                         (Endpoint.JOIN, {**ids(), "SandboxKey": "/var/run/docker/netns/1"}),
                         (Endpoint.LEAVE, ids()), (Endpoint.DELETE_ENDPOINT, ids()),
                         (Endpoint.DELETE_NETWORK, {"NetworkID": NET})):
        svc.call(method, body)
        assert FileStore(path, "ipamx").load() == svc.state
        assert kernel.names == svc.state.link_names()
    assert kernel.names == set()


def test_answers_that_change_nothing_do_not_write_the_state() -> None:
    store = CountingStore()
    svc = service(FakeKernel(), store)
    svc.call(Endpoint.CREATE_NETWORK, create_network())
    svc.call(Endpoint.CREATE_ENDPOINT, create_endpoint())
    saves = store.saves
    for method in (Endpoint.NET_GET_CAPABILITIES, Endpoint.ENDPOINT_OPER_INFO,
                   Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY,
                   Endpoint.REVOKE_EXTERNAL_CONNECTIVITY, Endpoint.GW_ALLOC_CHECK):
        svc.call(method, ids())
    assert store.saves == saves == 2


def test_a_kernel_refusal_is_reported_and_changes_nothing() -> None:
    kernel = FakeKernel()
    store = CountingStore()
    svc = service(kernel, store)
    bridge = NAMING.link_name("bridge", NET[:8])
    kernel.refuse.add(bridge)
    with pytest.raises(PluginError, match=f"cannot create bridge {bridge}.*EPERM"):
        svc.call(Endpoint.CREATE_NETWORK, create_network())
    assert svc.state == DriverState() and store.saves == 0 and kernel.names == set()


def test_a_failed_veth_leaves_the_network_and_its_bridge_alone() -> None:
    kernel = FakeKernel()
    svc = service(kernel)
    svc.call(Endpoint.CREATE_NETWORK, create_network())
    before = svc.state
    kernel.fail_after_create.add(NAMING.link_name("host", EP[:8]))
    kernel.applied.clear()
    with pytest.raises(PluginError, match="cannot create veth pair.*Invalid argument"):
        svc.call(Endpoint.CREATE_ENDPOINT, create_endpoint())
    assert svc.state == before and kernel.names == before.link_names()
    assert [type(a) for a in kernel.applied] == [AddVeth]  # nothing else undone


def test_a_state_that_cannot_be_saved_takes_the_links_back() -> None:
    kernel = FakeKernel()
    store = CountingStore()
    svc = service(kernel, store)
    store.failing = True
    with pytest.raises(PluginError, match="cannot save the network-driver state: .*No space"):
        svc.call(Endpoint.CREATE_NETWORK, create_network())
    assert svc.state == DriverState() and kernel.names == set()


def test_a_failed_deletion_is_reported_and_forgotten_and_cleaned_at_the_next_start() -> None:
    kernel = FakeKernel()
    store = CountingStore()
    svc = service(kernel, store)
    svc.call(Endpoint.CREATE_NETWORK, create_network())
    bridge = svc.state.networks[NET].bridge
    kernel.refuse.add(bridge)
    with pytest.raises(PluginError, match="removed when the plugin next starts"):
        svc.call(Endpoint.DELETE_NETWORK, {"NetworkID": NET})
    assert svc.state == DriverState() == store.saved and kernel.names == {bridge}
    kernel.refuse.clear()
    service(kernel, store)
    assert kernel.names == set()


# -- restarts -------------------------------------------------------------------------------


def test_a_restart_keeps_what_the_state_claims_and_removes_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    kernel = FakeKernel()
    first = service(kernel, state_file=path)
    first.call(Endpoint.CREATE_NETWORK, create_network())
    first.call(Endpoint.CREATE_ENDPOINT, create_endpoint())
    stray = NAMING.link_name("bridge", "0badcafe")
    kernel.links[stray] = FakeLink(kind="bridge", alias=NAMING.marker("bridge", "0badcafe"))
    kernel.links["docker0"] = FakeLink(kind="bridge")
    foreign = Naming.for_plugin("other").link_name("bridge", "12345678")
    kernel.links[foreign] = FakeLink(kind="bridge", alias="ipamx-spy:bridge:x:other")

    second = service(kernel, state_file=path)
    assert second.state == first.state
    assert kernel.names == first.state.link_names() | {"docker0", foreign}
    assert DeleteLink(name=stray) in second.startup_actions
    join = second.call(Endpoint.JOIN, {**ids(), "SandboxKey": "/var/run/docker/netns/1"})
    assert join["InterfaceName"]["SrcName"] == second.state.endpoints[EP].container_veth


def test_a_restart_after_a_reboot_recreates_the_bridges(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    service(FakeKernel(), state_file=path).call(Endpoint.CREATE_NETWORK, create_network())
    rebooted = FakeKernel()
    svc = service(rebooted, state_file=path)
    bridge = rebooted.links[svc.state.networks[NET].bridge]
    assert bridge.up and bridge.addresses == {"10.4.4.1/24"}


def test_an_in_memory_driver_removes_everything_it_made_when_it_restarts() -> None:
    kernel = FakeKernel()
    first = service(kernel)
    first.call(Endpoint.CREATE_NETWORK, create_network())
    first.call(Endpoint.CREATE_ENDPOINT, create_endpoint())
    assert kernel.names
    service(kernel)
    assert kernel.names == set()


# -- any sequence of calls keeps the kernel and the state in step ---------------------------

NETWORK_IDS = st.sampled_from([NET, "7c1d0e55" + "a" * 56, "n3"])
ENDPOINT_IDS = st.sampled_from([EP, EP[:8] + "b" * 56, "e3", "e4"])


class DriverMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.kernel = FakeKernel()
        self.store = CountingStore()
        self.svc = service(self.kernel, self.store)

    def _call(self, method: Endpoint, body: dict[str, Any]) -> None:
        try:
            self.svc.call(method, body)
        except PluginError as exc:
            assert exc.message.startswith("ipamx-spy: ")
            assert any(why in exc.message for why in ("unknown", "already exists", "belongs to"))

    @rule(network_id=NETWORK_IDS)
    def create_network(self, network_id: str) -> None:
        self._call(Endpoint.CREATE_NETWORK, create_network(network_id))

    @rule(network_id=NETWORK_IDS)
    def delete_network(self, network_id: str) -> None:
        self._call(Endpoint.DELETE_NETWORK, {"NetworkID": network_id})

    @rule(endpoint_id=ENDPOINT_IDS, network_id=NETWORK_IDS)
    def create_endpoint(self, endpoint_id: str, network_id: str) -> None:
        self._call(Endpoint.CREATE_ENDPOINT, create_endpoint(endpoint_id, network_id))

    @rule(endpoint_id=ENDPOINT_IDS, network_id=NETWORK_IDS,
          method=st.sampled_from([Endpoint.DELETE_ENDPOINT, Endpoint.JOIN, Endpoint.LEAVE]))
    def endpoint_call(self, endpoint_id: str, network_id: str, method: Endpoint) -> None:
        self._call(method, {**ids(endpoint_id, network_id), "SandboxKey": "/run/x"})

    @rule()
    def restart(self) -> None:
        self.svc = service(self.kernel, self.store)

    @invariant()
    def kernel_matches_state(self) -> None:
        state = self.svc.state
        assert self.kernel.names == state.link_names()
        assert all(NAMING.owns(n, self.kernel.links[n].alias) for n in self.kernel.names)
        assert self.store.saved in (None, state)
        for endpoint in state.endpoints.values():
            assert self.kernel.links[endpoint.host_veth].master == (
                state.networks[endpoint.network_id].bridge)


DriverMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25,
                                           deadline=None)
test_any_sequence_of_calls_keeps_kernel_and_state_in_step = DriverMachine.TestCase
