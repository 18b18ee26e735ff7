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
from ..client import PluginConnection, PluginProtocolError, PluginUnreachable, docker_request
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


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        name: str = typer.Option("ipamx", "--name", "-n", help="Plugin name."),
        socket: Path | None = typer.Option(None, help="Plugin socket (default: by name)."),
        metrics: bool = typer.Option(False, "--metrics", help="Also print Prometheus metrics."),
        json_out: bool = typer.Option(False, "--json", help="Print the raw answers as JSON."),
    ) -> None:
        """Show the built-in plugin's pools, allocations and configuration."""
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
        except (PluginUnreachable, PluginProtocolError, ValueError) as exc:
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
