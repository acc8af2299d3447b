"""What a component's socket answers: ``status`` for all, then the service's own methods."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico import component_api
from jobico.component import component_methods
from jobico.errors import UserError
from jobico.repo.service import RepoService
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY
from tests.repo.helpers import make_ctx

GUARD = 15


class Plain:
    """A service with no ``methods()`` (as the listener): ``status`` only. Its ``rpc_ping`` is
    what served it by name before every component had a table: never answered now."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def status(self) -> Mapping[str, Any]:
        return {"in_flight": 3}


    async def rpc_ping(self, params: Any) -> str:
        return "pong"


@pytest.mark.trio
@pytest.mark.parametrize("kind", ["typed", "plain"])
async def test_every_component_answers_status_beside_its_own_methods(tmp_path: Path, kind: str) -> None:
    ctx = make_ctx(tmp_path, "thing")
    service = {"typed": RepoService, "plain": lambda ctx: Plain()}[kind](ctx)
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, ctx.home.socket("thing"), component_methods(ctx, service))
            async with await trio_shell.connect(ctx.home.socket("thing")) as client:
                status = await component_api.status(client, EMPTY)
                assert (status.name, status.pid) == ("thing", os.getpid())
                if kind == "typed":
                    assert status.details == {"files": 0, "subscribers": 0}
                    assert await client.call("files") == []
                else:
                    assert status.details == {"in_flight": 3}
                    assert list(status.to_wire()) == ["in_flight", "name", "pid", "started_at"]
                    with pytest.raises(UserError, match="no method named 'ping'"):
                        await client.call("ping")
            nursery.cancel_scope.cancel()
