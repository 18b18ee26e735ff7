"""``ipamx-spy status``: ask a running built-in plugin for its leases, pools and metrics
(``ipamx_spy.plugin_status``), or read a shared store (``ipamx_spy.ipam.cluster``), and draw
the tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from .. import address
from ..console import err, out
from ..plugin_status import StatusError, read_status

if TYPE_CHECKING:
    from ..ipam.cluster import ClusterView


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
    return [_cluster_pools(view), _cluster_leases(view)]


def _cluster_pools(view: ClusterView) -> Table:
    pools = Table(title=f"Pools in {view.store} (hosts: {', '.join(view.hosts) or 'none'})")
    for column in ("pool id", "pool", "held by", "in use", "capacity"):
        pools.add_column(column)
    for n in view.networks:
        pools.add_row(n.network.pool_id, n.network.pool, ", ".join(n.holders) or "-",
                      str(n.network.in_use), f"{n.network.capacity:,}")
    return pools


def _cluster_leases(view: ClusterView) -> Table:
    leases = Table(title="Leases by host")
    for column in ("host", "address", "pool id", "kind"):
        leases.add_column(column)
    for v in sorted(view.leases, key=lambda v: (v.host, v.lease.pool_id, v.lease.address)):
        kind = "gateway" if v.lease.gateway else v.lease.endpoint or "address"
        leases.add_row(v.host, f"{v.lease.address}/{v.lease.prefix_len}", v.lease.pool_id, kind)
    return leases


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
            target = (address.Address(kind=address.AddressKind.UNIX, path=str(socket)) if socket
                      else address.resolve_name(name))
        except address.AddressError as exc:
            err.print(f"[red]ipamx-spy: {exc}[/]")
            raise typer.Exit(2) from exc
        try:
            answers = read_status(target, metrics=metrics)
        except StatusError as exc:
            err.print(f"[red]ipamx-spy: {exc}[/]")
            raise typer.Exit(2) from exc
        if json_out:
            out.print_json(json.dumps(answers))
        else:
            _print_status(name, target, answers)


def _print_status(name: str, target: address.Address, answers: dict[str, Any]) -> None:
    version, config = answers["Version"], answers["Configuration"]
    out.print(f"[bold]{name}[/] at {target}: ipamx-spy {version['Version']}, "
              f"Docker {version['Compat']} allocator, "
              f"state {config.get('StatePath') or 'in memory (dockerd replays)'}")
    out.print(networks_table(answers["Networks"]["Networks"]))
    out.print(leases_table(answers["Leases"]["Leases"]))
    if "Metrics" in answers:
        out.print(answers["Metrics"]["Metrics"], markup=False, highlight=False)
