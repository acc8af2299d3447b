"""A restarted executor on Redis gives back its predecessor's leases at once (issue 13, item 20),
end to end: ``kill -9`` of an executor mid-run, with a lease far longer than the test may wait."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.platform import package, wait_until
from tests.e2e.test_execution import SLEEP_S, SLEEPER
from tests.redis.nodes import TENANT, main_node
from tests.redis.server import redis_server

pytestmark = pytest.mark.e2e
LEASE_MS = 300_000  # the predecessor's lease would hold the event this long without the release


def test_kill_9_of_an_executor_on_redis_runs_its_event_again_at_once(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as url:
        main = main_node(tmp_path / "main", url, f"[executor]\nlease_ms = {LEASE_MS}\n")
        try:
            main.write(f"{TENANT}/nap.wasm", SLEEPER)
            main.write(f"{TENANT}/sleep.toml", package({"event": "nap", "wasm": "nap.wasm"}))
            main.wait_for_event(TENANT, "nap")
            pid = main.component("executor-1")["pid"]
            status, reply = main.post(TENANT, "nap", {})
            assert status == 202, reply
            [event_id] = reply["ids"]
            wait_until(lambda: main.rpc("queue", "stats")[TENANT]["inflight"] == 1, 10, "the event leased")
            time.sleep(SLEEP_S / 3)  # inside the guest's sleep
            killed_at = time.time()
            main.kill("executor-1", pid)

            def recorded() -> list[dict[str, object]]:
                return [r for r in main.records(tenant=TENANT) if r["event_id"] == event_id]

            [record] = wait_until(recorded, 60, "the event to run again, long before its lease ends")
            assert (record["status"], record["attempt"]) == ("ok", 1)  # the same attempt: it never ended
            started = datetime.fromisoformat(str(record["started_at"]).replace("Z", "+00:00")).timestamp()
            assert started > killed_at, "the run that counted began after the kill"
        finally:
            main.stop()
