"""The benchmark's tools do what its figures rely on: every accepted id counted once,
open loops send on their schedule, and `make bench` runs end to end and prints its lines."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from multiprocessing import Process
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "perf"))

import loadgen  # noqa: E402


@pytest.fixture
def trivial_port() -> Iterator[int]:
    """The load generator's trivial server, in a child process."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    port = sock.getsockname()[1]
    server = Process(target=loadgen.trivial_server, args=(sock,), daemon=True)
    server.start()
    sock.close()
    yield port
    server.terminate()
    server.join(timeout=10)


def _drive(port: int, per: int, **kwargs: object) -> loadgen.Load:
    requests = [loadgen.request("/events/t/e", loadgen.batch_body([{"n": 1}] * per))]
    return asyncio.run(asyncio.wait_for(
        loadgen.drive("127.0.0.1", port, requests, **kwargs), timeout=30))  # type: ignore[arg-type]


@pytest.mark.parametrize("per", [1, 10])
def test_closed_loop_counts_every_accepted_item_once(trivial_port: int, per: int) -> None:
    load = _drive(trivial_port, per, seconds=0.3, connections=4)
    requests = sum(load.statuses.values())
    assert requests > 0 and set(load.statuses) == {202}
    assert load.accepted == requests * per  # ids are distinct and each one is kept
    assert len(load.replies) == requests


def test_open_loop_sends_exactly_its_schedule(trivial_port: int) -> None:
    # 100 requests/s for 0.245 s: slots at 0, 10, ..., 240 ms, each sent even when late.
    load = _drive(trivial_port, 1, seconds=0.245, connections=4, rate=100.0)
    assert sum(load.statuses.values()) == 25


@pytest.mark.e2e
def test_bench_prints_a_line_per_scenario() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "perf" / "bench.py"), "--seconds", "1", "--only", "loadgen,batch100"],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    lines = {line["scenario"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert set(lines) == {"loadgen", "startup", "batch100", "targets"}
    assert lines["startup"]["up_to_healthy_s"] > 0
    batch = lines["batch100"]
    assert batch["statuses"] == {"202": batch["completed"] // 100}
    assert batch["not_recorded"] == 0 and batch["completed"] > 0
    assert {"p50", "p95", "p99"} <= set(batch["e2e_ms"])
    assert {"queue", "recorder", "executor-1"} <= set(batch["cpu_us_per_event"])
    assert any(name.startswith("listener") for name in batch["cpu_us_per_event"])  # as many as the cores
    assert batch["conditions"]["config"]["queue.fsync"] == "true"
    targets = {t["scenario"]: t for t in lines["targets"]["targets"]}
    assert targets["batch100"]["figure"] == batch["cpu_us_per_event"]["total"]
    assert targets["batch100"]["met"] is (batch["cpu_us_per_event"]["total"] <= 250)
    assert set(targets) == {"batch100", "startup"}  # the scenarios run; each names its load
