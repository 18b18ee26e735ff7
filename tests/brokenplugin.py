"""A small IPAM plugin for replay and mock tests: correct by default, broken on request.

``MiniIpam`` is a compact allocator served through the lead's ``app.BuiltinPlugin`` (so it
decodes like the built-in one and refuses empty bodies). ``make_app(breakage)`` wraps it so that
one endpoint misbehaves; ``serve(path, breakage)`` puts it on a Unix socket with
``fakeplugin.FakePlugin``, which also lets it hang up or stall. ``record(app, calls)`` drives an
app in-process and returns the exchanges as ipamx-spy would have recorded them through the
proxy, so tests build recordings from real answers.

Breakages (``BREAKAGES``): the answer to a call, and the words replay must use to name it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakeplugin import Action, Close, FakePlugin, Stall, http

from ipamx_spy import dockerd
from ipamx_spy.app import BuiltinPlugin, PluginError, Reply, Route
from ipamx_spy.client import docker_request
from ipamx_spy.dockerd import Endpoint
from ipamx_spy.recording import Exchange, Message, encode_body, go_json, make_header

JSON = Any
Net = ipaddress.IPv4Network | ipaddress.IPv6Network
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
DYNAMIC = [ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(18, 32)]


@dataclass
class MiniIpam:
    """Static and dynamic pools, lowest-free addresses, in two named address spaces."""

    local_space: str = "LocalDefault"
    global_space: str = "GlobalDefault"
    interface: str = "IpamDriver"
    pools: dict[str, tuple[Net, Net | None]] = field(default_factory=dict)
    used: dict[Net, set[IP]] = field(default_factory=dict)

    def routes(self) -> dict[Endpoint, Route]:
        return {
            Endpoint.IPAM_GET_CAPABILITIES: lambda _r: {"RequiresMACAddress": False,
                                                        "RequiresRequestReplay": True},
            Endpoint.GET_DEFAULT_ADDRESS_SPACES: lambda _r: {
                "LocalDefaultAddressSpace": self.local_space,
                "GlobalDefaultAddressSpace": self.global_space},
            Endpoint.REQUEST_POOL: self.request_pool,
            Endpoint.RELEASE_POOL: self.release_pool,
            Endpoint.REQUEST_ADDRESS: self.request_address,
            Endpoint.RELEASE_ADDRESS: self.release_address,
        }

    def request_pool(self, request: dict[str, JSON]) -> JSON:
        space = request.get("AddressSpace")
        if space not in (self.local_space, self.global_space):
            raise PluginError(f"cannot find address space {space}")
        sub = ipaddress.ip_network(request["SubPool"]) if request.get("SubPool") else None
        network = (ipaddress.ip_network(request["Pool"]) if request.get("Pool")
                   else self._free_pool())
        pool_id = f"{space}/{network}" + (f"/{sub}" if sub else "")
        if pool_id in self.pools:
            raise PluginError("invalid pool request: Pool overlaps with other one on this "
                              "address space")
        self.pools[pool_id] = (network, sub)
        self.used.setdefault(network, set())
        return {"PoolID": pool_id, "Pool": str(network), "Data": {}}

    def _free_pool(self) -> Net:
        held = [network for network, _sub in self.pools.values()]
        for candidate in DYNAMIC:
            if not any(candidate.overlaps(h) for h in held):  # type: ignore[arg-type]
                return candidate
        raise PluginError("all predefined address pools have been fully subnetted")

    def release_pool(self, request: dict[str, JSON]) -> JSON:
        if self.pools.pop(str(request.get("PoolID")), None) is None:
            raise PluginError("address space does not contain specified address pool")
        return {}

    def request_address(self, request: dict[str, JSON]) -> JSON:
        network, sub = self._pool(request)
        used = self.used[network]
        if request.get("Address"):
            ip = ipaddress.ip_address(request["Address"])
            if ip not in network:
                raise PluginError("requested address is out of range")
            if ip in used:
                raise PluginError("Address already in use")
        else:
            ip = next((h for h in (sub or network).hosts() if h not in used), None)
            if ip is None:
                raise PluginError("no available addresses on this pool")
        used.add(ip)
        return {"Address": f"{ip}/{network.prefixlen}", "Data": {}}

    def release_address(self, request: dict[str, JSON]) -> JSON:
        network, _sub = self._pool(request)
        self.used[network].discard(ipaddress.ip_address(request["Address"]))
        return {}

    def _pool(self, request: dict[str, JSON]) -> tuple[Net, Net | None]:
        found = self.pools.get(str(request.get("PoolID")))
        if found is None:
            raise PluginError(f"invalid pool id: {request.get('PoolID')}")
        return found


def mini_plugin(**spaces: str) -> BuiltinPlugin:
    return BuiltinPlugin([MiniIpam(**spaces)])


# -- breakages -----------------------------------------------------------------------------

Twist = Callable[[bytes, Reply], Reply]


def _json_twist(change: Callable[[dict[str, JSON], dict[str, JSON]], None]) -> Twist:
    def twist(body: bytes, reply: Reply) -> Reply:
        value = reply.value
        change(json.loads(body) if body else {}, value)
        return Reply(status=reply.status, body=(go_json(value) + "\n").encode())

    return twist


def _next_address(request: dict[str, JSON], answer: dict[str, JSON]) -> None:
    if request.get("Address") and "Address" in answer:
        interface = ipaddress.ip_interface(answer["Address"])
        answer["Address"] = f"{interface.ip + 1}/{interface.network.prefixlen}"


HTML = b"<html><body><h1>500 Internal Server Error</h1></body></html>\n"


@dataclass(frozen=True, kw_only=True)
class Breakage:
    endpoint: str
    says: str  # words replay's message must contain
    twist: Twist | None = None  # app level: change the answer
    wire: Action | None = None  # socket level: hang up or stall instead of answering


BREAKAGES: dict[str, Breakage] = {
    "wrong-address": Breakage(endpoint="IpamDriver.RequestAddress", says="Address: the "
                              "recording has", twist=_json_twist(_next_address)),
    "error-on-success": Breakage(endpoint="IpamDriver.RequestPool", says="dockerd would see an "
                                 "error, 'remote: pool exhausted'", twist=_json_twist(
                                     lambda _req, ans: ans.update(Error="pool exhausted"))),
    "html-error": Breakage(endpoint="IpamDriver.RequestPool", says="not JSON (text/html)",
                           twist=lambda _b, _r: Reply(status=500, body=HTML,
                                                      content_type="text/html")),
    "empty-200": Breakage(endpoint="IpamDriver.RequestPool", says="HTTP 200 with an empty "
                          "body: dockerd fails with 'EOF'",
                          twist=lambda _b, _r: Reply(status=200, body=b"")),
    "string-bool": Breakage(endpoint="IpamDriver.GetCapabilities", says="json: cannot "
                            "unmarshal string into Go struct field GetCapabilityResponse."
                            "RequiresRequestReplay of type bool",
                            twist=_json_twist(lambda _req, ans: ans.update(
                                RequiresRequestReplay="true"))),
    "closed-connection": Breakage(endpoint="IpamDriver.RequestAddress", says="closed the "
                                  "connection without answering", wire=Close()),
    "stall": Breakage(endpoint="IpamDriver.RequestPool", says="no answer within 0.3 s "
                      "(--timeout)", wire=Stall(10.0)),
}


@dataclass
class BrokenApp:
    """A plugin app whose answers to one endpoint are twisted."""

    app: BuiltinPlugin
    breakage: Breakage | None = None

    def blocking(self, endpoint: str) -> bool:
        """Every answer is computed in memory: never worth a thread."""
        return False

    def handle(self, endpoint: str, body: bytes) -> Reply:
        reply = self.app.handle(endpoint, body)
        if (self.breakage is not None and self.breakage.twist is not None
                and endpoint == self.breakage.endpoint):
            return self.breakage.twist(body, reply)
        return reply


def make_app(breakage: str | None = None, **spaces: str) -> BrokenApp:
    return BrokenApp(app=mini_plugin(**spaces),
                     breakage=None if breakage is None else BREAKAGES[breakage])


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


@contextmanager
def serve(path: Path, breakage: str | None = None, **spaces: str) -> Iterator[FakePlugin]:
    """Serve ``make_app(breakage)`` on a Unix socket (hang-ups and stalls included)."""
    app = make_app(breakage, **spaces)

    def behaviour(endpoint: str) -> Callable[[bytes], Action]:
        def answer(body: bytes) -> Action:
            if (app.breakage is not None and app.breakage.wire is not None
                    and endpoint == app.breakage.endpoint):
                return app.breakage.wire
            reply = app.handle(endpoint, body)
            return http(reply.status, reply.body, reason=REASONS.get(reply.status, "Error"),
                        headers=(f"Content-Type: {reply.content_type}",))

        return answer

    names = [e.name for e in dockerd.ALL_ROWS if not e.extension]
    with FakePlugin(path, {name: behaviour(name) for name in names}) as plugin:
        yield plugin


# -- recordings ----------------------------------------------------------------------------

Body = JSON | Callable[[list[JSON]], JSON]
Call = tuple[int, str, Body]
"""(conn, endpoint, request body): None for an empty body, or a function of the answers so
far (a later request echoes what the plugin chose)."""


def request_message(endpoint: str, body: JSON) -> Message:
    raw = b"" if body is None else (go_json(body) + "\n").encode()
    request = docker_request(endpoint, raw)
    head = request[: request.index(b"\r\n\r\n")].decode("latin-1").split("\r\n")[1:]
    headers = tuple(tuple(line.split(": ", 1)) if ": " in line else (line.rstrip(":"), "")
                    for line in head)
    return Message(method="POST", target=f"/{endpoint}", headers=headers,  # type: ignore[arg-type]
                   body=encode_body(raw))


def response_message(reply: Reply) -> Message:
    headers = (("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body))))
    return Message(status=reply.status, reason=REASONS.get(reply.status, "Error"),
                   headers=headers, body=encode_body(reply.body))


def record(app: Any, calls: Sequence[Call]) -> list[Exchange]:
    """Drive ``app`` with ``calls`` and return the exchanges a recording would hold."""
    out = []
    answers: list[JSON] = []
    for seq, (conn, endpoint, body) in enumerate(calls, 1):
        request = request_message(endpoint, body(answers) if callable(body) else body)
        reply = app.handle(endpoint, request.raw_body)
        answers.append(reply.value)
        out.append(Exchange(seq=seq, conn=conn, t=seq * 0.01, endpoint=endpoint,
                            request=request, response=response_message(reply),
                            duration_ms=0.2, upstream_ms=0.1))
    return out


def write_recording(path: Path, exchanges: Sequence[Exchange], **header: JSON) -> Path:
    lines = [make_header(name="test", **header)]
    lines += [exchange.to_json() for exchange in exchanges]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


GATEWAY = {"RequestAddressType": "com.docker.network.gateway"}


def talk_calls(space: str = "LocalDefault") -> list[Call]:
    """The talk scenario (PROTOCOL.md 5 and 7): create, run --ip, run, stop, network rm."""
    pool_id = f"{space}/10.4.4.0/24"
    return [
        (1, "Plugin.Activate", None),
        (1, "IpamDriver.GetCapabilities", None),
        (1, "IpamDriver.GetDefaultAddressSpaces", None),
        (1, "IpamDriver.RequestPool", {"AddressSpace": space, "Pool": "10.4.4.0/24",
                                       "SubPool": "", "Options": {}, "V6": False}),
        (1, "IpamDriver.RequestAddress", {"PoolID": pool_id, "Address": "",
                                          "Options": GATEWAY}),
        (1, "IpamDriver.RequestAddress", {"PoolID": pool_id, "Address": "10.4.4.21",
                                          "Options": None}),
        (2, "IpamDriver.RequestAddress", {"PoolID": pool_id, "Address": "", "Options": None}),
        (2, "IpamDriver.ReleaseAddress", {"PoolID": pool_id, "Address": "10.4.4.2"}),
        (1, "IpamDriver.ReleaseAddress", {"PoolID": pool_id, "Address": "10.4.4.21"}),
        (1, "IpamDriver.ReleaseAddress", {"PoolID": pool_id, "Address": "10.4.4.1"}),
        (1, "IpamDriver.ReleasePool", {"PoolID": pool_id}),
    ]


def dynamic_calls(space: str = "LocalDefault") -> list[Call]:
    """A network on a pool the allocator picks, a container on it, and the clean-up."""
    def pool_id(answers: list[JSON]) -> str:
        return str(answers[1]["PoolID"])

    def plain(index: int) -> Callable[[list[JSON]], JSON]:
        return lambda a: {"PoolID": pool_id(a), "Address": a[index]["Address"].split("/")[0]}

    return [
        (1, "IpamDriver.GetDefaultAddressSpaces", None),
        (1, "IpamDriver.RequestPool", {"AddressSpace": space, "Pool": "", "SubPool": "",
                                       "Options": {}, "V6": False}),
        (1, "IpamDriver.RequestAddress", lambda a: {"PoolID": pool_id(a), "Address": "",
                                                    "Options": GATEWAY}),
        (1, "IpamDriver.RequestAddress", lambda a: {"PoolID": pool_id(a), "Address": "",
                                                    "Options": None}),
        (1, "IpamDriver.ReleaseAddress", plain(3)),
        (1, "IpamDriver.ReleaseAddress", plain(2)),
        (1, "IpamDriver.ReleasePool", lambda a: {"PoolID": pool_id(a)}),
    ]
