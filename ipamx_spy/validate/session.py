"""Rules across exchanges (codes 3xx, and IPX206/IPX208 for addresses, which need the pool).

Theory of operation
-------------------
``PluginHistory`` follows one plugin through a recording: whether dockerd activated it, and, in
the protocol authority's ``Ledger`` (``ipamx_spy.dockerd.ledger``, shared with replay), which
PoolIDs it issued (and for which pool) and which addresses it handed out.

- A successful ``Plugin.Activate`` starts a daemon lifetime. After the first one, the
  addresses of the previous lifetime move aside (``Ledger.restart``): dockerd replays them
  after a restart (PROTOCOL.md 5.7), so handing them out again is not a double allocation,
  and releasing them is not a release of something unknown.
- Before any Activate has been seen, the recording started in the middle of a daemon lifetime:
  PoolIDs and addresses it has not seen are adopted silently, and the "never issued / never
  allocated" rules stay quiet until the first Activate.
- Addresses are kept per pool network within an address space (sub-pools share their
  network's addresses) and counted: an address handed out twice needs two releases. A
  successful ``RequestPool`` with a gateway in ``Data`` hands out that gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ipamx_spy.dockerd.endpoints import Endpoint, Interface, LedgerEffect
from ipamx_spy.dockerd.goparse import IPAddress, IPNetwork, cidr_ip, parse_cidr, parse_ip
from ipamx_spy.dockerd.ledger import IssuedPool, Ledger
from ipamx_spy.dockerd.verdict import pool_gateway
from ipamx_spy.findings import Finding

from .context import Seen
from .rules import finding

# Bound once: reading an enum member off its class costs about 150 ns on CPython 3.11, and
# these are read for every exchange.
_ACTIVATE = Endpoint.ACTIVATE
_LISTED = frozenset(interface.value for interface in (Interface.IPAM, Interface.NETWORK))


@dataclass
class PluginHistory:
    activated: bool | None = None  # None: no Activate seen; False: the last one failed
    implements: set[str] | None = None
    ledger: Ledger = field(default_factory=Ledger)
    # IPX306 per endpoint since the last Activate: the interface its Implements did not list,
    # or "" (worked out once per endpoint that has a row, not for every call).
    unlisted: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def origin_seen(self) -> bool:
        return self.activated is not None

    def check(self, ctx: Seen) -> list[Finding]:
        if ctx.endpoint == _ACTIVATE:
            self._activate(ctx)
            return []
        found = self._lifecycle(ctx)
        effect = ctx.row.ledger if ctx.row is not None else None
        if effect is not None and isinstance(ctx.request, dict):
            found += HANDLERS[effect](self, ctx)
        return found

    # -- activation ------------------------------------------------------------------------

    def _activate(self, ctx: Seen) -> None:
        if ctx.exchange.response is None or ctx.plugin_error is not None:
            self.activated = False
            return
        if self.activated is not None:
            self.ledger.restart()
        self.activated = True
        self.implements = {str(i) for i in ctx.value.get("Implements") or []}
        self.unlisted = {}

    def _lifecycle(self, ctx: Seen) -> list[Finding]:
        found: list[Finding] = []
        if self.activated is False:
            found.append(finding("IPX305", ctx.seq, (
                "this request follows a failed Plugin.Activate: dockerd forgets a plugin whose "
                "activation failed and activates it again before any other call, so this did "
                "not come from dockerd's normal flow (another client, or a restarted plugin "
                "that dockerd still believes activated); make Plugin.Activate succeed")))
        if self.implements is None or ctx.row is None:
            return found
        interface = self.unlisted.get(ctx.endpoint)
        if interface is None:
            interface = ctx.endpoint.partition(".")[0]  # the row's (found by this name)
            if interface not in _LISTED or interface in self.implements or ctx.row.extension:
                interface = ""
            self.unlisted[ctx.endpoint] = interface
        if interface:
            found.append(finding("IPX306", ctx.seq, (
                f"the plugin's Activate answer does not list {interface}, so dockerd would "
                f"never call {ctx.endpoint}; add {interface!r} to Implements")))
        return found

    # -- pools -----------------------------------------------------------------------------

    def _pool(self, ctx: Seen, pool_id: str) -> tuple[IssuedPool | None, list[Finding]]:
        """The pool of a PoolID named by dockerd, adopting it before the first Activate."""
        pool = self.ledger.pool(pool_id)
        if pool is not None:
            return pool, []
        if not self.origin_seen:
            return self.ledger.adopt(pool_id), []
        return None, [finding("IPX304", ctx.seq, (
            f"PoolID {pool_id!r} was never issued by a RequestPool in this recording: dockerd "
            "only echoes PoolIDs it was given, so the plugin lost or renamed it (a restart "
            "without state, or RequiresRequestReplay false without persistence); keep PoolIDs "
            "stable for the pool's lifetime"))]

    def request_pool(self, ctx: Seen) -> list[Finding]:
        if ctx.plugin_error is not None:
            return []
        parsed = parse_cidr(ctx.value.get("Pool"))
        pool = self.ledger.issue(str(ctx.value.get("PoolID") or ""),
                                 None if parsed is None else parsed.network,
                                 str(ctx.request_map.get("AddressSpace") or ""))
        gateway = parse_cidr(pool_gateway(ctx.value))
        if gateway is None:
            return []
        return self._hand_out(ctx, pool, gateway.ip, "the gateway named in Data")

    def release_pool(self, ctx: Seen) -> list[Finding]:
        pool_id = str(ctx.request.get("PoolID") or "")
        pool, found = self._pool(ctx, pool_id)
        if pool is None:
            return found
        if not pool.held:
            found.append(finding("IPX303", ctx.seq, (
                f"pool {pool_id!r} was already released: dockerd only logs a failed release; "
                "answer success (or an error) but do not free anything twice")))
        self.ledger.release_pool(pool_id)
        return found

    # -- addresses -------------------------------------------------------------------------

    def request_address(self, ctx: Seen) -> list[Finding]:
        pool_id = str(ctx.request.get("PoolID") or "")
        pool, found = self._pool(ctx, pool_id)
        if ctx.plugin_error is not None:
            return found
        address = ctx.value.get("Address")
        ip = cidr_ip(address)  # what parse_cidr takes, without building its network
        if ip is None:
            return found
        if pool is not None and pool.network is not None:
            prefix = int(str(address).partition("/")[2])
            found += self._placement(ctx, pool.network, ip, prefix)
        return found + self._hand_out(ctx, pool, ip, "this address")

    def _placement(self, ctx: Seen, network: IPNetwork, ip: IPAddress,
                   prefix: int) -> list[Finding]:
        if ip not in network:  # False across families too
            return [finding("IPX206", ctx.seq, (
                f"{ip} is outside the pool {network} of this PoolID: dockerd configures the "
                "container with it anyway and its traffic will not route; hand out addresses "
                "from the pool"))]
        if prefix != network.prefixlen:
            return [finding("IPX208", ctx.seq, (
                f"{ip}/{prefix} has prefix length {prefix}, the pool {network} has "
                f"{network.prefixlen}: the container interface gets /{prefix}; answer with "
                "the pool's prefix length"))]
        return []

    def _hand_out(self, ctx: Seen, pool: IssuedPool | None, ip: IPAddress,
                  what: str) -> list[Finding]:
        if pool is None:
            return []
        if self.ledger.hand_out(pool, ip) > 1:
            return [finding("IPX301", ctx.seq, (
                f"{what} {ip} of pool {pool.pool_id!r} is already handed out and was not "
                "released: two endpoints now share one address; refuse an address in use "
                "('Address already in use')"))]
        return []

    def release_address(self, ctx: Seen) -> list[Finding]:
        pool_id = str(ctx.request.get("PoolID") or "")
        pool, found = self._pool(ctx, pool_id)
        ip = parse_ip(ctx.request.get("Address"))
        if pool is None or ip is None:
            return found
        if not self.ledger.release(pool, ip) and self.origin_seen and pool.network is not None:
            found.append(finding("IPX302", ctx.seq, (
                f"{ip} of pool {pool_id!r} is not allocated (never handed out in this "
                "recording, or already released): dockerd only logs a failed release; answer "
                "success for a free address, as the built-in allocator does")))
        return found


# The rules of each ledger effect an endpoint row names (``Row.ledger``); total over
# ``LedgerEffect`` (tests/test_dockerd_rows.py), so an endpoint that hands out or releases
# pools or addresses is followed here once its row says so.
HANDLERS: dict[LedgerEffect, Callable[[PluginHistory, Seen], list[Finding]]] = {
    LedgerEffect.ISSUE_POOL: PluginHistory.request_pool,
    LedgerEffect.RELEASE_POOL: PluginHistory.release_pool,
    LedgerEffect.HAND_OUT_ADDRESS: PluginHistory.request_address,
    LedgerEffect.RELEASE_ADDRESS: PluginHistory.release_address,
}
