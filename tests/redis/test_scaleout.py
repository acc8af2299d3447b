"""Issue 10 on one machine: a main home and an executor-only home against one Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform, wait_until
from tests.redis.nodes import executor_node, kill_node, main_node, moved, ok_counts, post_batch
from tests.redis.server import redis_server

pytestmark = pytest.mark.e2e
# batch 8: an executor holds at most 8 of a tenant, so a fast main node leaves events to the other
LEASE = "[executor]\nlease_ms = 2000\nbatch = 8\n"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path / "redis") as url:
        yield url


@pytest.fixture
def nodes(tmp_path: Path, redis_url: str) -> Iterator[tuple[Platform, Platform]]:
    main = main_node(tmp_path / "main", redis_url, LEASE)
    try:
        worker = executor_node(tmp_path / "node2", main, redis_url, LEASE)
        try:
            yield main, worker
        finally:
            worker.stop()
    finally:
        main.stop()


def test_executor_node_runs_only_executors_and_its_records_reach_the_main_node(
    nodes: tuple[Platform, Platform],
) -> None:
    main, worker = nodes
    names = [c["name"] for c in worker.status()["components"]]
    assert names == ["repo", "ctl", "queue", "recorder", "executor-1"]
    assert "records" in [c["name"] for c in main.status()["components"]]
    ids: list[str] = []
    for batch in range(10):
        ids += post_batch(main, 50, batch * 50)
    wait_until(lambda: len(ok_counts(main)) == len(ids), 60, "every event recorded ok")
    assert moved(main) > 0, "the executor-only node ran none of the events"


def test_kill_9_of_an_executor_node_mid_load_loses_nothing_and_records_ok_once(
    nodes: tuple[Platform, Platform],
) -> None:
    main, worker = nodes
    accepted: list[str] = []
    for batch in range(6):
        accepted += post_batch(main, 100, batch * 100)
    wait_until(lambda: moved(main) > 0, 30, "the executor node to record some runs")
    kill_node(worker)
    for batch in range(6, 10):
        accepted += post_batch(main, 100, batch * 100)
    wait_until(lambda: len(ok_counts(main)) >= len(accepted), 90, "every accepted event recorded ok")
    # The dead node may have recorded ok but not acked: those leases expire after lease_ms,
    # are leased again, found recorded, and acked without a second run.
    wait_until(lambda: settled(main) == (0, 0, 0), 30, "the dead node's leases to expire and settle")
    assert ok_counts(main) == dict.fromkeys(accepted, 1), "a re-leased event ran a second time"


def settled(node: Platform) -> tuple[int, int, int]:
    stats = node.rpc("queue", "stats")["acme"]
    return stats["depth"], stats["inflight"], stats["dead"]
