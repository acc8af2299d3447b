"""The one follower of rotated logs, for `jobico logs -f` (every line) and the dashboard's
log pane (a window: never a whole huge file)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import pytest

from jobico.cli import logfiles
from jobico.cli.logfiles import Follower


def rotating(path: Path, name: str) -> tuple[logging.Logger, logging.Handler]:
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=200, backupCount=2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.Logger(name)
    log.addHandler(handler)
    return log, handler


@pytest.mark.parametrize("window", [None, 1 << 20])
def test_rotation_loses_no_line(tmp_path: Path, window: int | None) -> None:
    path = tmp_path / "c.log"
    log, handler = rotating(path, "test-logfiles-rotation")
    follower = Follower(path, window)
    seen: list[str] = []
    try:
        for n in range(100):  # rotates every few lines, and more often than backupCount keeps
            log.warning("line %03d", n)
            if n % 3 == 0 or n % 7 == 0:
                seen += follower.poll()
        seen += follower.poll()
    finally:
        handler.close()
        follower.close()
    assert (tmp_path / "c.log.1").exists()
    assert seen == [f"line {n:03d}" for n in range(100)]


def test_a_missing_file_reads_empty_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "late.log"
    follower = Follower(path)
    assert follower.poll() == []
    path.write_text("one\n")
    assert follower.poll() == ["one"]
    follower.close()


def test_appended_lines_come_once_and_a_cut_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("old 1\nold 2\n")
    follower = Follower(path)
    assert follower.poll() == ["old 1", "old 2"]
    with path.open("a") as f:
        f.write("new 3\nnew ")
        f.flush()
        assert follower.poll() == ["new 3"]
        f.write("4\r\n")
    assert follower.poll() == ["new 4"]
    assert follower.poll() == []
    follower.close()


def test_a_file_truncated_in_place_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("a long first line\nsec")
    follower = Follower(path)
    assert follower.poll() == ["a long first line"]
    path.write_text("short\n")  # same inode, smaller than what was read; "sec" never ended
    assert follower.poll() == ["short"]
    with open(path, "a") as f:
        f.write("again\n")
    assert follower.poll() == ["again"]
    follower.close()


def test_a_window_starts_a_big_file_near_its_end_at_a_line_start(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("".join(f"line {n:05d}\n" for n in range(10_000)))  # 110,000 bytes
    follower = Follower(path, window=1100)
    lines = follower.poll()
    assert lines[0].startswith("… ") and lines[0].endswith(" bytes not shown …")
    assert lines[1:] == [f"line {n:05d}" for n in range(9900, 10_000)]
    with path.open("a") as f:
        f.write("".join(f"burst {n:05d}\n" for n in range(1000)))
    burst = follower.poll()
    assert "not shown" in burst[0] and burst[-1] == "burst 00999" and len(burst) < 120
    follower.close()


def test_without_a_window_every_line_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("".join(f"line {n:05d}\n" for n in range(10_000)))
    follower = Follower(path)
    assert follower.poll() == [f"line {n:05d}" for n in range(10_000)]
    follower.close()


def test_a_line_written_just_before_the_rename_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer may append to the old file after the follower drained it but before the
    follower sees the new inode: the old file is drained again before it is let go."""
    path = tmp_path / "ctl.log"
    path.write_text("first\n")
    follower = Follower(path)
    assert follower.poll() == ["first"]
    real_stat = logfiles._stat

    def writer_races(p: Path) -> os.stat_result | None:
        monkeypatch.setattr(logfiles, "_stat", real_stat)
        with path.open("a") as f:
            f.write("last of the old file\n")
        path.rename(tmp_path / "ctl.log.1")
        path.write_text("first of the new file\n")
        return real_stat(p)

    monkeypatch.setattr(logfiles, "_stat", writer_races)
    assert follower.poll() == ["last of the old file", "first of the new file"]
    follower.close()
