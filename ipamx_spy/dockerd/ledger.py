"""The ledger: which pools and addresses a plugin has handed out, as its answers show them.

One ledger serves every reader of a session: the validator (double allocations, releases of
what is not held, PoolIDs never issued) and replay (is a value the live plugin chose free and
inside its pool?). It is fed the successful answers in order and knows two facts of dockerd:

- **Sub-pools share addresses.** A network created with ``--ip-range`` asks for its subnet
  with a ``SubPool``; the plugin may answer the same pool under another PoolID. Addresses are
  therefore kept per pool *network* within an address space, not per PoolID: an address of
  ``10.0.0.0/16`` handed out under one PoolID is in use under every PoolID of that network.
  They are dropped when the last pool of that network is released.
- **Daemon restarts replay.** After a restart dockerd activates the plugin again and, for a
  plugin that does not ask for replay, asks again for the pools and addresses it still uses
  (PROTOCOL.md 5.7). ``restart`` moves the addresses handed out so far aside: handing one of
  them out again is the replay, not a double allocation, and releasing one is not a release
  of something unknown.

``AddressRoles`` follows a session for what the ledger's counts do not say: which address a
``ReleaseAddress`` gives back, a container's, the network's gateway or an ``--aux-address``
(the request names only the PoolID and the address; dockerd's log line of a refused release
differs). See its docstring for the rule.

A pool that dockerd names before the ledger saw it issued (a recording that starts in the
middle of a daemon lifetime) can be ``adopt``-ed: it is held, of unknown network, and its
addresses are kept under its PoolID. Addresses are counted: one handed out twice needs two
releases.

**Shared spaces.** A swarm's global address space is one resource for every daemon of the
swarm (the cross-host rules, ``multihost/rules.py``): one ledger holds it, each daemon's
PoolIDs issued under ``shared_pool_id(daemon, pool_id)`` and in ``Scope.GLOBAL``'s space, so
that the pools of one network share addresses across daemons as sub-pools do. ``hand_out`` may
say who got an address (``Holder``: the daemon and the exchange number); ``holder`` answers it
until the address is released (once, whatever the count) or its network's last pool is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .endpoints import AddressRole, Endpoint, LedgerEffect, row_for
from .goparse import IPAddress, IPNetwork, cidr_ip, parse_cidr, parse_ip
from .gotypes import field_value
from .options import GATEWAY_LABEL
from .verdict import is_gateway_request, pool_gateway

JSON = Any
Holder = tuple[str, int]  # who got an address in a shared ledger: (daemon, exchange number)


def shared_pool_id(daemon: str, pool_id: str) -> str:
    """The PoolID a daemon's pool has in a ledger that several daemons share."""
    return f"{daemon}\0{pool_id}"


def pool_daemon(pool: IssuedPool) -> str:
    """The daemon of a pool issued under ``shared_pool_id``."""
    return pool.pool_id.split("\0", 1)[0]


@dataclass(slots=True)
class IssuedPool:
    """One PoolID the plugin issued (``network`` None: adopted, never seen issued)."""

    pool_id: str
    network: IPNetwork | None
    space: str = ""
    held: bool = True
    key: str = field(init=False)  # where its addresses are kept: shared by one network's pools

    def __post_init__(self) -> None:
        self.key = (f"id\0{self.pool_id}" if self.network is None
                    else f"net\0{self.space}\0{self.network}")


@dataclass
class Ledger:
    pools: dict[str, IssuedPool] = field(default_factory=dict)
    # Addresses (as integers: the network of a key fixes the family) per ``IssuedPool.key``.
    current: dict[str, Counter[int]] = field(default_factory=dict)
    previous: dict[str, set[int]] = field(default_factory=dict)
    holders: Counter[str] = field(default_factory=Counter)  # held pools per ``IssuedPool.key``
    # Who got each address (only those handed out with ``by``), per ``IssuedPool.key``.
    given: dict[str, dict[int, Holder]] = field(default_factory=dict)

    # -- pools ---------------------------------------------------------------------------

    def pool(self, pool_id: object) -> IssuedPool | None:
        """The pool of a PoolID, held or released; None when never seen."""
        return self.pools.get(pool_id) if isinstance(pool_id, str) else None

    def held(self, pool_id: object) -> IssuedPool | None:
        """The pool of a PoolID while it is held."""
        pool = self.pool(pool_id)
        return pool if pool is not None and pool.held else None

    def issue(self, pool_id: str, network: IPNetwork | None, space: str = "") -> IssuedPool:
        """A successful RequestPool answered ``pool_id`` for ``network`` in ``space``."""
        return self._add(IssuedPool(pool_id=pool_id, network=network, space=space))

    def _add(self, pool: IssuedPool) -> IssuedPool:
        old = self.pools.get(pool.pool_id)
        if old is not None and old.held:
            self.holders[old.key] -= 1
        self.pools[pool.pool_id] = pool
        self.holders[pool.key] += 1
        return pool

    def adopt(self, pool_id: str) -> IssuedPool:
        """A PoolID dockerd names that the ledger never saw issued, taken as held."""
        return self._add(IssuedPool(pool_id=pool_id, network=None))

    def release_pool(self, pool_id: str) -> IssuedPool | None:
        """ReleasePool: the pool is no longer held; its network's addresses go with the
        last held pool of that network. Returns the pool as it was (None: never seen)."""
        pool = self.pools.get(pool_id)
        if pool is None:
            return None
        was = IssuedPool(pool_id=pool.pool_id, network=pool.network, space=pool.space,
                         held=pool.held)
        key = pool.key
        if pool.held:
            pool.held = False
            self.holders[key] -= 1
        if self.holders[key] <= 0:
            del self.holders[key]
            self.current.pop(key, None)
            self.previous.pop(key, None)
            self.given.pop(key, None)
        return was

    def overlapping(self, network: IPNetwork, space: str) -> IssuedPool | None:
        """A pool still held in ``space`` whose network overlaps ``network``."""
        for pool in self._held():
            other = pool.network
            if (other is not None and pool.space == space and other.version == network.version
                    and other.overlaps(network)):
                return pool
        return None

    def _held(self) -> Iterator[IssuedPool]:
        return (p for p in self.pools.values() if p.held)

    def held_pools(self, key: str) -> Iterator[IssuedPool]:
        """The pools held whose addresses are kept under ``key`` (``IssuedPool.key``): every
        PoolID of one network in one space, in the order they were issued."""
        return (p for p in self._held() if p.key == key)

    def held_network(self, network: IPNetwork, space: str) -> IssuedPool | None:
        """The first pool held in ``space`` for exactly ``network``."""
        return next(self.held_pools(f"net\0{space}\0{network}"), None)

    # -- addresses -----------------------------------------------------------------------

    def hand_out(self, pool: IssuedPool, ip: IPAddress, by: Holder | None = None) -> int:
        """RequestAddress (or a gateway named in RequestPool's Data) handed out ``ip`` (to
        ``by``, when given: ``holder`` says it from now on): how many times it is handed out
        now (more than 1: a double allocation)."""
        key = pool.key
        held = self.current.get(key)
        if held is None:
            held = self.current[key] = Counter()
        number = int(ip)
        if by is not None:
            self.given.setdefault(key, {})[number] = by
        count = held[number] = held[number] + 1
        earlier = self.previous.get(key)
        if earlier is not None:
            earlier.discard(number)  # the replay after a restart
        return count

    def in_use(self, pool: IssuedPool, ip: IPAddress) -> bool:
        """``ip`` is handed out in this pool's network (this daemon lifetime or an earlier
        one that dockerd will replay)."""
        key, number = pool.key, int(ip)
        held = self.current.get(key)
        return (held is not None and held[number] > 0) or number in self.previous.get(key, ())

    def holder(self, pool: IssuedPool, ip: IPAddress) -> Holder | None:
        """Who was last handed ``ip`` in this pool's network (None: nobody said, or it was
        released since)."""
        return self.given.get(pool.key, {}).get(int(ip))

    def release(self, pool: IssuedPool, ip: IPAddress) -> bool:
        """ReleaseAddress: False when ``ip`` was not handed out (or already released)."""
        key, number = pool.key, int(ip)
        given = self.given.get(key)
        if given is not None:
            given.pop(number, None)
        held = self.current.get(key)
        earlier = self.previous.get(key)
        was = (held is not None and held[number] > 0) or (
            earlier is not None and number in earlier)
        if was and held is not None and held[number]:
            held[number] -= 1
        if earlier is not None:
            earlier.discard(number)
        return was

    # -- from exchanges ------------------------------------------------------------------

    def update(self, endpoint: str, request: JSON, answer: JSON) -> None:
        """Take note of a successful exchange: ``request`` as sent, ``answer`` as decoded
        (replay feeds the live answers; the validator's rules feed the ledger themselves,
        between their checks). What it changes is the endpoint row's ``ledger`` effect."""
        row = row_for(endpoint)
        if row is None or row.ledger is None \
                or not (type(request) is dict or isinstance(request, Mapping)):
            return
        answered: Mapping[str, JSON] = answer if type(answer) is dict \
            or isinstance(answer, Mapping) else {}
        UPDATES[row.ledger](self, request, answered)

    def _issued(self, request: Mapping[str, JSON], answer: Mapping[str, JSON]) -> None:
        parsed, pool_id = parse_cidr(answer.get("Pool")), answer.get("PoolID")
        if parsed is None or not isinstance(pool_id, str):
            return
        pool = self.issue(pool_id, parsed.network, str(request.get("AddressSpace", "")))
        gateway = _address(pool_gateway(answer))
        if gateway is not None:
            self.hand_out(pool, gateway)

    def _pool_released(self, request: Mapping[str, JSON], _answer: Mapping[str, JSON]) -> None:
        self.release_pool(str(request.get("PoolID")))

    def _handed_out(self, request: Mapping[str, JSON], answer: Mapping[str, JSON]) -> None:
        held, ip = self.held(request.get("PoolID")), _address(answer.get("Address"))
        if held is not None and ip is not None:
            self.hand_out(held, ip)

    def _address_released(self, request: Mapping[str, JSON],
                          _answer: Mapping[str, JSON]) -> None:
        held, ip = self.held(request.get("PoolID")), _address(request.get("Address"))
        if held is not None and ip is not None:
            self.release(held, ip)

    def restart(self) -> None:
        """A new daemon lifetime: what was handed out so far is what dockerd replays."""
        for key, addresses in self.current.items():
            self.previous.setdefault(key, set()).update(+addresses)
        self.current = {}


# What each ledger effect of the rows does to the ledger (total: tests/test_dockerd_rows.py).
UPDATES: dict[LedgerEffect, Callable[[Ledger, Mapping[str, JSON], Mapping[str, JSON]], None]] = {
    LedgerEffect.ISSUE_POOL: Ledger._issued,
    LedgerEffect.RELEASE_POOL: Ledger._pool_released,
    LedgerEffect.HAND_OUT_ADDRESS: Ledger._handed_out,
    LedgerEffect.RELEASE_ADDRESS: Ledger._address_released,
}


def _address(text: object) -> IPAddress | None:
    """An address as ``ip`` or ``ip/len``."""
    if isinstance(text, str) and "/" not in text:
        return parse_ip(text)  # (a ReleaseAddress's) cidr_ip refuses it: not asked
    ip = cidr_ip(text)  # the network of ``ip/len`` is not needed: not built
    return ip if ip is not None else parse_ip(text)


# -- what each released address is to dockerd -------------------------------------------------


@dataclass
class AddressRoles:
    """Follows a session's calls in order and says what each ``ReleaseAddress`` gives back
    (``AddressRole``), from what dockerd does (``ipamAllocateVersion`` and
    ``ipamReleaseVersion`` in libnetwork's ``network.go``, the same in 20.10.24, 26.1.5 and
    28.5.2):

    - a network's **gateway** is what a ``RequestAddress`` with ``RequestAddressType:
      com.docker.network.gateway`` was given, or what ``RequestPool`` named in its ``Data``;
      ``docker network rm`` releases it first;
    - an **--aux-address** was asked for by value (``Address`` set, no gateway option) and is
      released at ``docker network rm`` after the gateway, before ``ReleasePool``. A
      container's ``--ip`` is asked for the same way, but given back by ``docker rm``, while
      the network's gateway is still held: so an address asked for by value reads as an aux
      address only once its pool's gateway has been released;
    - everything else, and any address never seen handed out, is a **container endpoint**'s.

    Every call counts whatever its answer (dockerd forgets a release the plugin refused); a
    ``RequestAddress``/``RequestPool`` counts only when it gave an address. What is held is
    forgotten at the pool's ``ReleasePool``, so it is bounded by the pools held at the time.
    A network without a gateway (none seen handed out) reads its aux addresses as a
    container's."""

    gateways: dict[str, set[int]] = field(default_factory=dict)  # PoolID -> its gateway(s)
    by_value: dict[str, set[int]] = field(default_factory=dict)  # PoolID -> asked by value
    closing: set[str] = field(default_factory=set)  # PoolIDs whose gateway was released

    def follow(self, endpoint: str, request: JSON, status: int | None,
               answer: JSON) -> AddressRole | None:
        """Take note of one call (``request`` and ``answer`` decoded, ``status`` None when
        there was no answer); for a ``ReleaseAddress``, what its address is to dockerd
        (None for any other call)."""
        step = _ROLE_STEPS.get(endpoint)
        if step is None:
            return None
        asked: Mapping[str, JSON] = request if type(request) is dict \
            or isinstance(request, Mapping) else {}
        return step(self, asked, status, answer)

    @staticmethod
    def _given(status: int | None, answer: JSON) -> Mapping[str, JSON]:
        """A successful answer's fields ({} for any other answer), for a step that reads
        them (most calls need not)."""
        return answer if isinstance(answer, Mapping) and status == 200 \
            and not field_value(answer, "Error") else {}

    def _pool(self, _asked: Mapping[str, JSON], status: int | None, answer: JSON) -> None:
        given = self._given(status, answer)
        pool_id, data = field_value(given, "PoolID"), field_value(given, "Data")
        gateway = _address(data.get(GATEWAY_LABEL)) if isinstance(data, Mapping) else None
        if isinstance(pool_id, str) and gateway is not None:
            self.gateways.setdefault(pool_id, set()).add(int(gateway))
        return None

    def _address(self, asked: Mapping[str, JSON], status: int | None, answer: JSON) -> None:
        pool_id = asked.get("PoolID")
        gateway = is_gateway_request(asked)
        if not isinstance(pool_id, str) or not (gateway or asked.get("Address")):
            return None  # a container's address the plugin picked: nothing to follow
        ip = _address(field_value(self._given(status, answer), "Address"))
        if ip is None:
            return None
        if gateway:
            self.gateways.setdefault(pool_id, set()).add(int(ip))
        else:
            self.by_value.setdefault(pool_id, set()).add(int(ip))
        return None

    def _release(self, asked: Mapping[str, JSON], _status: int | None,
                 _answer: JSON) -> AddressRole:
        pool_id, ip = asked.get("PoolID"), _address(asked.get("Address"))
        if not isinstance(pool_id, str) or ip is None:
            return _ENDPOINT
        number = int(ip)
        gateways = self.gateways.get(pool_id)
        if gateways is not None and number in gateways:
            gateways.discard(number)
            self.closing.add(pool_id)
            return _GATEWAY
        by_value = self.by_value.get(pool_id)
        if by_value is None or number not in by_value:
            return _ENDPOINT
        by_value.discard(number)
        return _AUX if pool_id in self.closing else _ENDPOINT

    def _pool_released(self, asked: Mapping[str, JSON], _status: int | None,
                       _answer: JSON) -> None:
        pool_id = asked.get("PoolID")
        if isinstance(pool_id, str):
            self.gateways.pop(pool_id, None)
            self.by_value.pop(pool_id, None)
            self.closing.discard(pool_id)
        return None


# Bound once: an enum member read off its class costs about 150 ns on CPython 3.11, and a
# session releases an address for every container it ran.
_ENDPOINT, _GATEWAY, _AUX = AddressRole.ENDPOINT, AddressRole.GATEWAY, AddressRole.AUX

_RoleStep = Callable[[AddressRoles, Mapping[str, JSON], int | None, JSON], AddressRole | None]
_ROLE_STEPS: dict[str, _RoleStep] = {
    Endpoint.REQUEST_POOL.value: AddressRoles._pool,
    Endpoint.REQUEST_ADDRESS.value: AddressRoles._address,
    Endpoint.RELEASE_ADDRESS.value: AddressRoles._release,
    Endpoint.RELEASE_POOL.value: AddressRoles._pool_released,
}
