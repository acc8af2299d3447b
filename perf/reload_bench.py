"""Hot reload latency: from a file write in tenants/ to the catalog version that has it.

Runs repo and ctl in this process (real watcher, real RPC over Unix sockets,
real files in a temporary home), then rewrites a schema 100 times (atomic
replace, as `jobico upload` and editors do) and times each write until the
catalog stream delivers a version naming the new schema hash. Prints p50/p99
with the conditions. Usage: .venv/bin/python perf/reload_bench.py [changes]
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
import wasmtime

from jobico.component import Context, Task, component_methods
from jobico.config import Config
from jobico.ctl.service import CtlService
from jobico.home import Home
from jobico.repo.files import sha256_bytes
from jobico.repo.service import RepoService
from jobico.repo.watcher import DEBOUNCE_MS, STEP_MS
from jobico.rpc import trio_shell
from jobico.storage.files import atomic_write

GUEST = '(module (memory (export "memory") 1) (func (export "_start")))'
PACKAGE = '[[jobs]]\nevent = "signup"\nschema = "s.json"\nwasm = "g.wasm"\n'


def context(home: Home, name: str) -> Context:
    return Context(home=home, config=Config(), name=name, log=logging.getLogger(name))


async def serve(nursery: trio.Nursery, ctx: Context, service: Task) -> None:
    await nursery.start(service.run)
    await nursery.start(trio_shell.serve, ctx.home.socket(ctx.name), component_methods(ctx, service))


async def measure(root: Path, changes: int) -> list[float]:
    home = Home(root)
    home.ensure()
    acme = home.tenants / "acme"
    acme.mkdir(parents=True)
    (acme / "g.wasm").write_bytes(wasmtime.wat2wasm(GUEST))
    (acme / "s.json").write_text("{}")
    (acme / "signup.toml").write_text(PACKAGE)
    latencies = []
    async with trio.open_nursery() as nursery:
        for name, factory in (("repo", RepoService), ("ctl", CtlService)):
            ctx = context(home, name)
            await serve(nursery, ctx, factory(ctx))
        async with (
            await trio_shell.connect(home.socket("ctl")) as client,
            client.stream("catalog", {}) as stream,
        ):
            items = aiter(stream)
            await anext(items)
            for i in range(changes):
                schema = json.dumps({"type": "object", "description": f"change {i}"}).encode()
                wanted = sha256_bytes(schema)
                start = time.perf_counter()
                atomic_write(acme / "s.json", schema)
                with trio.fail_after(10):
                    async for doc in items:
                        if doc["tenants"]["acme"]["events"]["signup"]["schema_sha256"] == wanted:
                            break
                latencies.append((time.perf_counter() - start) * 1000)
                await trio.sleep(0.02)  # let the watcher settle: each change is its own
        nursery.cancel_scope.cancel()
    return latencies


def main() -> None:
    changes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as root:
        latencies = trio.run(measure, Path(root), changes)
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"setup: repo + ctl in one trio process, watcher debounce {DEBOUNCE_MS} ms "
        f"step {STEP_MS} ms, atomic schema rewrite, tmp home on {root}"
    )
    print(
        f"write -> catalog update over {changes} changes: p50 {cuts[49]:.1f} ms, "
        f"p99 {cuts[98]:.1f} ms, min {min(latencies):.1f} ms, max {max(latencies):.1f} ms"
    )


if __name__ == "__main__":
    main()
