"""What typed messages (``jobico.rpc.api``) cost on a hot path: a lease reply of N deliveries.

Compares, per delivery, the dict handling the executor and the queue do today
with the typed pattern of the api modules: the server's ``to_wire`` (the queue's
generic ``Wire.to_wire`` against a hand-written one), the client's ``from_wire``
(checking every field) against reading the same fields from the dict, and the
server's dispatch of one call (by name against a ``Methods`` table that decodes
and encodes). Prints each figure with its conditions.

    .venv/bin/python perf/api_bench.py [--items 128] [--seconds 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from jobico.queue.backend import Delivery as WireDelivery
from jobico.rpc.api import Call, Fields, each_of
from jobico.rpc.dispatch import Methods


@dataclass(frozen=True, slots=True)
class Delivery:
    """A queue delivery as a queue api module would type it."""

    id: str
    tenant: str
    event: str
    attempt: int
    body: bytes
    enqueued_at: float

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "event": self.event, "attempt": self.attempt,
                "body": self.body, "enqueued_at": self.enqueued_at}

    @classmethod
    def from_wire(cls, data: object) -> Delivery:
        f = Fields(data, "delivery")
        return cls(f.text("id"), f.text("tenant"), f.text("event"), f.integer("attempt"), f.blob("body"),
                   f.number("enqueued_at"))


@dataclass(frozen=True, slots=True)
class Deliveries:
    items: tuple[Delivery, ...]

    def to_wire(self) -> list[dict[str, Any]]:
        return [d.to_wire() for d in self.items]

    @classmethod
    def from_wire(cls, data: object) -> Deliveries:
        return cls(each_of(data, Delivery.from_wire, "deliveries"))


@dataclass(frozen=True, slots=True)
class Lease:
    worker: str
    max: int

    def to_wire(self) -> dict[str, Any]:
        return {"worker": self.worker, "max": self.max}

    @classmethod
    def from_wire(cls, data: object) -> Lease:
        f = Fields(data)
        return cls(f.text("worker"), f.integer("max"))


lease = Call("lease", Lease.from_wire, Deliveries.from_wire)


def _per_second(seconds: float, step: Callable[[], object]) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        done += 1
    return done / elapsed


def _dict_reads(wire: list[dict[str, Any]]) -> None:
    for d in wire:  # what the executor reads of each delivery today
        _ = d["id"], d["tenant"], d["event"], d["attempt"], d["body"], d["enqueued_at"]


def _typed_reads(wire: list[dict[str, Any]]) -> None:
    for d in Deliveries.from_wire(wire).items:
        _ = d.id, d.tenant, d.event, d.attempt, d.body, d.enqueued_at


def _figures(args: argparse.Namespace) -> dict[str, float]:
    """µs per delivery for each way of handling a lease reply of ``args.items`` deliveries."""
    body = b'{"email": "someone@example.com", "plan": "pro"}'
    typed = Deliveries(tuple(Delivery(f"{i:016x}", "acme", "signup", 1, body, 1.7e9 + i)
                             for i in range(args.items)))
    legacy = [WireDelivery(d.id, d.tenant, d.event, d.attempt, d.body, d.enqueued_at) for d in typed.items]
    wire = typed.to_wire()
    assert [d.to_wire() for d in legacy] == wire
    ways: dict[str, Callable[[], object]] = {
        "server: to_wire, generic Wire (today)": lambda: [d.to_wire() for d in legacy],
        "server: to_wire, hand-written (api)": typed.to_wire,
        "client: read 6 fields from dicts (today)": lambda: _dict_reads(wire),
        "client: from_wire + read 6 fields (api)": lambda: _typed_reads(wire),
    }
    return {name: 1e6 / (_per_second(args.seconds, step) * args.items) for name, step in ways.items()}


class ByName:
    """Today's queue: params read by hand, deliveries turned into dicts by the generic ``Wire``."""

    async def rpc_lease(self, params: Any) -> Any:
        _ = params.get("worker"), int(params.get("max", 1))
        return [d.to_wire() for d in LEGACY]


LEGACY: list[WireDelivery] = []
TYPED: Deliveries | None = None


async def _typed_lease(request: Lease) -> Deliveries:
    assert TYPED is not None
    return TYPED


def _dispatch(args: argparse.Namespace) -> dict[str, float]:
    """µs per call for the server's part of one lease: find the handler, read params, encode."""
    global LEGACY, TYPED
    TYPED = Deliveries(tuple(Delivery(f"{i:016x}", "acme", "signup", 1, b"{}", 1.7e9)
                             for i in range(args.items)))
    LEGACY = [WireDelivery(d.id, d.tenant, d.event, d.attempt, d.body, d.enqueued_at) for d in TYPED.items]
    by_name, table = Methods.named(ByName()), Methods().call(lease, _typed_lease)
    params = {"worker": "executor-1", "max": args.items}

    async def measure(methods: Methods) -> float:
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < args.seconds:
            for _ in range(100):
                await methods.find_call("lease")(params)
            calls += 100
        return 1e6 * elapsed / calls

    return {
        "by name, generic Wire (today)": trio.run(measure, by_name),
        "Methods table: from_wire, handler, to_wire": trio.run(measure, table),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=128, help="deliveries per lease reply")
    parser.add_argument("--seconds", type=float, default=1.0, help="per figure")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {platform.python_version()} · {os.cpu_count()} cores · load {load} · "
          f"lease reply of {args.items} deliveries · {args.seconds:g} s per figure")
    for name, us in _figures(args).items():
        print(f"  {name:44} {us:8.3f} µs per delivery")
    for name, us in _dispatch(args).items():
        print(f"  dispatch {name:44} {us:8.1f} µs per call")


if __name__ == "__main__":
    main()
