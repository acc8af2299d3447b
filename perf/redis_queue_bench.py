"""The redis queue in process: enqueue, then lease + settle, and the round trips each call costs.

Starts its own redis-server (append-only file, fsync every second), enqueues
``--items`` items in batches of 16 over ``--tenants`` tenants, then drains them
with ``--workers`` concurrent trio workers that each lease up to ``--lease``
items and settle them (ack) in one call, as executors do. Round trips are the
client's calls to Redis (a script is one). Prints its conditions.

    .venv/bin/python perf/redis_queue_bench.py [--items 20000] [--tenants 1] [--lease 16] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobico.queue.api import Settlement
from jobico.queue.redis_backend import RedisBackend
from tests.redis.server import redis_server

BATCH = 16
BODY = b'{"name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro", "n": 0000000}'


class Counted:
    """Counts the client's calls to Redis (a script is one, whatever it runs inside)."""

    def __init__(self, q: RedisBackend) -> None:
        self.calls = 0
        inner = q._redis.execute_command

        async def counted(command: Any) -> Any:
            self.calls += 1
            return await inner(command)

        q._redis.execute_command = counted


async def main(args: argparse.Namespace, url: str) -> None:
    q = RedisBackend(url, prefix=f"b{secrets.token_hex(3)}", node="bench")
    async with q.open():
        trips = Counted(q)
        start = time.perf_counter()
        for n in range(args.items // BATCH):
            await q.enqueue(f"t{n % args.tenants}", "signup", [BODY] * BATCH, None)
        enqueue_s = time.perf_counter() - start
        leases = done = 0
        before = trips.calls

        async def worker(name: str) -> None:
            nonlocal leases, done
            while deliveries := await q.lease(name, args.lease, 30_000):
                leases += 1
                await q.settle(name, [Settlement(d.id, "ack") for d in deliveries])
                done += len(deliveries)

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for n in range(args.workers):
                nursery.start_soon(worker, f"w{n}")
        took = time.perf_counter() - start
        per_pair = (trips.calls - before) / leases
        print(f"enqueue: {args.items / enqueue_s:,.0f} items/s (batches of {BATCH}, one caller)")
        print(f"lease + settle: {done / took:,.0f} items/s · {done:,} items in {took:.2f} s · "
              f"{leases:,} leases · {per_pair:.2f} round trips per lease + settle")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--lease", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    arguments = parser.parse_args()
    print(f"{platform.node()} · {os.cpu_count()} cores · load {os.getloadavg()[0]:.1f} · "
          f"python {platform.python_version()} · redis on localhost (appendfsync everysec) · "
          f"{arguments.items:,} items over {arguments.tenants} tenants · {arguments.workers} workers x "
          f"leases of {arguments.lease}")
    with tempfile.TemporaryDirectory(prefix="rqb-") as tmp, redis_server(Path(tmp) / "redis") as redis_url:
        trio.run(main, arguments, redis_url)
