"""The emulator's core: plugin calls as dockerd makes them, plugin activation, and IPAM access.

Theory of operation
-------------------
Every docker command is a generator (a *flow*). When dockerd would call the plugin, the flow
yields a ``Call`` (which plugin, which endpoint, the exact body bytes, and how long dockerd
would wait first) and receives a ``CallAnswer``: what dockerd makes of the reply (from the
protocol authority's ``read_answer``). Later
requests depend on earlier answers (PoolIDs, addresses, the Join gateway), which is why the
core is a generator and not a list of requests. Nothing here touches a socket or a clock.

A transport failure (``CallAnswer.transport``) is retried the way ``pkg/plugins`` does: after 1, 2,
4 and 8 s, and the retry after a request that was already written goes out with an empty
body (PROTOCOL.md 1.6). Errors become ``DaemonError`` with the text dockerd would return; the
flows catch them where dockerd rolls back.

The default IPAM (``--ipam-driver default``) is played in-process by ipamx-spy's own allocator
and never yields: only the plugin's traffic leaves the emulator.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ipamx_spy.app import PluginApp
from ipamx_spy.dockerd import AddressRole, Endpoint, Interface, gojson
from ipamx_spy.dockerd import verdict as dockerd_verdict
from ipamx_spy.dockerd.versions import DockerVersion, VersionRow

from ..dockerd.scopes import capability_scope
from .ids import IdSource, RandomIds
from .model import Container, EmulatedNetwork, PluginState

JSON = Any
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class CallAnswer:
    """What dockerd's plugin layer makes of one plugin answer, or of a call that got none.

    ``error`` is the plugin layer's error (status, decoding, the in-body error field); the
    flows add dockerd's own checks of the values, as dockerd does."""

    status: int = 0
    value: dict[str, JSON] = field(default_factory=dict)
    error: str | None = None
    transport: str | None = None  # set when there was no answer (dial failure, hang-up)
    sent: bool = False  # with ``transport``: the request had been written before the failure
    log_line: str | None = None  # a failure dockerd only logs: the line it logs

    @property
    def ok(self) -> bool:
        return self.error is None and self.transport is None

    @classmethod
    def unreachable(cls, message: str, *, sent: bool) -> CallAnswer:
        return cls(error=message, transport=message, sent=sent)


def call_answer(endpoint: str, status: int, body: bytes, *, major: int = 29,
                request: Mapping[str, JSON] | None = None,
                role: AddressRole | None = None) -> CallAnswer:
    """An answer as the emulator's flows take it: ``dockerd.read_answer``'s verdict (the one
    place that decides what dockerd makes of an answer) as a ``CallAnswer``. ``request`` and
    ``role`` (what a released address is to dockerd: the session's ``AddressRoles``) word a
    failure dockerd only logs as dockerd does (``log_line``)."""
    verdict = dockerd_verdict.read_answer(endpoint, status, None, body, DockerVersion(major),
                                          request=request, role=role)
    decoded = verdict.decoded
    value = decoded.fields if decoded is not None else {}
    return CallAnswer(status=status, value=value, error=verdict.plugin_error,
                      log_line=verdict.shown_log_line)


RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)  # attempts at ~0, 1, 3, 7 and 15 s, then give up
BUILTIN_DRIVERS = frozenset({"bridge", "host", "null", "macvlan", "ipvlan"})
BUILTIN_IPAMS = frozenset({"default"})
LOCAL_SPACES = ("LocalDefault", "GlobalDefault")


class DaemonError(Exception):
    """dockerd refused or failed a command; ``str()`` is its message."""


class CliError(Exception):
    """The docker CLI refused the command before asking dockerd."""


@dataclass(frozen=True, kw_only=True)
class Call:
    """One request dockerd sends to a plugin."""

    plugin: str
    endpoint: str
    body: bytes
    delay_s: float = 0.0  # dockerd's backoff before this attempt
    node: str = ""  # the daemon that sends it, in a swarm of emulated daemons


Flow = Generator[Call, CallAnswer, T]


def default_ipam_app(version: VersionRow) -> PluginApp:
    """dockerd's built-in allocator, played by ipamx-spy's (bug-compatible) one."""
    try:
        from ipamx_spy.app import BuiltinPlugin
        from ipamx_spy.ipam.service import IpamService
    except ImportError as exc:  # pragma: no cover - the allocator ships with ipamx-spy
        raise DaemonError(f"the default IPAM needs ipamx_spy.ipam: {exc}") from exc
    return BuiltinPlugin([IpamService.from_options(compat=str(version.major))])


class Core:
    """State and plugin access shared by the network and container flows."""

    def __init__(self, version: VersionRow, *, ids: IdSource | None = None,
                 rng: random.Random | None = None, url_host: str = "plugin.moby.localhost",
                 reserved: tuple[str, ...] = (), default_ipam: PluginApp | None = None) -> None:
        self.version = version
        self.rng = rng or random.Random()
        self.ids: IdSource = ids or RandomIds(rng=self.rng)
        self.local = RandomIds(rng=self.rng)  # ids that never reach the plugin
        self.url_host = url_host
        self.node_name = ""  # set by emulator.swarm: the calls name their daemon
        self.reserved = reserved
        self._default_ipam = default_ipam
        self.plugins: dict[str, PluginState] = {}
        self.networks: dict[str, EmulatedNetwork] = {}
        self.containers: dict[str, Container] = {}

    # -- calls -----------------------------------------------------------------------------

    def call(self, plugin: str, endpoint: str, body: JSON | None) -> Flow[CallAnswer]:
        """One plugin call with dockerd's retries; transport failures become an error answer."""
        data = b"" if body is None else gojson.encode(body)
        answer = yield Call(plugin=plugin, endpoint=endpoint, body=data, node=self.node_name)
        for delay in RETRY_DELAYS_S:
            if answer.transport is None:
                return answer
            if answer.sent:
                data = b""
            answer = yield Call(plugin=plugin, endpoint=endpoint, body=data, delay_s=delay,
                                node=self.node_name)
        if answer.transport is None:
            return answer
        text = f'Post "http://{self.url_host}/{endpoint}": {answer.transport}'
        return CallAnswer(error=text, transport=answer.transport)

    def must(self, plugin: str, endpoint: str, body: JSON | None) -> Flow[CallAnswer]:
        """A call whose failure fails the command with the plugin's error text."""
        answer = yield from self.call(plugin, endpoint, body)
        if answer.error is not None:
            raise DaemonError(answer.error)
        return answer

    # -- activation (PROTOCOL.md 1.5) -------------------------------------------------------

    def plugin(self, name: str, interface: str) -> Flow[PluginState]:
        """The plugin, activated on first use; DaemonError if it cannot serve ``interface``."""
        state = self.plugins.get(name)
        if state is None:
            answer = yield from self.call(name, Endpoint.ACTIVATE, None)
            if answer.error is not None:
                raise DaemonError(f"legacy plugin: {answer.error}")
            implements = tuple(str(i) for i in answer.value.get("Implements") or [])
            state = PluginState(name=name, implements=implements)
            self.plugins[name] = state
            for implemented in implements:
                if implemented == Interface.NETWORK:
                    yield from self._register_driver(state)
                elif implemented == Interface.IPAM:
                    yield from self._register_ipam(state)
        if interface not in state.implements:
            suffix = (f': plugin="{name}", requested implementation="{interface}"'
                      if self.version.driver_in_not_implemented else "")
            raise DaemonError(f"Plugin does not implement the requested driver{suffix}")
        return state

    def _register_driver(self, state: PluginState) -> Flow[None]:
        answer = yield from self.call(state.name, Endpoint.NET_GET_CAPABILITIES, None)
        if answer.error is not None:
            state.driver_error = answer.error
            return
        said = str(answer.value.get("Scope") or "")
        connectivity = str(answer.value.get("ConnectivityScope") or "")
        scope = capability_scope(said)
        if scope is None or (connectivity and capability_scope(connectivity) is None):
            state.driver_error = f"invalid capability: expecting 'local' or 'global', got {said}"
            return
        state.driver_ok, state.scope = True, scope
        state.connectivity_scope = capability_scope(connectivity)
        state.gw_alloc_checker = self.version.gw_alloc_check and bool(
            answer.value.get("GwAllocChecker"))

    def _register_ipam(self, state: PluginState) -> Flow[None]:
        answer = yield from self.call(state.name, Endpoint.IPAM_GET_CAPABILITIES, None)
        if answer.ok:
            state.requires_mac = bool(answer.value.get("RequiresMACAddress"))
            state.requires_replay = bool(answer.value.get("RequiresRequestReplay"))
        if self.version.spaces_at_registration:
            spaces = yield from self.call(state.name, Endpoint.GET_DEFAULT_ADDRESS_SPACES, None)
            if spaces.error is not None:
                return
            state.local_space = str(spaces.value.get("LocalDefaultAddressSpace") or "")
            state.global_space = str(spaces.value.get("GlobalDefaultAddressSpace") or "")
        state.ipam_ok = True

    def driver(self, name: str) -> Flow[PluginState | None]:
        """A network driver: None for dockerd's own, else the activated plugin."""
        if name in BUILTIN_DRIVERS:
            return None
        state = yield from self.plugin(name, Interface.NETWORK)
        if not state.driver_ok:
            raise DaemonError(f"could not resolve driver {name} in registry")
        return state

    def ipam_driver(self, name: str) -> Flow[PluginState | None]:
        """An IPAM driver: None for the default one, else the activated plugin."""
        if name in BUILTIN_IPAMS:
            return None
        state = yield from self.plugin(name, Interface.IPAM)
        if not state.ipam_ok:
            raise DaemonError(f'invalid ipam driver: "{name}"')
        return state

    # -- IPAM access -----------------------------------------------------------------------

    def ipam(self, net: EmulatedNetwork, endpoint: str, body: JSON | None) -> Flow[CallAnswer]:
        """An IPAM call for ``net``: to the plugin, or to the in-process default IPAM."""
        if net.remote_ipam:
            return (yield from self.call(net.ipam_driver, endpoint, body))
        if self._default_ipam is None:
            self._default_ipam = default_ipam_app(self.version)
        data = b"" if body is None else gojson.encode(body)
        reply = self._default_ipam.handle(endpoint, data)
        return call_answer(endpoint, reply.status, reply.body, major=self.version.major)

    def spaces(self, net: EmulatedNetwork) -> Flow[tuple[str, str]]:
        """GetDefaultAddressSpaces as a call (v24+ asks per create, v27+ per pool)."""
        if not net.remote_ipam:
            return LOCAL_SPACES
        answer = yield from self.must(net.ipam_driver, Endpoint.GET_DEFAULT_ADDRESS_SPACES, None)
        return (str(answer.value.get("LocalDefaultAddressSpace") or ""),
                str(answer.value.get("GlobalDefaultAddressSpace") or ""))
