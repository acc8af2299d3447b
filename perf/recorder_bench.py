"""Recorder figures: fsync'd append rate, CPU per record, query latency, index rebuild time.

Run: ``.venv/bin/python perf/recorder_bench.py [--records N]``. Uses a temporary
folder on the same disk as the system temp dir; prints its conditions first.
The ``process`` figures run ``python -m jobico.recorder`` as the platform does
(RPC appends of executor-shaped records, one ``follow`` stream) and divide the
process's CPU time by the records it stored: the figure to compare between runs.
``--api`` prints only what the typed messages (``jobico.recorder.api``) cost per
record, beside the dict handling they replaced and the store's own check.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from jobico.errors import Unavailable
from jobico.home import Home
from jobico.procs import cpu_seconds
from jobico.recorder import api as recorder_api
from jobico.recorder.commit import GroupCommit
from jobico.recorder.records import Filter, normalize, parse_time
from jobico.recorder.store import Store
from jobico.rpc import trio_shell
from jobico.rpc.errors import ConnectFailed

BATCH = 100
TENANTS = [f"tenant{i}" for i in range(10)]
STATUSES = ["ok"] * 90 + ["error"] * 6 + ["timeout", "trap", "limit", "error"]


def record(n: int) -> dict[str, Any]:
    """A typical record (~400 bytes framed): a short result and two log lines; it
    started ``duration_ms`` ago, so records arrive a little out of start order."""
    status = random.choice(STATUSES)
    duration_ms = random.expovariate(1 / 3)
    return {"event_id": f"{n:016x}", "attempt": 1, "status": status,
            "tenant": random.choice(TENANTS), "package": "pkg", "event": f"ev{n % 7}",
            "started_at": time.time() - duration_ms / 1000, "duration_ms": duration_ms,
            "code": 0 if status == "ok" else 1, "result": '{"greeting": "hello, world"}',
            "logs": [{"level": "info", "message": "starting"},
                     {"level": "debug", "message": "done in 0.3 ms"}],
            "module_sha256": "ab" * 32}


def batch(first: int) -> list[dict[str, Any]]:
    return [record(first + i) for i in range(BATCH)]


def bench_sync_append(root: Path, count: int) -> None:
    store = Store(root)
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        store.append(batch(first))
    elapsed = time.perf_counter() - start
    store.close()
    print(f"append, one writer, batches of {BATCH}, fsync per batch: "
          f"{count / elapsed:,.0f} records/s ({elapsed / count * BATCH * 1000:.2f} ms per batch)")


async def _group_commit(root: Path, count: int, writers: int) -> tuple[float, int]:
    store = Store(root)
    rounds = 0
    begin = store.begin_sync

    def counted():  # type: ignore[no-untyped-def]
        nonlocal rounds
        rounds += 1
        return begin()

    store.begin_sync = counted  # type: ignore[method-assign]
    commit = GroupCommit(store, lambda durable: None)
    firsts = list(range(10**9, 10**9 + count, BATCH))
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        await nursery.start(commit.run)

        async def writer(mine: list[int]) -> None:
            for first in mine:
                await commit.append(batch(first))

        async with trio.open_nursery() as writers_nursery:
            for w in range(writers):
                writers_nursery.start_soon(writer, firsts[w::writers])
        nursery.cancel_scope.cancel()
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, rounds


def bench_group_commit(root: Path, count: int, writers: int) -> None:
    elapsed, rounds = trio.run(_group_commit, root, count, writers)
    print(f"append, {writers} concurrent writers, batches of {BATCH}, group commit: "
          f"{count / elapsed:,.0f} records/s ({rounds} fsync rounds for {count // BATCH} batches)")


def bench_queries(root: Path) -> None:
    start = time.perf_counter()
    store = Store(root)
    total = len(store)
    print(f"open + index rebuild: {time.perf_counter() - start:.2f} s for {total:,} records "
          f"({store.stats()['bytes'] / 2**20:.0f} MiB)")
    (newest,) = store.query(Filter(), 1)
    second_ago = parse_time(newest["started_at"], "started_at") - 1
    cases = {
        "newest 100, no filter": (Filter(), 100),
        "newest 100 of one tenant": (Filter(tenant="tenant3"), 100),
        "newest 20 traps (1 %)": (Filter(statuses=frozenset({"trap"})), 20),
        "tenant + event + status": (Filter(tenant="tenant3", event="ev2",
                                           statuses=frozenset({"error"})), 50),
        "the second before the last": (Filter(since=second_ago - 1, until=second_ago), 100),
        "text, no match: full scan": (Filter(text="no such text"), 20),
    }
    for name, (where, limit) in cases.items():
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            found = store.query(where, limit)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"query {name:27s} p50 {statistics.median(times):7.2f} ms   "
              f"p99 {times[int(len(times) * 0.99) - 1]:7.2f} ms   ({len(found)} found)")
    store.close()


def executor_record(n: int) -> dict[str, Any]:
    """A record as ``jobico.executor.settle.record`` builds it: every field, ISO time."""
    raw = record(n)
    started = time.gmtime(raw["started_at"])
    millis = int(raw["started_at"] * 1000) % 1000
    return {**raw, "id": f"{raw['event_id']}-1", "reason": None if raw["status"] == "ok" else "x",
            "truncated": False, "duration_ms": round(raw["duration_ms"], 3),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", started) + f".{millis:03d}Z"}


async def _start_recorder(home: Path) -> tuple[trio.Process, trio_shell.Client, float]:
    """The recorder process on ``home``, a client, and the seconds until it served."""
    env = {**os.environ, "JOBICO_HOME": str(home)}
    t0 = time.perf_counter()
    process = await trio.lowlevel.open_process([sys.executable, "-m", "jobico.recorder"], env=env)
    while True:
        try:
            client = await trio_shell.connect(Home(home).socket("recorder"))
            return process, client, time.perf_counter() - t0
        except ConnectFailed:
            assert process.poll() is None, "the recorder exited"
            await trio.sleep(0.01)


async def _process_run(home: Path, count: int, writers: int, follow: bool) -> None:
    process, client, _ = await _start_recorder(home)
    empty_start_cpu = cpu_seconds(process.pid)  # interpreter, imports, an empty store
    batches = [[executor_record(n) for n in range(first, first + BATCH)]
               for first in range(0, count, BATCH)]
    followed, dropped = 0, ""
    async with client, trio.open_nursery() as nursery:
        async def follower(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            nonlocal followed, dropped
            async with recorder_api.follow(client, recorder_api.Follow()) as items:
                task_status.started()
                try:
                    async for _ in items:
                        followed += 1
                        if followed == count:
                            return
                except Unavailable as exc:
                    dropped = f" (the follower was dropped after {followed:,} records: {exc})"

        if follow:
            await nursery.start(follower)
        cpu0, t0 = cpu_seconds(process.pid), time.perf_counter()

        async def writer(mine: list[list[dict[str, Any]]]) -> None:
            for records in mine:
                await recorder_api.append(client, recorder_api.Append(records))

        async with trio.open_nursery() as writers_nursery:
            for w in range(writers):
                writers_nursery.start_soon(writer, batches[w::writers])
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(process.pid) - cpu0
    print(f"process: {writers} writers, batches of {BATCH}, {int(follow)} follower: "
          f"{count / elapsed:,.0f} records/s, recorder CPU {cpu / count * 1e6:.0f} µs per record"
          + dropped)
    process.terminate()
    await process.wait()
    process, client, served = await _start_recorder(home)
    rebuild_cpu = cpu_seconds(process.pid) - empty_start_cpu
    await client.aclose()
    print(f"process: restart with {count:,} records serves in {served:.2f} s; index rebuild "
          f"CPU {rebuild_cpu / count * 1e6:.0f} µs per record (beyond an empty start)")
    process.terminate()
    await process.wait()


def bench_process(root: Path, count: int, writers: int, *, follow: bool) -> None:
    """Figures of the real recorder process; ``root`` gets a fresh home."""
    home = root / f"home-{writers}-{int(follow)}"
    home.mkdir()
    (home / "jobico.toml").write_text("")
    trio.run(_process_run, home, count, writers, follow)


def fsync_ms(folder: str) -> float:
    """Median time of one 40 KB write + fsync in ``folder``: the disk's floor per batch."""
    times = []
    with tempfile.TemporaryFile(dir=folder) as f:
        for _ in range(30):
            f.write(b"x" * 40_000)
            f.flush()
            t0 = time.perf_counter()
            os.fsync(f.fileno())
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _by_hand_append(params: Any) -> dict[str, list[Any]]:
    """What the service did with an append before ``api.Append`` (its params checked by hand),
    the store's part left out: it is the same before and after."""
    records = params.get("records") if isinstance(params, dict) else None
    if not isinstance(records, list):
        raise ValueError("records: required")
    return {"stored": [True] * len(records), "refused": []}


def _us_per_record(seconds: float, records: int, step: Callable[[], object]) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        done += 1
    return elapsed / done / records * 1e6


def bench_api(seconds: float) -> None:
    """µs per record of each way of handling a batch of ``BATCH`` executor-shaped records."""
    wire = [executor_record(n) | {"accepted_at": executor_record(n)["started_at"]} for n in range(BATCH)]
    stored = [normalize(r, i, time.time())[0] for i, r in enumerate(wire)]
    typed = [recorder_api.Record.of(r) for r in stored]
    params = {"records": wire}
    append = recorder_api.append

    def typed_append() -> object:
        request = append.request(params)
        return recorder_api.Appended((True,) * len(request.records)).to_wire()

    reply = typed_append()
    ways: dict[str, Callable[[], object]] = {
        "server append: params by hand (before)": lambda: _by_hand_append(params),
        "server append: Append.from_wire + Appended.to_wire": typed_append,
        "server append: the store's check, normalize (both)": lambda: [
            normalize(r, i, 0.0) for i, r in enumerate(wire)],
        "server query/follow: stored maps as they are (before)": lambda: list(stored),
        "server query/follow: Record.of + to_wire": lambda: [
            recorder_api.Record.of(r).to_wire() for r in stored],
        "client append: wire maps (before, and still taken)": lambda: {"records": wire},
        "client append: Append of Records, to_wire": recorder_api.Append(typed).to_wire,
        "client append reply: Appended.from_wire": lambda: append.reply(reply),
        "client query/follow: Record.from_wire": lambda: [
            recorder_api.Record.from_wire(r) for r in stored],
    }
    for name, step in ways.items():
        print(f"  {name:56} {_us_per_record(seconds, BATCH, step):7.3f} µs per record")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--api", action="store_true", help="only the typed messages' cost per record")
    args = parser.parse_args()
    random.seed(1)
    if args.api:
        print(f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}; batches of "
              f"{BATCH} executor-shaped records")
        bench_api(seconds=1.0)
        return
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    print(f"disk: {tempfile.gettempdir()}, write+fsync p50 {fsync_ms(tempfile.gettempdir()):.2f} ms; "
          f"{args.records:,} records of ~400 bytes, 10 tenants, 10 % failures")
    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp:
        bench_process(Path(tmp), args.records, args.writers, follow=False)
        bench_process(Path(tmp), args.records, args.writers, follow=True)
        root = Path(tmp) / "recorder"
        bench_sync_append(root, args.records // 2)
        bench_group_commit(root, args.records // 2, args.writers)
        bench_queries(root)


if __name__ == "__main__":
    main()
