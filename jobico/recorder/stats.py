"""Counters the metrics endpoint shows: runs by tenant x status, and a run-time histogram.

Pure. Rebuilt from the records on start, then counted up as records are
stored; retention does not count down (Prometheus counters only grow, and a
restart shows as a counter reset, which Prometheus handles).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BUCKETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    total_ms: float = 0.0

    def observe(self, ms: float) -> None:
        self.counts[bisect_left(BUCKETS_MS, ms)] += 1
        self.total_ms += ms

    def as_dict(self) -> dict[str, Any]:
        cumulative, running = [], 0
        for n in self.counts[:-1]:
            running += n
            cumulative.append(running)
        return {"buckets": cumulative, "sum": self.total_ms, "count": sum(self.counts)}


class Stats:
    """Per-tenant outcome counts and run times."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._durations: dict[str, _Histogram] = {}

    def add(self, tenant: str, status: str, duration_ms: float) -> None:
        counts = self._counts.get(tenant)
        if counts is None:
            counts = self._counts[tenant] = Counter()
            self._durations[tenant] = _Histogram()
        counts[status] += 1
        self._durations[tenant].observe(duration_ms)

    def as_dict(self) -> dict[str, Any]:
        """``{"buckets_ms": [le...], "tenants": {tenant: {"counts": {status: n},
        "duration_ms": {"buckets": [cumulative per le], "sum", "count"}}}}``; the
        ``+Inf`` bucket is ``count``."""
        return {
            "buckets_ms": list(BUCKETS_MS),
            "tenants": {
                tenant: {"counts": dict(self._counts[tenant]),
                         "duration_ms": self._durations[tenant].as_dict()}
                for tenant in sorted(self._counts)
            },
        }
