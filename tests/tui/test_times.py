from __future__ import annotations

import pytest

from tui.times import epoch, iso, parse_when

NOW = 1_735_787_045.0  # 2025-01-02T03:04:05Z


def test_relative_times_count_back_from_now() -> None:
    assert parse_when("15m", NOW) == NOW - 900
    assert parse_when(" 2h ", NOW) == NOW - 7200
    assert parse_when("1.5d", NOW) == NOW - 1.5 * 86400
    assert parse_when("30S", NOW) == NOW - 30


def test_iso_times_naive_mean_utc() -> None:
    assert parse_when("2025-01-02T03:04:05Z", NOW) == NOW
    assert parse_when("2025-01-02T03:04:05", NOW) == NOW
    assert parse_when("2025-01-02T04:04:05+01:00", NOW) == NOW


def test_a_bad_time_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="'yesterday' is not a time: use 30s, 15m"):
        parse_when("yesterday", NOW)


def test_iso_is_the_records_form_and_reads_back_to_the_microsecond() -> None:
    assert iso(NOW + 0.25) == "2025-01-02T03:04:05.250000Z"
    assert epoch(iso(NOW + 1e-6)) == pytest.approx(NOW + 1e-6, abs=1e-7)
    assert epoch("not a time") is None and epoch(None) is None
