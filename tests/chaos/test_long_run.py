"""kill -9 of an executor while a run longer than the queue lease is in flight.

SPEC §4: "A run that takes longer than the queue lease keeps its lease: an event
never runs twice at the same time", and a run interrupted by a crash runs again.
With ``lease_ms`` 2000, one event whose guest runs 4 s is posted; 1 s after the
lease would have ended unrenewed (3 s into the run), the executor running it is
killed. A watcher reads, every few milliseconds, which runs every executor of the
platform has in flight (``guests.running``); the event must never be in flight twice,
and its records must show one ``ok`` run of the full 4 s that began after the kill,
overlapping no other run of it (nor the killed one).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from itertools import pairwise

import pytest

from tests.chaos import guests
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

    tenant: str
    event_id: str
    first_seen: float | None = None  # wall clock
    latest: dict[int, set[guests.Run]] = field(default_factory=dict)  # pid -> its runs of the event
    twice: list[dict[int, set[guests.Run]]] = field(default_factory=list)  # samples with two runs
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
            now = time.time()
            mine = {pid: {r for r in runs if (r.tenant, r.event_id) == (self.tenant, self.event_id)}
                    for pid, runs in guests.running().items()}
            self.latest = {pid: runs for pid, runs in mine.items() if runs}
            if self.latest and self.first_seen is None:
                self.first_seen = now
            if sum(len(runs) for runs in self.latest.values()) > 1:
                self.twice.append(self.latest)


def executor_named(p: Platform, pid: int) -> str:
    return next(c["name"] for c in p.status()["components"] if c["pid"] == pid)


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
    watch = Watch(TENANT, event_id)
    watch.start()
    try:
        wait_until(lambda: watch.first_seen, 30, "the run to begin")
        assert watch.first_seen is not None
        (pid,) = watch.latest
        victim = executor_named(p, pid)
        time.sleep(max(0.0, watch.first_seen + LEASE_MS / 1000 + 1.0 - time.time()))
        in_flight = guests.running(pid).get(pid, set())
        killed_at = time.time()
        p.kill(victim, pid)
        assert any(r.event_id == event_id for r in in_flight), (
            f"the run was no longer in flight in {victim} {killed_at - watch.first_seen:.1f}s after it began")

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
    assert not watch.twice, f"{event_id} ran twice at the same time: {watch.twice[:3]}; records {report}"
    assert [r["status"] for r in records if r["status"] == "ok"] == ["ok"], report
    assert all(end <= start for (_, end), (start, _) in pairwise(spans)), f"runs overlap: {report}"
    assert all(start > killed_at for start, _ in spans), f"a run overlapped the killed one: {report}"
    (ok,) = [r for r in records if r["status"] == "ok"]
    assert ok["duration_ms"] >= RUN_S * 1000 > LEASE_MS, report
