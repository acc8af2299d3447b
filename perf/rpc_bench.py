"""RPC throughput over a Unix socket: one call at a time, pipelined, batched.

The server runs in its own process (as components do); the client is the trio
shell, then the asyncio shell. Prints each figure with its conditions.

    .venv/bin/python perf/rpc_bench.py [--seconds 2] [--size 100] [--depth 128]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobico.rpc import asyncio_shell, trio_shell
from jobico.rpc.dispatch import Methods
from tests.rpc.raw import Raw, raw_call


async def _echo(request: Raw) -> Raw:
    return request


async def _serve(path: str) -> None:
    """Echo whatever comes, through a ``Methods`` table as every server answers."""
    await trio_shell.serve(path, Methods().call(raw_call("echo"), _echo))


def _item(size: int) -> dict[str, Any]:
    """A message of about ``size`` bytes once encoded, shaped like a queue delivery."""
    item = {"id": "0006123456789abc", "tenant": "acme", "event": "signup", "body": b""}
    item["body"] = b"x" * max(0, size - len(msgpack.packb(item)))
    return item


async def _rate(seconds: float, step: Callable[[], Awaitable[int]]) -> float:
    """Messages per second over about ``seconds`` (``step`` returns messages it carried)."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += await step()
    return done / elapsed


async def _trio_figures(path: str, args: argparse.Namespace) -> dict[str, float]:
    item = _item(args.size)
    batch = [item] * args.depth
    async with await trio_shell.connect(path) as client:

        async def one() -> int:
            await client.call("echo", item)
            return 1

        async def pipelined() -> int:
            async with trio.open_nursery() as nursery:
                for _ in range(args.depth):
                    nursery.start_soon(client.call, "echo", item)
            return args.depth

        async def batched() -> int:
            await client.call("echo", batch)
            return args.depth

        return {
            "one at a time": await _rate(args.seconds, one),
            f"pipelined, {args.depth} in flight": await _rate(args.seconds, pipelined),
            f"batched, {args.depth} items per call": await _rate(args.seconds, batched),
        }


async def _asyncio_figures(path: str, args: argparse.Namespace) -> dict[str, float]:
    item = _item(args.size)
    async with await asyncio_shell.connect(path) as client:

        async def one() -> int:
            await client.call("echo", item)
            return 1

        async def pipelined() -> int:
            await asyncio.gather(*(client.call("echo", item) for _ in range(args.depth)))
            return args.depth

        async def batched() -> int:
            await client.call("echo", [item] * args.depth)
            return args.depth

        return {
            "one at a time": await _rate(args.seconds, one),
            f"pipelined, {args.depth} in flight": await _rate(args.seconds, pipelined),
            f"batched, {args.depth} items per call": await _rate(args.seconds, batched),
        }


def _msgpack_ceiling(args: argparse.Namespace) -> float:
    """Items/s msgpack alone allows for a batched echo: pack and unpack, both ways."""
    batch = [_item(args.size)] * args.depth
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < args.seconds:
        for kind in (0, 1):  # request, then reply
            unpacker = msgpack.Unpacker(raw=False)
            unpacker.feed(msgpack.packb([kind, 1, batch]))
            next(unpacker)
        done += args.depth
    return done / elapsed


def _wait_listening(path: str) -> None:
    for _ in range(500):
        with socket.socket(socket.AF_UNIX) as probe:
            if probe.connect_ex(path) == 0:
                return
        time.sleep(0.01)
    raise SystemExit(f"benchmark server did not start at {path}")


def _conditions(args: argparse.Namespace) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"python {platform.python_version()} · trio {trio.__version__} · "
        f"msgpack {'.'.join(map(str, msgpack.version))} · {os.cpu_count()} cores · "
        f"load {load} · message {len(msgpack.packb(_item(args.size)))} B · "
        f"server in its own process · {args.seconds:g} s per figure"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=100, help="bytes per message")
    parser.add_argument("--depth", type=int, default=128, help="calls in flight / items per call")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(_serve, args.serve)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.sock")
        server = subprocess.Popen([sys.executable, __file__, "--serve", path])
        try:
            _wait_listening(path)
            print(_conditions(args))
            ceiling = _msgpack_ceiling(args)
            print(f"  {'msgpack':8} {'encode+decode alone, both ways':34} {ceiling:>12,.0f} msg/s")
            for shell, figures in (
                ("trio", trio.run(_trio_figures, path, args)),
                ("asyncio", asyncio.run(_asyncio_figures(path, args))),
            ):
                for name, rate in figures.items():
                    print(f"  {shell:8} {name:34} {rate:>12,.0f} msg/s")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
