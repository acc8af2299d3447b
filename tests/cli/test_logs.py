"""``jobico logs``: rotated files in order, components merged by time, following across rotation."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from jobico.cli.logfiles import merged, rotated
from tests.cli.test_offline import JOBICO, ctrl_c_restored
from tests.e2e.platform import wait_until


def home_with_logs(tmp_path: Path) -> Path:
    (tmp_path / "jobico.toml").write_text("")
    logs = tmp_path / ".jobico" / "logs"
    logs.mkdir(parents=True)
    (logs / "queue.log.2").write_text("2026-01-01 10:00:00,000 INFO q: oldest\n")
    (logs / "queue.log.1").write_text("2026-01-01 10:00:02,000 INFO q: older\n")
    (logs / "queue.log").write_text("2026-01-01 10:00:04,000 INFO q: newest\n")
    (logs / "recorder.log").write_text(
        "2026-01-01 10:00:01,000 ERROR r: broke\nTraceback (most recent call last):\n"
        "2026-01-01 10:00:03,000 INFO r: fine \x1b[2J again\n")
    (logs / "supervisor.log").write_text("10:00:00 supervisor  console line\n")
    return tmp_path


def jobico(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOBICO, *args], capture_output=True, text=True, timeout=60)


def test_one_component_reads_rotated_files_oldest_first(tmp_path: Path) -> None:
    home = home_with_logs(tmp_path)
    done = jobico("logs", "queue", "--home", str(home))
    assert done.returncode == 0, done.stderr
    assert [line.rsplit(": ", 1)[1] for line in done.stdout.splitlines()] == ["oldest", "older", "newest"]
    tail = jobico("logs", "queue", "--tail", "2", "--home", str(home))
    assert tail.stdout.count("\n") == 2 and "oldest" not in tail.stdout


def test_every_component_merged_by_time_with_escaped_lines(tmp_path: Path) -> None:
    home = home_with_logs(tmp_path)
    done = jobico("logs", "--home", str(home))
    assert done.returncode == 0, done.stderr
    names = [line.split(" | ")[0].strip() for line in done.stdout.splitlines()]
    assert names == ["queue", "recorder", "recorder", "queue", "recorder", "queue"]
    assert "Traceback" in done.stdout.splitlines()[2]  # stays under the entry it belongs to
    assert "\x1b" not in done.stdout and "\\x1b[2J" in done.stdout
    assert "console line" not in done.stdout  # the supervisor's console log only by name


def test_unknown_component_is_an_error_naming_the_known_ones(tmp_path: Path) -> None:
    done = jobico("logs", "qeueu", "--home", str(home_with_logs(tmp_path)))
    assert done.returncode == 1
    assert "qeueu" in done.stderr and "queue, recorder, supervisor" in done.stderr


def test_rotated_sorts_by_number_not_text(tmp_path: Path) -> None:
    for n in (1, 2, 10):
        (tmp_path / f"x.log.{n}").write_text("")
    (tmp_path / "x.log.bak").write_text("")
    assert [p.name for p in rotated(tmp_path, "x")] == ["x.log.10", "x.log.2", "x.log.1"]


def test_merge_keeps_each_stream_in_order() -> None:
    a = ["2026-01-01 10:00:00,000 a1", "2026-01-01 10:00:05,000 a2"]
    b = ["2026-01-01 10:00:01,000 b1", "  continued", "2026-01-01 10:00:06,000 b2"]
    assert [line for _, line in merged({"a": a, "b": b})] == [a[0], b[0], b[1], a[1], b[2]]


def test_logs_follow_prints_lines_written_after_it_started(tmp_path: Path) -> None:
    home = home_with_logs(tmp_path)
    out = tmp_path / "out.txt"
    with open(out, "w") as sink:
        proc = subprocess.Popen([*JOBICO, "logs", "queue", "-f", "--home", str(home)], stdout=sink,
                                stderr=subprocess.STDOUT, preexec_fn=ctrl_c_restored)
    try:
        wait_until(lambda: "newest" in out.read_text(), 30, "the history")
        current = home / ".jobico" / "logs" / "queue.log"
        os.rename(current, current.with_suffix(".log.1"))  # what the rotating handler does
        current.write_text("2026-01-01 10:00:09,000 INFO q: after rotation\n")
        wait_until(lambda: "after rotation" in out.read_text(), 30, "the line after rotation")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
