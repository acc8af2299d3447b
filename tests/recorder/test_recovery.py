"""The recorder's files on open: records of earlier versions read back whatever their size, and
a record too big to read back is never written. Damage and torn tails, the same for both stores,
are in ``tests/storage/test_recovery.py``."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import msgpack
import pytest
import trio

from jobico.caps import MAX_RECORD_BYTES
from jobico.recorder.records import Filter, normalize
from jobico.recorder.store import Store
from jobico.rpc import trio_shell
from tests.recorder.conftest import T0, rec, running


def ids(store: Store) -> list[str]:
    return sorted(r["id"] for r in store.query(Filter(), 100))


def huge(event_id: str, size: int) -> dict:
    """A record whose logs alone encode to about ``size`` bytes."""
    line = {"level": "info", "message": "x" * 1000}
    return rec(event_id, tenant="noisy", logs=[line] * (size // 1000))


def legacy(record: dict) -> bytes:
    """A record framed as the recorder wrote it before format 2, at any size."""
    payload = msgpack.packb(normalize(record, 0, T0)[0])
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_a_big_record_of_an_earlier_version_loses_nothing_after_it(tmp_path: Path) -> None:
    """Before one shared limit, the recorder wrote records it refused to read (over 16 MiB)
    and cut the segment there on restart, with other tenants' records after it."""
    root = tmp_path / "rec"
    root.mkdir()
    segment = root / f"00000001-{int(T0)}.seg"
    segment.write_bytes(legacy(rec("a")) + legacy(huge("big", 17 * 2**20)) + legacy(rec("c", tenant="beta")))
    s = Store(root)
    try:
        assert ids(s) == ["a-1", "big-1", "c-1"]
        assert segment.stat().st_size > 17 * 2**20
        assert s.append([rec("d")]) == [True]  # appended after the old frames, read back too
    finally:
        s.close()
    s = Store(root)
    try:
        assert ids(s) == ["a-1", "big-1", "c-1", "d-1"]
    finally:
        s.close()


def test_a_record_over_the_cap_is_refused_on_its_own_and_never_written(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    s = Store(root)
    written = s.write([rec("a"), huge("big", MAX_RECORD_BYTES + 1000), rec("c", tenant="beta")])
    s.sync()
    assert written.stored == [True, False, True]
    ((position, reason),) = written.refused
    assert position == 1 and reason.startswith("record 1: ")
    assert f"over the limit of {MAX_RECORD_BYTES}" in reason
    assert s.stats()["bytes"] < MAX_RECORD_BYTES
    assert s.append([rec("d", tenant="beta")]) == [True]
    s.close()
    s = Store(root)
    try:
        assert ids(s) == ["a-1", "c-1", "d-1"]
    finally:
        s.close()


@pytest.mark.trio
async def test_an_over_size_record_over_rpc_is_refused_not_a_protocol_error(tmp_path: Path) -> None:
    now = time.time()
    async with running(tmp_path) as service, trio.open_nursery() as nursery:
        path = tmp_path / "r.sock"
        await nursery.start(trio_shell.serve, path, service.methods())
        async with await trio_shell.connect(path) as client:
            records = [rec("a", at=now), huge("big", 12 * 2**20), rec("c", at=now), {"tenant": 1}]
            reply = await client.call("append", {"records": records})
            assert reply["stored"] == [True, False, True, False]
            assert [i for i, _ in reply["refused"]] == [1, 3]
            assert "over the limit" in reply["refused"][0][1] and "event_id" in reply["refused"][1][1]
            assert sorted(r["id"] for r in await client.call("query", {})) == ["a-1", "c-1"]
        nursery.cancel_scope.cancel()


def test_accepted_at_is_stored_and_returned_and_older_records_have_none(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    old = normalize(rec("old"), 0, T0)[0]
    del old["accepted_at"]
    (root / f"00000001-{int(T0)}.seg").write_bytes(legacy(old))
    s = Store(root)
    try:
        s.append([rec("new", accepted_at="2023-11-14T22:13:19.5Z")])
        assert s.get("new-1")["accepted_at"] == "2023-11-14T22:13:19.500000Z"
        assert s.get("old-1")["accepted_at"] is None
    finally:
        s.close()
