"""How the cost of an event grows with the work: tenants, item size, executor processes.

    .venv/bin/python perf/scale_bench.py [--seconds 5] [--tenants 1,4,16] [--sizes 100,10240,102400]
                                         [--executors 1,2] [--event greet|echo] [--set KEY=VALUE ...]

For each number of executor processes, one `jobico up` (bench.py's home: the default
configuration, fsync on, every job for 16 tenants, requests of up to 2 MiB), then one
closed-loop run per cell: requests spread over the first N tenants, items of the given
size (bench.py's item, its ``note`` padded), 100 items per request (10 for items over
10 KiB, so a request stays near 1 MiB), at most 64 MiB of items in flight. Prints one
JSON line per cell (bench.py's figures: events/s completed, CPU us per event per
component and in total, e2e latency, conditions), then a table of every cell.

The default guest is the WASI C guest (``perf/guests/greet_wasi.c``): it reads the
whole item and writes a short result, so records stay small; ``--event echo`` returns
the item, so records grow with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench

TENANTS = tuple(f"s{i:02d}" for i in range(1, 17))
IN_FLIGHT_BYTES = 64 * 1024 * 1024
REQUEST_BYTES = 1024 * 1024


def item_of(size: int) -> dict[str, Any]:
    """bench.py's item, padded to ``size`` bytes of JSON."""
    item = dict(bench.ITEM, note="")
    item["note"] = "x" * max(size - len(json.dumps(item)), 0)
    return item


def cell(tenants: int, size: int, executors: int, event: str) -> bench.Scenario:
    per_request = max(1, min(100, REQUEST_BYTES // size))
    return bench.Scenario(
        f"tenants={tenants} item={size}B executors={executors}", per_request,
        connections=max(8, tenants), event=event, tenants=TENANTS[:tenants], item=item_of(size),
        window=max(per_request, min(bench.WINDOW, IN_FLIGHT_BYTES // size)))


def table(lines: list[dict[str, Any]]) -> str:
    rows = ["| executors | tenants | item bytes | events/s | CPU us/event (total) | executors | recorder "
            "| queue | listener | e2e p50 / p99 ms | load |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for line in lines:
        cpu = line["cpu_us_per_event"]
        executors = sum(v for k, v in cpu.items() if k.startswith("executor"))
        listeners = sum(v for k, v in cpu.items() if k.startswith("listener"))
        e2e = line["e2e_ms"]
        rows.append(f"| {line['executors']} | {line['tenants']} | {line['conditions']['item_bytes']:,} "
                    f"| {line['completed_events_per_s']:,} | {cpu['total']:,} | {executors:,} "
                    f"| {cpu.get('recorder', 0):,} | {cpu.get('queue', 0):,} | {listeners:,} "
                    f"| {e2e.get('p50')} / {e2e.get('p99')} | {line['conditions']['load_1m']} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tenants", default="1,4,16")
    parser.add_argument("--sizes", default="100,10240,102400")
    parser.add_argument("--executors", default="1,2")
    parser.add_argument("--event", default="greet", choices=sorted(bench.JOBS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    lines: list[dict[str, Any]] = []
    for executors in map(int, args.executors.split(",")):
        config = dict(bench.CONFIG, **{"executor.workers": str(executors)})
        config.update(item.partition("=")[::2] for item in args.set)
        root = Path(tempfile.mkdtemp(prefix="jobico-scale-"))
        home = bench.make_home(root, config, TENANTS, webhook={"max_body_kb": 2048})
        try:
            bench.start(home)
            pids = bench.components(home)
            bench.wait_for_events(home, TENANTS)
            time.sleep(1.0)
            for tenants in map(int, args.tenants.split(",")):
                for size in map(int, args.sizes.split(",")):
                    scenario = cell(tenants, size, executors, args.event)
                    line = bench.run_scenario(scenario, home, pids, args.seconds, config, None)
                    line["executors"] = executors
                    bench.emit(line)
                    lines.append(line)
        finally:
            home.stop()
            shutil.rmtree(root, ignore_errors=True)
    print(f"# {bench.JOBS[args.event][3]}, {args.seconds:g} s per cell, {os.cpu_count()} cores, "
          f"fsync on", file=sys.stderr)
    print(table(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
