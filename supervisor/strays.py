"""Components a killed supervisor left behind: listed in ``pids.json``, recognised, stopped.

A supervisor killed with ``kill -9`` cannot stop its components; they notice and
stop by themselves, and the next ``jobico up`` waits for them (they hold this
home's sockets and journals) before it starts new ones. A pid in a stale
``pids.json`` may since name any process: an editor on ``jobico.toml``, another
home's component, anything the kernel gave the number to. Only a process that is
provably a component of THIS home (the command a supervisor spawns and
``JOBICO_HOME`` naming this home in the environment it was started with) is waited
for, and killed if it lingers.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from pathlib import Path

from jobico.errors import UserError
from jobico.home import Home
from jobico.procs import command_line, started_environment
from jobico.storage.files import atomic_write
from supervisor.spec import is_component_argv

PIDS_FILE = "pids.json"


def pids_file(home: Home) -> Path:
    return home.run / PIDS_FILE


def write_pids(path: Path, pids: list[int]) -> None:
    """Replace ``path`` with ``pids``: a crash leaves the old list or the new one, never half."""
    atomic_write(path, json.dumps(pids).encode())


def read_pids(path: Path) -> list[int]:
    """The pids a previous supervisor recorded ([] when none).

    Errors: ``UserError`` naming the file and what to do when it is not a list of
    process ids (a guessed list could make us kill, or not wait for, the wrong processes).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, f"cannot read it ({exc})") from None
    try:
        pids = json.loads(text)
    except ValueError as exc:
        raise _corrupt(path, f"not valid JSON ({exc})") from None
    if not isinstance(pids, list) or not all(type(p) is int and p > 0 for p in pids):
        raise _corrupt(path, "not a list of process ids")
    return pids


def _corrupt(path: Path, why: str) -> UserError:
    return UserError(
        f"{path}: {why}. It lists the components of this home's last `jobico up`; check that none"
        " of them still runs (ps -ef | grep -- '-m jobico\\.'), then delete the file and start again"
    )


def is_component_of(home: Home, pid: int) -> bool:
    """``pid`` runs ``python -m jobico.<component> <name>`` started for this home.

    The environment checked is the one the process was started with
    (``/proc/<pid>/environ``), readable only for our own processes.
    """
    try:
        argv, environ = command_line(pid), started_environment(pid)
    except OSError:
        return False
    return is_component_argv(argv) and b"JOBICO_HOME=" + os.fsencode(home.root) in environ


def wait_for_strays(home: Home, pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` for this home's components among ``pids`` to exit, then SIGKILL.

    Each process is held by a pidfd from before it is recognised until it is
    signalled, so a pid reused meanwhile is never the one killed. Returns the pids killed.
    """
    strays: dict[int, int] = {}
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # gone already
            continue
        if is_component_of(home, pid):
            strays[pid] = fd
        else:
            os.close(fd)
    deadline = time.monotonic() + timeout
    try:
        while strays and time.monotonic() < deadline:
            for pid in [p for p, fd in strays.items() if _exited(fd)]:
                os.close(strays.pop(pid))
            time.sleep(0.05)
        for fd in strays.values():
            with contextlib.suppress(ProcessLookupError):  # it exited just now
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        return list(strays)
    finally:
        for fd in strays.values():
            os.close(fd)


def _exited(pidfd: int) -> bool:
    """A pidfd polls readable once its process has exited (a zombie counts)."""
    return bool(select.select([pidfd], [], [], 0)[0])
