"""Webhook ingest throughput and accept latency, against the real hypercorn server.

    .venv/bin/python perf/ingest_bench.py [--seconds 5] [--connections 16] [--worker trio|asyncio|both]
                                          [--home DIR]   # enqueue into that home's running queue

The server runs in a child process (hypercorn + ListenerApp with a one-event catalog and
a small JSON Schema), the load generator in this one: keep-alive connections sending
pre-built requests. By default the enqueuer is instant (no queue), so the figures are
the listener's own ceiling; ``--home`` measures through the real queue (asyncio only).
``asyncio`` is the listener's own ``serve_app`` (hypercorn's asyncio worker on a thread,
started from trio); ``trio`` is hypercorn's trio worker on the same app, for comparison.
Prints items/s and p50/p99 accept latency for single-item requests and batches of 100.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobico.config import Config  # noqa: E402
from jobico.listener.app import ListenerApp  # noqa: E402
from jobico.listener.catalog import Catalog  # noqa: E402
from jobico.listener.quotas import Quotas  # noqa: E402
from jobico.listener.server import bind, hypercorn_config, serve_app  # noqa: E402
from jobico.procs import cpu_seconds  # noqa: E402

SCHEMA = {"type": "object", "required": ["user", "email"],
          "properties": {"user": {"type": "string"}, "email": {"type": "string"},
                         "age": {"type": "integer", "minimum": 0},
                         "tags": {"type": "array", "items": {"type": "string"}}}}
ITEM = {"user": "ada", "email": "ada@example.com", "age": 36, "tags": ["a", "b", "c"],
        "note": "x" * 120}
CATALOG = {"version": 1, "tenants": {"bench": {"events": {"ingest": {
    "tenant": "bench", "package": "bench", "event": "ingest", "schema": SCHEMA,
    "schema_sha256": "bench", "secret": None, "max_body_kb": 1024}}}}}


class InstantEnqueuer:
    def __init__(self) -> None:
        self.next = 0

    async def enqueue(self, tenant: str, event: str, items: list[bytes],
                      key: str | None, digest: str | None = None) -> list[str]:
        first, self.next = self.next, self.next + len(items)
        return [f"{i:016x}" for i in range(first, self.next)]


async def _healthy() -> tuple[bool, dict[str, object]]:
    return True, {}


def serve(worker: str, port: int, home: str | None) -> None:
    """Child process: the listener on ``port`` until killed."""
    log = logging.getLogger("bench")
    enqueuer: object = InstantEnqueuer()
    if home:
        from jobico.home import Home
        from jobico.listener.enqueuer import QueueEnqueuer
        from jobico.rpc import asyncio_shell

        queue_home = Home(Path(home))
        enqueuer = QueueEnqueuer(lambda name, timeout: asyncio_shell.connect(
            queue_home.socket(name), timeout=timeout))
    app = ListenerApp(enqueuer, _healthy, Quotas(Config().quota),  # type: ignore[arg-type]
                      catalog=Catalog(CATALOG))
    sock = bind("127.0.0.1", port, reuse_port=False)
    if worker == "asyncio":
        trio.run(serve_app, app, sock, log)
    else:
        import hypercorn.trio

        trio.run(hypercorn.trio.serve, app, hypercorn_config(sock, log))  # type: ignore[arg-type]


def build_request(body: bytes) -> bytes:
    return (b"POST /events/bench/ingest HTTP/1.1\r\nhost: bench\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))


async def _connection(port: int, payload: bytes, until: float, latencies: list[float],
                      statuses: dict[int, int]) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    buffer = b""
    async with stream:
        while time.perf_counter() < until:
            start = time.perf_counter()
            await stream.send_all(payload)
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive_some(65536)
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            while len(buffer) < length:
                buffer += await stream.receive_some(65536)
            buffer = buffer[length:]
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(time.perf_counter() - start)


async def load(port: int, body: bytes, seconds: float, connections: int) -> tuple[list[float],
                                                                                 dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    payload = build_request(body)
    until = time.perf_counter() + seconds
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(_connection, port, payload, until, latencies, statuses)
    return latencies, statuses


def wait_for_port(port: int) -> None:
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not come up")


def measure(worker: str, args: argparse.Namespace) -> None:
    probe = bind("127.0.0.1", 0, reuse_port=False)
    port = probe.getsockname()[1]
    probe.close()
    argv = [sys.executable, __file__, "--serve", worker, "--port", str(port)]
    child = subprocess.Popen(argv + (["--home", args.home] if args.home else []))
    try:
        wait_for_port(port)
        single = json.dumps(ITEM).encode()
        batch = json.dumps({"data": [ITEM] * 100}).encode()
        for label, body, per in (("single", single, 1), ("batch100", batch, 100)):
            trio.run(load, port, body, 1.0, args.connections)  # warm-up
            cpu = cpu_seconds(child.pid)
            latencies, statuses = trio.run(load, port, body, args.seconds, args.connections)
            cpu = cpu_seconds(child.pid) - cpu
            ok = statuses.get(202, 0)
            cuts = statistics.quantiles(latencies, n=100)
            print(f"{worker:8} {label:9} {ok * per / args.seconds:>10,.0f} items/s "
                  f"{ok / args.seconds:>8,.0f} req/s  p50 {cuts[49] * 1000:6.2f} ms  "
                  f"p99 {cuts[98] * 1000:6.2f} ms  server CPU {cpu / args.seconds:4.0%}, "
                  f"{cpu / max(ok, 1) * 1e6:6.0f} us/req = {ok * per / max(cpu, 1e-9):>9,.0f} "
                  f"items per CPU-second  statuses {statuses}", flush=True)
    finally:
        child.terminate()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", choices=["trio", "asyncio"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--home")
    parser.add_argument("--worker", choices=["trio", "asyncio", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.home)
        return
    print(f"# ingest_bench: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, Python "
          f"{platform.python_version()}, 1 server process, {args.connections} keep-alive "
          f"connections, {args.seconds:g} s per figure, item {len(json.dumps(ITEM))} B, "
          f"enqueuer {'queue of ' + args.home if args.home else 'instant (no queue)'}; "
          f"the load generator shares the machine")
    workers = ["trio", "asyncio"] if args.worker == "both" else [args.worker]
    for worker in workers:
        if worker == "trio" and args.home:
            print("trio     (skipped: the real queue client is asyncio)")
            continue
        measure(worker, args)


if __name__ == "__main__":
    main()
