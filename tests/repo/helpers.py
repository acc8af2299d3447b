"""Shared by the repo and ctl tests: a component context and a running repo."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from jobico.component import Context, Task, component_methods
from jobico.config import Config
from jobico.home import Home
from jobico.repo.service import RepoService
from jobico.rpc import trio_shell


def make_ctx(root: Path, name: str) -> Context:
    home = Home(root)
    home.ensure()
    home.tenants.mkdir(exist_ok=True)
    return Context(home=home, config=Config(), name=name, log=logging.getLogger(f"test.{name}"))


@asynccontextmanager
async def running(ctx: Context, service: Task) -> AsyncIterator[object]:
    """Run ``service`` and serve its socket, as component.main does, until the block ends."""
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await nursery.start(trio_shell.serve, ctx.home.socket(ctx.name), component_methods(ctx, service))
        yield service
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def running_repo(root: Path) -> AsyncIterator[RepoService]:
    ctx = make_ctx(root, "repo")
    async with running(ctx, RepoService(ctx)) as repo:
        yield repo  # type: ignore[misc]
