"""Prometheus text exposition (format 0.0.4) of the allocator service's counters and gauges.

``IpamDriver.Metrics`` returns this text inside JSON (``{"Metrics": "..."}``) so the plugin
protocol stays JSON; a scraper-side shim or ``jq -r .Metrics`` turns it back into a scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .allocator import NetworkView

PREFIX = "ipamx_ipam"


@dataclass
class CallCounters:
    """Calls and refusals per endpoint, counted by the service."""

    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, endpoint: str, *, failed: bool) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        if failed:
            self.errors[endpoint] = self.errors.get(endpoint, 0) + 1


def escape(value: str) -> str:
    """A label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def family(name: str, kind: str, help_text: str,
           samples: Iterable[tuple[Mapping[str, str], float]]) -> list[str]:
    """One metric family: HELP, TYPE and its samples."""
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]
    lines += [f"{PREFIX}_{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return lines


def render(counters: CallCounters, networks: list[NetworkView], *, compat: str,
           durable: bool, journal_saves: int = 0) -> str:
    """The whole exposition, ending with a newline."""
    pools = [({"space": n.address_space, "pool": n.pool}, n) for n in networks]
    lines = [
        *family("calls_total", "counter", "IpamDriver calls served, by endpoint.",
                (({"endpoint": e}, v) for e, v in sorted(counters.calls.items()))),
        *family("errors_total", "counter", "IpamDriver calls refused, by endpoint.",
                (({"endpoint": e}, v) for e, v in sorted(counters.errors.items()))),
        *family("pools", "gauge", "Allocated subnets, by address space and family.",
                _pool_counts(networks)),
        *family("pool_addresses_in_use", "gauge",
                "Addresses set in a subnet, reserved network/broadcast included.",
                ((labels, n.in_use) for labels, n in pools)),
        *family("pool_leases", "gauge", "Addresses handed out by RequestAddress.",
                ((labels, n.leases) for labels, n in pools)),
        *family("pool_addresses_capacity", "gauge", "Addresses in a subnet.",
                ((labels, n.capacity) for labels, n in pools)),
        *family("pool_utilisation_ratio", "gauge", "In-use addresses over capacity.",
                ((labels, n.utilisation) for labels, n in pools)),
        *family("state_saves_total", "counter", "Journal entries made durable.",
                [({}, journal_saves)]),
        *family("info", "gauge", "Allocator generation and whether its state is on disk.",
                [({"compat": compat, "durable": str(durable).lower()}, 1)]),
    ]
    return "\n".join(lines) + "\n"


def _pool_counts(networks: list[NetworkView]) -> list[tuple[Mapping[str, str], float]]:
    counts: dict[tuple[str, int], int] = {}
    for network in networks:
        key = (network.address_space, network.family)
        counts[key] = counts.get(key, 0) + 1
    return [({"space": space, "family": f"ipv{version}"}, count)
            for (space, version), count in sorted(counts.items())]
