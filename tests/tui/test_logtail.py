"""LogTail follows a log file by name across RotatingFileHandler rotation."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import pytest

from tui import logtail
from tui.logtail import LogTail


def test_a_missing_file_reads_empty_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    tail = LogTail(path)
    assert tail.read() == []
    path.write_text("one\n")
    assert tail.read() == ["one"]
    tail.close()


def test_appended_lines_come_once_and_a_cut_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("old 1\nold 2\n")
    tail = LogTail(path)
    assert tail.read() == ["old 1", "old 2"]
    with path.open("a") as f:
        f.write("new 3\nnew ")
        f.flush()
        assert tail.read() == ["new 3"]
        f.write("4\r\n")
    assert tail.read() == ["new 4"]
    assert tail.read() == []
    tail.close()


def test_a_big_file_starts_near_its_end_at_a_line_start(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("".join(f"line {n:05d}\n" for n in range(10_000)))  # 110,000 bytes
    tail = LogTail(path, tail_bytes=1100)
    lines = tail.read()
    assert lines[0].startswith("… ") and lines[0].endswith(" bytes not shown …")
    assert lines[1:] == [f"line {n:05d}" for n in range(9900, 10_000)]
    with path.open("a") as f:
        f.write("".join(f"burst {n:05d}\n" for n in range(1000)))
    burst = tail.read()
    assert "not shown" in burst[0] and burst[-1] == "burst 00999" and len(burst) < 120
    tail.close()


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "queue.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=200, backupCount=2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("test-logtail-rotation")
    log.propagate = False
    log.addHandler(handler)
    tail = LogTail(path)
    try:
        seen: list[str] = []
        for n in range(60):  # ~8 bytes a line: several rotations, read between some
            log.warning("msg %02d", n)
            if n % 7 == 0:
                seen += tail.read()
        seen += tail.read()
    finally:
        log.removeHandler(handler)
        handler.close()
        tail.close()
    assert (tmp_path / "queue.log.1").exists()
    assert seen == [f"msg {n:02d}" for n in range(60)]


def test_a_file_truncated_in_place_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "ctl.log"
    path.write_text("a long first line\n")
    tail = LogTail(path)
    assert tail.read() == ["a long first line"]
    path.write_text("short\n")  # same inode, smaller than what was read
    assert tail.read() == ["short"]
    tail.close()


def test_a_line_written_just_before_the_rename_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer may append to the old file after LogTail drained it but before LogTail
    sees the new inode: the old file is drained again before it is let go."""
    path = tmp_path / "ctl.log"
    path.write_text("first\n")
    tail = LogTail(path)
    assert tail.read() == ["first"]
    real_stat = logtail._stat

    def writer_races(p: Path) -> os.stat_result | None:
        monkeypatch.setattr(logtail, "_stat", real_stat)
        with path.open("a") as f:
            f.write("last of the old file\n")
        path.rename(tmp_path / "ctl.log.1")
        path.write_text("first of the new file\n")
        return real_stat(p)

    monkeypatch.setattr(logtail, "_stat", writer_races)
    assert tail.read() == ["last of the old file", "first of the new file"]
    tail.close()
