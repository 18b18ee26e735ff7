"""Rules across exchanges (codes 3xx, and IPX206/IPX208 for addresses, which need the pool).

Theory of operation
-------------------
``PluginHistory`` follows one plugin through a recording: which PoolIDs it issued (and for which
pool), which addresses it handed out per PoolID, and whether dockerd activated it.

- A successful ``Plugin.Activate`` starts a daemon lifetime. After the first one, the
  addresses of the previous lifetime move aside: dockerd replays them after a restart
  (PROTOCOL.md 5.7), so handing them out again is not a double allocation, and releasing them
  is not a release of something unknown.
- Before any Activate has been seen, the recording started in the middle of a daemon lifetime:
  PoolIDs and addresses it has not seen are adopted silently, and the "never issued / never
  allocated" rules stay quiet until the first Activate.
- Addresses are tracked per PoolID (two networks may use the same subnet in a plugin that
  allows it), and counted: an address handed out twice needs two releases. A successful
  ``RequestPool`` with a gateway in ``Data`` hands out that gateway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ipamx_spy.dockerd.goparse import IPAddress, IPNetwork, parse_cidr, parse_ip
from ipamx_spy.findings import Finding

from .context import Context
from .rules import finding


@dataclass
class Pool:
    network: IPNetwork | None
    held: bool = True


@dataclass
class PluginHistory:
    activated: bool | None = None  # None: no Activate seen; False: the last one failed
    implements: set[str] | None = None
    pools: dict[str, Pool] = field(default_factory=dict)
    current: dict[str, Counter[IPAddress]] = field(default_factory=dict)
    previous: dict[str, set[IPAddress]] = field(default_factory=dict)

    @property
    def origin_seen(self) -> bool:
        return self.activated is not None

    def check(self, ctx: Context) -> list[Finding]:
        if ctx.endpoint == "Plugin.Activate":
            self._activate(ctx)
            return []
        found = self._lifecycle(ctx)
        handler = HANDLERS.get(ctx.endpoint)
        if handler is not None and isinstance(ctx.request, dict):
            found += handler(self, ctx)
        return found

    # -- activation ------------------------------------------------------------------------

    def _activate(self, ctx: Context) -> None:
        if ctx.exchange.response is None or ctx.plugin_error is not None:
            self.activated = False
            return
        if self.activated is not None:
            for pool_id, addresses in self.current.items():
                self.previous.setdefault(pool_id, set()).update(addresses)
            self.current = {}
        self.activated = True
        self.implements = {str(i) for i in ctx.value.get("Implements") or []}

    def _lifecycle(self, ctx: Context) -> list[Finding]:
        found: list[Finding] = []
        if self.activated is False:
            found.append(finding("IPX305", ctx.seq, (
                "this request follows a failed Plugin.Activate: dockerd forgets a plugin whose "
                "activation failed and activates it again before any other call, so this did "
                "not come from dockerd's normal flow (another client, or a restarted plugin "
                "that dockerd still believes activated); make Plugin.Activate succeed")))
        interface = ctx.row.interface if ctx.row is not None else ""
        if (self.implements is not None and interface in {"IpamDriver", "NetworkDriver"}
                and interface not in self.implements and not ctx.row.extension):  # type: ignore[union-attr]
            found.append(finding("IPX306", ctx.seq, (
                f"the plugin's Activate answer does not list {interface}, so dockerd would "
                f"never call {ctx.endpoint}; add {interface!r} to Implements")))
        return found

    # -- pools -----------------------------------------------------------------------------

    def _pool(self, ctx: Context, pool_id: str) -> tuple[Pool | None, list[Finding]]:
        """The pool of a PoolID named by dockerd, adopting it before the first Activate."""
        pool = self.pools.get(pool_id)
        if pool is not None:
            return pool, []
        if not self.origin_seen:
            self.pools[pool_id] = Pool(network=None)
            return self.pools[pool_id], []
        return None, [finding("IPX304", ctx.seq, (
            f"PoolID {pool_id!r} was never issued by a RequestPool in this recording: dockerd "
            "only echoes PoolIDs it was given, so the plugin lost or renamed it (a restart "
            "without state, or RequiresRequestReplay false without persistence); keep PoolIDs "
            "stable for the pool's lifetime"))]

    def request_pool(self, ctx: Context) -> list[Finding]:
        if ctx.plugin_error is not None:
            return []
        pool_id = str(ctx.value.get("PoolID") or "")
        parsed = parse_cidr(ctx.value.get("Pool"))
        self.pools[pool_id] = Pool(network=None if parsed is None else parsed.network)
        data = ctx.value.get("Data") or {}
        gateway = parse_cidr(data.get("com.docker.network.gateway")) if isinstance(
            data, dict) else None
        if gateway is None:
            return []
        return self._hand_out(ctx, pool_id, gateway.ip, "the gateway named in Data")

    def release_pool(self, ctx: Context) -> list[Finding]:
        pool_id = str(ctx.request.get("PoolID") or "")
        pool, found = self._pool(ctx, pool_id)
        if pool is None:
            return found
        if not pool.held:
            found.append(finding("IPX303", ctx.seq, (
                f"pool {pool_id!r} was already released: dockerd only logs a failed release; "
                "answer success (or an error) but do not free anything twice")))
        pool.held = False
        self.current.pop(pool_id, None)
        self.previous.pop(pool_id, None)
        return found

    # -- addresses -------------------------------------------------------------------------

    def request_address(self, ctx: Context) -> list[Finding]:
        pool_id = str(ctx.request.get("PoolID") or "")
        pool, found = self._pool(ctx, pool_id)
        if ctx.plugin_error is not None:
            return found
        got = parse_cidr(ctx.value.get("Address"))
        if got is None:
            return found
        if pool is not None and pool.network is not None:
            found += self._placement(ctx, pool.network, got.ip, got.network.prefixlen)
        return found + self._hand_out(ctx, pool_id, got.ip, "this address")

    def _placement(self, ctx: Context, network: IPNetwork, ip: IPAddress,
                   prefix: int) -> list[Finding]:
        if ip.version != network.version or ip not in network:
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

    def _hand_out(self, ctx: Context, pool_id: str, ip: IPAddress, what: str) -> list[Finding]:
        held = self.current.setdefault(pool_id, Counter())
        held[ip] += 1
        if held[ip] > 1:
            return [finding("IPX301", ctx.seq, (
                f"{what} {ip} of pool {pool_id!r} is already handed out and was not released: "
                "two endpoints now share one address; refuse an address in use ('Address "
                "already in use')"))]
        self.previous.get(pool_id, set()).discard(ip)
        return []

    def release_address(self, ctx: Context) -> list[Finding]:
        pool_id = str(ctx.request.get("PoolID") or "")
        pool, found = self._pool(ctx, pool_id)
        ip = parse_ip(ctx.request.get("Address"))
        if pool is None or ip is None:
            return found
        held = self.current.get(pool_id, Counter())
        earlier = self.previous.get(pool_id, set())
        if not held[ip] and ip not in earlier and self.origin_seen and pool.network is not None:
            found.append(finding("IPX302", ctx.seq, (
                f"{ip} of pool {pool_id!r} is not allocated (never handed out in this "
                "recording, or already released): dockerd only logs a failed release; answer "
                "success for a free address, as the built-in allocator does")))
        if held[ip]:
            held[ip] -= 1
        earlier.discard(ip)
        return found


HANDLERS: dict[str, Callable[[PluginHistory, Context], list[Finding]]] = {
    "IpamDriver.RequestPool": PluginHistory.request_pool,
    "IpamDriver.ReleasePool": PluginHistory.release_pool,
    "IpamDriver.RequestAddress": PluginHistory.request_address,
    "IpamDriver.ReleaseAddress": PluginHistory.release_address,
}
