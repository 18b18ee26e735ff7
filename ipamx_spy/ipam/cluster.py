"""What a shared store holds, read directly from etcd (``ipamx-spy status --store``).

Every host's view in one: the global space's pools (with the hosts holding each) and leases
(with the host that asked), and each host's own local space.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import IpamConfig
from .etcd import EtcdClient, EtcdLog, EtcdSpec, host_names
from .shared import GLOBAL_LOG, HostLease, HostNetwork, Replica, host_log


@dataclass(frozen=True, kw_only=True)
class ClusterView:
    store: str
    hosts: tuple[str, ...]
    networks: tuple[HostNetwork, ...]
    leases: tuple[HostLease, ...]


def read_cluster(store: str, config: IpamConfig | None = None) -> ClusterView:
    """Replay every log of ``store``. Raises ConfigError (bad URL), StoreUnavailable (an
    OSError), StateError (a damaged log)."""
    client = EtcdClient(EtcdSpec.parse(store))
    try:
        hosts = host_names(client)
        config = config or IpamConfig()
        networks: list[HostNetwork] = []
        leases: list[HostLease] = []
        shared = Replica(EtcdLog(client, GLOBAL_LOG), config)
        shared.catch_up()
        networks += shared.host_networks(None)
        leases += shared.host_leases(None)
        for host in hosts:
            replica = Replica(EtcdLog(client, host_log(host)), config)
            replica.catch_up()
            networks += replica.host_networks(host)
            leases += replica.host_leases(host)
        return ClusterView(store=str(client.spec), hosts=tuple(hosts),
                           networks=tuple(networks), leases=tuple(leases))
    finally:
        client.close()
