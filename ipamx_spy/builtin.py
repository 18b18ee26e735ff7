"""The built-in reference plugin: the allocator, and optionally the network driver."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .app import BuiltinPlugin, Service
from .atomic import MissingDirectory, UnsafePath
from .ipam.config import Compat, compat_mode
from .places import state_path

if TYPE_CHECKING:
    from .ipam.etcd import EtcdSpec


class NetworkLinks(enum.StrEnum):
    """Where the built-in network driver makes its bridges and veths."""

    NETLINK = "netlink"  # the host's, through netlink (root)
    MEMORY = "memory"  # pretend links in memory: replay and drive without root or side effects


class StoreKind(enum.StrEnum):
    """Where the allocator keeps its data (``--store``)."""

    FILE = "file"  # the --state file (or memory with --state none): this host only
    ETCD = "etcd"  # an etcd cluster (etcd:// or etcds://), shared by hosts


@dataclass(frozen=True, kw_only=True)
class AllocatorStore:
    """``--store`` parsed once: its kind, and for etcd the members and TLS files."""

    kind: StoreKind = StoreKind.FILE
    etcd: EtcdSpec | None = None

    def __post_init__(self) -> None:
        if (self.kind is StoreKind.ETCD) != (self.etcd is not None):
            raise ValueError("an etcd store needs its EtcdSpec, and only an etcd store has one")

    @classmethod
    def parse(cls, text: str) -> AllocatorStore:
        """``file`` (or empty) or ``etcd[s]://HOST:PORT[,...][/PREFIX][?ca=&cert=&key=]``.
        Raises ``ipam.ConfigError`` (a ValueError) naming what is wrong."""
        if text.strip() in {"", StoreKind.FILE}:
            return cls()
        from .ipam.etcd import EtcdSpec

        return cls(kind=StoreKind.ETCD, etcd=EtcdSpec.parse(text.strip()))

    def __str__(self) -> str:
        return str(self.etcd) if self.etcd is not None else self.kind.value


FILE_STORE = AllocatorStore()


@dataclass(frozen=True, kw_only=True)
class BuiltinConfig:
    """How the built-in plugin is set up (the ``serve``/``proxy`` options)."""

    name: str = "ipamx"
    state: Path | None = None  # None: in memory, RequiresRequestReplay
    compat: Compat = Compat.V27  # the dockerd allocator imitated (``compat_mode`` reads text)
    local_space: str = "LocalDefault"
    global_space: str = "GlobalDefault"
    local_pools: tuple[str, ...] = ()  # () = Docker's predefined pools
    global_pools: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # prefixes dynamic local pools must avoid
    engine_id: str | None = None  # seeds the IPv6 ULA prefix, like dockerd's engine-id
    network_driver: bool = False
    network_state: Path | None = None
    network_links: NetworkLinks = NetworkLinks.NETLINK
    store: AllocatorStore = FILE_STORE  # etcd: the allocator's data in etcd, shared by hosts
    host_id: str | None = None  # this host's name in the shared store (default: hostname)
    group: str | None = None  # may read the state files (0640); None: only the owner (0600)

    def __post_init__(self) -> None:
        """Words become their enums (a config built from text: ``builtin:compat=20.10``).
        Raises ValueError (``ipam.ConfigError`` for the compat) naming the bad value."""
        object.__setattr__(self, "compat", compat_mode(self.compat))
        if isinstance(self.store, str):
            object.__setattr__(self, "store", AllocatorStore.parse(self.store))
        try:
            object.__setattr__(self, "network_links", NetworkLinks(self.network_links))
        except ValueError:
            raise ValueError(f"network_links must be {' or '.join(NetworkLinks)}, not "
                             f"{self.network_links!r}") from None


def make_plugin(config: BuiltinConfig = BuiltinConfig(),
                on_shutdown: Callable[[], None] | None = None) -> BuiltinPlugin:
    """Build the plugin. Raises ValueError for a bad setting, OSError for an unreadable state."""
    services: list[Service] = []
    if config.network_driver:
        from .netdriver.service import NetworkService

        services.append(NetworkService.from_config(config))
    from .ipam.config import DEFAULT_ENGINE_ID
    from .ipam.service import IpamService

    if config.store.etcd is not None:
        services.append(_shared_ipam(config, config.store.etcd, on_shutdown))
        return BuiltinPlugin(services)
    services.append(IpamService.from_options(
        compat=config.compat, local_space=config.local_space, global_space=config.global_space,
        local_pools=config.local_pools, global_pools=config.global_pools,
        exclude=config.exclude, engine_id=config.engine_id or DEFAULT_ENGINE_ID,
        state_path=config.state, state_group=config.group, on_shutdown=on_shutdown))
    return BuiltinPlugin(services)


def _shared_ipam(config: BuiltinConfig, etcd: EtcdSpec,
                 on_shutdown: Callable[[], None] | None) -> Service:
    """The allocator on etcd (``--store etcd://...``). Raises ValueError, RuntimeError."""
    from .ipam.config import DEFAULT_ENGINE_ID, IpamConfig
    from .ipam.shared_service import SharedIpamService

    ipam = IpamConfig.build(
        compat=config.compat, local_space=config.local_space, global_space=config.global_space,
        local_pools=config.local_pools, global_pools=config.global_pools,
        exclude=config.exclude, engine_id=config.engine_id or DEFAULT_ENGINE_ID)
    return SharedIpamService.open(ipam, etcd, host_id=config.host_id,
                                  on_shutdown=on_shutdown)


def config_from_options(*, name: str, state: str, compat: Compat, local_space: str,
                        global_space: str, network_driver: bool,
                        local_pools: Sequence[str] = (), global_pools: Sequence[str] = (),
                        exclude: Sequence[str] = (), engine_id: str | None = None,
                        store: AllocatorStore = FILE_STORE, host_id: str | None = None,
                        group: str | None = None) -> BuiltinConfig:
    """The configuration the ``serve``/``proxy`` options describe. ``state`` is ``--state``
    (``none``, ``default`` or a path; the network driver's state sits beside the allocator's),
    ``compat`` the allocator mode (``compat_mode(choose_compat(...).mode)``), ``store``
    ``--store`` as ``AllocatorStore.parse`` reads it (a file store keeps the data in
    ``state``)."""
    network_state = state_path(name, state, "network")
    if network_state is not None and state not in {"none", "default"}:
        network_state = Path(state).with_suffix(".network.json")
    return BuiltinConfig(
        name=name, state=state_path(name, state, "state"), compat=compat,
        local_space=local_space, global_space=global_space, network_driver=network_driver,
        network_state=network_state if network_driver else None,
        local_pools=tuple(local_pools), global_pools=tuple(global_pools),
        exclude=tuple(exclude), engine_id=engine_id,
        store=store, host_id=host_id or None, group=group)


class PluginStartError(Exception):
    """The built-in plugin cannot start; ``str()`` says why and what to do about it."""


def start_plugin(config: BuiltinConfig,
                 on_shutdown: Callable[[], None] | None = None) -> BuiltinPlugin:
    """``make_plugin``, with every reason it can fail (a bad setting, a locked, unreadable or
    unsafe state file, an unreachable store) as one ``PluginStartError`` sentence."""
    try:
        return make_plugin(config, on_shutdown=on_shutdown)
    except (ValueError, OSError, RuntimeError) as exc:
        raise PluginStartError(plugin_start_problem(config.name, exc)) from exc


def plugin_start_problem(name: str, exc: BaseException) -> str:
    """Why the built-in plugin for ``name`` could not start, with what to do about it."""
    from .ipam.errors import StateInUse

    if isinstance(exc, StateInUse):
        return (f"another ipamx-spy serves {name} (its allocator state is locked); stop it, "
                "or give another --name or --state")
    if isinstance(exc, PermissionError):
        where = f" {exc.filename}" if exc.filename else ""
        return (f"cannot open the allocator state{where}: permission denied; run as root (the "
                "default state lives in /var/lib/ipamx-spy), or give --state PATH you may "
                "write, or --state none")
    if isinstance(exc, UnsafePath | MissingDirectory):
        return f"cannot open the allocator state: {exc}"
    if isinstance(exc, OSError):
        return f"cannot start the built-in plugin: {exc.strerror or exc}" + (
            f" ({exc.filename})" if exc.filename else "")
    return f"cannot start the built-in plugin: {exc}"


@dataclass(frozen=True, kw_only=True)
class CompatChoice:
    """The allocator mode ``--docker-compat`` picked, and the sentence saying why."""

    mode: str
    note: str = ""
    warning: bool = False  # no dockerd answered: the mode is the default, not the daemon's


def choose_compat(compat: str, docker_host: str | None = None) -> CompatChoice:
    """``--docker-compat``: ``auto`` becomes the mode of the dockerd that answers on
    ``docker_host`` (``$DOCKER_HOST`` when None; 27 with a warning when none does); anything else
    is kept as given (the allocator reads it)."""
    if compat.strip().lower() != "auto":
        return CompatChoice(mode=compat)
    from .attach.docker import DockerAPI, DockerError
    from .attach.docker import docker_host as default_host
    from .ipam.config import compat_mode

    host = default_host(docker_host)
    try:
        version = str(DockerAPI(host, timeout=5.0).json("GET", "/version")["Version"])
        mode = compat_mode(version)
    except (DockerError, OSError, KeyError, TypeError, ValueError) as exc:
        return CompatChoice(mode="27", warning=True, note=(
            f"--docker-compat auto: no dockerd version from {host} ({exc}); imitating Docker "
            "27+ (--docker-compat 27)"))
    return CompatChoice(mode=mode, note=(f"dockerd {version} answers on {host}: imitating its "
                                         f"default IPAM (--docker-compat {mode})"))
