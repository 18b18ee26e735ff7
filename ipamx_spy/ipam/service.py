"""``IpamService``: the reference allocator served as an ``IpamDriver`` plugin.

Routes take the request JSON (keys already matched to the endpoint rows' field names by
``ipamx_spy.app``), check the field types against the rows (``ipamx_spy.dockerd``), call the
``Allocator`` and return the response JSON. A refusal is a ``PluginError`` (sent as
``200 {"Error": ...}``). A request that changes the allocator runs in a transaction: its
changes are saved to the state store (journal + fsync) before the route returns, and undone if
they cannot be saved, so dockerd is never told about an allocation that a crash could lose.
The extension endpoints (Leases, Networks, Metrics, Version, Configuration, Shutdown) are
ipamx-spy's own, not part of Docker's protocol.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ipamx_spy import __version__
from ipamx_spy.app import CONTENT_TYPE, Call, PluginError, Route, check_table
from ipamx_spy.dockerd import ROW, Endpoint, Field, Interface, SpyCall, fieldtypes

from .allocator import Allocator, Clock, LeaseView, NetworkView
from .config import DEFAULT_ENGINE_ID, DEFAULT_GLOBAL_SPACE, DEFAULT_LOCAL_SPACE, IpamConfig
from .errors import IpamError
from .metrics import CallCounters, render
from .state import StateStore, open_state

JSON = Any
Handler = Callable[[dict[str, JSON]], JSON]
INTERFACE = Interface.IPAM


def _type_error(call: Call, name: str, expected: str, value: JSON) -> PluginError:
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
    return PluginError(f"ipamx-spy: {call}: field {name!r} must be {expected}, "
                       f"got {kind} ({value!r:.60}); dockerd never sends that")


def request_fields(call: Call) -> tuple[Field, ...]:
    """The request fields of ``call``'s row (ipamx-spy's own calls take none)."""
    return ROW[call].request if isinstance(call, Endpoint) else ()


def checked(call: Call, request: Mapping[str, JSON],
            fields: tuple[Field, ...] | None = None) -> dict[str, Any]:
    """The request's fields of ``call`` (its row's request fields, or ``fields`` when the
    caller has looked them up), of the JSON kinds Go stores in them, absent or null ones as
    Go's zero values. Raises ``PluginError`` for a value of another kind."""
    out: dict[str, Any] = {}
    for spec in request_fields(call) if fields is None else fields:
        value = request.get(spec.name)
        expected = fieldtypes.kind_problem(spec.type, value)
        if expected is not None:
            raise _type_error(call, spec.name, expected, value)
        out[spec.name] = fieldtypes.zero(spec.type) if value is None else (
            dict(value) if isinstance(value, dict) else value)
    return out


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class IpamService:
    """The allocator as a ``Service`` (``ipamx_spy.app``): ``interface`` and ``routes()``.

    ``store`` None keeps the state in memory (dockerd is then asked to replay, as it does for
    its own default IPAM); ``on_shutdown`` is called by ``IpamDriver.Shutdown``.
    """

    interface = INTERFACE
    spy_calls = True  # serves ipamx-spy's own calls (``dockerd.SpyCall``) besides dockerd's

    def __init__(self, allocator: Allocator | None = None, *, store: StateStore | None = None,
                 on_shutdown: Callable[[], None] | None = None) -> None:
        self.allocator = allocator or Allocator()
        self.store = store
        self.on_shutdown = on_shutdown
        self.counters = CallCounters()
        self._lock = threading.Lock()

    @classmethod
    def from_options(
        cls,
        *,
        compat: str = "27",
        local_space: str = DEFAULT_LOCAL_SPACE,
        global_space: str = DEFAULT_GLOBAL_SPACE,
        local_pools: Iterable[str] = (),
        global_pools: Iterable[str] = (),
        exclude: Iterable[str] = (),
        engine_id: str = DEFAULT_ENGINE_ID,
        state_path: str | os.PathLike[str] | None = None,
        state_group: str | None = None,
        on_shutdown: Callable[[], None] | None = None,
        clock: Clock = time.time,
    ) -> IpamService:
        """Build from command-line values. Raises ConfigError for a bad option, StateError
        for an unusable state file (locked, damaged, other compat or space names) and OSError
        when the state directory cannot be written (ValueError for an unknown
        ``state_group``, the group that may read the state files)."""
        config = IpamConfig.build(compat=compat, local_space=local_space,
                                  global_space=global_space, local_pools=local_pools,
                                  global_pools=global_pools, exclude=exclude, engine_id=engine_id)
        if state_path is None:
            return cls(Allocator(config, clock=clock), on_shutdown=on_shutdown)
        allocator, store = open_state(state_path, config, clock=clock, group=state_group)
        return cls(allocator, store=store, on_shutdown=on_shutdown)

    def close(self) -> None:
        """Fold the journal into the snapshot (best effort) and release the state file."""
        with self._lock:
            if self.store is not None:
                try:
                    self.store.compact(self.allocator)
                except OSError as exc:
                    self.store.last_error = str(exc)
                self.store.close()

    # -- routing ---------------------------------------------------------------------------

    def handlers(self) -> dict[Call, tuple[Handler, bool]]:
        """Each row's handler, and whether it changes the allocator (run in a transaction)."""
        return {
            Endpoint.IPAM_GET_CAPABILITIES: (self.get_capabilities, False),
            Endpoint.GET_DEFAULT_ADDRESS_SPACES: (self.get_default_address_spaces, False),
            Endpoint.REQUEST_POOL: (self.request_pool, True),
            Endpoint.RELEASE_POOL: (self.release_pool, True),
            Endpoint.REQUEST_ADDRESS: (self.request_address, True),
            Endpoint.RELEASE_ADDRESS: (self.release_address, True),
            SpyCall.LEASES: (self.leases, False),
            SpyCall.NETWORKS: (self.networks, False),
            SpyCall.METRICS: (self.metrics, False),
            SpyCall.VERSION: (self.version, False),
            SpyCall.CONFIGURATION: (self.configuration, False),
            SpyCall.SHUTDOWN: (self.shutdown, False),
        }

    def routes(self) -> dict[Call, Route]:
        """A route per row of the interface. Raises LookupError when ``handlers`` misses a
        row or names one that is not the interface's (``app.check_table``)."""
        table = check_table(INTERFACE, self.handlers(), spy_calls=self.spy_calls)
        return {call: self._route(call, handler, mutating)
                for call, (handler, mutating) in table.items()}

    def _route(self, call: Call, handler: Handler, mutating: bool) -> Route:
        method = call.method
        fields = request_fields(call)

        def route(request: dict[str, JSON]) -> JSON:
            with self._lock:
                try:
                    result = self._run(call, handler, checked(call, request, fields),
                                       mutating)
                except PluginError:
                    self.counters.count(method, failed=True)
                    raise
                self.counters.count(method, failed=False)
                return result

        route.__name__ = call.value
        return route

    def _run(self, call: Call, handler: Handler, fields: dict[str, Any],
             mutating: bool) -> JSON:
        """Run ``handler`` on the checked ``fields``; IpamError and a failed save become
        PluginError (the transaction is undone)."""
        try:
            if not mutating:
                return handler(fields)
            with self.allocator.transaction() as txn:
                result = handler(fields)
                if self.store is not None:
                    self.store.save(self.allocator, txn.changes)
                return result
        except IpamError as exc:
            raise PluginError(exc.message) from exc
        except OSError as exc:
            path = self.store.path if self.store is not None else "the state file"
            raise PluginError(f"ipamx-spy: could not save the allocator state to {path} "
                              f"({exc}); the request was undone") from exc

    # -- Docker's endpoints ----------------------------------------------------------------

    def get_capabilities(self, _fields: dict[str, Any]) -> JSON:
        return {"RequiresMACAddress": False, "RequiresRequestReplay": self.store is None}

    def get_default_address_spaces(self, _fields: dict[str, Any]) -> JSON:
        local, global_ = self.allocator.default_address_spaces()
        return {"LocalDefaultAddressSpace": local, "GlobalDefaultAddressSpace": global_}

    def request_pool(self, f: dict[str, Any]) -> JSON:
        pool = self.allocator.request_pool(f["AddressSpace"], f["Pool"], f["SubPool"],
                                           f["Options"], f["V6"])
        return {"PoolID": pool.pool_id, "Pool": pool.pool, "Data": {}}

    def release_pool(self, f: dict[str, Any]) -> JSON:
        self.allocator.release_pool(f["PoolID"])
        return {}

    def request_address(self, f: dict[str, Any]) -> JSON:
        address = self.allocator.request_address(f["PoolID"], f["Address"], f["Options"])
        return {"Address": address, "Data": {}}

    def release_address(self, f: dict[str, Any]) -> JSON:
        self.allocator.release_address(f["PoolID"], f["Address"])
        return {}

    # -- ipamx-spy's extension endpoints ---------------------------------------------------

    def leases(self, _fields: dict[str, Any]) -> JSON:
        return {"Leases": [_lease_json(lease) for lease in self.allocator.leases()]}

    def networks(self, _fields: dict[str, Any]) -> JSON:
        return {"Networks": [_network_json(n) for n in self.allocator.networks()]}

    def metrics(self, _fields: dict[str, Any]) -> JSON:
        saves = self.store.saves if self.store is not None else 0
        text = render(self.counters, self.allocator.networks(),
                      compat=self.allocator.config.compat.value, durable=self.store is not None,
                      journal_saves=saves)
        return {"Metrics": text}

    def version(self, _fields: dict[str, Any]) -> JSON:
        return {"Version": __version__, "Protocol": CONTENT_TYPE,
                "Compat": self.allocator.config.compat.value}

    def configuration(self, _fields: dict[str, Any]) -> JSON:
        return {
            **self.allocator.config.to_json(),
            "StatePath": None if self.store is None else str(self.store.path),
            "RequiresRequestReplay": self.store is None,
        }

    def shutdown(self, _fields: dict[str, Any]) -> JSON:
        if self.on_shutdown is None:
            raise PluginError("ipamx-spy: IpamDriver.Shutdown is not served (start ipamx-spy "
                              "with --allow-shutdown to allow it)")
        self.on_shutdown()
        return {}


def _lease_json(lease: LeaseView) -> JSON:
    return {
        "AddressSpace": lease.address_space, "Pool": lease.pool, "PoolID": lease.pool_id,
        "Address": f"{lease.address}/{lease.prefix_len}", "Allocated": iso_time(lease.time),
        "AllocatedUnix": lease.time, "Gateway": lease.gateway, "Endpoint": lease.endpoint,
        "MacAddress": lease.mac,
    }


def _network_json(network: NetworkView) -> JSON:
    return {
        "AddressSpace": network.address_space, "Pool": network.pool, "PoolID": network.pool_id,
        "SubPools": list(network.sub_pool_ids), "InUse": network.in_use,
        "Leases": network.leases, "Capacity": network.capacity,
        "Utilisation": network.utilisation,
    }

