"""Bounded load, faults at random moments, and the audit of SPEC §3-5's promises afterwards.

``Load`` posts small batches at a steady pace from a thread and remembers every id
answered with 202. ``audit`` then waits for the platform to drain and checks what
a user relies on: each acknowledged id has exactly one ``ok`` record, no event is
``ok`` twice, nothing is left leased or queued, nothing was dead-lettered.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.platform import Platform, package, wait_until
from tests.executor.guests import ECHO

TENANT, EVENT = "chaos", "tick"
# Short leases so a killed executor's events come back quickly (SPEC allows up to 30 s).
CONFIG = "[executor]\nworkers = 2\nlease_ms = 4000\n"


def install(p: Platform) -> None:
    p.write(f"{TENANT}/echo.wasm", ECHO)
    p.write(f"{TENANT}/pkg.toml", package({"event": EVENT, "wasm": "echo.wasm", "max_attempts": 10}))
    p.wait_for_event(TENANT, EVENT, timeout=30)


@dataclass
class Load:
    """Posts ``batch`` items every ``1 / rate`` s until ``stop``; ``acked`` holds the 202 ids."""

    port: int
    batch: int = 5
    rate: float = 20.0
    acked: list[str] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _run(self) -> None:
        n = 0
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            tick = time.monotonic()
            items = [{"n": n + i, "pad": "x" * 32} for i in range(self.batch)]
            n += self.batch
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("POST", f"/events/{TENANT}/{EVENT}", json.dumps({"data": items}),
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                body = response.read()
                self.statuses[response.status] += 1
                if response.status == 202:
                    self.acked.extend(json.loads(body)["ids"])
            except (OSError, http.client.HTTPException) as exc:
                self.statuses[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(max(0.0, 1 / self.rate - (time.monotonic() - tick)))
        if conn is not None:
            conn.close()


def kill_supervisor(p: Platform) -> None:
    """``kill -9`` the supervisor; its components stop by themselves; ``jobico up`` again."""
    assert p.process is not None
    pids = [c["pid"] for c in p.status()["components"]]
    os.kill(p.process.pid, signal.SIGKILL)
    p.process.wait(timeout=10)
    p.process = None
    for pid in pids:
        wait_until(lambda pid=pid: not _alive(pid), 40, f"orphaned component {pid} to stop")
    p.start(timeout=90)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:
        return False


def kill(p: Platform, victim: str) -> None:
    if victim == "supervisor":
        kill_supervisor(p)
    else:
        p.kill(victim, timeout=40)


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

    def summary(self) -> str:
        return (f"acknowledged {self.acked}, records {self.records}, events ok {self.ok_events}, "
                f"missing {len(self.missing)}, ok twice {len(self.ok_twice)}, "
                f"run more than once {self.redelivered}, left queued {self.depth}, "
                f"left leased {self.inflight}, dead {self.dead}")


def queue_stats(p: Platform) -> dict[str, Any]:
    return p.rpc("queue", "stats", {}).get(TENANT, {"depth": 0, "inflight": 0, "dead": 0})


def audit(p: Platform, acked: list[str], timeout: float = 90.0) -> Audit:
    """Wait until the tenant's queue is empty and every acked id is recorded ok, then count."""
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
    stats = queue_stats(p)
    return Audit(
        acked=len(wanted), records=len(records), ok_events=len(ok),
        missing=sorted(wanted - set(ok)), ok_twice=sorted(e for e, c in ok.items() if c > 1),
        redelivered=sum(1 for c in runs.values() if c > 1),
        depth=stats["depth"], inflight=stats["inflight"], dead=stats["dead"],
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
