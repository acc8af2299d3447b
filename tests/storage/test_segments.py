"""Segment names, listing a folder, and when a segment is full."""

from __future__ import annotations

from pathlib import Path

from jobico.storage import segments
from jobico.storage.segments import Rollover


def test_names_sort_as_numbers_and_carry_their_creation_time() -> None:
    assert segments.name(7) == "00000007.seg"
    assert segments.name(7, 1_700_000_000.9) == "00000007-1700000000.seg"
    assert segments.name(12, suffix=".log") == "00000012.log"


def test_a_folder_lists_its_segments_oldest_first_and_its_strays(tmp_path: Path) -> None:
    for name in ["00000010.seg", "00000002.seg", "00000003-17.seg", "7.seg", "notes.txt", "000000011.seg"]:
        (tmp_path / name).write_bytes(b"")
    found, strays = segments.listed(tmp_path)
    assert [(s.number, s.created, s.path.name) for s in found] == [
        (2, None, "00000002.seg"), (10, None, "00000010.seg"), (11, None, "000000011.seg")]
    assert sorted(p.name for p in strays) == ["00000003-17.seg", "7.seg", "notes.txt"]
    stamped, _ = segments.listed(tmp_path, stamped=True)
    assert [(s.number, s.created) for s in stamped] == [(3, 17)]
    assert segments.listed(tmp_path / "missing") == ([], [])


def test_a_segment_is_full_before_an_append_would_pass_its_size_or_once_it_is_old() -> None:
    rollover = Rollover(max_bytes=100, max_age_s=60)
    assert not rollover.due(0, 500)  # a segment always takes its first append
    assert not rollover.due(60, 40) and rollover.due(60, 41)
    assert rollover.due(1, 1, created=1000, now=1060) and not rollover.due(1, 1, created=1000, now=1059)
    assert not Rollover(max_bytes=100).due(1, 1, created=0, now=1e12)  # no age limit by default
