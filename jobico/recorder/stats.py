"""Counters the metrics endpoint shows: runs by tenant x status, retries, and three histograms.

Pure. These are Prometheus counters, so they only grow: they count every record
ever stored in this home, not the records retention has kept. The store saves
them (``as_dict`` plus the position of the last record counted) and, on start,
loads the saved document and counts only the records stored after that position
(``from_dict``); a home without one starts at 0.

Per tenant: ``counts`` of runs by status; ``retries``, the runs with ``attempt > 1``;
``duration_ms``, each run's own time; ``wait_ms``, how long an accepted event
waited for its first run (``started_at - accepted_at`` of attempt 1, so retries'
back-off is not queue wait); ``latency_ms``, from acceptance to the end of each
run (``started_at + duration_ms - accepted_at``). Records without ``accepted_at``
(written before SPEC §5 named it) are left out of the last two.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BUCKETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
# Queue wait and end-to-end latency include back-logs and back-off: up to an hour.
LATENCY_BUCKETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
                      300000, 900000, 3600000)


@dataclass(slots=True)
class _Histogram:
    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)  # per bucket, the last one is +Inf
    total_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, ms: float) -> None:
        self.counts[bisect_left(self.bounds, ms)] += 1
        self.total_ms += ms

    def as_dict(self) -> dict[str, Any]:
        cumulative, running = [], 0
        for n in self.counts[:-1]:
            running += n
            cumulative.append(running)
        return {"buckets": cumulative, "sum": self.total_ms, "count": sum(self.counts)}

    @classmethod
    def from_dict(cls, bounds: Sequence[float], doc: Mapping[str, Any]) -> _Histogram:
        """Errors: ``ValueError`` when ``doc`` is not an ``as_dict`` over ``bounds``."""
        cumulative, count = [int(n) for n in doc["buckets"]], int(doc["count"])
        if len(cumulative) != len(bounds):
            raise ValueError("histogram buckets differ")
        counts = [b - a for a, b in zip([0, *cumulative], [*cumulative, count], strict=True)]
        if any(n < 0 for n in counts):
            raise ValueError("histogram buckets decrease")
        return cls(bounds, counts, float(doc["sum"]))


@dataclass(slots=True)
class _Tenant:
    counts: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    duration: _Histogram = field(default_factory=lambda: _Histogram(BUCKETS_MS))
    wait: _Histogram = field(default_factory=lambda: _Histogram(LATENCY_BUCKETS_MS))
    latency: _Histogram = field(default_factory=lambda: _Histogram(LATENCY_BUCKETS_MS))

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "retries": self.retries,
                "duration_ms": self.duration.as_dict(), "wait_ms": self.wait.as_dict(),
                "latency_ms": self.latency.as_dict()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> _Tenant:
        counts = Counter({str(status): int(n) for status, n in doc["counts"].items()})
        return cls(counts, int(doc["retries"]), _Histogram.from_dict(BUCKETS_MS, doc["duration_ms"]),
                   _Histogram.from_dict(LATENCY_BUCKETS_MS, doc["wait_ms"]),
                   _Histogram.from_dict(LATENCY_BUCKETS_MS, doc["latency_ms"]))


class Stats:
    """Per-tenant outcome counts, retries and time histograms (see the module doc)."""

    def __init__(self, tenants: dict[str, _Tenant] | None = None) -> None:
        self._tenants = tenants or {}

    def add(self, tenant: str, status: str, attempt: int, duration_ms: float,
            started: float, accepted: float | None) -> None:
        """Count one stored run; ``started`` and ``accepted`` are epoch seconds."""
        per = self._tenants.get(tenant)
        if per is None:
            per = self._tenants[tenant] = _Tenant()
        per.counts[status] += 1
        per.duration.observe(duration_ms)
        if attempt > 1:
            per.retries += 1
        if accepted is not None:
            waited_ms = max(0.0, (started - accepted) * 1000)  # clocks of two hosts may disagree
            if attempt == 1:
                per.wait.observe(waited_ms)
            per.latency.observe(waited_ms + duration_ms)

    def as_dict(self) -> dict[str, Any]:
        """``{"buckets_ms": [le...], "latency_buckets_ms": [le...], "tenants": {tenant:
        {"counts": {status: n}, "retries": n, "duration_ms": hist, "wait_ms": hist,
        "latency_ms": hist}}}``, each hist ``{"buckets": [cumulative per le], "sum", "count"}``
        (``duration_ms`` over ``buckets_ms``, the others over ``latency_buckets_ms``; the
        ``+Inf`` bucket is ``count``)."""
        return {
            "buckets_ms": list(BUCKETS_MS),
            "latency_buckets_ms": list(LATENCY_BUCKETS_MS),
            "tenants": {tenant: self._tenants[tenant].as_dict() for tenant in sorted(self._tenants)},
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Stats:
        """The counters ``as_dict`` gave.

        Errors: ``ValueError`` when ``doc`` is malformed or was written with other
        buckets (the caller then counts the retained records again).
        """
        if (list(doc.get("buckets_ms", ())) != list(BUCKETS_MS)
                or list(doc.get("latency_buckets_ms", ())) != list(LATENCY_BUCKETS_MS)):
            raise ValueError("saved with other histogram buckets")
        try:
            return cls({str(t): _Tenant.from_dict(per) for t, per in doc["tenants"].items()})
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed: {exc!r}") from None
