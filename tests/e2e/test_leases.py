"""Issue 13, item 4, through a real `jobico up`: a run longer than its lease keeps it.

Leases here last 2 s and the guest runs about 6 s: without renewal the event
would be leased again (and run again, at the same time) twice during one run.
The executor's ``runs`` counter counts the runs themselves, since the recorder
keeps one record per attempt however often an attempt runs.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.executor import guests

pytestmark = pytest.mark.e2e
CONFIG = "[executor]\nlease_ms = 2000\n"
RUN_S = 6
CLOCK = '(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))'


def long_guest(seconds: int) -> bytes:
    """Waits ``seconds`` on the monotonic clock (a host call now and then), then echoes its input."""
    return guests.jobicolet(
        f"""(local $end i64)
        (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 32)))
        (local.set $end (i64.add (i64.load (i32.const 32)) (i64.const {seconds * 10**9})))
        (loop $wait
          (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 32)))
          (br_if $wait (i64.lt_u (i64.load (i32.const 32)) (local.get $end))))
        (call $ret (local.get $r) (i64.const 0) (call $copy (local.get $p) (local.get $n)) (local.get $n))""",
        imports=CLOCK,
    )


# tenant -> how long its guest runs; the queue-restart case runs longer, as the restart takes seconds
TENANTS = {"long": RUN_S, "guarded": RUN_S, "restarted": 3 * RUN_S // 2}


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(CONFIG)
    for tenant, seconds in TENANTS.items():
        p.write(f"{tenant}/long.wasm", long_guest(seconds))
        p.write(f"{tenant}/slow.toml", package(
            {"event": "run", "wasm": "long.wasm", "timeout_ms": 10_000 + 1000 * seconds, "max_attempts": 3}))
    for tenant in TENANTS:
        p.wait_for_event(tenant, "run")
    return p


def runs(p: Platform) -> int:
    """Guest runs so far, over every executor (each counts its own)."""
    return sum(sum(p.rpc(c["name"], "status")["runs"].values())
               for c in p.status()["components"] if c["name"].startswith("executor"))


def post(p: Platform, tenant: str) -> str:
    status, reply = p.post(tenant, "run", {"tenant": tenant})
    assert status == 202, reply
    return str(reply["ids"][0])


def _span(record: dict[str, Any]) -> tuple[float, float]:
    start = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()
    return start, start + record["duration_ms"] / 1000


def ran_once(p: Platform, tenant: str, event_id: str, runs_before: int) -> dict[str, Any]:
    """Wait for the event's record, and two more lease periods; it must have run exactly once."""
    (record,) = p.wait_records(1, timeout=60, tenant=tenant)
    time.sleep(4)  # a second delivery would have started by now (leases are 2 s)
    records = p.query(tenant=tenant)
    spans = sorted(_span(r) for r in records)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "overlapping attempts"
    assert [(r["event_id"], r["attempt"], r["status"]) for r in records] == [(event_id, 1, "ok")]
    assert records[0]["duration_ms"] >= TENANTS[tenant] * 1000
    assert runs(p) - runs_before == 1, "the event ran more than once"
    assert p.rpc("queue", "stats")[tenant]["inflight"] == 0
    return record


def test_a_run_longer_than_the_lease_runs_once(home: Platform) -> None:
    before = runs(home)
    event_id = post(home, "long")
    ran_once(home, "long", event_id, before)


def test_the_queue_does_not_lease_a_renewed_item_to_another_worker(home: Platform) -> None:
    before = runs(home)
    event_id = post(home, "guarded")
    wait_until(lambda: home.rpc("queue", "stats").get("guarded", {}).get("inflight") == 1, 10,
               "the event to be leased")
    deadline = time.monotonic() + RUN_S - 1.5  # well past two of its 2 s leases
    while time.monotonic() < deadline:
        stolen = home.rpc("queue", "lease", {"worker": "intruder", "max": 10, "lease_ms": 2000})
        assert stolen == [], "a running event was leased to a second worker"
        time.sleep(0.25)
    assert home.rpc("queue", "renew", {"worker": "intruder", "ids": [event_id], "lease_ms": 2000}) == {
        "renewed": [], "lost": [event_id]}
    ack = [{"id": event_id, "outcome": "ack"}]
    assert home.rpc("queue", "settle", {"worker": "intruder", "results": ack}) == {
        "applied": [], "stale": [event_id]}
    ran_once(home, "guarded", event_id, before)


def test_leases_survive_kill_9_of_the_queue(home: Platform) -> None:
    before = runs(home)
    event_id = post(home, "restarted")
    wait_until(lambda: home.rpc("queue", "stats").get("restarted", {}).get("inflight") == 1, 10,
               "the event to be leased")
    time.sleep(1)
    home.kill("queue")  # mid-run; the supervisor restarts it
    assert home.rpc("queue", "stats")["restarted"]["inflight"] == 1
    deadline = time.monotonic() + 2.5  # past the recovered lease, had nobody renewed it
    while time.monotonic() < deadline:
        assert home.rpc("queue", "lease", {"worker": "intruder", "max": 10, "lease_ms": 2000}) == []
        time.sleep(0.25)
    ran_once(home, "restarted", event_id, before)
