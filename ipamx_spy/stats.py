"""Per-endpoint aggregates for summaries, in memory that does not grow with the exchanges.

A session of a million exchanges keeps one ``EndpointStats`` per endpoint: a count, an error
count and a latency histogram with logarithmic buckets 1 % wide, so percentiles are within 1 %
of the nearest-rank value (exact below 64 samples, which keeps small summaries exact).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

_STEP = math.log(1.01)
_log = math.log
_EXACT = 64  # below this many samples, percentiles are computed exactly
_ZERO = -(10**9)  # the bucket of durations under 0.5 µs, below every other bucket


@dataclass
class Latencies:
    """Durations in milliseconds: exact for a few, then a 1 % log histogram."""

    count: int = 0
    low: float = math.inf
    high: float = 0.0
    _exact: list[float] | None = field(default_factory=list)
    _buckets: dict[int, int] = field(default_factory=dict)

    def add(self, value: float) -> None:
        if not value > 0.0:  # negative or NaN: 0 (what max(0.0, value) gave)
            value = 0.0
        self.count += 1
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        if self._exact is not None:
            self._exact.append(value)
            if len(self._exact) < _EXACT:
                return
            exact, self._exact = self._exact, None
            for v in exact:
                self._bucket(v)
            return
        key = _ZERO if value <= 0.0005 else round(_log(value) / _STEP)  # _bucket, inline
        buckets = self._buckets
        buckets[key] = buckets.get(key, 0) + 1

    def _bucket(self, value: float) -> None:
        key = _ZERO if value <= 0.0005 else round(math.log(value) / _STEP)
        self._buckets[key] = self._buckets.get(key, 0) + 1

    def merge(self, other: Latencies) -> None:
        if other._exact is not None:
            for value in other._exact:
                self.add(value)
            return
        if self._exact is not None:
            for value in self._exact:
                self._bucket(value)
            self._exact = None
        for key, n in other._buckets.items():
            self._buckets[key] = self._buckets.get(key, 0) + n
        self.count += other.count
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile (0 for no values)."""
        if self.count == 0:
            return 0.0
        rank = min(self.count, max(1, round(fraction * self.count + 0.5)))
        if self._exact is not None:
            return sorted(self._exact)[rank - 1]
        seen = 0
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen >= rank:
                value = 0.0 if key == _ZERO else math.exp(key * _STEP)
                return min(self.high, max(self.low, value))
        return self.high


@dataclass
class EndpointStats:
    calls: int = 0
    errors: int = 0
    latencies: Latencies = field(default_factory=Latencies)


@dataclass
class Summary:
    """What the exit summary needs, per endpoint."""

    endpoints: dict[str, EndpointStats] = field(default_factory=dict)

    def add(self, endpoint: str, duration_ms: float, error: bool) -> None:
        stats = self.endpoints.get(endpoint)
        if stats is None:
            stats = self.endpoints[endpoint] = EndpointStats()
        stats.calls += 1
        stats.errors += error
        stats.latencies.add(duration_ms)

    def add_error(self, endpoint: str) -> None:
        """One more call of ``endpoint`` failed (read after it was counted by ``add``)."""
        stats = self.endpoints.get(endpoint)
        if stats is not None and stats.errors < stats.calls:
            stats.errors += 1

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.endpoints.values())

    def rows(self) -> Iterator[tuple[str, EndpointStats]]:
        """Endpoints in the order of their first call."""
        yield from self.endpoints.items()

    def total(self) -> EndpointStats:
        total = EndpointStats()
        for stats in self.endpoints.values():
            total.calls += stats.calls
            total.errors += stats.errors
            total.latencies.merge(stats.latencies)
        return total
