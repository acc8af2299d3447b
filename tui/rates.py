"""Per-second rates from cumulative counters, as the overview shows them.

The platform reports totals since start; the dashboard derives rates from two
successive samples. Pure (the caller passes the clock) so it tests instantly.
"""

from __future__ import annotations

from collections.abc import Mapping


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
