"""Queue throughput: fsync'd enqueue under group commit, and lease + ack.

Runs the file backend in process (no RPC), with concurrent trio producers
that each wait for their fsync, as the listener does. Prints its conditions.

    .venv/bin/python perf/queue_bench.py [--items 200000] [--producers 64] [--batch 16]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import trio
from procstat import cpu_model  # perf/, the script's own folder

from jobico.queue.api import Settlement
from jobico.queue.commit import GroupCommit
from jobico.queue.file_backend import FileBackend

BODY = b'{"name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro", "n": 0000000}'


def conditions(args: argparse.Namespace, root: Path) -> str:
    return (
        f"{platform.node()} · {cpu_model()} · {os.cpu_count()} cores · load {os.getloadavg()[0]:.1f} · "
        f"python {platform.python_version()} · dir {root} · fsync={not args.no_fsync} · "
        f"{args.producers} producers x batches of {args.batch} · body {len(BODY)} B"
    )


async def enqueue_phase(q: FileBackend, group: GroupCommit, args: argparse.Namespace) -> list[float]:
    latencies: list[float] = []
    per_producer = args.items // (args.producers * args.batch)
    batch = [BODY] * args.batch

    async def producer() -> None:
        for _ in range(per_producer):
            start = time.perf_counter()
            result = q.enqueue("acme", "signup", batch, None)
            await group.wait(result.commit)
            latencies.append(time.perf_counter() - start)

    async with trio.open_nursery() as nursery:
        for _ in range(args.producers):
            nursery.start_soon(producer)
    return latencies


async def lease_ack_phase(q: FileBackend, group: GroupCommit, workers: int, size: int) -> int:
    done = 0

    async def worker(name: str) -> None:
        nonlocal done
        while deliveries := q.lease(name, size, 30_000):
            q.settle(name, [Settlement(d.id, "ack") for d in deliveries])
            group.kick()  # as the service does: acks ride on the next commit
            done += len(deliveries)
            await trio.lowlevel.checkpoint()  # a real worker awaits its RPC here

    async with trio.open_nursery() as nursery:
        for n in range(workers):
            nursery.start_soon(worker, f"w{n}")
    return done


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="queue-bench-", dir=args.dir))
    q = FileBackend(root, fsync=not args.no_fsync)
    q.recover()
    group = GroupCommit(q, logging.getLogger("bench"))
    print(conditions(args, root))
    async with trio.open_nursery() as nursery:
        await nursery.start(group.run)
        start, cpu, syncs, synced = time.perf_counter(), time.process_time(), group.syncs, group.sync_seconds
        latencies = await enqueue_phase(q, group, args)
        took, syncs = time.perf_counter() - start, group.syncs - syncs
        cpu = time.process_time() - cpu
        sync_ms = 1000 * (group.sync_seconds - synced) / max(1, syncs)
        count = len(latencies) * args.batch
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"enqueue (durable on return): {count / took:,.0f} items/s · {count:,} items in {took:.2f} s · "
            f"{syncs:,} syncs ({count / max(1, syncs):,.0f} items/sync, {sync_ms:.1f} ms each) · "
            f"latency p50 {cuts[49] * 1000:.2f} ms p99 {cuts[98] * 1000:.2f} ms · "
            f"CPU {cpu / count * 1e6:.1f} µs/item"
        )
        start, cpu, syncs = time.perf_counter(), time.process_time(), group.syncs
        done = await lease_ack_phase(q, group, args.workers, args.lease)
        took, syncs = time.perf_counter() - start, group.syncs - syncs
        cpu = time.process_time() - cpu
        print(
            f"lease + ack: {done / took:,.0f} items/s · {args.workers} workers x "
            f"leases of {args.lease} · {syncs:,} syncs · CPU {cpu / done * 1e6:.1f} µs/item"
        )
        nursery.cancel_scope.cancel()
    q.close()
    left = sorted(p.name for p in (root / "log").iterdir())
    print(f"segments left after acking everything: {left}")
    shutil.rmtree(root)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lease", type=int, default=64)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--dir", default=None, help="where to put the queue (default: the temp dir)")
    trio.run(main, parser.parse_args())
