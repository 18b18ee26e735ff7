"""``ipamx-spy status``: ask a running built-in plugin for its leases, pools and metrics.

These are ipamx-spy's extension endpoints (``/IpamDriver.Leases`` and friends), not Docker's.
Through a proxy the calls are recorded as ``client`` records, apart from dockerd's exchanges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from .. import address
from ..client import PluginConnection, PluginNoAnswer, PluginProtocolError, docker_request
from ..console import err, out


def query(conn: PluginConnection, endpoint: str) -> Any:
    """Call one extension endpoint; raises ValueError when the plugin does not serve it."""
    message, _ = conn.call(docker_request(endpoint, host="plugin.moby.localhost", client="status"))
    try:
        value = json.loads(message.body) if message.body else None
    except ValueError:
        value = None
    if message.status != 200 or not isinstance(value, dict) or value.get("Error"):
        reason = value.get("Err") or value.get("Error") if isinstance(value, dict) else None
        raise ValueError(f"{endpoint}: HTTP {message.status}: "
                         f"{reason or message.body[:200].decode('utf-8', 'replace')}")
    return value


def networks_table(networks: list[dict[str, Any]]) -> Table:
    table = Table(title="Pools (IpamDriver.Networks)")
    for column in ("pool id", "pool", "sub-pools", "in use", "capacity", "used"):
        table.add_column(column, justify="right" if column in {"in use", "capacity", "used"}
                         else "left")
    for n in networks:
        table.add_row(n["PoolID"], n["Pool"], ", ".join(n["SubPools"]) or "-", str(n["InUse"]),
                      f"{n['Capacity']:,}", f"{100 * n['Utilisation']:.2f}%")
    return table


def leases_table(leases: list[dict[str, Any]]) -> Table:
    table = Table(title="Allocations (IpamDriver.Leases)")
    for column in ("address", "pool id", "kind", "since"):
        table.add_column(column)
    for lease in leases:
        kind = "gateway" if lease.get("Gateway") else lease.get("Endpoint") or "address"
        table.add_row(lease["Address"], lease["PoolID"], str(kind), lease["Allocated"])
    return table


def cluster_tables(store: str) -> list[Table]:
    """The pools and leases of every host in a shared store; exits 2 when it cannot be read."""
    from ..ipam.cluster import read_cluster
    from ..ipam.errors import ConfigError, StateError

    try:
        view = read_cluster(store)
    except (ConfigError, StateError, OSError) as exc:
        err.print(f"[red]ipamx-spy: {exc}[/]")
        raise typer.Exit(2) from exc
    pools = Table(title=f"Pools in {view.store} (hosts: {', '.join(view.hosts) or 'none'})")
    for column in ("pool id", "pool", "held by", "in use", "capacity"):
        pools.add_column(column)
    for n in view.networks:
        pools.add_row(n.network.pool_id, n.network.pool, ", ".join(n.holders) or "-",
                      str(n.network.in_use), f"{n.network.capacity:,}")
    leases = Table(title="Leases by host")
    for column in ("host", "address", "pool id", "kind"):
        leases.add_column(column)
    for v in sorted(view.leases, key=lambda v: (v.host, v.lease.pool_id, v.lease.address)):
        kind = "gateway" if v.lease.gateway else v.lease.endpoint or "address"
        leases.add_row(v.host, f"{v.lease.address}/{v.lease.prefix_len}", v.lease.pool_id, kind)
    return [pools, leases]


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        name: str = typer.Option("ipamx", "--name", "-n", help="Plugin name."),
        socket: Path | None = typer.Option(None, help="Plugin socket (default: by name)."),
        metrics: bool = typer.Option(False, "--metrics", help="Also print Prometheus metrics."),
        json_out: bool = typer.Option(False, "--json", help="Print the raw answers as JSON."),
        store: str | None = typer.Option(
            None, "--store",
            help="Read a shared store (etcd://HOST:PORT[,...], or etcds:// for TLS) directly: "
                 "every host's pools "
                 "and leases, instead of asking one plugin."),
    ) -> None:
        """Show the built-in plugin's pools, allocations and configuration."""
        if store is not None:
            for table in cluster_tables(store):
                out.print(table)
            return
        try:
            target = (address.Address(kind="unix", path=str(socket)) if socket
                      else address.resolve_name(name))
        except address.AddressError as exc:
            err.print(f"[red]ipamx-spy: {exc}[/]")
            raise typer.Exit(2) from exc
        endpoints = ["Version", "Configuration", "Networks", "Leases"]
        if metrics:
            endpoints.append("Metrics")
        try:
            with PluginConnection(target, timeout=10) as conn:
                answers = {e: query(conn, f"IpamDriver.{e}") for e in endpoints}
        except (PluginNoAnswer, PluginProtocolError, ValueError) as exc:
            err.print(f"[red]ipamx-spy: {target}: {exc}[/]")
            raise typer.Exit(2) from exc
        if json_out:
            out.print_json(json.dumps(answers))
            return
        version, config = answers["Version"], answers["Configuration"]
        out.print(f"[bold]{name}[/] at {target}: ipamx-spy {version['Version']}, "
                  f"Docker {version['Compat']} allocator, "
                  f"state {config.get('StatePath') or 'in memory (dockerd replays)'}")
        out.print(networks_table(answers["Networks"]["Networks"]))
        out.print(leases_table(answers["Leases"]["Leases"]))
        if metrics:
            out.print(answers["Metrics"]["Metrics"], markup=False, highlight=False)
