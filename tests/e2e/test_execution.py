"""Issue 5's promises, through a real `jobico up`: outcomes, records, dead letters, chains, crashes.

Guests are the WAT programs of tests/executor/guests.py. One platform serves the
module; each test uses its own tenant. Leases are short here (``lease_ms``) so a
run lost with a killed executor comes back within seconds.
"""

from __future__ import annotations

import hashlib
import json
import selectors
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest
import wasmtime

from tests.e2e.conftest import Factory
from tests.e2e.platform import JOBICO, Platform, package, wait_until
from tests.executor import guests

pytestmark = pytest.mark.e2e
CONFIG = """
[executor]
lease_ms = 4000
[tenants.spinner]
max_concurrency = 2
"""
RECORD_FIELDS = {"id", "event_id", "tenant", "package", "event", "attempt", "status", "reason", "truncated",
                 "code", "result", "logs", "started_at", "duration_ms", "module_sha256"}
SLEEP_S = 1.5
# A wasi guest that waits SLEEP_S on the monotonic clock, then answers "slept".
SLEEPER = bytes(wasmtime.wat2wasm(f"""
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "slept")
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func (export "_start") (local $end i64)
    (local.set $end (i64.add (call $now) (i64.const {int(SLEEP_S * 1e9)})))
    (loop $wait (br_if $wait (i64.lt_u (call $now) (local.get $end))))
    (i32.store (i32.const 16) (i32.const 256))
    (i32.store (i32.const 20) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
"""))
OUTCOME = {"type": "object", "required": ["event_id", "code", "result", "input"]}

# tenant -> package -> jobs
TENANTS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "runs": {"outcomes": [
        {"event": "ok", "wasm": guests.ECHO},
        {"event": "error", "wasm": guests.FAIL, "max_attempts": 1},
        {"event": "timeout", "wasm": guests.SPIN, "timeout_ms": 100, "max_attempts": 1},
        {"event": "trap", "wasm": guests.TRAP, "max_attempts": 1},
        {"event": "limit", "wasm": guests.GROW, "memory_mb": 4, "max_attempts": 1},
        {"event": "wasi-ok", "wasm": guests.WASI_ECHO},
        {"event": "wasi-exit", "wasm": guests.WASI_EXIT, "max_attempts": 1},
        {"event": "wasi-env", "wasm": guests.WASI_PROBE},
        {"event": "dead", "wasm": guests.FAIL, "max_attempts": 2},
        {"event": "follow", "wasm": guests.ECHO},
    ]},
    "deadpool": {"failing": [{"event": "fail", "wasm": guests.FAIL, "max_attempts": 1}]},
    "chain": {"flow": [
        {"event": "start", "wasm": guests.ECHO, "on_ok": "after-ok"},
        {"event": "fails", "wasm": guests.FAIL, "max_attempts": 1, "on_error": "after-error"},
        {"event": "after-ok", "wasm": guests.ECHO, "schema": OUTCOME},
        {"event": "after-error", "wasm": guests.ECHO, "schema": OUTCOME},
    ]},
    "spinner": {"spin": [{"event": "spin", "wasm": guests.SPIN, "timeout_ms": 2000, "max_attempts": 1}]},
    "quick": {"echo": [{"event": "ping", "wasm": guests.ECHO}]},
    "sleepy": {"sleep": [{"event": "nap", "wasm": SLEEPER}]},
    "durable": {"echo": [{"event": "ping", "wasm": guests.ECHO}]},
    "counted": {"echo": [{"event": "ping", "wasm": guests.ECHO}]},
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(CONFIG)
    for tenant, packages in TENANTS.items():
        for name, jobs in packages.items():
            toml_jobs = []
            for job in jobs:
                p.write(f"{tenant}/{job['event']}.wasm", job["wasm"])
                entry = {**job, "wasm": f"{job['event']}.wasm"}
                if "schema" in job:
                    p.write(f"{tenant}/{job['event']}.json", json.dumps(job["schema"]))
                    entry["schema"] = f"{job['event']}.json"
                toml_jobs.append(entry)
            p.write(f"{tenant}/{name}.toml", package(*toml_jobs))
    for tenant, packages in TENANTS.items():
        for jobs in packages.values():
            for job in jobs:
                p.wait_for_event(tenant, job["event"])
    return p


def post(p: Platform, tenant: str, event: str, item: Any) -> str:
    status, reply = p.post(tenant, event, item)
    assert status == 202, reply
    return reply["ids"][0]


def records_of(p: Platform, event_id: str, tenant: str, count: int = 1) -> list[dict[str, Any]]:
    """The records of one event, oldest attempt first, once there are ``count``."""

    def mine() -> list[dict[str, Any]]:
        return sorted((r for r in p.query(tenant=tenant) if r["event_id"] == event_id),
                      key=lambda r: r["attempt"])

    return wait_until(lambda: len(r := mine()) >= count and r, 30, f"{count} records of {event_id}")


def run(p: Platform, event: str, item: Any = None) -> dict[str, Any]:
    return records_of(p, post(p, "runs", event, {"x": 1} if item is None else item), "runs")[0]


def test_an_ok_record_has_every_field_of_spec_5(home: Platform) -> None:
    event_id = post(home, "runs", "ok", {"name": "Ada"})
    (record,) = records_of(home, event_id, "runs")
    assert set(record) >= RECORD_FIELDS
    assert record["id"] != event_id and record["event_id"] == event_id
    assert (record["tenant"], record["package"], record["event"], record["attempt"]) == (
        "runs", "outcomes", "ok", 1)
    assert (record["status"], record["reason"], record["code"], record["truncated"]) == ("ok", None, 0, False)
    assert json.loads(record["result"]) == {"name": "Ada"}
    assert record["module_sha256"] == sha(guests.ECHO)
    started = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00"))
    assert started.utcoffset() is not None and started.utcoffset().total_seconds() == 0
    assert abs(_started(record) - time.time()) < 120
    assert isinstance(record["duration_ms"], int | float) and record["duration_ms"] >= 0
    assert home.cli_json("show", record["id"]) == record
    assert home.cli_json("show", event_id) == record  # an event id shows its latest attempt


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [("error", "error", 7), ("timeout", "timeout", None), ("trap", "trap", None), ("limit", "limit", None),
     ("wasi-exit", "error", 3)],
)
def test_each_failure_is_recorded_with_its_status_and_a_reason(
    home: Platform, event: str, status: str, code: int | None
) -> None:
    record = run(home, event)
    assert record["status"] == status, record
    assert record["reason"], record
    if code is not None:
        assert record["code"] == code
    if event == "error":
        assert record["result"] == "bad input"
    if event == "limit":
        assert "4" in record["reason"]  # the reason states the cap


def test_a_wasi_guest_gets_stdin_env_and_its_stderr_as_logs(home: Platform) -> None:
    record = run(home, "wasi-ok", {"n": 1})
    assert (record["status"], json.loads(record["result"])) == ("ok", {"n": 1})
    assert record["logs"] == [{"level": "info", "message": "log line one"},
                              {"level": "info", "message": "line two"}]
    event_id = post(home, "runs", "wasi-env", {})
    (record,) = records_of(home, event_id, "runs")
    env = dict(v.split("=", 1) for v in record["result"].split("\0") if v)
    assert env == {"JOBICO_TENANT": "runs", "JOBICO_EVENT": "wasi-env", "JOBICO_EVENT_ID": event_id,
                   "JOBICO_ATTEMPT": "1"}


def test_failures_are_retried_then_dead_lettered(home: Platform) -> None:
    event_id = post(home, "runs", "dead", {"x": 1})
    first, second = records_of(home, event_id, "runs", count=2)
    assert [(r["attempt"], r["status"]) for r in (first, second)] == [(1, "error"), (2, "error")]
    gap = _started(second) - _finished(first)
    print(f"retry came {gap:.2f} s after the first attempt ended (SPEC: about 1 s)")
    dead = wait_until(lambda: [d for d in home.cli_json("dead", "--tenant", "runs") if d["id"] == event_id],
                      10, "the event to be dead-lettered")
    assert (dead[0]["tenant"], dead[0]["event"], dead[0]["attempt"]) == ("runs", "dead", 2)


def dead_ids(p: Platform, tenant: str) -> list[str]:
    return sorted(d["id"] for d in p.cli_json("dead", "--tenant", tenant))


def test_replay_and_purge_dead_letters(home: Platform) -> None:
    ids = sorted(post(home, "deadpool", "fail", {"n": n}) for n in range(3))
    wait_until(lambda: dead_ids(home, "deadpool") == ids, 30, "three dead letters")

    assert home.cli("replay", ids[0]).stdout.strip() == "replayed 1 event(s)"
    again = records_of(home, ids[0], "deadpool", count=2)
    assert [r["attempt"] for r in again] == [1, 2]  # numbering continues after a replay
    wait_until(lambda: dead_ids(home, "deadpool") == ids, 30, "the replayed event to be dead again")

    assert home.cli_json("replay", "--all", "--tenant", "deadpool") == {"replayed": ids}
    for event_id in ids:
        records_of(home, event_id, "deadpool", count=3 if event_id == ids[0] else 2)
    wait_until(lambda: dead_ids(home, "deadpool") == ids, 30, "every replayed event to be dead again")

    assert home.cli("purge", ids[1]).stdout.strip() == "purged 1 event(s)"
    assert dead_ids(home, "deadpool") == [ids[0], ids[2]]
    assert home.cli_json("purge", "--all", "--tenant", "deadpool", "--yes") == {"purged": [ids[0], ids[2]]}
    assert dead_ids(home, "deadpool") == []
    done = home.cli("replay", ids[1], check=False)
    assert done.returncode != 0


def test_executions_follow_json_prints_json_lines(home: Platform) -> None:
    follower = subprocess.Popen(
        [*JOBICO, "executions", "--follow", "--json", "--tenant", "runs", "--event", "follow",
         "--home", str(home.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        selector = selectors.DefaultSelector()
        assert follower.stdout is not None
        selector.register(follower.stdout, selectors.EVENT_READ)
        posted: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # post until the follower, once subscribed, sees one
            posted.append(post(home, "runs", "follow", {"n": len(posted)}))
            if selector.select(timeout=0.5):
                break
        line = follower.stdout.readline()
        record = json.loads(line)
        assert record["event_id"] in posted and record["event"] == "follow"
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_on_ok_and_on_error_publish_follow_up_events(home: Platform) -> None:
    ok_id = post(home, "chain", "start", {"x": 1})
    err_id = post(home, "chain", "fails", {"y": 2})
    after_ok = wait_until(lambda: home.query(tenant="chain", event="after-ok"), 30, "after-ok")
    after_error = wait_until(lambda: home.query(tenant="chain", event="after-error"), 30, "after-error")
    assert json.loads(after_ok[0]["result"]) == {"event_id": ok_id, "code": 0, "result": '{"x":1}',
                                                 "input": {"x": 1}}
    assert json.loads(after_error[0]["result"]) == {"event_id": err_id, "code": 7, "result": "bad input",
                                                    "input": {"y": 2}}


def test_a_spinning_tenant_does_not_delay_another(home: Platform) -> None:
    for n in range(3):
        post(home, "spinner", "spin", {"n": n})
    wait_until(lambda: home.rpc("queue", "stats").get("spinner", {}).get("inflight") == 2, 10,
               "two spinners to run (the tenant's max_concurrency)")
    ids = home.post("quick", "ping", {"data": [{"n": n} for n in range(20)]})[1]["ids"]
    for n in range(20, 30):
        ids.append(post(home, "quick", "ping", {"n": n}))
    home.wait_records(30, tenant="quick", status="ok")
    assert home.records(tenant="spinner") == [], "quick's events waited for the spinning guests"
    spun = home.wait_records(3, timeout=60, tenant="spinner")
    assert {r["status"] for r in spun} == {"timeout"}
    quick_done = max(_finished(r) for r in home.records(tenant="quick"))
    assert quick_done < min(_finished(r) for r in spun)


def _started(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()


def _finished(record: dict[str, Any]) -> float:
    return _started(record) + record["duration_ms"] / 1000


def test_kill_9_of_an_executor_mid_run_runs_the_event_again_and_records_ok_once(home: Platform) -> None:
    pid = home.component("executor-1")["pid"]
    event_id = post(home, "sleepy", "nap", {})
    wait_until(lambda: home.rpc("queue", "stats").get("sleepy", {}).get("inflight") == 1, 10,
               "the event to be leased")
    time.sleep(SLEEP_S / 3)  # inside the guest's sleep
    killed_at = time.time()
    home.kill("executor-1", pid)
    (record,) = records_of(home, event_id, "sleepy")
    assert (record["status"], record["result"]) == ("ok", "slept")
    assert _started(record) > killed_at  # the run that counted began after the kill
    time.sleep(1)
    assert [r["status"] for r in home.records(tenant="sleepy")] == ["ok"]


def test_kill_9_of_the_recorder_loses_no_record(home: Platform) -> None:
    ids: list[str] = []
    for start in range(0, 200, 50):
        ids += home.post("durable", "ping", {"data": [{"n": n} for n in range(start, start + 50)]})[1]["ids"]
    home.kill("recorder")
    records = home.wait_records(len(ids), timeout=60, tenant="durable")
    assert sorted(r["event_id"] for r in records) == sorted(ids)
    assert {r["status"] for r in records} == {"ok"}


def test_send_count_posts_n_events(home: Platform) -> None:
    done = home.cli("send", "counted", "ping", '{"a": 1}', "--count", "250")
    assert done.stdout.startswith("accepted 250, rejected 0 in ")
    records = home.wait_records(250, tenant="counted", status="ok")
    assert len({r["event_id"] for r in records}) == 250
    assert {r["result"] for r in records} == {'{"a":1}'}
