"""The executor's ``status`` lists the runs going now, as their records will tell them."""

from __future__ import annotations

import time

import pytest
import trio

from jobico.home import Home
from tests.e2e.platform import started_at

from .test_service import Fakes, delivery, eid, start


@pytest.mark.trio
async def test_status_lists_each_run_going_with_its_event_attempt_and_start(home: Home) -> None:
    # Two slots, three spinners of 300 ms: two run at once, the third after them.
    fakes = Fakes([delivery("s0", "spin", attempt=3), delivery("s1", "spin"), delivery("s2", "spin")])
    before = time.time()
    seen: dict[str, dict[str, object]] = {}
    most = 0
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            service = await start(nursery, home, fakes)
            while not fakes.all_settled.is_set():
                going = (await service.status())["running_events"]
                most = max(most, len(going))
                seen.update((run["event_id"], run) for run in going)
                await trio.sleep(0.01)
            after = await service.status()  # a run is listed gone before it is reported
            nursery.cancel_scope.cancel()
    assert after["running_events"] == []
    assert most == 2  # max_concurrency
    assert {e: (r["tenant"], r["attempt"]) for e, r in seen.items()} == {
        eid("s0"): ("acme", 3), eid("s1"): ("acme", 1), eid("s2"): ("acme", 1)}
    for event_id, run in seen.items():
        started = run["started_at"]
        assert isinstance(started, float) and before <= started <= time.time()
        assert abs(started_at(fakes.records[event_id]) - started) < 0.001  # the same moment as the record's
