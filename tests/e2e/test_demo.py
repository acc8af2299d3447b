"""Issue 7's promises: the demo tenant works end to end, and the README's quick start works as written.

The demo tenant is copied from tenants/demo into a temporary home; inputs are the
examples' own JSON files, as the package comments tell a user to send them.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shlex
import shutil
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import JOBICO, Platform, wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "guests"
GREET = EXAMPLES / "c" / "greet.json"
TEXT = EXAMPLES / "assemblyscript" / "text.json"
ORDER = EXAMPLES / "rust" / "order.json"
REJECTED = EXAMPLES / "rust" / "order-rejected.json"


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(start=False)
    shutil.copytree(REPO / "tenants" / "demo", p.root / "tenants" / "demo")
    p.start()
    return p


def send(p: Platform, event: str, source: Path) -> str:
    """``jobico send demo EVENT @file``, as the package comments show; the event id."""
    done = p.cli("send", "demo", event, f"@{source}")
    return done.stdout.strip()


def record_of(p: Platform, event_id: str) -> dict[str, Any]:
    return wait_until(lambda: next((r for r in p.query(tenant="demo") if r["event_id"] == event_id), None),
                      30, f"the record of {event_id}")


def chained(p: Platform, event: str, event_id: str) -> dict[str, Any]:
    """The record of the on_ok/on_error event that ``event_id``'s run published."""

    def find() -> dict[str, Any] | None:
        for r in p.query(tenant="demo", event=event):
            if json.loads(r["result"]).get("event_id") == event_id:
                return r
        return None

    return wait_until(find, 30, f"the {event} record of {event_id}")


def test_greet(home: Platform) -> None:
    record = record_of(home, send(home, "greet", GREET))
    assert record["status"] == "ok", record
    assert json.loads(record["result"])["message"] == "Hello, Ada! Fibonacci number 10 is 55."
    assert [log["level"] for log in record["logs"]] == ["debug", "info"]


def test_text_stats(home: Platform) -> None:
    record = record_of(home, send(home, "text-stats", TEXT))
    assert record["status"] == "ok", record
    stats = json.loads(record["result"])
    assert stats["words"] > 0 and stats["top_words"]


def test_an_accepted_order_chains_to_order_accepted(home: Platform) -> None:
    event_id = send(home, "order", ORDER)
    record = record_of(home, event_id)
    assert (record["status"], json.loads(record["result"])["status"]) == ("ok", "accepted")
    notice = chained(home, "order-accepted", event_id)
    assert notice["status"] == "ok"
    assert json.loads(notice["result"])["subject"] == "Order A-1001 confirmed"


def test_a_rejected_order_chains_to_order_rejected(home: Platform) -> None:
    event_id = send(home, "order", REJECTED)
    record = record_of(home, event_id)
    assert (record["status"], record["code"]) == ("error", 2)
    assert json.loads(record["result"])["status"] == "rejected"
    assert home.cli_json("dead", "--tenant", "demo")[0]["id"] == event_id  # max_attempts = 1
    notice = chained(home, "order-rejected", event_id)
    assert notice["status"] == "ok"
    assert "A-1002" in json.loads(notice["result"])["subject"]


@pytest.mark.parametrize(
    ("wasm", "source", "expect"),
    [
        ("greet.wasm", GREET, '"fib":55'),
        ("textstats.wasm", TEXT, '"words":'),
        ("order.wasm", ORDER, '"status":"accepted"'),
        ("order-notice.wasm", None, '"subject":"Order A-1001 confirmed"'),
    ],
)
def test_run_guest_runs_each_demo_guest_without_the_platform(
    tmp_path: Path, wasm: str, source: Path | None, expect: str
) -> None:
    if source is None:  # order-notice takes what the order job publishes
        outcome = {"event_id": "0" * 16, "code": 0, "input": json.loads(ORDER.read_text()),
                   "result": json.dumps({"order_id": "A-1001", "status": "accepted", "total": "27.40 EUR",
                                         "lines": 1, "units": 2, "currency": "EUR"})}
        source = tmp_path / "outcome.json"
        source.write_text(json.dumps(outcome))
    done = subprocess.run([*JOBICO, "run-guest", str(REPO / "tenants" / "demo" / wasm),
                           "--input", f"@{source}", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["status"] == "ok" and expect in result["result"]


def test_run_guest_exits_4_when_the_run_is_not_ok() -> None:
    """4, not 2: 2 is a usage error everywhere (SPEC §6, issue 16)."""
    done = subprocess.run([*JOBICO, "run-guest", str(REPO / "tenants" / "demo" / "order.wasm"),
                           "--input", f"@{REJECTED}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 4
    assert '"status":"rejected"' in done.stdout and "error: the guest exited with code 2" in done.stderr


def quick_start() -> list[str]:
    """The command lines of the README's quick start, as written."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_readme_quick_start_works_as_written(home: Platform) -> None:
    """Each line in bash from the repository folder, only ``--home`` added (the home's own port)."""
    lines = quick_start()
    assert lines[0] == "make up"  # the fixture's `jobico up --home DIR`, as the Makefile's target
    assert "$(BIN)/jobico up --home ." in (REPO / "Makefile").read_text()
    env = dict(os.environ)
    outputs: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line.startswith("export "):
            done = bash(f"{line} && env -0", env)
            env = dict(v.split("=", 1) for v in done.stdout.split("\0") if "=" in v)
            continue
        assert line.startswith("jobico "), line
        if line == "jobico tui":
            screen = run_tui(home, env, want=r"listener +running")
            assert re.search(r"listener +running", screen), screen[-2000:]
            continue
        if "<" in line:  # `jobico show <an id from the list>`
            line = re.sub(r"<[^>]*>", home.query(tenant="demo", event="greet")[0]["id"], line)
        outputs.append((line, bash(f"{line} --home {shlex.quote(str(home.root))}", env).stdout))
    by_command = {line.split()[1]: out for line, out in outputs}
    assert "running" in by_command["status"]
    sent = [out.strip() for line, out in outputs if line.startswith("jobico send")]
    records = [record_of(home, event_id) for event_id in sent]
    assert [r["status"] for r in records] == ["ok"] * len(sent)
    assert "Hello, Ada! Fibonacci number 10 is 55." in records[0]["result"]
    assert "greet" in by_command["executions"] and "text-stats" in by_command["executions"]
    assert "Hello, Ada!" in by_command["show"]


def bash(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", "-c", line], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
    return done


def run_tui(p: Platform, env: dict[str, str], want: str, timeout: float = 30.0) -> str:
    """``jobico tui`` on a pseudo-terminal until its screen text matches ``want``, then press q."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    process = subprocess.Popen(["jobico", "tui", "--home", str(p.root)], stdin=slave, stdout=slave,
                               stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    raw = b""
    try:
        deadline = time.monotonic() + timeout
        while not re.search(want, screen_text(raw)) and time.monotonic() < deadline:
            raw += read_some(master, 0.5)
        os.write(master, b"q")
        end = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < end:
            read_some(master, 0.2)  # keep the terminal drained so the app can exit
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return screen_text(raw)


def read_some(fd: int, wait: float) -> bytes:
    if not select.select([fd], [], [], wait)[0]:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the app closed the terminal
        return b""


def screen_text(raw: bytes) -> str:
    """What the terminal shows, roughly: the output without its escape sequences."""
    return ANSI.sub("", raw.decode("utf-8", "replace"))


ANSI = re.compile(r"\x1b\[[0-9;?<>$]*[A-Za-z~]|\x1b[()][A-Z0-9]|\x1b[=>]|\x1b\][^\x07]*\x07")
