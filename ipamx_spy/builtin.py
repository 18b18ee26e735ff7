"""The built-in reference plugin: the allocator, and optionally the network driver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .app import BuiltinPlugin, Service


@dataclass(frozen=True, kw_only=True)
class BuiltinConfig:
    """How the built-in plugin is set up (the ``serve``/``proxy`` options)."""

    name: str = "ipamx"
    state: Path | None = None  # None: in memory, RequiresRequestReplay
    compat: str = "27"
    local_space: str = "LocalDefault"
    global_space: str = "GlobalDefault"
    local_pools: tuple[str, ...] = ()  # () = Docker's predefined pools
    global_pools: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # prefixes dynamic local pools must avoid
    engine_id: str | None = None  # seeds the IPv6 ULA prefix, like dockerd's engine-id
    network_driver: bool = False
    network_state: Path | None = None
    network_links: str = "netlink"  # "memory": pretend links, for replay without root
    store: str | None = None  # etcd://HOST:PORT[,...]: the allocator's data in etcd, shared
    host_id: str | None = None  # this host's name in the shared store (default: hostname)
    group: str | None = None  # may read the state files (0640); None: only the owner (0600)


def make_plugin(config: BuiltinConfig = BuiltinConfig(),
                on_shutdown: Callable[[], None] | None = None) -> BuiltinPlugin:
    """Build the plugin. Raises ValueError for a bad setting, OSError for an unreadable state."""
    services: list[Service] = []
    if config.network_driver:
        from .netdriver.service import NetworkService

        services.append(NetworkService.from_config(config))
    from .ipam.config import DEFAULT_ENGINE_ID
    from .ipam.service import IpamService

    if config.store is not None:
        services.append(_shared_ipam(config, on_shutdown))
        return BuiltinPlugin(services)
    services.append(IpamService.from_options(
        compat=config.compat, local_space=config.local_space, global_space=config.global_space,
        local_pools=config.local_pools, global_pools=config.global_pools,
        exclude=config.exclude, engine_id=config.engine_id or DEFAULT_ENGINE_ID,
        state_path=config.state, state_group=config.group, on_shutdown=on_shutdown))
    return BuiltinPlugin(services)


def _shared_ipam(config: BuiltinConfig, on_shutdown: Callable[[], None] | None) -> Service:
    """The allocator on etcd (``--store etcd://...``). Raises ValueError, RuntimeError."""
    from .ipam.config import DEFAULT_ENGINE_ID, IpamConfig
    from .ipam.shared_service import SharedIpamService

    ipam = IpamConfig.build(
        compat=config.compat, local_space=config.local_space, global_space=config.global_space,
        local_pools=config.local_pools, global_pools=config.global_pools,
        exclude=config.exclude, engine_id=config.engine_id or DEFAULT_ENGINE_ID)
    assert config.store is not None
    return SharedIpamService.open(ipam, config.store, host_id=config.host_id,
                                  on_shutdown=on_shutdown)
