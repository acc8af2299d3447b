"""Which runs each executor of a platform has going, from the executor's own ``status``.

Kills only test the interesting case when they land in the middle of a run, and
a test can only claim that if it can see the run. An executor's ``status`` lists
its runs going (``running_events``: event id, tenant, attempt, started_at; see
jobico/executor/service.py), and gives its pid: the runs are those of that very
process, the one a kill is aimed at. It is asked on the executor's socket, a few
milliseconds a call, so it can be polled. A killed executor does not answer; its
runs count no more.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobico.errors import JobicoError
from tests.e2e.platform import Platform

ASK_S = 5.0  # an executor busy with many runs still answers well within this


@dataclass(frozen=True, slots=True)
class Run:
    tenant: str
    event_id: str
    attempt: int
    started_at: float  # POSIX time, as the run's record will say


@dataclass(frozen=True, slots=True)
class Going:
    """One executor process and the runs it had going when asked."""

    name: str
    pid: int
    runs: frozenset[Run]


def executors(p: Platform) -> list[str]:
    """The executors' names, from their sockets (``jobico status`` takes half a second)."""
    return sorted(sock.stem for sock in (p.root / ".jobico" / "run").glob("executor-*.sock"))


def going(p: Platform, name: str) -> Going | None:
    """What executor ``name`` runs now; None while it does not answer (killed, restarting)."""
    try:
        status = p.rpc(name, "status", timeout=ASK_S)
    except JobicoError:
        return None
    runs = frozenset(Run(r["tenant"], r["event_id"], r["attempt"], r["started_at"])
                     for r in status["running_events"])
    return Going(name, status["pid"], runs)


def everywhere(p: Platform) -> list[Going]:
    """What every executor that answers runs now."""
    return [found for name in executors(p) if (found := going(p, name)) is not None]
