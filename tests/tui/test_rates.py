from __future__ import annotations

from tui.rates import RateTracker


def test_first_sample_has_no_rate_then_deltas_per_second() -> None:
    tracker = RateTracker()
    assert tracker.update(10.0, {"ok": 100}) is None
    assert tracker.update(12.0, {"ok": 130, "error": 4}) == {"ok": 15.0, "error": 2.0}


def test_a_counter_reset_by_a_restart_never_gives_a_negative_rate() -> None:
    tracker = RateTracker()
    tracker.update(0.0, {"ok": 500})
    assert tracker.update(1.0, {"ok": 3}) == {"ok": 3.0}
