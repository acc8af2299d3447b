"""What the queue's typed messages (``jobico.queue.api``) cost on its hot paths.

Per item, in process: the server's ``to_wire`` of a lease reply (the generic
field loop the queue used before against ``Delivery.to_wire``), the client's
``Delivery.from_wire`` (against reading the same fields from the dicts, and
against checking every field through ``Fields``), and the server's reading of a
``settle`` and an ``enqueue`` (``from_wire``). Then end to end: a real
``QueueService`` (memory backend) on a Unix socket, called through the typed
functions and by name: enqueue N items in one call, lease N, settle N, in µs per item.
Prints each figure with its conditions.

    .venv/bin/python perf/api_bench.py [--items 128] [--seconds 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import trio

from jobico.component import Context, component_methods
from jobico.config import Config, QueueConfig
from jobico.home import Home
from jobico.queue import api
from jobico.queue.service import QueueService
from jobico.rpc import trio_shell
from jobico.rpc.api import Fields

BODY = b'{"email": "someone@example.com", "plan": "pro"}'


def _per_second(seconds: float, step: Callable[[], object]) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        done += 1
    return done / elapsed


def _generic(delivery: api.Delivery) -> dict[str, Any]:
    """The queue's ``to_wire`` before api.py: one loop over the dataclass fields, for any type."""
    return {f.name: getattr(delivery, f.name) for f in fields(delivery)}


def _every_field(data: object) -> api.Delivery:
    """``Delivery.from_wire`` without its fast path: ``Fields`` for every field."""
    f = Fields(data, "delivery")
    return api.Delivery(f.text("id"), f.text("tenant"), f.text("event"), f.integer("attempt"), f.blob("body"),
                        f.number("enqueued_at"))


def _dict_reads(wire: list[dict[str, Any]]) -> None:
    for d in wire:  # what the executor reads of each delivery today
        _ = d["id"], d["tenant"], d["event"], d["attempt"], d["body"], d["enqueued_at"]


def _typed_reads(wire: list[dict[str, Any]], read: Callable[[object], api.Delivery]) -> None:
    for d in map(read, wire):
        _ = d.id, d.tenant, d.event, d.attempt, d.body, d.enqueued_at


def _figures(args: argparse.Namespace) -> dict[str, float]:
    """µs per item for each way of handling ``args.items`` deliveries, results or bodies."""
    deliveries = api.Deliveries(tuple(api.Delivery(f"{i:016x}", "acme", "signup", 1, BODY, 1.7e9 + i)
                                      for i in range(args.items)))
    wire = deliveries.to_wire()
    assert [_generic(d) for d in deliveries.items] == wire
    settle = api.Settle("executor-1", tuple(api.Settlement(d.id, "retry", "failed", 1000)
                                            for d in deliveries.items)).to_wire()
    enqueue = api.Enqueue("acme", "signup", (BODY,) * args.items).to_wire()
    ways: dict[str, Callable[[], object]] = {
        "lease, server: generic field loop (before)": lambda: [_generic(d) for d in deliveries.items],
        "lease, server: Delivery.to_wire (api)": deliveries.to_wire,
        "lease, client: read 6 fields from the dicts": lambda: _dict_reads(wire),
        "lease, client: Fields for every field + reads": lambda: _typed_reads(wire, _every_field),
        "lease, client: Delivery.from_wire + reads (api)": lambda: _typed_reads(wire, api.Delivery.from_wire),
        "settle, server: Settle.from_wire (api)": lambda: api.Settle.from_wire(settle),
        "enqueue, server: Enqueue.from_wire (api)": lambda: api.Enqueue.from_wire(enqueue),
    }
    return {name: 1e6 / (_per_second(args.seconds, step) * args.items) for name, step in ways.items()}


async def _end_to_end(args: argparse.Namespace) -> dict[str, float]:
    """CPU µs per item (this process: client and server) of enqueue, lease and settle calls of
    ``args.items`` items, over a real socket.

    Two clients: typed (the api's functions, each reply read by ``from_wire``) and by
    name (dicts in and out, as the executor still calls the queue).
    """
    root = Path(tempfile.mkdtemp(prefix="api-bench-"))  # short: Unix socket paths are limited
    log = logging.getLogger("api_bench")
    log.disabled = True
    ctx = Context(home=Home(root), config=Config(queue=QueueConfig(backend="memory")), name="queue", log=log)
    ctx.home.ensure()
    service = QueueService(ctx)
    figures: dict[str, float] = {}
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            await nursery.start(trio_shell.serve, ctx.home.socket("queue"), component_methods(ctx, service))
            async with await trio_shell.connect(ctx.home.socket("queue")) as client:
                for style, rounds in (("typed", _typed_round), ("by name", _by_name_round)):
                    spent = {"enqueue": 0.0, "lease": 0.0, "settle": 0.0}
                    items, start = 0, time.process_time()
                    while time.process_time() - start < 2 * args.seconds:
                        for name, took in zip(spent, await rounds(client, args.items), strict=True):
                            spent[name] += took
                        items += args.items
                    figures.update({f"{style}: {name}": 1e6 * s / items for name, s in spent.items()})
            await service.shutdown()
            nursery.cancel_scope.cancel()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return figures


async def _typed_round(client: trio_shell.Client, n: int) -> tuple[float, float, float]:
    t0 = time.process_time()
    await api.enqueue(client, api.Enqueue("acme", "signup", (BODY,) * n))
    t1 = time.process_time()
    got = await api.lease(client, api.Lease("executor-1", n, 60_000))
    t2 = time.process_time()
    await api.settle(client, api.Settle("executor-1", tuple(api.Settlement(d.id, "ack") for d in got.items)))
    assert len(got.items) == n
    return t1 - t0, t2 - t1, time.process_time() - t2


async def _by_name_round(client: trio_shell.Client, n: int) -> tuple[float, float, float]:
    t0 = time.process_time()
    await client.call("enqueue", {"tenant": "acme", "event": "signup", "items": [BODY] * n, "key": None})
    t1 = time.process_time()
    got = await client.call("lease", {"worker": "executor-1", "max": n, "lease_ms": 60_000})
    t2 = time.process_time()
    await client.call("settle", {"worker": "executor-1", "results": [
        {"id": d["id"], "outcome": "ack", "reason": "", "delay_ms": 0} for d in got]})
    assert len(got) == n
    return t1 - t0, t2 - t1, time.process_time() - t2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=128, help="deliveries per lease, items per call")
    parser.add_argument("--seconds", type=float, default=1.0, help="per figure")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {platform.python_version()} · {os.cpu_count()} cores · load {load} · "
          f"{args.items} items per call · {args.seconds:g} s per figure")
    for name, us in _figures(args).items():
        print(f"  {name:52} {us:8.3f} µs per item")
    for name, us in trio.run(_end_to_end, args).items():
        print(f"  end to end, {name:40} {us:8.3f} CPU µs per item")


if __name__ == "__main__":
    main()
