"""``IpamService`` through ``ipamx_spy.app.BuiltinPlugin``: bytes in, Go-style JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipamx_spy import __version__
from ipamx_spy.app import CONTENT_TYPE, BuiltinPlugin, PluginError
from ipamx_spy.dockerd import ROWS, Field, fieldtypes
from ipamx_spy.ipam import IpamService

DOCKER_ENDPOINTS = ["GetCapabilities", "GetDefaultAddressSpaces", "RequestPool", "ReleasePool",
                    "RequestAddress", "ReleaseAddress"]
EXTENSIONS = ["Leases", "Networks", "Metrics", "Version", "Configuration", "Shutdown"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.5
        return self.now


@pytest.fixture
def service() -> IpamService:
    return IpamService.from_options(clock=Clock())


def call(plugin: BuiltinPlugin, endpoint: str, body: object = None) -> dict[str, object]:
    raw = b"" if body is None else json.dumps(body).encode()
    reply = plugin.handle(f"IpamDriver.{endpoint}", raw)
    assert reply.status == 200, reply.body
    value = reply.value
    assert isinstance(value, dict)
    return value


def test_is_a_service_with_every_route(service: IpamService) -> None:
    assert service.interface == "IpamDriver"
    assert sorted(service.routes()) == sorted(f"IpamDriver.{e}"
                                              for e in DOCKER_ENDPOINTS + EXTENSIONS)
    assert BuiltinPlugin([service]).implements == ["IpamDriver"]


def test_capabilities_ask_for_replay_only_in_memory(service: IpamService, tmp_path: Path) -> None:
    plugin = BuiltinPlugin([service])
    assert call(plugin, "GetCapabilities") == {"RequiresMACAddress": False,
                                               "RequiresRequestReplay": True}
    durable = IpamService.from_options(state_path=tmp_path / "s.json")
    assert call(BuiltinPlugin([durable]), "GetCapabilities")["RequiresRequestReplay"] is False
    durable.close()


def test_network_create_and_container_run_as_dockerd_sends_them(service: IpamService) -> None:
    plugin = BuiltinPlugin([service])
    assert call(plugin, "GetDefaultAddressSpaces") == {
        "LocalDefaultAddressSpace": "LocalDefault", "GlobalDefaultAddressSpace": "GlobalDefault"}
    pool = call(plugin, "RequestPool", {"AddressSpace": "LocalDefault", "Pool": "10.222.0.0/24",
                                        "SubPool": "10.222.0.128/25", "Options": {"ik": "iv"},
                                        "V6": False})
    assert pool == {"PoolID": "LocalDefault/10.222.0.0/24/10.222.0.128/25",
                    "Pool": "10.222.0.0/24", "Data": {}}
    gateway = call(plugin, "RequestAddress", {"PoolID": pool["PoolID"], "Address": "10.222.0.1",
                                              "Options": {"RequestAddressType":
                                                          "com.docker.network.gateway"}})
    assert gateway == {"Address": "10.222.0.1/24", "Data": {}}
    container = call(plugin, "RequestAddress", {"poolid": pool["PoolID"], "address": "",
                                                "options": None})
    assert container["Address"] == "10.222.0.128/24"
    assert call(plugin, "ReleaseAddress", {"PoolID": pool["PoolID"],
                                           "Address": "10.222.0.128"}) == {}
    assert call(plugin, "ReleasePool", {"PoolID": pool["PoolID"]}) == {}


def test_refusals_travel_in_error(service: IpamService) -> None:
    plugin = BuiltinPlugin([service])
    assert call(plugin, "ReleasePool", {"PoolID": "LocalDefault/10.0.0.0/24"}) == {
        "Error": "address space does not contain specified address pool"}
    assert call(plugin, "RequestPool", {"AddressSpace": "Elsewhere"}) == {
        "Error": "cannot find address space Elsewhere"}


WRONG = {"str": 7, "cidr?": 7, "ip?": [], "bool": "yes", "strmap|null": {"a": 1}}
IPAM_FIELDS = [(row.method, spec) for row in ROWS if row.interface == "IpamDriver"
               for spec in row.request]


@pytest.mark.parametrize(("endpoint", "spec"), IPAM_FIELDS,
                         ids=[f"{e}.{s.name}" for e, s in IPAM_FIELDS])
def test_every_request_field_of_the_rows_is_checked_in_their_words(
        service: IpamService, endpoint: str, spec: Field) -> None:
    answer = call(BuiltinPlugin([service]), endpoint, {spec.name: WRONG[spec.type]})
    expected = fieldtypes.kind_problem(spec.type, WRONG[spec.type])
    assert expected is not None
    assert f"field {spec.name!r} must be {expected}, got" in str(answer["Error"])


@pytest.mark.parametrize(("endpoint", "body", "field"), [
    ("RequestPool", {"AddressSpace": "LocalDefault", "Pool": 10}, "Pool"),
    ("RequestPool", {"AddressSpace": ["x"]}, "AddressSpace"),
    ("RequestPool", {"AddressSpace": "LocalDefault", "V6": "yes"}, "V6"),
    ("RequestPool", {"AddressSpace": "LocalDefault", "Options": {"a": 1}}, "Options"),
    ("RequestAddress", {"PoolID": "x", "Options": ["a"]}, "Options"),
    ("ReleaseAddress", {"PoolID": 3, "Address": "10.0.0.1"}, "PoolID"),
    ("ReleasePool", {"PoolID": None, "Extra": 1, "poolid": True}, "PoolID"),
])
def test_wrong_field_types_are_named(service: IpamService, endpoint: str, body: object,
                                     field: str) -> None:
    answer = call(BuiltinPlugin([service]), endpoint, body)
    assert f"field {field!r} must be" in str(answer["Error"])
    assert service.counters.errors[endpoint] == 1


def test_missing_fields_are_go_zero_values(service: IpamService) -> None:
    answer = call(BuiltinPlugin([service]), "RequestPool", {"AddressSpace": "LocalDefault"})
    assert answer["Pool"] == "172.17.0.0/16"


def test_leases_and_networks(service: IpamService) -> None:
    plugin = BuiltinPlugin([service])
    pid = call(plugin, "RequestPool", {"AddressSpace": "LocalDefault"})["PoolID"]
    call(plugin, "RequestAddress", {"PoolID": pid, "Options": {
        "RequestAddressType": "com.docker.network.gateway"}})
    call(plugin, "RequestAddress", {"PoolID": pid, "Options": {
        "com.docker.network.endpoint.name": "web"}})
    leases = call(plugin, "Leases")["Leases"]
    assert leases == [
        {"AddressSpace": "LocalDefault", "Pool": "172.17.0.0/16", "PoolID": pid,
         "Address": "172.17.0.1/16", "Allocated": "2023-11-14T22:13:21.500Z",
         "AllocatedUnix": 1700000001.5, "Gateway": True, "Endpoint": "", "MacAddress": ""},
        {"AddressSpace": "LocalDefault", "Pool": "172.17.0.0/16", "PoolID": pid,
         "Address": "172.17.0.2/16", "Allocated": "2023-11-14T22:13:23.000Z",
         "AllocatedUnix": 1700000003.0, "Gateway": False, "Endpoint": "web", "MacAddress": ""},
    ]
    assert call(plugin, "Networks")["Networks"] == [
        {"AddressSpace": "LocalDefault", "Pool": "172.17.0.0/16", "PoolID": pid, "SubPools": [],
         "InUse": 4, "Leases": 2, "Capacity": 65536, "Utilisation": 4 / 65536}]


def test_metrics_are_prometheus_text(service: IpamService) -> None:
    plugin = BuiltinPlugin([service])
    pid = call(plugin, "RequestPool", {"AddressSpace": "LocalDefault", "Pool": "10.0.0.0/30"})
    for _ in range(3):
        call(plugin, "RequestAddress", {"PoolID": pid["PoolID"]})
    text = str(call(plugin, "Metrics")["Metrics"])
    assert 'ipamx_ipam_calls_total{endpoint="RequestAddress"} 3' in text
    assert 'ipamx_ipam_errors_total{endpoint="RequestAddress"} 1' in text
    assert 'ipamx_ipam_pool_utilisation_ratio{space="LocalDefault",pool="10.0.0.0/30"} 1' in text
    assert 'ipamx_ipam_pools{space="LocalDefault",family="ipv4"} 1' in text
    assert "# TYPE ipamx_ipam_calls_total counter" in text and text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("#") or line.rsplit(" ", 1)[1].replace(".", "").isdigit()


def test_version_and_configuration(tmp_path: Path) -> None:
    service = IpamService.from_options(compat="20.10", local_space="ipamx-local",
                                       global_space="ipamx-global", exclude=["10.0.0.0/8"],
                                       local_pools=["172.30.0.0/16:24"],
                                       state_path=tmp_path / "x.state.json")
    plugin = BuiltinPlugin([service])
    assert call(plugin, "Version") == {"Version": __version__, "Protocol": CONTENT_TYPE,
                                       "Compat": "20.10"}
    config = call(plugin, "Configuration")
    assert config["AddressSpaces"] == {"Local": "ipamx-local", "Global": "ipamx-global"}
    assert config["PredefinedPools"] == {"local": [{"Base": "172.30.0.0/16", "Size": 24}],
                                         "global": [{"Base": "10.0.0.0/8", "Size": 24}]}
    assert (config["Exclude"], config["StatePath"], config["Compat"]) == \
        (["10.0.0.0/8"], str(tmp_path / "x.state.json"), "20.10")
    service.close()


def test_shutdown_calls_the_hook() -> None:
    calls: list[str] = []
    service = IpamService.from_options(on_shutdown=lambda: calls.append("bye"))
    assert call(BuiltinPlugin([service]), "Shutdown") == {}
    assert calls == ["bye"]
    with pytest.raises(PluginError, match="--allow-shutdown"):
        IpamService().routes()["IpamDriver.Shutdown"]({})
