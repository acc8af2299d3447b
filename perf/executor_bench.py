"""Executor throughput: events per second and CPU per event per guest, on 1..N threads of one Sandbox.

Usage: .venv/bin/python perf/executor_bench.py [--events N] [--threads 1,2,4] [--processes 2]
                                              [--item-bytes B]

``--processes P`` also runs P processes of one thread each at once (each with its
own Sandbox) and prints their summed rate: threads against processes.

Prints the conditions (machine, cores, load, Python, wasmtime) with the figures:
events/s (wall clock) and CPU us per event (the process's CPU, every thread, over
the runs: what to compare between runs on a shared machine). Guests: the jobicolet
and WASI echo guests of the tests, the WASI C guest of ``make bench``
(``perf/guests/greet_wasi.c``, greeting an item like bench.py's), and a
compute-bound guest, which shows whether threads run guests in parallel.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import multiprocessing
import os
import platform
import sys
import threading
import time
from pathlib import Path

import wasmtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobico.executor.sandbox import Sandbox
from tests.executor import guests

# Counts to 2^26 then echoes: ~20-40 ms of pure wasm, no host calls.
COMPUTE = guests.jobicolet(
    "(local $i i32) (loop $more (local.set $i (i32.add (local.get $i) (i32.const 1)))"
    " (br_if $more (i32.lt_u (local.get $i) (i32.const 67108864))))"
    " (call $ret (local.get $r) (i64.const 0) (local.get $p) (local.get $n))"
)


C_GUEST = (Path(__file__).parent / "guests" / "greet_wasi.wasm").read_bytes()
ENV = {"JOBICO_TENANT": "bench", "JOBICO_EVENT": "greet", "JOBICO_EVENT_ID": "0" * 26, "JOBICO_ATTEMPT": "1"}


def bench(sandbox: Sandbox, module: bytes, item: bytes, events: int, threads: int) -> tuple[float, float]:
    """Events per second and CPU us per event with ``threads`` threads sharing ``events`` runs."""
    loaded = sandbox.load(module, guests.sha256(module))
    env = ENV if loaded.abi == "wasi" else None
    for _ in range(20):
        sandbox.run(loaded, item, env=env)
    per_thread = events // threads
    failures: list[str] = []

    def work() -> None:
        for _ in range(per_thread):
            result = sandbox.run(loaded, item, env=env)
            if result.status != "ok":
                failures.append(result.reason or result.status)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if failures:
        raise SystemExit(f"{len(failures)} runs failed, e.g. {failures[0]}")
    return per_thread * threads / elapsed, cpu / (per_thread * threads) * 1e6


def show(label: str, rate: float, cpu_us: float | None = None) -> None:
    cpu = f", {cpu_us:8.1f} us CPU/event" if cpu_us is not None else ""
    print(f"{label:44s} {rate:9.1f} events/s ({1e6 / rate:8.1f} us/event{cpu})")


def one_process(module: bytes, item: bytes, events: int, out: multiprocessing.Queue) -> None:
    with Sandbox() as sandbox:
        out.put(bench(sandbox, module, item, events, 1)[0])


def across_processes(module: bytes, item: bytes, events: int, processes: int) -> float:
    """Summed events/s of ``processes`` single-threaded processes running at once."""
    spawn = multiprocessing.get_context("spawn")  # no fork of a process running wasmtime threads
    out: multiprocessing.Queue = spawn.Queue()
    workers = [
        spawn.Process(target=one_process, args=(module, item, events // processes, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--item-bytes", type=int, default=1024)
    args = parser.parse_args()
    counts = [int(n) for n in args.threads.split(",")]
    item = b'{"name":"Ada","n":10,"note":"' + b"x" * max(args.item_bytes - 30, 0) + b'"}'
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()} "
        f"load={os.getloadavg()[0]:.2f} python={platform.python_version()} "
        f"wasmtime={importlib.metadata.version('wasmtime')} "
        f"pulley-interpreter={wasmtime.Engine().is_pulley()}"
    )
    print(
        f"item: {len(item)} bytes JSON; fresh Store + instance per event; defaults "
        "timeout_ms=2000 memory_mb=64 max_output=1MiB"
    )
    with Sandbox() as sandbox:
        for name, module, events in (
            ("jobicolet echo", guests.ECHO, args.events),
            ("wasi echo", guests.WASI_ECHO, args.events),
            ("wasi C greet", C_GUEST, args.events),
            ("jobicolet compute (~2^26 loop)", COMPUTE, max(args.events // 100, 8)),
        ):
            for threads in counts:
                rate, cpu_us = bench(sandbox, module, item, events, threads)
                show(f"{name} threads={threads}", rate, cpu_us)
            if args.processes:
                rate = across_processes(module, item, events, args.processes)
                show(f"{name} processes={args.processes}", rate)


if __name__ == "__main__":
    main()
