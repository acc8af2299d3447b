"""supervisor.log rotates like the components' logs; log.format = "json" gives JSON lines."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.component import setup_logging
from jobico.home import Home
from jobico.logfiles import BACKUPS
from supervisor.runner import Console


def logs(folder: Path) -> list[Path]:
    return sorted(folder.glob("supervisor.log*"))


def test_supervisor_log_rotates_and_keeps_three_old_files(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "supervisor.log"
    say = Console(path, max_bytes=2000)
    for i in range(300):
        say("queue", f"line {i:04d} " + "x" * 40)
    assert [p.name for p in logs(path.parent)] == [
        "supervisor.log", *(f"supervisor.log.{n}" for n in range(1, BACKUPS + 1))]
    assert all(p.stat().st_size <= 2000 for p in logs(path.parent))
    assert "line 0299" in path.read_text()
    assert " INFO queue: line 0299 " in path.read_text()


def test_json_lines_with_the_level_of_echoed_component_lines(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.log"
    say = Console(path, "json")
    say("supervisor", "starting")
    say("queue", "WARNING disk \x1b[31mslow\nreally")
    say("executor-1", "exited with code 1; restarting in 0.5s", logging.WARNING)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(d["component"], d["level"], d["logger"]) for d in lines] == [
        ("supervisor", "info", "jobico.supervisor"), ("queue", "warning", "jobico.supervisor"),
        ("executor-1", "warning", "jobico.supervisor")]
    assert lines[1]["message"] == "disk \\x1b[31mslow\\nreally"  # escaped, as on the console
    assert lines[0]["ts"].endswith("Z") and set(lines[0]) == {
        "ts", "level", "component", "logger", "message"}


DETACHED = """
import sys
from pathlib import Path
from supervisor.runner import Console

say = Console(Path(sys.argv[1]), max_bytes=3000)
for i in range(200):
    say("queue", f"message {i:03d} " + "y" * 30)
print("written to stderr after the rotations", file=sys.stderr, flush=True)
"""


def test_detached_stderr_is_written_once_and_follows_the_rotation(tmp_path: Path) -> None:
    """``jobico up --detach`` points the supervisor's stderr at supervisor.log."""
    path = tmp_path / "supervisor.log"
    with open(path, "ab") as out:
        subprocess.run([sys.executable, "-c", DETACHED, str(path)], stderr=out, check=True,
                       cwd=Path(__file__).parents[2], timeout=60)
    text = "".join(p.read_text() for p in logs(tmp_path))
    found = [n for n in range(200) if f"message {n:03d} " in text]
    assert text.count("message 199 ") == 1 and found == list(range(200 - len(found), 200))
    assert "written to stderr after the rotations" in path.read_text()
    assert all(p.stat().st_size <= 3000 + 200 for p in logs(tmp_path))


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_component_logs_in_json_carry_extra_fields(tmp_path: Path) -> None:
    home = Home(tmp_path)
    log = setup_logging(home, "executor-1", "info", "json")
    log.warning("retrying %s", "e1", extra={"event_id": "0000000000000001", "attempt": 2})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    first, second = (json.loads(line) for line in home.log_file("executor-1").read_text().splitlines())
    assert {k: first[k] for k in ("level", "component", "logger", "message", "event_id", "attempt")} == {
        "level": "warning", "component": "executor-1", "logger": "jobico.executor-1",
        "message": "retrying e1", "event_id": "0000000000000001", "attempt": 2}
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]


@pytest.mark.usefixtures("root_logging")
def test_component_logs_in_text_by_default(tmp_path: Path) -> None:
    home = Home(tmp_path)
    setup_logging(home, "queue", "info").info("hello")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert home.log_file("queue").read_text().rstrip().endswith(" INFO jobico.queue: hello")
