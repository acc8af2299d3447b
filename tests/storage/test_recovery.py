"""Reading files back on open: damage is skipped and reported, a torn tail cut, for both stores."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trio

from jobico.storage.frames import Frames, frame
from jobico.storage.recovery import Recovery
from tests.storage.stores import StoreKind

LIMIT = 1024
PAYLOADS = [b"A" * 40, b"B" * 50, b"C" * 60]


def read(
    data: bytes, cuts: list[int] | None, caplog: pytest.LogCaptureFixture
) -> tuple[list[bytes], Recovery]:
    """The records ``Recovery`` yields for ``data`` as the file ``f.seg``; cuts go to ``cuts``."""
    recovery = Recovery(logging.getLogger("test.recovery"))
    cut = None if cuts is None else cuts.append
    with caplog.at_level(logging.WARNING):
        found = recovery.records(Path("f.seg"), Frames(data, LIMIT, bytes), cut)
        return [record for _, _, record in found], recovery


def test_damage_is_reported_by_file_and_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    parts = [frame(p, LIMIT) for p in PAYLOADS]
    data = bytearray(b"".join(parts))
    data[len(parts[0]) + 20] ^= 0xFF
    records, recovery = read(bytes(data), [], caplog)
    assert records == [PAYLOADS[0], PAYLOADS[2]]
    [(path, damage)] = recovery.damaged
    assert (path, damage.offset, damage.length) == (Path("f.seg"), len(parts[0]), len(parts[1]))
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert f"f.seg: skipped {len(parts[1])} damaged bytes at offset {len(parts[0])}" in caplog.text


def test_a_torn_tail_is_cut_where_good_data_ends_and_is_no_damage(caplog: pytest.LogCaptureFixture) -> None:
    data = b"".join(frame(p, LIMIT) for p in PAYLOADS)
    good = len(data) - len(frame(PAYLOADS[2], LIMIT))
    cuts: list[int] = []
    records, recovery = read(data[:-7], cuts, caplog)
    assert records == PAYLOADS[:2] and cuts == [good] and recovery.damaged == []
    assert f"f.seg: cut a torn tail of {len(data) - 7 - good} bytes at offset {good}" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_in_a_sealed_file_a_torn_tail_is_damage_and_nothing_is_cut(caplog: pytest.LogCaptureFixture) -> None:
    data = b"".join(frame(p, LIMIT) for p in PAYLOADS)
    good = len(data) - len(frame(PAYLOADS[2], LIMIT))
    records, recovery = read(data[:-7], None, caplog)
    assert records == PAYLOADS[:2]
    assert [(d.offset, d.length) for _, d in recovery.damaged] == [(good, len(data) - 7 - good)]
    assert "no record after it" in recovery.damaged[0][1].reason


# -- both stores: their files written by the component, damaged, read back by a restart -------


def written(kind: StoreKind, home: Path, numbers: list[int]) -> list[list[str]]:
    """Write record ``n`` (one per write) for each of ``numbers`` through the store's component;
    their keys."""

    async def put() -> list[list[str]]:
        async with kind.serving(home) as store:
            return [await store.put(3 * n) for n in numbers]  # 3n: one record each

    return trio.run(put)


def test_a_record_damaged_in_the_middle_loses_only_itself(
    kind: StoreKind, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c, d = written(kind, tmp_path, [0, 1, 2, 3])
    ends = kind.ends(tmp_path)
    path, b_end = ends[b[0]]
    b_start = ends[a[0]][1]
    data = bytearray(Path(path).read_bytes())
    data[(b_start + b_end) // 2] ^= 0xFF  # a bad sector inside B's record
    Path(path).write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        found, damaged = kind.reopened(tmp_path)
    assert sorted(found) == sorted(a + c + d)
    assert damaged == [(Path(path), b_start, b_end - b_start)]
    assert f"{path}: skipped {b_end - b_start} damaged bytes at offset {b_start}" in caplog.text
    assert Path(path).stat().st_size == len(data)  # nothing cut
    [again] = written(kind, tmp_path, [1])  # B lost, so it may come again: stored
    assert sorted(kind.reopened(tmp_path)[0]) == sorted(a + c + d + again)


def test_a_torn_tail_is_cut_and_later_writes_read_back(
    kind: StoreKind, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c = written(kind, tmp_path, [0, 1, 2])
    ends = kind.ends(tmp_path)
    path, c_end = ends[c[0]]
    good = ends[b[0]][1]
    os.truncate(path, (good + c_end) // 2)  # the crash hit in the middle of C's append
    with caplog.at_level(logging.WARNING):
        found, damaged = kind.reopened(tmp_path)
    assert sorted(found) == sorted(a + b) and damaged == []  # a torn tail is expected, not damage
    assert Path(path).stat().st_size == good  # the torn tail was cut off
    assert f"{path}: cut a torn tail of {(good + c_end) // 2 - good} bytes at offset {good}" in caplog.text
    [later] = written(kind, tmp_path, [3])
    assert sorted(kind.reopened(tmp_path)[0]) == sorted(a + b + later)
