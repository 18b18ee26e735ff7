"""Per-endpoint aggregates: exact percentiles for few samples, within 1 % for many."""

from __future__ import annotations

import random

from ipamx_spy import render
from ipamx_spy.stats import Latencies, Summary


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def test_few_samples_are_exact() -> None:
    latencies = Latencies()
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    for v in values:
        latencies.add(v)
    assert latencies.percentile(0.5) == 3.0
    assert latencies.percentile(0.99) == 5.0
    assert Latencies().percentile(0.5) == 0.0


def test_many_samples_are_within_one_percent_in_constant_space() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(0, 1.5) for _ in range(50_000)]
    latencies = Latencies()
    for v in values:
        latencies.add(v)
    for fraction in (0.5, 0.9, 0.99):
        expected = nearest_rank(values, fraction)
        assert abs(latencies.percentile(fraction) - expected) <= 0.011 * expected
    assert len(latencies._buckets) < 2000


def test_summary_total_merges_endpoints_and_renders() -> None:
    summary = Summary()
    for i in range(100):
        summary.add("IpamDriver.RequestAddress", float(i), error=i % 10 == 0)
    summary.add("Plugin.Activate", 0.5, error=False)
    total = summary.total()
    assert (total.calls, total.errors) == (101, 10)
    assert summary.calls == 101
    table = render.summary_table(summary)
    assert table.row_count == 3
