"""Issue 13, item 4, on Redis, through a real ``jobico up``: a running event keeps its lease
when the queue component or Redis itself restarts mid-run.

Leases last 2 s, the guest runs 8 s, and Redis (or the queue) is away longer
than a lease: its holder cannot renew meanwhile. Without the grace a restart
gives, the first sweep after it would expire the lease and another worker
(here an ``intruder`` calling the queue directly) would lease the running event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.errors import JobicoError
from tests.e2e.platform import Platform, package, wait_until
from tests.e2e.test_leases import long_guest, post, runs
from tests.redis.nodes import main_node
from tests.redis.server import RedisProcess, redis_process

pytestmark = pytest.mark.e2e
RUN_S = 8
AWAY_S = 3  # longer than a lease
TENANT = "long"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    with redis_process(tmp_path / "redis") as process:
        yield process


@pytest.fixture
def main(tmp_path: Path, redis: RedisProcess) -> Iterator[Platform]:
    p = main_node(tmp_path / "main", redis.url, "[executor]\nlease_ms = 2000\n")
    try:
        p.write(f"{TENANT}/long.wasm", long_guest(RUN_S))
        p.write(f"{TENANT}/slow.toml", package(
            {"event": "run", "wasm": "long.wasm", "timeout_ms": 10_000 + 1000 * RUN_S, "max_attempts": 3}))
        p.wait_for_event(TENANT, "run")
        yield p
    finally:
        p.stop()


def running(p: Platform) -> str:
    """Post the long event and wait until it has run for a second (a renewal is in Redis by then)."""
    event_id = post(p, TENANT)
    wait_until(lambda: p.rpc("queue", "stats").get(TENANT, {}).get("inflight") == 1, 10, "the event leased")
    time.sleep(1)
    return event_id


def nobody_else_leases_it(p: Platform, seconds: float) -> None:
    """For ``seconds``, another worker asking the queue gets nothing (the queue may still be coming back)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stolen = p.rpc("queue", "lease", {"worker": "intruder", "max": 10, "lease_ms": 2000}, timeout=10)
        except (JobicoError, OSError):
            stolen = []
        assert stolen == [], "a running event was leased to a second worker"
        time.sleep(0.25)


def ran_once(p: Platform, event_id: str, runs_before: int) -> None:
    (record,) = p.wait_records(1, timeout=60, tenant=TENANT)
    time.sleep(4)  # a second delivery would have started by now (leases are 2 s)
    records = p.query(tenant=TENANT)
    assert [(r["event_id"], r["attempt"], r["status"]) for r in records] == [(event_id, 1, "ok")]
    assert record["duration_ms"] >= RUN_S * 1000
    assert runs(p) - runs_before == 1, "the event ran more than once"
    wait_until(lambda: p.rpc("queue", "stats")[TENANT]["inflight"] == 0, 10, "the lease settled")


def test_a_running_event_keeps_its_lease_through_a_redis_restart(main: Platform, redis: RedisProcess) -> None:
    before = runs(main)
    event_id = running(main)
    redis.kill()  # the append-only file has the lease and its renewals
    time.sleep(AWAY_S)
    redis.start()
    nobody_else_leases_it(main, 3)
    ran_once(main, event_id, before)


def test_a_running_event_keeps_its_lease_through_a_queue_restart_on_redis(main: Platform) -> None:
    before = runs(main)
    event_id = running(main)
    main.kill("queue")  # the supervisor restarts it; the lease waits in Redis
    nobody_else_leases_it(main, 3)
    ran_once(main, event_id, before)
