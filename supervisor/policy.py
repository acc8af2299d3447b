"""Restart backoff: a pure function of the restart history, so it tests without a clock."""

from __future__ import annotations

BASE_S = 0.2
CAP_S = 10.0
STABLE_S = 30.0  # a process that ran this long is considered healthy: its backoff resets


def restart_delay(consecutive_failures: int, ran_for_s: float) -> float:
    """Seconds to wait before restarting a component that just exited.

    Doubles with each quick consecutive failure, capped at ``CAP_S``; a component
    that ran for ``STABLE_S`` or more restarts at once at ``BASE_S``.
    """
    if ran_for_s >= STABLE_S or consecutive_failures <= 0:
        return BASE_S
    return min(CAP_S, BASE_S * 2 ** (consecutive_failures - 1))


def next_failure_count(previous: int, ran_for_s: float) -> int:
    return 1 if ran_for_s >= STABLE_S else previous + 1
