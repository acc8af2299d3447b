"""The supervisor's contract, served by a real ``Supervisor`` (no component started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from jobico.config import Config
from jobico.errors import NotFound, UserError
from jobico.home import Home
from jobico.rpc import trio_shell
from jobico.rpc.api import EMPTY
from supervisor import api
from supervisor.runner import Supervisor

GUARD = 15


def test_status_is_the_document_jobico_status_json_prints() -> None:
    status = api.SupervisorStatus("/h", 42, "running", "all", 1.5, "127.0.0.1", 8080,
                                  (api.Component("repo", "running", 43, 0, 1.25, None),
                                   api.Component("ctl", "restarting", None, 2, 0.0, -9)))
    wire = status.to_wire()
    assert wire == {
        "home": "/h", "pid": 42, "state": "running", "role": "all", "uptime_s": 1.5,
        "listener": {"host": "127.0.0.1", "port": 8080},
        "components": [
            {"name": "repo", "state": "running", "pid": 43, "restarts": 0, "uptime_s": 1.25,
             "last_exit": None},
            {"name": "ctl", "state": "restarting", "pid": None, "restarts": 2, "uptime_s": 0.0,
             "last_exit": -9},
        ],
    }
    assert list(wire) == ["home", "pid", "state", "role", "uptime_s", "listener", "components"]
    assert api.SupervisorStatus.from_wire(wire) == status


def test_a_restart_names_its_component() -> None:
    with pytest.raises(UserError, match="params 'name' must be a string, is missing"):
        api.Restart.from_wire({})


@pytest.mark.trio
async def test_the_supervisor_answers_its_api(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.ensure()
    supervisor = Supervisor(home, Config(), {})
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, home.socket("supervisor"), supervisor.methods())
            async with await trio_shell.connect(home.socket("supervisor")) as client:
                status = await api.status(client, EMPTY)
                assert (status.pid, status.state, status.home) == (os.getpid(), "starting", str(tmp_path))
                assert [c.name for c in status.components] == list(supervisor.children)
                assert all(c.state == "starting" and c.pid is None for c in status.components)
                with pytest.raises(NotFound, match="no component named 'nope'; known: repo, ctl"):
                    await api.restart(client, api.Restart("nope"))
                assert await api.restart(client, api.Restart("repo")) == api.Restarting("repo")
                assert await api.down(client, EMPTY) == api.Stopping()
                assert supervisor._stop.is_set()
            nursery.cancel_scope.cancel()
