from __future__ import annotations

from dataclasses import replace

import pytest

from tests.tui.fixed import record
from tui.rates import RateTracker, Series, TrendSampler, end_to_end_ms, percentile


def test_first_sample_has_no_rate_then_deltas_per_second() -> None:
    tracker = RateTracker()
    assert tracker.update(10.0, {"ok": 100}) is None
    assert tracker.update(12.0, {"ok": 130, "error": 4}) == {"ok": 15.0, "error": 2.0}


def test_a_counter_reset_by_a_restart_never_gives_a_negative_rate() -> None:
    tracker = RateTracker()
    tracker.update(0.0, {"ok": 500})
    assert tracker.update(1.0, {"ok": 3}) == {"ok": 3.0}


def test_series_averages_samples_per_step_and_leaves_gaps_empty() -> None:
    series = Series(span_s=20, step_s=5)
    series.add(100.0, 10.0)
    series.add(101.0, 20.0)
    series.add(111.0, 4.0)
    assert series.points(112.0) == (None, 15.0, None, 4.0)


def test_series_keeps_only_its_span() -> None:
    series = Series(span_s=10, step_s=5)
    for t in range(0, 60, 5):
        series.add(float(t), float(t))
    assert series.points(55.0) == (50.0, 55.0)
    assert len(series._steps) == 2


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) is None


def test_end_to_end_runs_from_acceptance_to_the_end_of_the_run() -> None:
    run = replace(record(1), accepted_at="2025-01-02T03:04:05Z",
                  started_at="2025-01-02T03:04:05.250000Z", duration_ms=40.0)
    assert end_to_end_ms(run) == pytest.approx(290.0)
    assert end_to_end_ms(replace(run, accepted_at=None)) is None  # written before SPEC §5


def test_trends_take_rates_and_the_p99_of_each_batch_of_runs() -> None:
    sampler = TrendSampler(span_s=10, step_s=5)
    sampler.add_rates(1.0, 12.0, {"ok": 3.0, "error": 1.0})
    sampler.add_rates(2.0, None, None)  # no listener answered: nothing drawn for it
    runs = [replace(record(n), accepted_at="2025-01-02T03:04:05Z",
                    started_at="2025-01-02T03:04:05Z", duration_ms=float(n)) for n in range(1, 101)]
    sampler.add_records(6.0, [*runs, replace(record(200), accepted_at=None, duration_ms=1e6)])
    trends = sampler.trends(7.0)
    assert trends.step_s == 5
    assert trends.accepted_per_s == (12.0, None)
    assert trends.runs_per_s == (4.0, None)
    assert trends.e2e_p99_ms == (None, 99.0)
