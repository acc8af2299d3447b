"""A noisy neighbour: how much does one tenant at full load slow a quiet tenant down?

    .venv/bin/python perf/noisy_bench.py [--seconds 15] [--quiet-rate 20] [--noisy-rate 50]
                                         [--noisy-quota "rate=500,burst=1000,max_concurrency=2"]

A real ``jobico up`` (perf/bench.py's home: two listener processes, fsync on, the
echo guest, tenants ``bench`` and ``t2``). The quiet tenant (``bench``) posts
single items open loop at ``--quiet-rate`` requests/s; its end-to-end latency is
from the POST's scheduled send time to its record reaching the recorder's
``follow`` stream. Three phases, each ``--seconds`` long, on the same home:

1. ``alone``: the quiet tenant only;
2. ``noisy``: the same, while tenant ``t2`` (with ``[tenants.t2]`` quotas from
   ``--noisy-quota``) posts batches of 100 on 8 connections as fast as it is
   answered (429s included), or at ``--noisy-rate`` requests/s, from a load
   generator in a child process;
3. ``unlimited``: the same on a second home where ``t2`` has no quota.

Prints one JSON line per phase and a verdict: the quiet tenant's p99 with the
noisy tenant over its p99 alone, which issue 8 wants below 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import Process, Queue
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "perf"))

import bench  # noqa: E402
import loadgen  # noqa: E402

QUIET, NOISY = "bench", "t2"
NOISY_CONNECTIONS = 8
NOISY_BATCH = 100


def noisy_load(port: int, seconds: float, rate: float | None, out: Queue[dict[str, Any]]) -> None:
    """Child process: tenant ``t2``, so its load generator's CPU is not the quiet one's."""
    batch = loadgen.batch_body([bench.ITEM] * NOISY_BATCH)
    load = asyncio.run(loadgen.drive("127.0.0.1", port, [loadgen.request(f"/events/{NOISY}/echo", batch)],
                                     seconds=seconds, connections=NOISY_CONNECTIONS, rate=rate))
    out.put({"noisy_accepted_per_s": round(load.accepted / load.elapsed),
             "noisy_statuses": dict(load.statuses)})


async def phase(port: int, run: Path, args: argparse.Namespace, noisy: bool) -> dict[str, Any]:
    """Quiet load (and noisy load, if asked) for ``seconds``; the quiet tenant's figures."""
    follower = bench.Follower(run / "recorder.sock")
    ready = asyncio.Event()
    follow = asyncio.create_task(follower.run(ready))
    await asyncio.wait_for(ready.wait(), 10)
    results: Queue[dict[str, Any]] = Queue()
    noise = Process(target=noisy_load, args=(port, args.seconds, args.noisy_rate, results),
                    daemon=True) if noisy else None
    if noise is not None:
        noise.start()
    quiet = await loadgen.drive("127.0.0.1", port, [loadgen.request(f"/events/{QUIET}/echo",
                                                                    loadgen.batch_body([bench.ITEM]))],
                                seconds=args.seconds, connections=8, rate=args.quiet_rate)
    noisy_figures = await asyncio.to_thread(results.get, True, 60) if noise is not None else {}

    async def quiet_recorded() -> None:
        while not quiet.sent.keys() <= follower.recorded.keys():
            follower.progress.clear()
            await follower.progress.wait()

    with contextlib.suppress(TimeoutError):  # what is missing is reported as not_recorded
        await asyncio.wait_for(quiet_recorded(), bench.DRAIN_TIMEOUT_S)
    follow.cancel()
    latencies = [follower.recorded[i] - sent for i, sent in quiet.sent.items() if i in follower.recorded]
    return {
        "quiet_e2e_ms": bench.quantiles_ms(latencies),
        "quiet_accept_ms": bench.quantiles_ms(quiet.replies),
        "quiet_statuses": dict(quiet.statuses),
        "quiet_not_recorded": len(quiet.sent) - len(latencies),
        **noisy_figures,
    }


def run_home(config: dict[str, str], phases: list[tuple[str, bool]], args: argparse.Namespace
             ) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="jobico-noisy-"))
    home = bench.make_home(root, config)
    try:
        bench.start(home)
        bench.wait_for_events(home)
        out = []
        for name, noisy in phases:
            time.sleep(2.0)  # let the previous phase's backlog settle
            load_before = os.getloadavg()[0]
            figures = asyncio.run(phase(home.port, root / ".jobico" / "run", args, noisy))
            out.append({"phase": name, "seconds": args.seconds,
                        "quiet_offered_per_s": args.quiet_rate, **figures,
                        "conditions": bench.conditions(config) | {"load_1m": round(load_before, 2)}})
            bench.emit(out[-1])
        return out
    finally:
        home.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--quiet-rate", type=float, default=20.0, help="quiet tenant's requests/s")
    parser.add_argument("--noisy-rate", type=float, default=None,
                        help="noisy tenant's requests/s (of 100 items), open loop; default: closed loop")
    parser.add_argument("--noisy-quota", default="rate=500,burst=1000,max_concurrency=2",
                        help="[tenants.t2] quotas, comma-separated KEY=VALUE")
    args = parser.parse_args()
    quota = {f"tenants.{NOISY}.{k}": v for k, v in
             (pair.split("=", 1) for pair in args.noisy_quota.split(",") if pair)}
    limited = run_home(bench.CONFIG | quota, [("alone", False), ("noisy", True)], args)
    (unlimited,) = run_home(dict(bench.CONFIG), [("unlimited", True)], args)
    alone, noisy = limited
    base = alone["quiet_e2e_ms"].get("p99") or float("nan")
    verdict = {
        "verdict": "noisy neighbour",
        "quiet_p99_alone_ms": base,
        "quiet_p99_with_noisy_ms": noisy["quiet_e2e_ms"].get("p99"),
        "ratio_with_quota": round(noisy["quiet_e2e_ms"].get("p99", float("nan")) / base, 2),
        "ratio_without_quota": round(unlimited["quiet_e2e_ms"].get("p99", float("nan")) / base, 2),
        "noisy_quota": args.noisy_quota,
        "noisy_load": f"{args.noisy_rate:g} requests/s of {NOISY_BATCH}" if args.noisy_rate
        else "closed loop",
    }
    verdict["under_2x"] = verdict["ratio_with_quota"] < 2
    print(json.dumps(verdict), flush=True)


if __name__ == "__main__":
    main()
