"""One reading of user-typed times, for `jobico executions --since/--until` and the
dashboard's since/until fields."""

from __future__ import annotations

import pytest

from jobico.cli.times import parse_when
from jobico.errors import UserError

NOW = 1_735_787_045.0  # 2025-01-02T03:04:05Z


@pytest.mark.parametrize(("text", "ago"), [("15m", 900), ("2h", 7200), ("1d", 86400), ("30s", 30),
                                           ("1w", 604800), ("1.5h", 5400), (" 2h ", 7200),
                                           ("1.5d", 1.5 * 86400), ("30S", 30)])
def test_relative_times(text: str, ago: float) -> None:
    assert parse_when(text, 1000.0, "--since") == 1000.0 - ago


def test_iso_times_are_utc_unless_they_say_otherwise() -> None:
    assert parse_when("2026-01-01T00:00", 0, "--since") == 1767225600.0
    assert parse_when("2026-01-01T02:00+02:00", 0, "--since") == 1767225600.0
    assert parse_when("2025-01-02T03:04:05Z", 0, "since") == NOW
    assert parse_when("2025-01-02T03:04:05", 0, "since") == NOW
    assert parse_when("2025-01-02T04:04:05+01:00", 0, "since") == NOW


@pytest.mark.parametrize("field", ["--until", "until"])
def test_a_bad_time_names_the_flag_or_field_and_says_what_is_accepted(field: str) -> None:
    with pytest.raises(UserError, match=rf"^{field} 'yesterday': expected an ISO 8601 time "
                                        r"\(2026-01-01T10:00\) or a time ago \(30s, 15m"):
        parse_when("yesterday", 0, field)
