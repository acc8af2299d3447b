from __future__ import annotations

import logging

import pytest

from jobico.logfiles import Throttle


def test_a_recurring_problem_is_said_once_per_period_with_its_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle, log = Throttle(10.0, clock=lambda: now[0]), logging.getLogger("t")
    for step in range(25):  # one a second for 25 s
        now[0] = float(step)
        throttle.say(log, "queue away: %s", "refused")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["queue away: refused",
                     "queue away: refused (and 9 more like it since the last line)",
                     "queue away: refused (and 9 more like it since the last line)"]
