"""Many guests of different kinds on many threads of one Sandbox at once.

This is the evidence for running ``max_concurrency`` guests on threads: every
run must come back with exactly its own result, logs and status, and a guest
spinning until its deadline must not disturb the others.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from jobico.executor.limits import RunResult
from jobico.executor.sandbox import Sandbox

from . import guests

THREADS = 8
RUNS = 400
KINDS = (guests.ECHO, guests.FAIL, guests.WASI_ECHO, guests.FREE2, guests.TRAP, guests.LOGS)


def item_for(i: int) -> str:
    return json.dumps({"i": i, "pad": "x" * (i % 97)})


def one(sandbox: Sandbox, i: int) -> RunResult:
    module = guests.SPIN if i % 100 == 99 else KINDS[i % len(KINDS)]
    loaded = sandbox.load(module, guests.sha256(module))
    return sandbox.run(loaded, item_for(i).encode(), timeout_ms=150, env={"JOBICO_EVENT_ID": str(i)})


def expected(i: int, result: RunResult) -> bool:
    item = item_for(i)
    messages = [line["message"] for line in result.logs]
    if i % 100 == 99:
        return result.status == "timeout"
    return [
        lambda: (result.status, result.result, messages) == ("ok", item, []),
        lambda: (result.status, result.code, result.result, messages) == ("error", 7, "bad input", []),
        lambda: (result.status, result.result, messages) == ("ok", item, ["log line one", "line two"]),
        lambda: (result.status, result.result, messages[:2]) == ("ok", item, [item, item]),
        lambda: (result.status, messages) == ("trap", []),
        lambda: result.status == "ok" and messages[:4] == ["_start", "ver", "init", "event"],
    ][i % len(KINDS)]()


def test_concurrent_runs_of_different_guests_each_get_their_own_result() -> None:
    with Sandbox() as sandbox, ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda i: one(sandbox, i), range(RUNS)))
    wrong = [(i, r) for i, r in enumerate(results) if not expected(i, r)]
    assert wrong == []
