"""``--store etcd://…``: the reference allocator with its data in etcd, shared by hosts.

The same routes as ``IpamService`` (its field checks and extension endpoints), over a
``SharedAllocator``: every change is a compare-and-swap append to a log in etcd (see
``shared.py``), made before dockerd hears the answer. Requests run off the relay's event loop
(``blocking``), since each waits for the cluster. When etcd cannot be reached in time dockerd
gets ``Err`` saying so, and nothing was handed out.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from ipamx_spy.app import Call, PluginError
from ipamx_spy.dockerd import SpyCall

from .allocator import Allocator, Clock
from .config import IpamConfig
from .errors import IpamError, StateError
from .etcd import EtcdClient, EtcdLog, EtcdSpec
from .metrics import render
from .service import Handler, IpamService, _lease_json, _network_json
from .shared import GLOBAL_LOG, AppendRetry, MemoryLog, SharedAllocator, StoreUnavailable, host_log

JSON = Any
_READS_THE_CLUSTER = frozenset({SpyCall.LEASES, SpyCall.NETWORKS, SpyCall.METRICS})


def default_host_id() -> str:
    return socket.gethostname() or "localhost"


class SharedIpamService(IpamService):
    """The allocator of one host in a cluster sharing the global address space via etcd."""

    blocking = True

    def __init__(self, shared: SharedAllocator, client: EtcdClient | None, *,
                 on_shutdown: Callable[[], None] | None = None) -> None:
        super().__init__(Allocator(shared.config), on_shutdown=on_shutdown)
        self.shared = shared
        self.client = client

    @classmethod
    def open(cls, config: IpamConfig, spec: EtcdSpec, *, host_id: str | None = None,
             on_shutdown: Callable[[], None] | None = None,
             clock: Clock = time.time) -> SharedIpamService:
        """Connect and catch up with the cluster at ``spec`` (``--store``, parsed). Raises
        StateError when etcd is unreachable or its logs are damaged."""
        host = host_id or default_host_id()
        if not host or "/" in host:
            raise StateError(f"--host-id {host!r} must be non-empty and contain no '/'")
        client = EtcdClient(spec)
        shared = SharedAllocator(config, host=host, global_log=EtcdLog(client, GLOBAL_LOG),
                                 local_log=EtcdLog(client, host_log(host)), clock=clock,
                                 retry=AppendRetry(deadline=client.deadline))
        try:
            shared.catch_up()
        except StoreUnavailable as exc:
            client.close()
            raise StateError(f"cannot start: {exc}") from exc
        except BaseException:
            client.close()
            raise
        return cls(shared, client, on_shutdown=on_shutdown)

    @classmethod
    def in_process(cls, config: IpamConfig, host: str, global_log: MemoryLog,
                   local_log: MemoryLog) -> SharedIpamService:
        """One host's allocator over logs in this process (``shared.MemoryLog``): the hosts
        of a merged replay, each with its own local log and all with one global log."""
        shared = SharedAllocator(config, host=host, global_log=global_log, local_log=local_log)
        shared.catch_up()
        return cls(shared, None)

    def close(self) -> None:
        with self._lock:
            if self.client is not None:
                self.client.close()

    def _run(self, call: Call, handler: Handler, fields: dict[str, Any],
             mutating: bool) -> JSON:
        try:
            if not mutating and call in _READS_THE_CLUSTER:
                self.shared.catch_up()
            return handler(fields)
        except IpamError as exc:
            raise PluginError(exc.message) from exc
        except StoreUnavailable as exc:
            raise PluginError(f"ipamx-spy: {exc}") from exc
        except StateError as exc:
            raise PluginError(f"ipamx-spy: the shared store is damaged: {exc}") from exc

    # -- Docker's endpoints ----------------------------------------------------------------

    def get_capabilities(self, _fields: dict[str, Any]) -> JSON:
        return {"RequiresMACAddress": False, "RequiresRequestReplay": False}

    def request_pool(self, f: dict[str, Any]) -> JSON:
        got = self.shared.request_pool(f["AddressSpace"], f["Pool"], f["SubPool"],
                                       f["Options"], f["V6"])
        return {**got, "Data": {}}

    def release_pool(self, f: dict[str, Any]) -> JSON:
        self.shared.release_pool(f["PoolID"])
        return {}

    def request_address(self, f: dict[str, Any]) -> JSON:
        address = self.shared.request_address(f["PoolID"], f["Address"], f["Options"])
        return {"Address": address, "Data": {}}

    def release_address(self, f: dict[str, Any]) -> JSON:
        self.shared.release_address(f["PoolID"], f["Address"])
        return {}

    # -- ipamx-spy's extension endpoints ---------------------------------------------------

    def leases(self, _fields: dict[str, Any]) -> JSON:
        return {"Leases": [{**_lease_json(v.lease), "Host": v.host}
                           for v in self.shared.leases()]}

    def networks(self, _fields: dict[str, Any]) -> JSON:
        return {"Networks": [{**_network_json(v.network), "Hosts": list(v.holders)}
                             for v in self.shared.networks()]}

    def metrics(self, _fields: dict[str, Any]) -> JSON:
        networks = [v.network for v in self.shared.networks()]
        text = render(self.counters, networks, compat=self.shared.config.compat.value,
                      durable=True, journal_saves=0)
        return {"Metrics": text}

    def configuration(self, _fields: dict[str, Any]) -> JSON:
        return {**self.shared.config.to_json(), "StatePath": None,
                "Store": "memory" if self.client is None else str(self.client.spec),
                "HostID": self.shared.host,
                "RequiresRequestReplay": False}
