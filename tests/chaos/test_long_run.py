"""kill -9 of an executor while a run longer than the queue lease is in flight.

SPEC §4: "A run that takes longer than the queue lease keeps its lease: an event
never runs twice at the same time", and a run interrupted by a crash runs again.
With ``lease_ms`` 2000, one event whose guest runs 4 s is posted; 1 s after the
lease would have ended unrenewed (3 s into the run), the executor running it is
killed. A watcher asks, every few milliseconds, which runs every executor of the
platform has going (``runs.everywhere``); the event must never be in flight twice,
and its records must show one ``ok`` run of the full 4 s that began after the kill,
overlapping no other run of it (nor the killed one).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from itertools import pairwise

import pytest

from tests.chaos import guests, runs
from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, started_at, wait_until

pytestmark = pytest.mark.e2e

LEASE_MS = 2000
RUN_S = 4.0
CONFIG = f"[executor]\nworkers = 2\nlease_ms = {LEASE_MS}\n"
TENANT, EVENT = "lease", "long"
SAMPLE_S = 0.02


@dataclass
class Watch:
    """Samples, from a thread, which executor processes have ``event_id`` in flight."""

    platform: Platform
    tenant: str
    event_id: str
    first: runs.Going | None = None  # the first executor seen running it
    samples: int = 0
    twice: list[list[runs.Going]] = field(default_factory=list)  # samples with two runs of it
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lease-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            mine = [runs.Going(g.name, g.pid, frozenset(r for r in g.runs if self._is_it(r)))
                    for g in runs.everywhere(self.platform)]
            running = [g for g in mine if g.runs]
            self.samples += 1
            if running and self.first is None:
                self.first = running[0]
            if sum(len(g.runs) for g in running) > 1:
                self.twice.append(running)

    def _is_it(self, run: runs.Run) -> bool:
        return (run.tenant, run.event_id) == (self.tenant, self.event_id)


def test_kill_9_of_an_executor_during_a_run_longer_than_the_lease_runs_the_event_once_at_a_time(
    platform_factory: Factory,
) -> None:
    p = platform_factory(CONFIG)
    p.write(f"{TENANT}/long.wasm", guests.busy(RUN_S))
    p.write(f"{TENANT}/pkg.toml", package({"event": EVENT, "wasm": "long.wasm", "timeout_ms": 30_000,
                                           "max_attempts": 5}))
    p.wait_for_event(TENANT, EVENT, timeout=30)
    status, reply = p.post(TENANT, EVENT, {"n": 1})
    assert status == 202, reply
    (event_id,) = reply["ids"]
    watch = Watch(p, TENANT, event_id)
    watch.start()
    try:
        first = wait_until(lambda: watch.first, 30, "the run to begin")
        (began,) = first.runs
        time.sleep(max(0.0, began.started_at + LEASE_MS / 1000 + 1.0 - time.time()))
        now = runs.going(p, first.name)
        killed_at = time.time()
        p.kill(first.name, first.pid)
        assert now is not None and now.pid == first.pid and began in now.runs, (
            f"the run was no longer in flight in {first.name} {killed_at - began.started_at:.1f}s "
            f"after it began: {now}")

        def settled() -> bool:
            stats = p.rpc("queue", "stats", {}).get(TENANT, {})
            return stats.get("depth", 1) == 0 and stats.get("inflight", 1) == 0

        wait_until(settled, 90, "the event to be settled")
        time.sleep(RUN_S)  # a run of it still going elsewhere would be recorded by now
    finally:
        watch.stop()
    records = sorted(p.query(tenant=TENANT), key=started_at)
    spans = [(started_at(r), started_at(r) + r["duration_ms"] / 1000) for r in records]
    report = [(r["attempt"], r["status"], r["started_at"], r["duration_ms"]) for r in records]
    print(f"\nlong run: killed {first.name} {killed_at - began.started_at:.1f}s into a {RUN_S:.0f}s run "
          f"(lease {LEASE_MS} ms); {watch.samples} samples; runs {report}")
    assert not watch.twice, f"{event_id} ran twice at the same time: {watch.twice[:3]}; records {report}"
    assert [r["status"] for r in records if r["status"] == "ok"] == ["ok"], report
    assert all(end <= start for (_, end), (start, _) in pairwise(spans)), f"runs overlap: {report}"
    assert all(start > killed_at for start, _ in spans), f"a run overlapped the killed one: {report}"
    (ok,) = [r for r in records if r["status"] == "ok"]
    assert ok["duration_ms"] >= RUN_S * 1000 > LEASE_MS, report
