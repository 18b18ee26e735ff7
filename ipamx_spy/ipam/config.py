"""The allocator's configuration: generation, address-space names, pool lists, exclusions.

Everything an operator can choose lives in one frozen ``IpamConfig``; ``IpamConfig.build``
turns the strings of a command line into one and says which option is wrong when it cannot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..dockerd.scopes import Scope as Scope  # an address space's scope: the protocol's word
from .errors import ConfigError
from .predefined import GLOBAL_DEFAULTS, LOCAL_DEFAULTS, PredefinedPool, with_ula
from .prefix import WIDTH, Prefix, parse_addr, parse_prefix


class Compat(StrEnum):
    """The dockerd allocator the built-in one imitates (``--docker-compat``); the value is the
    word in options, state files and answers."""

    V27 = "27"
    V26 = "26"
    V20_10 = "20.10"


COMPATS: tuple[Compat, ...] = tuple(Compat)
# Docker major version -> the compat mode that imitates its default IPAM: <= 23 kept v20.10's
# allocator, v24 rewrote it (moby#44968) and v27 replaced the round-robin pool choice.
FIRST_MAJOR = {Compat.V20_10: 0, Compat.V26: 24, Compat.V27: 27}
DEFAULT_LOCAL_SPACE = "LocalDefault"
DEFAULT_GLOBAL_SPACE = "GlobalDefault"
DEFAULT_ENGINE_ID = "ipamx-spy"
SCOPES = tuple(Scope)


@dataclass(frozen=True, kw_only=True)
class IpamConfig:
    """What the allocator serves.

    ``compat``: "27" (v27+ first-fit allocator, default), "26" (v24–v26: round-robin pools,
    v27's addresses and texts) or "20.10" (≤v23); any Docker version (``23``, ``26.1.5``,
    ``28``) is accepted and stored as its mode (``compat_mode``).
    ``local_pools``/``global_pools``: predefined pools (empty = Docker's defaults).
    ``exclude``: prefixes dynamic pools of the *local* space must not overlap (dockerd's host
    routes and nameservers, which it never sends to a remote IPAM; PROTOCOL.md 8).
    ``engine_id``: the seed of the local IPv6 ULA pool (v27+; dockerd uses its engine-id file).
    """

    compat: Compat = Compat.V27
    local_space: str = DEFAULT_LOCAL_SPACE
    global_space: str = DEFAULT_GLOBAL_SPACE
    local_pools: tuple[PredefinedPool, ...] = ()
    global_pools: tuple[PredefinedPool, ...] = ()
    exclude: tuple[Prefix, ...] = ()
    engine_id: str = DEFAULT_ENGINE_ID

    def __post_init__(self) -> None:
        object.__setattr__(self, "compat", compat_mode(self.compat))
        for option, name in ((Scope.LOCAL, self.local_space), (Scope.GLOBAL, self.global_space)):
            if not name or "/" in name:
                raise ConfigError(f"{option} address space name {name!r} must be non-empty "
                                  "and contain no '/' (pool IDs are split on '/')")
        if self.local_space == self.global_space:
            raise ConfigError(f"local and global address spaces are both {self.local_space!r}")
        object.__setattr__(self, "exclude", tuple(p.masked() for p in self.exclude))

    def scope_of(self, space_name: str) -> Scope | None:
        """The scope of an address-space name, None for another name."""
        return {self.local_space: Scope.LOCAL, self.global_space: Scope.GLOBAL}.get(space_name)

    def space_name(self, scope: Scope) -> str:
        return self.local_space if scope is Scope.LOCAL else self.global_space

    def predefined(self, scope: Scope) -> tuple[PredefinedPool, ...]:
        """The configured (or default) list of ``scope``, with v27+'s ULA for local."""
        if scope is Scope.GLOBAL:
            return self.global_pools or GLOBAL_DEFAULTS
        pools = self.local_pools or LOCAL_DEFAULTS
        return with_ula(pools, self.engine_id) if self.compat is Compat.V27 else pools

    def to_json(self) -> dict[str, object]:
        return {
            "Compat": self.compat.value,
            "AddressSpaces": {"Local": self.local_space, "Global": self.global_space},
            "PredefinedPools": {scope: [p.to_json() for p in self.predefined(scope)]
                                for scope in SCOPES},
            "Exclude": [str(p) for p in self.exclude],
            "EngineID": self.engine_id,
        }

    @classmethod
    def build(
        cls,
        *,
        compat: str = "27",
        local_space: str = DEFAULT_LOCAL_SPACE,
        global_space: str = DEFAULT_GLOBAL_SPACE,
        local_pools: Iterable[str] = (),
        global_pools: Iterable[str] = (),
        exclude: Iterable[str] = (),
        engine_id: str = DEFAULT_ENGINE_ID,
    ) -> IpamConfig:
        """A config from command-line strings. Raises ConfigError naming the bad value."""
        return cls(
            compat=compat_mode(compat),
            local_space=local_space,
            global_space=global_space,
            local_pools=tuple(PredefinedPool.parse(p) for p in local_pools),
            global_pools=tuple(PredefinedPool.parse(p) for p in global_pools),
            exclude=tuple(_exclusion(p) for p in exclude),
            engine_id=engine_id,
        )


def compat_mode(version: str) -> Compat:
    """The compat mode imitating Docker ``version``: ``20.10`` for ≤23 (``19.03``, ``20.10.24``,
    ``23``), ``26`` for 24–26 (``26.1.5``), ``27`` for 27 and later (``28``, ``29.0``).
    Raises ConfigError for anything else."""
    cleaned = version.strip().lstrip("vV").split("+")[0].split("-")[0]  # 26.1.5+dfsg1
    if cleaned in COMPATS:
        return Compat(cleaned)
    head = cleaned.split(".")[0]
    if not head.isdigit() or (cleaned.count(".") > 0 and not all(
            part.isdigit() for part in cleaned.split(".")[1:] if part)):
        raise ConfigError(f"compat {version!r}: expected a Docker version such as 20.10, 23, "
                          f"26, 26.1.5, 27 or 28 (modes: {', '.join(COMPATS)})")
    major = int(head)
    return max((mode for mode, first in FIRST_MAJOR.items() if major >= first),
               key=lambda mode: FIRST_MAJOR[mode])


def _exclusion(text: str) -> Prefix:
    prefix = parse_prefix(text)
    if prefix is not None:
        return prefix
    address = parse_addr(text)
    if address is None:
        raise ConfigError(f"exclude {text!r}: expected a CIDR or an IP address")
    return Prefix(address.version, address.value, WIDTH[address.version])
