"""A small in-memory plugin (NetworkDriver and IpamDriver) that answers like the probe the
captures in ``scenarios/captures`` were made with, and misbehaves on cue.

It is the emulator's test double: ``ProbePlugin(faults={"IpamDriver.RequestPool":
[Reply(status=200, body=b"")]})`` answers the next RequestPool with an empty 200, then behaves
again. It implements the ``ipamx_spy.app.PluginApp`` protocol (``handle(endpoint, body)``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy.app import Reply
from ipamx_spy.dockerd import Endpoint, Interface, parse_endpoint
from ipamx_spy.dockerd.goparse import parse_ip
from ipamx_spy.dockerd.ledger import Ledger
from ipamx_spy.dockerd.options import GATEWAY_LABEL, GATEWAY_OPTION

from ..dockerd.scopes import Scope

JSON = Any


@dataclass
class ProbePlugin:
    implements: tuple[str, ...] = (Interface.NETWORK, Interface.IPAM)
    requires_mac: bool = False
    replay: bool = True
    data_gateway: bool = False  # name the IPv4 gateway (last address) in RequestPool's Data
    join_gateway: bool = True  # Join answers the network's IPv4 gateway
    # The network driver's capability: any word, so that tests can answer one dockerd refuses
    # (20.10 refuses "global" outside swarm mode, every version refuses "Local").
    scope: str = Scope.LOCAL
    faults: dict[str, list[Reply]] = field(default_factory=dict)
    calls: list[tuple[str, bytes]] = field(default_factory=list)
    pools: dict[str, tuple[str, str]] = field(default_factory=dict)  # PoolID -> pool, sub-pool
    ledger: Ledger = field(default_factory=Ledger)  # what it handed out (the authority's)
    gateways: dict[str, str] = field(default_factory=dict)
    next_dynamic: int = 1

    def handle(self, endpoint: str, body: bytes) -> Reply:
        self.calls.append((endpoint, body))
        queued = self.faults.get(endpoint)
        if queued:
            return queued.pop(0)
        request = json.loads(body) if body.strip() else {}
        known = parse_endpoint(endpoint)
        route = ROUTES.get(known) if known is not None else None
        # Every other endpoint's row has no required answer field: {} is a success there
        # (tests/test_dockerd_rows.py checks it for each row).
        return Reply.json(200, route(self, request) if route else {})

    def activate(self, _req: JSON) -> JSON:
        return {"Implements": list(self.implements)}

    def ipam_caps(self, _req: JSON) -> JSON:
        return {"RequiresMACAddress": self.requires_mac, "RequiresRequestReplay": self.replay}

    def spaces(self, _req: JSON) -> JSON:
        return {"LocalDefaultAddressSpace": "probeLocal",
                "GlobalDefaultAddressSpace": "probeGlobal"}

    def request_pool(self, req: JSON) -> JSON:
        pool = req.get("Pool") or ""
        if not pool:
            pool = f"fd55:{self.next_dynamic}::/64" if req.get("V6") else \
                f"10.250.{self.next_dynamic}.0/24"
            self.next_dynamic += 1
        sub = req.get("SubPool") or ""
        pool_id = f"probe/{pool}" + (f"/{sub}" if sub else "")
        self.pools[pool_id] = (pool, sub)
        data = {}
        net = ipaddress.ip_network(pool)
        self.ledger.issue(pool_id, net)  # one space: sub-pools share their network's addresses
        if self.data_gateway and net.version == 4:
            data = {GATEWAY_LABEL: f"{net.broadcast_address - 1}/{net.prefixlen}"}
        return {"PoolID": pool_id, "Pool": pool, "Data": data}

    def request_address(self, req: JSON) -> JSON:
        if req.get("PoolID") not in self.pools:
            return {"Error": f"unknown pool {req.get('PoolID')}"}
        pool, sub = self.pools[req["PoolID"]]
        net = ipaddress.ip_network(pool)
        held = self.ledger.pool(req["PoolID"])
        assert held is not None  # issued with the pool
        if req.get("Address"):
            address = req["Address"]
        else:
            hosts = ipaddress.ip_network(sub).hosts() if sub else net.hosts()
            address = str(next(h for h in hosts if not self.ledger.in_use(held, h)))
        ip = parse_ip(address)
        if ip is not None:
            self.ledger.hand_out(held, ip)
        if (req.get("Options") or {}).get(GATEWAY_OPTION) == GATEWAY_LABEL:
            self.gateways[req["PoolID"]] = address
        return {"Address": f"{address}/{net.prefixlen}", "Data": {}}

    def release_address(self, req: JSON) -> JSON:
        held = self.ledger.held(req.get("PoolID", ""))
        ip = parse_ip(req.get("Address"))
        if held is not None and ip is not None:
            self.ledger.release(held, ip)
        return {}

    def release_pool(self, req: JSON) -> JSON:
        self.pools.pop(req.get("PoolID", ""), None)
        self.ledger.release_pool(str(req.get("PoolID", "")))
        return {}

    def net_caps(self, _req: JSON) -> JSON:
        return {"Scope": self.scope}

    def create_network(self, req: JSON) -> JSON:
        for data in req.get("IPv4Data") or []:
            self.gateways["net:" + req["NetworkID"]] = str(data.get("Gateway", "")).split("/")[0]
        return {}

    def join(self, req: JSON) -> JSON:
        if not self.join_gateway:
            return {}
        return {"Gateway": self.gateways.get("net:" + req.get("NetworkID", ""), "")}


ROUTES: dict[Endpoint, Callable[[ProbePlugin, JSON], JSON]] = {
    Endpoint.ACTIVATE: ProbePlugin.activate,
    Endpoint.IPAM_GET_CAPABILITIES: ProbePlugin.ipam_caps,
    Endpoint.GET_DEFAULT_ADDRESS_SPACES: ProbePlugin.spaces,
    Endpoint.REQUEST_POOL: ProbePlugin.request_pool,
    Endpoint.REQUEST_ADDRESS: ProbePlugin.request_address,
    Endpoint.RELEASE_ADDRESS: ProbePlugin.release_address,
    Endpoint.RELEASE_POOL: ProbePlugin.release_pool,
    Endpoint.NET_GET_CAPABILITIES: ProbePlugin.net_caps,
    Endpoint.CREATE_NETWORK: ProbePlugin.create_network,
    Endpoint.CREATE_ENDPOINT: lambda _p, _r: {"Interface": None},
    Endpoint.JOIN: ProbePlugin.join,
    Endpoint.ENDPOINT_OPER_INFO: lambda _p, _r: {"Value": {}},
}
