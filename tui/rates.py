"""Per-second rates from cumulative counters, and their history for the overview.

The platform reports totals since start; the dashboard derives rates from two
successive samples, and keeps the last minutes of them (and of end-to-end
latency) at a fixed resolution for sparklines. Pure (the caller passes the
clock) so it tests instantly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from tui.source import Record, Trends
from tui.times import epoch

SPAN_S = 300.0  # five minutes of history
STEP_S = 5.0  # one sparkline point per five seconds


class RateTracker:
    """Keeps the previous sample of named counters and turns the next one into rates."""

    def __init__(self) -> None:
        self._last: tuple[float, dict[str, int]] | None = None

    def update(self, now: float, counters: Mapping[str, int]) -> dict[str, float] | None:
        """Rates per second since the previous sample, or ``None`` for the first one.

        A counter that went down (its component restarted) counts from zero again,
        so a restart never shows a negative rate.
        """
        previous, self._last = self._last, (now, dict(counters))
        if previous is None or now <= previous[0]:
            return None
        elapsed = now - previous[0]
        before = previous[1]
        rates = {}
        for name, value in counters.items():
            delta = value - before.get(name, 0)
            rates[name] = (value if delta < 0 else delta) / elapsed
        return rates


class Series:
    """One point per ``step_s`` over the last ``span_s`` (a sparkline): the mean of the
    samples that fell in each step, None for a step without one."""

    def __init__(self, span_s: float = SPAN_S, step_s: float = STEP_S) -> None:
        self.step_s = step_s
        self._size = max(1, round(span_s / step_s))
        self._steps: dict[int, tuple[float, int]] = {}

    def add(self, now: float, value: float) -> None:
        step = int(now // self.step_s)
        total, count = self._steps.get(step, (0.0, 0))
        self._steps[step] = (total + value, count + 1)
        for old in [s for s in self._steps if s <= step - self._size]:
            del self._steps[old]

    def points(self, now: float) -> tuple[float | None, ...]:
        """Exactly ``span_s / step_s`` points, oldest first; the last is the current step."""
        last = int(now // self.step_s)
        values = (self._steps.get(s) for s in range(last - self._size + 1, last + 1))
        return tuple(None if v is None else v[0] / v[1] for v in values)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def end_to_end_ms(record: Record) -> float | None:
    """From accepted by the webhook to the end of the run; None for a record without
    ``accepted_at`` (written before SPEC §5 named it) or with unreadable times."""
    accepted, started = epoch(record.accepted_at), epoch(record.started_at)
    if accepted is None or started is None:
        return None
    return (started - accepted) * 1000 + record.duration_ms


class TrendSampler:
    """The overview's sparklines: accepted/s and runs/s as the overview samples them,
    end-to-end p99 from batches of newly stored records (``add_records``)."""

    def __init__(self, span_s: float = SPAN_S, step_s: float = STEP_S) -> None:
        self.accepted = Series(span_s, step_s)
        self.runs = Series(span_s, step_s)
        self.e2e_p99 = Series(span_s, step_s)

    def add_rates(self, now: float, accepted_per_s: float | None,
                  runs_per_s: Mapping[str, float] | None) -> None:
        if accepted_per_s is not None:
            self.accepted.add(now, accepted_per_s)
        if runs_per_s is not None:
            self.runs.add(now, sum(runs_per_s.values()))

    def add_records(self, now: float, records: Iterable[Record]) -> None:
        """The runs stored since the previous batch; those without ``accepted_at`` are left out."""
        latencies = [ms for ms in map(end_to_end_ms, records) if ms is not None]
        p99 = percentile(latencies, 99)
        if p99 is not None:
            self.e2e_p99.add(now, p99)

    def trends(self, now: float) -> Trends:
        return Trends(self.accepted.step_s, self.accepted.points(now), self.runs.points(now),
                      self.e2e_p99.points(now))
