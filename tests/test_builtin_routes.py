"""The built-in plugin's routes are built from the dockerd rows (issue #12, "one authority").

Every IPAM and NetworkDriver row the built-in plugin claims has a route and every route has a
row; a service whose table misses a row, or names one that is not its interface's, stops the
plugin from being built (``LookupError``); ipamx-spy's own calls (``SpyCall``) are kept apart
from dockerd's ``Endpoint`` rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from ipamx_spy import dockerd
from ipamx_spy.app import BuiltinPlugin, Call, PluginError, Route, check_table, claimed_calls
from ipamx_spy.builtin import BuiltinConfig, NetworkLinks, make_plugin
from ipamx_spy.dockerd import Endpoint, SpyCall
from ipamx_spy.ipam.service import IpamService
from ipamx_spy.netdriver.core import HANDLERS

IPAM_ROWS = {e for e in Endpoint if e.interface == "IpamDriver"}
NET_ROWS = {e for e in Endpoint if e.interface == "NetworkDriver"}


@pytest.fixture
def plugin() -> BuiltinPlugin:
    return make_plugin(BuiltinConfig(state=None, network_driver=True,
                                     network_links=NetworkLinks.MEMORY))


def test_every_row_the_plugin_claims_has_a_route_and_every_route_a_row(
        plugin: BuiltinPlugin) -> None:
    served = set(plugin.paths)
    rows = {row.name for row in dockerd.ALL_ROWS}
    assert served == rows  # both interfaces, Activate, and every spy call
    assert plugin.implements == ["NetworkDriver", "IpamDriver"]


def test_the_services_tables_are_keyed_by_the_rows_members() -> None:
    ipam = IpamService()
    assert set(ipam.routes()) == IPAM_ROWS | set(SpyCall)
    assert all(isinstance(call, Endpoint | SpyCall) for call in ipam.routes())
    assert set(HANDLERS) == NET_ROWS
    assert claimed_calls("NetworkDriver") == tuple(e for e in Endpoint if e in NET_ROWS)


def test_spy_calls_are_apart_from_dockerds_rows() -> None:
    assert {c.value for c in SpyCall}.isdisjoint(e.value for e in Endpoint)
    assert {row.call for row in dockerd.EXTENSIONS} == set(SpyCall)
    assert dockerd.parse_spy_call("/IpamDriver.Leases?x=1") is SpyCall.LEASES
    assert dockerd.parse_spy_call("IpamDriver.RequestPool") is None
    assert dockerd.parse_endpoint("IpamDriver.Leases") is None


@dataclass
class FakeIpam:
    """A service whose table is whatever the test gives it."""

    table: Mapping[Any, Route]
    interface: str = "IpamDriver"
    spy_calls: bool = False

    def routes(self) -> Mapping[Call, Route]:
        return self.table


def _answer(_request: dict[str, Any]) -> Any:
    return {}


def _full_ipam() -> dict[Any, Route]:
    return {e: _answer for e in IPAM_ROWS if e is not Endpoint.ACTIVATE}


def test_a_table_missing_a_row_stops_the_plugin() -> None:
    table = _full_ipam()
    del table[Endpoint.RELEASE_ADDRESS]
    with pytest.raises(LookupError, match=r"rows without a handler: IpamDriver.ReleaseAddress"):
        BuiltinPlugin([FakeIpam(table)])


@pytest.mark.parametrize("stray", [
    Endpoint.CREATE_NETWORK,  # another interface's row
    SpyCall.LEASES,  # a spy call from a service that does not claim them
    "IpamDriver.Frobnicate",  # no row at all
])
def test_a_handler_without_a_row_stops_the_plugin(stray: object) -> None:
    table = {**_full_ipam(), stray: _answer}
    with pytest.raises(LookupError, match=f"handlers without a row: {stray}"):
        BuiltinPlugin([FakeIpam(table)])


def test_a_name_instead_of_a_member_is_no_row() -> None:
    table: dict[Any, Route] = {str(e): route for e, route in _full_ipam().items()}
    with pytest.raises(LookupError, match="handlers without a row"):
        BuiltinPlugin([FakeIpam(table)])


def test_a_service_that_claims_spy_calls_must_serve_them_all() -> None:
    with pytest.raises(LookupError, match=r"rows without a handler: IpamDriver.Leases"):
        BuiltinPlugin([FakeIpam(_full_ipam(), spy_calls=True)])
    check_table("IpamDriver", {**_full_ipam(), **{c: _answer for c in SpyCall}},
                spy_calls=True)


def test_two_services_answering_one_row_stop_the_plugin() -> None:
    with pytest.raises(LookupError, match="two services"):
        BuiltinPlugin([FakeIpam(_full_ipam()), FakeIpam(_full_ipam())])


def test_an_unknown_path_is_404_and_counted_as_an_error(plugin: BuiltinPlugin) -> None:
    reply = plugin.handle("IpamDriver.Frobnicate", b"{}")
    assert reply.status == 404
    assert "not served" in reply.value["Err"]
    assert plugin.errors == {"IpamDriver.Frobnicate": 1}


def test_activate_lists_the_interfaces(plugin: BuiltinPlugin) -> None:
    reply = plugin.handle("Plugin.Activate", b"")
    assert (reply.status, reply.value) == (200, {"Implements": ["NetworkDriver", "IpamDriver"]})


def test_errors_are_counted_from_what_the_dispatch_knows(plugin: BuiltinPlugin) -> None:
    pool = json.dumps({"AddressSpace": "LocalDefault", "Pool": "10.9.0.0/24", "SubPool": "",
                       "Options": {}, "V6": False}).encode()
    assert plugin.handle("IpamDriver.RequestPool", pool).status == 200
    refused = plugin.handle("IpamDriver.RequestPool", pool)  # overlaps: a PluginError
    assert refused.status == 200 and "Error" in refused.value
    assert plugin.handle("IpamDriver.RequestAddress", b"").status == 400  # empty body refused
    assert plugin.handle("IpamDriver.RequestAddress", b"[1]").status == 400
    assert plugin.handle("NetworkDriver.Join", b"{}").value["Err"]  # Refusal: no NetworkID
    assert plugin.handle("NetworkDriver.GetCapabilities", b"").status == 200
    assert plugin.calls == {"IpamDriver.RequestPool": 2, "IpamDriver.RequestAddress": 2,
                            "NetworkDriver.Join": 1, "NetworkDriver.GetCapabilities": 1}
    assert plugin.errors == {"IpamDriver.RequestPool": 1, "IpamDriver.RequestAddress": 2,
                             "NetworkDriver.Join": 1}


@dataclass
class StatusService:
    """An IPAM service whose refusals carry their own status."""

    interface: str = "IpamDriver"
    asked: list[dict[str, Any]] = field(default_factory=list)

    def routes(self) -> Mapping[Call, Route]:
        def refuse(request: dict[str, Any]) -> Any:
            self.asked.append(request)
            raise PluginError("no", status=503)

        return {**_full_ipam(), Endpoint.REQUEST_POOL: refuse}


def test_a_refusal_with_a_status_is_sent_as_err_and_keys_are_matched_to_the_row() -> None:
    service = StatusService()
    plugin = BuiltinPlugin([service])
    reply = plugin.handle("IpamDriver.RequestPool", b'{"addressspace": "A", "v6": true}')
    assert (reply.status, reply.value) == (503, {"Err": "no"})
    assert service.asked == [{"AddressSpace": "A", "V6": True}]  # Go's case-insensitive match
    assert plugin.errors == {"IpamDriver.RequestPool": 1}
