"""Issue 13 item 15: what guests and senders wrote reaches the terminal as text, never as commands.

A real recorder and a real queue (``python -m jobico.<component>``) on a home hold
records and dead letters whose result, reason and log lines are Rich markup and
terminal control sequences; the real CLI prints them escaped and exits 0, and
``--json`` still gives the exact values.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from jobico.home import Home
from jobico.rpc import trio_shell
from tests.cli.test_offline import JOBICO, ctrl_c_restored, run
from tests.e2e.platform import wait_until

HOSTILE = ["[/]", "[bold]x", "\x1b[2J\x1b]0;pwned\x07", "\x9b31m"]
SHOWN = ["[/]", "[bold]x", "\\x1b[2J\\x1b]0;pwned\\x07", "\\x9b31m"]
RAW = ("\x1b", "\x07", "\x9b")  # none may reach the terminal


def call(home: Home, component: str, method: str, params: Any = None) -> Any:
    return trio.run(lambda: trio_shell.call(home.socket(component), method, params, timeout=10))


def _serving(home: Home, name: str) -> bool:
    try:
        return call(home, name, "status")["name"] == name
    except Exception:
        return False


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """A home whose recorder holds one ok and one error record per hostile text, and whose
    queue holds one dead letter per hostile text (reason and body)."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "jobico.toml").write_text("")
    home = Home(root)
    env = {**os.environ, "JOBICO_HOME": str(root)}
    processes = [subprocess.Popen([sys.executable, "-m", f"jobico.{name}", name], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                 for name in ("recorder", "queue")]
    try:
        for name in ("recorder", "queue"):
            wait_until(lambda name=name: _serving(home, name), 60, f"{name} to serve")
        records = []
        for n, text in enumerate(HOSTILE):
            common = {"attempt": 1, "tenant": "acme", "package": "pkg", "event": "signup",
                      "started_at": 1_750_000_000.0 + n, "duration_ms": 1.0, "module_sha256": "ab" * 32,
                      "logs": [{"level": "info", "message": text}]}
            records.append({**common, "event_id": f"{2 * n:016x}", "status": "ok", "code": 0, "result": text})
            records.append({**common, "event_id": f"{2 * n + 1:016x}", "status": "error", "code": 1,
                            "result": "", "reason": text})
        assert call(home, "recorder", "append", {"records": records})["stored"] == [True] * len(records)
        for text in HOSTILE:
            [item] = call(home, "queue", "enqueue", {"tenant": "acme", "event": "signup",
                                                     "items": [text.encode()]})["ids"]
            [leased] = call(home, "queue", "lease", {"worker": "w", "max": 1, "wait_ms": 5000})
            assert leased["id"] == item
            call(home, "queue", "settle", {"worker": "w", "results": [
                {"id": item, "outcome": "dead", "reason": text}]})
        wait_until(lambda: len(call(home, "queue", "dead")) == len(HOSTILE), 10, "every dead letter")
        yield home
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def cli(home: Home, *args: str) -> str:
    done = run(*args, "--home", str(home.root))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def assert_escaped(out: str, shown: list[str]) -> None:
    for raw in RAW:
        assert raw not in out, f"{raw!r} reached the terminal:\n{out!r}"
    for text in shown:
        assert text in out, f"{text!r} is not shown as written:\n{out}"


def test_executions_prints_markup_and_controls_as_text(home: Home) -> None:
    assert_escaped(cli(home, "executions"), SHOWN)


def test_show_prints_result_reason_and_logs_escaped(home: Home) -> None:
    for record in json.loads(cli(home, "executions", "--json", "--tenant", "acme")):
        out = cli(home, "show", record["id"])
        text = HOSTILE[int(record["event_id"], 16) // 2]
        shown = SHOWN[HOSTILE.index(text)]
        assert_escaped(out, [shown])
        field = "reason" if record["status"] == "error" else "result"
        assert f"{field}:" in out
        assert f"[info] {shown}" in out  # the log line


def test_dead_prints_reasons_escaped(home: Home) -> None:
    assert_escaped(cli(home, "dead"), SHOWN)


def test_json_output_stays_exact(home: Home) -> None:
    records = json.loads(cli(home, "executions", "--json", "--tenant", "acme"))
    assert sorted(r["result"] or r["reason"] for r in records) == sorted(HOSTILE * 2)
    shown = json.loads(cli(home, "show", records[0]["id"], "--json"))
    assert shown["logs"][0]["message"] in HOSTILE
    letters = json.loads(cli(home, "dead", "--json"))
    assert sorted(d["reason"] for d in letters) == sorted(HOSTILE)
    assert sorted(d["body"] for d in letters) == sorted(HOSTILE)


def test_follow_prints_new_records_escaped(home: Home) -> None:
    """``--follow`` prints lines of its own; records are appended until one arrives."""
    follower = subprocess.Popen([*JOBICO, "executions", "--follow", "--tenant", "globex", "--home",
                                 str(home.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=ctrl_c_restored)
    assert follower.stdout is not None
    try:
        deadline = time.monotonic() + 30
        for n in itertools.count():
            assert time.monotonic() < deadline, "no followed record within 30 s"
            record = {"event_id": f"{n:016x}", "attempt": 1, "tenant": "globex", "package": "pkg",
                      "event": "signup", "status": "error", "code": 1, "result": "", "reason": HOSTILE[2],
                      "started_at": time.time(), "duration_ms": 1.0, "module_sha256": "ab" * 32}
            call(home, "recorder", "append", {"records": [record]})
            if select.select([follower.stdout], [], [], 0.5)[0]:
                break
        line = follower.stdout.readline().decode()
        assert_escaped(line, [SHOWN[2]])
    finally:
        follower.send_signal(signal.SIGINT)
        _, errors = follower.communicate(timeout=30)
    assert follower.returncode == 0 and b"Traceback" not in errors, errors
