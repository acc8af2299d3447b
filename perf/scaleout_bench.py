"""End-to-end throughput on the redis queue: one node, then a main node plus executor-only nodes.

Usage: .venv/bin/python perf/scaleout_bench.py [--events N] [--nodes 1,2] [--workers W]

For each node count, starts a redis-server, a main home (``queue.backend =
redis``, W executor processes) and ``nodes - 1`` executor-only homes
(``jobico up --role executor``, W executors each) on this machine, posts N echo
events in batches of 100 through the webhook, and times first post to last
``ok`` record on the main node. Every node shares this machine's cores, so the
figure shows the cost of the distributed path, not the gain of a second
machine. Prints the conditions with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.platform import Platform, wait_until
from tests.redis.nodes import executor_node, main_node, moved, ok_counts, post_batch
from tests.redis.server import redis_server

BATCH = 100


def run(events: int, nodes: int, workers: int) -> tuple[float, int]:
    """Events per second end to end, and how many runs the executor-only nodes recorded."""
    with tempfile.TemporaryDirectory(prefix="jsb-") as tmp, redis_server(Path(tmp) / "redis") as url:
        extra = f"[executor]\nworkers = {workers}\n"
        started: list[Platform] = []
        try:
            main = main_node(Path(tmp) / "main", url, extra)
            started.append(main)
            for i in range(1, nodes):
                started.append(executor_node(Path(tmp) / f"node{i + 1}", main, url, extra))
            t0 = time.perf_counter()
            for start in range(0, events, BATCH):
                post_batch(main, min(BATCH, events - start), start)
            wait_until(lambda: len(ok_counts(main)) >= events, 600, f"{events} ok records")
            elapsed = time.perf_counter() - t0
            return events / elapsed, moved(main)
        finally:
            for p in reversed(started):
                p.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--nodes", default="1,2")
    parser.add_argument("--workers", type=int, default=1, help="executor processes per node")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}; {args.events} echo events (jobicolet), batches of "
          f"{BATCH}, {args.workers} executor process(es) per node, redis on localhost")
    for count in (int(n) for n in args.nodes.split(",")):
        rate, remote = run(args.events, count, args.workers)
        print(f"{count} node(s): {rate:8.0f} events/s end to end; {remote} run on executor-only nodes")


if __name__ == "__main__":
    main()
