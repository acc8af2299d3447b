"""Two homes on one machine sharing one Redis: a main node and executor-only nodes.

Used by the scale-out test and ``perf/scaleout_bench.py``. An executor-only
home shares the main home's tenant folder through a symlink, the way a real
node would mount or sync it (docs/scaleout.md).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from jobico.procs import alive
from tests.e2e.platform import Platform, package, wait_until
from tests.executor.guests import ECHO

TENANT, EVENT = "acme", "echo"


def main_node(root: Path, redis_url: str, extra: str = "") -> Platform:
    """A full home on the redis queue, serving an ``acme/echo`` job."""
    p = Platform(root, f'[queue]\nbackend = "redis"\nurl = "{redis_url}"\n{extra}')
    p.write(f"{TENANT}/{EVENT}.wasm", ECHO)
    p.write(f"{TENANT}/{EVENT}.toml", package({"event": EVENT, "wasm": f"{EVENT}.wasm", "abi": "jobicolet"}))
    p.start()
    p.wait_for_event(TENANT, EVENT)
    return p


def executor_node(root: Path, main: Platform, redis_url: str, extra: str = "") -> Platform:
    """An executor-only home (``jobico up --role executor --queue URL``) on the main home's tenants."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tenants").symlink_to(main.root / "tenants")
    p = Platform(root, extra)
    p.start(up_args=("--role", "executor", "--queue", redis_url))
    # up and healthy is not yet leasing: its executor leases once ctl's catalog reached it
    wait_until(lambda: p.rpc("executor-1", "status").get("catalog_version") is not None, 60,
               "the executor node's executor to have the catalog")
    return p


def kill_node(p: Platform) -> None:
    """``kill -9`` a node's supervisor and every component at once: a machine that died."""
    status = p.status()
    pids = [status["pid"], *(c["pid"] for c in status["components"] if c["pid"])]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for pid in pids:
        wait_until(lambda pid=pid: not alive(pid), 10, f"pid {pid} to die")
    assert p.process is not None
    p.process.wait(timeout=10)
    p.process = None


def post_batch(p: Platform, n: int, start: int = 0) -> list[str]:
    """``n`` items in one request; the ids the webhook acknowledged (202)."""
    status, body = p.post(TENANT, EVENT, {"data": [{"n": start + i} for i in range(n)]})
    assert status == 202, body
    return body["ids"]


def ok_counts(p: Platform) -> dict[str, int]:
    """How many ``ok`` records each event id has on ``p``'s recorder."""
    counts: dict[str, int] = {}
    for record in p.records(tenant=TENANT, status="ok"):
        counts[record["event_id"]] = counts.get(record["event_id"], 0) + 1
    return counts


def moved(p: Platform) -> int:
    """Records that reached ``p``'s recorder through Redis from executor-only nodes."""
    return int(p.rpc("records", "status")["moved"])
