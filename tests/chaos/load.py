"""Bounded load, faults at planned moments, and the audit of SPEC §3-5's promises afterwards.

``Load`` posts small batches at a steady pace from a thread and remembers every id
answered with 202, and when each answer came. ``kill`` strikes one component
(an executor only while one of its runs is in flight) and reports what it hit.
``audit`` then waits for the platform to drain and checks what a user relies on:
each acknowledged id has exactly one ``ok`` record, no event is ``ok`` twice,
nothing is left leased or queued, nothing was dead-lettered; and which runs a
kill interrupted (begun in the killed executor, never recorded by it).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jobico.procs import alive
from tests.chaos import guests, runs
from tests.chaos.schedule import SUPERVISOR
from tests.e2e.platform import Platform, package, started_at, wait_until
from tests.executor.guests import ECHO

TENANT, EVENT, SLOW_EVENT = "chaos", "tick", "slow"
# Short leases so a killed executor's events come back quickly (SPEC allows up to 30 s).
CONFIG = "[executor]\nworkers = 2\nlease_ms = 4000\n"
SLOW_RUN_S = 0.25  # long enough that an executor killed while it runs one is killed mid-run
SLOW_RATE = 2.0  # slow events a second: ~half a core spinning, on machines with few to share
FIND_RUN_S = 10.0  # how long a kill of an executor waits for it to have a run in flight


def install(p: Platform) -> None:
    p.write(f"{TENANT}/echo.wasm", ECHO)
    p.write(f"{TENANT}/busy.wasm", guests.busy(SLOW_RUN_S))
    p.write(f"{TENANT}/pkg.toml", package(
        {"event": EVENT, "wasm": "echo.wasm", "max_attempts": 10},
        {"event": SLOW_EVENT, "wasm": "busy.wasm", "max_attempts": 10, "timeout_ms": 5000},
    ))
    p.wait_for_event(TENANT, EVENT, timeout=30)
    p.wait_for_event(TENANT, SLOW_EVENT, timeout=30)


@dataclass
class Load:
    """Posts ``batch`` items of ``event`` every ``1 / rate`` s until ``stop``.

    ``acked`` holds the 202 ids; ``accepted`` (sent, answered) of each 202, monotonic.
    """

    port: int
    event: str = EVENT
    batch: int = 5
    rate: float = 20.0
    acked: list[str] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    accepted: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def next_202(self, since: float) -> float | None:
        """When the first 202 to a request sent after ``since`` came; None while none has."""
        return next((answered for sent, answered in self.accepted if sent >= since), None)

    def _run(self) -> None:
        n = 0
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            tick = time.monotonic()
            items = [{"n": n + i, "pad": "x" * 32} for i in range(self.batch)]
            n += self.batch
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("POST", f"/events/{TENANT}/{self.event}", json.dumps({"data": items}),
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                body = response.read()
                self.statuses[response.status] += 1
                if response.status == 202:
                    self.acked.extend(json.loads(body)["ids"])
                    self.accepted.append((tick, time.monotonic()))
            except (OSError, http.client.HTTPException) as exc:
                self.statuses[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(max(0.0, 1 / self.rate - (time.monotonic() - tick)))
        if conn is not None:
            conn.close()


@dataclass(slots=True)
class Blow:
    """One kill as it landed: ``down_at`` (monotonic) is the SIGKILL, or for the supervisor
    the new ``jobico up`` (nothing restarts a killed supervisor but its user)."""

    victim: str
    at_s: float  # after the load started
    down_at: float
    running: frozenset[runs.Run] = frozenset()  # runs in flight in a killed executor
    wall: float = field(default_factory=time.time)  # when it struck, as records' started_at count
    back_s: float | None = None  # from down_at until the next 202

    def describe(self) -> str:
        back = "never" if self.back_s is None else f"{self.back_s:.1f}s"
        hit = f" mid-run of {len(self.running)}" if self.running else ""
        return f"{self.victim}@{self.at_s:.1f}s{hit} (202 again after {back})"


def kill(p: Platform, victim: str, started: float) -> Blow:
    """``kill -9`` ``victim`` and wait until it runs again; an executor once a run is in flight."""
    if victim == SUPERVISOR:
        at_s = time.monotonic() - started
        return Blow(victim, at_s, kill_supervisor(p))
    pid = p.component(victim)["pid"]
    running: frozenset[runs.Run] = frozenset()
    if victim.startswith("executor"):
        give_up = time.monotonic() + FIND_RUN_S
        while time.monotonic() < give_up:
            now = runs.going(p, victim)
            if now is not None and now.pid == pid and now.runs:
                running = now.runs
                break
            time.sleep(0.005)
    blow = Blow(victim, time.monotonic() - started, time.monotonic(), running)
    p.kill(victim, pid, timeout=40)
    return blow


def kill_supervisor(p: Platform) -> float:
    """``kill -9`` the supervisor; its components stop by themselves; ``jobico up`` again.

    Returns when ``jobico up`` was run again (monotonic).
    """
    assert p.process is not None
    pids = [c["pid"] for c in p.status()["components"]]
    os.kill(p.process.pid, signal.SIGKILL)
    p.process.wait(timeout=10)
    p.process = None
    for pid in pids:
        wait_until(lambda pid=pid: not alive(pid), 40, f"orphaned component {pid} to stop")
    up_at = time.monotonic()
    p.start(timeout=90)
    return up_at


def await_liveness(traffic: Load, blow: Blow, within_s: float) -> None:
    """Wait until a request sent after the blow got a 202; fail past ``within_s``."""
    left = within_s - (time.monotonic() - blow.down_at)
    answered = wait_until(lambda: traffic.next_202(blow.down_at), left,
                          f"a 202 after the kill of {blow.victim} (liveness)")
    blow.back_s = answered - blow.down_at
    assert blow.back_s <= within_s, f"202s came back {blow.back_s:.1f}s after the kill of {blow.victim}"


@dataclass(frozen=True, slots=True)
class Audit:
    acked: int
    records: int
    ok_events: int
    missing: list[str]
    ok_twice: list[str]
    redelivered: int
    depth: int
    inflight: int
    dead: int
    interrupted: list[str]  # events in flight in a killed executor, whose every run began after it

    def summary(self) -> str:
        return (f"acknowledged {self.acked}, records {self.records}, events ok {self.ok_events}, "
                f"missing {len(self.missing)}, ok twice {len(self.ok_twice)}, "
                f"run more than once {self.redelivered}, left queued {self.depth}, "
                f"left leased {self.inflight}, dead {self.dead}, runs killed mid-run {len(self.interrupted)}")


def queue_stats(p: Platform) -> dict[str, Any]:
    return p.rpc("queue", "stats", {}).get(TENANT, {"depth": 0, "inflight": 0, "dead": 0})


def audit(p: Platform, acked: list[str], blows: Sequence[Blow] = (), timeout: float = 90.0) -> Audit:
    """Wait until the tenant's queue is empty and every acked id is recorded ok, then count.

    A run seen in flight in an executor just before it was killed, whose event has
    records only of runs that began after the kill, was killed mid-run (had it
    finished first, its own record would have begun before the kill): ``interrupted``
    lists those events. (A run interrupted by a crash keeps its attempt number.)
    """
    wanted = set(acked)

    def drained() -> bool:
        stats = queue_stats(p)
        return stats["depth"] == 0 and stats["inflight"] == 0

    def recorded() -> bool:
        return wanted <= {r["event_id"] for r in _records(p) if r["status"] == "ok"}

    try:
        wait_until(drained, timeout, "the queue to drain (no item queued or leased)")
        wait_until(recorded, 30, "an ok record for every acknowledged id")
    except AssertionError:
        pass  # counted and reported below, with everything else
    records = _records(p)
    ok = Counter(r["event_id"] for r in records if r["status"] == "ok")
    runs = Counter(r["event_id"] for r in records)
    began: dict[str, list[float]] = {}
    for r in records:
        began.setdefault(r["event_id"], []).append(started_at(r))
    stats = queue_stats(p)
    return Audit(
        acked=len(wanted), records=len(records), ok_events=len(ok),
        missing=sorted(wanted - set(ok)), ok_twice=sorted(e for e, c in ok.items() if c > 1),
        redelivered=sum(1 for c in runs.values() if c > 1),
        depth=stats["depth"], inflight=stats["inflight"], dead=stats["dead"],
        interrupted=sorted(run.event_id for blow in blows for run in blow.running
                           if began.get(run.event_id) and min(began[run.event_id]) > blow.wall),
    )


MAX_RECORDS = 10_000  # the most `jobico executions` lists at once


def _records(p: Platform) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = p.cli_json("executions", "--tenant", TENANT, "--limit", str(MAX_RECORDS))
    assert len(found) < MAX_RECORDS, "too many records to audit: lower the load"
    return found


def assert_promises_kept(result: Audit) -> None:
    assert result.acked > 0, "no event was accepted at all"
    assert not result.missing, f"acknowledged but never ok: {result.missing[:10]}; {result.summary()}"
    assert not result.ok_twice, f"recorded ok twice: {result.ok_twice[:10]}; {result.summary()}"
    assert (result.depth, result.inflight, result.dead) == (0, 0, 0), result.summary()
