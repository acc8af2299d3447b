"""The file backend on real files: restarts, crashes, torn tails, garbage, segment deletion."""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

import msgpack
import pytest

from jobico.errors import UserError
from jobico.queue import records
from jobico.queue.backend import Settlement, TenantStats
from jobico.queue.segments import segment_path
from jobico.queue.storage import FileBackend

from .conftest import Harness, flush_all

LEASE_MS = 30_000


def segments(root: Path) -> list[Path]:
    return sorted((root / "log").glob("*.seg"))


def leased_ids(q: FileBackend) -> list[str]:
    return sorted(d.id for d in q.lease("w", 10_000, LEASE_MS))


def test_everything_survives_a_clean_restart(files: Harness) -> None:
    q = files.open()
    ready = q.enqueue("acme", "e", [b"r1", b"r2"], "key-1").ids
    [backing_off, dead] = q.enqueue("acme", "e", [b"b", b"d"], None).ids
    q.lease("w", 10, LEASE_MS)  # leases are not durable: r1, r2 come back as ready
    q.settle([Settlement(backing_off, "retry", delay_ms=60_000), Settlement(dead, "dead", "boom")])
    q.pause("globex")
    q = files.reopen(q)
    assert q.enqueue("acme", "e", [b"again"], "key-1").ids == ready
    assert [(d.id, d.attempt, d.reason) for d in q.dead("acme")] == [(dead, 1, "boom")]
    assert q.stats()["globex"].paused
    assert leased_ids(q) == ready
    q.settle([Settlement(i, "ack") for i in ready])
    files.clock.advance(61)
    [retried] = q.lease("w", 10, LEASE_MS)
    assert (retried.id, retried.attempt, retried.body) == (backing_off, 2, b"b")


def test_a_crash_loses_only_what_was_never_flushed(files: Harness) -> None:
    q = files.open()
    durable = q.enqueue("acme", "e", [b"1"], None).ids
    flush_all(q)
    q.enqueue("acme", "e", [b"2"], None)  # buffered, never written: no 202 was sent for it
    crashed = files.open()  # the old process is gone without closing
    assert leased_ids(crashed) == durable


def test_acked_items_are_not_redelivered_after_a_restart(files: Harness) -> None:
    q = files.open()
    ids = q.enqueue("acme", "e", [b"1", b"2", b"3"], None).ids
    q.lease("w", 10, LEASE_MS)
    q.settle([Settlement(ids[1], "ack")])
    flush_all(q)
    assert leased_ids(files.open()) == [ids[0], ids[2]]


def test_a_segment_truncated_mid_record_keeps_earlier_records(files: Harness) -> None:
    q = files.open()
    first = q.enqueue("acme", "e", [b"first"], None).ids
    flush_all(q)
    q.enqueue("acme", "e", [b"second" * 50], None)
    flush_all(q)
    q.close()
    [path] = segments(files.root)
    size = path.stat().st_size
    os.truncate(path, size - 100)  # the crash hit in the middle of the last record
    q = files.open()
    assert leased_ids(q) == first
    assert path.stat().st_size < size - 100  # the torn tail was cut off
    later = q.enqueue("acme", "e", [b"later"], None).ids
    q = files.reopen(q)
    assert leased_ids(q) == sorted(first + later)


def test_garbage_files_do_not_lose_earlier_records(files: Harness) -> None:
    q = files.open()
    ids = q.enqueue("acme", "e", [b"1", b"2"], "k")
    q.lease("w", 1, LEASE_MS)
    q.settle([Settlement(ids.ids[0], "dead", "x")])
    q.close()
    garbage = os.urandom(2000)
    segment_path(files.root, 99).write_bytes(garbage)  # a whole segment of garbage
    (files.root / "log" / "notes.txt").write_bytes(garbage)  # not a queue file at all
    for path in [*files.root.glob("dead/*.log"), *files.root.glob("keys/*.log")]:
        with path.open("ab") as handle:
            handle.write(garbage)  # torn tails on every other log
    q = files.open()
    assert leased_ids(q) == [ids.ids[1]]
    assert [d.id for d in q.dead("acme")] == [ids.ids[0]]
    assert q.enqueue("acme", "e", [b"x"], "k").duplicate
    assert segment_path(files.root, 99).stat().st_size == 0


def test_fully_acknowledged_segments_are_deleted(files: Harness) -> None:
    files.segment_bytes = 1024
    q = files.open()
    keep = q.enqueue("acme", "e", [b"keep"], None).ids
    for _ in range(40):
        q.enqueue("acme", "e", [b"x" * 200] * 2, None)
    flush_all(q)
    assert len(segments(files.root)) > 10
    got = q.lease("w", 1000, LEASE_MS)
    q.settle([Settlement(d.id, "ack") for d in got if d.id not in keep])
    flush_all(q)
    assert len(segments(files.root)) > 10  # the oldest segment still holds "keep"
    q.settle([Settlement(keep[0], "ack")])
    q.enqueue("acme", "e", [b"new"], None)
    flush_all(q)
    assert len(segments(files.root)) <= 2
    q = files.reopen(q)
    assert [d.body for d in q.lease("w", 10, LEASE_MS)] == [b"new"]


def test_dead_lettering_interrupted_between_its_two_files(files: Harness) -> None:
    q = files.open()
    [item, other] = q.enqueue("acme", "e", [b"1", b"2"], None).ids
    q.close()
    # The dead letter reached dead/acme.log but the DONE record never reached the log.
    number = int(item, 16)
    (files.root / "dead" / "acme.log").write_bytes(
        records.dead_record(number, "e", 1, 0.0, 0.0, "boom", b"1")
    )
    q = files.open()
    assert leased_ids(q) == [other]
    assert [d.id for d in q.dead("acme")] == [item]


def test_replay_interrupted_between_its_two_files(files: Harness) -> None:
    q = files.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w", 1, LEASE_MS)
    q.settle([Settlement(item, "dead", "boom")])
    dead_log = files.root / "dead" / "acme.log"
    flush_all(q)
    before_replay = dead_log.read_bytes()
    q.replay([item], None)
    q.close()
    dead_log.write_bytes(before_replay)  # the UNDEAD record was lost, the re-queue was not
    q = files.open()
    assert q.dead("acme") == []
    assert [(d.id, d.attempt) for d in q.lease("w", 1, LEASE_MS)] == [(item, 2)]


def test_keys_expire_after_a_day_across_restarts(files: Harness) -> None:
    q = files.open()
    first = q.enqueue("acme", "e", [b"1"], "k").ids
    q = files.reopen(q)
    files.clock.advance(23 * 3600)
    assert q.enqueue("acme", "e", [b"1"], "k").ids == first
    q = files.reopen(q)
    files.clock.advance(3 * 3600)
    q.close()
    q = files.open()
    assert not q.enqueue("acme", "e", [b"1"], "k").duplicate
    flush_all(q)
    assert len(list((files.root / "keys").glob("*.log"))) == 1  # the stale hour file is gone


def test_ids_keep_increasing_across_restarts_when_the_clock_goes_back(files: Harness) -> None:
    q = files.open()
    ids = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w", 1, LEASE_MS)
    q.settle([Settlement(ids[0], "ack")])
    q = files.reopen(q)
    files.clock.advance(-3600)
    assert q.enqueue("acme", "e", [b"2"], None).ids[0] > ids[0]


def test_without_fsync_the_queue_still_works(tmp_path: Path) -> None:
    q = FileBackend(tmp_path, fsync=False)
    q.recover()
    ids = q.enqueue("acme", "e", [b"1"], None).ids
    q.close()
    q = FileBackend(tmp_path, fsync=False)
    q.recover()
    assert [d.id for d in q.lease("w", 1, LEASE_MS)] == ids
    q.close()


def test_a_few_long_lived_items_do_not_pin_the_log(files: Harness) -> None:
    files.segment_bytes = 1024
    q = files.open()
    q.pause("slow")
    [held] = q.enqueue("slow", "e", [b"held"], None).ids  # paused: stays queued for now
    for _ in range(10):
        ids = q.enqueue("acme", "e", [b"x" * 200] * 2, None).ids
        q.lease("w", 10, LEASE_MS)
        q.settle([Settlement(i, "ack") for i in ids])
        q.compact()
        flush_all(q)
    assert len(segments(files.root)) <= 3
    q = files.reopen(q)
    q.resume("slow")
    assert [(d.id, d.body, d.attempt) for d in q.lease("w", 10, LEASE_MS)] == [(held, b"held", 1)]


def test_a_record_damaged_in_the_middle_loses_only_itself(
    files: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    q = files.open()
    ends = []
    for tenant in ["a", "b", "c", "d"]:
        q.enqueue(tenant, "e", [tenant.encode() * 20], None)
        flush_all(q)
        ends.append(segments(files.root)[-1].stat().st_size)
    q.close()
    [path] = segments(files.root)
    data = bytearray(path.read_bytes())
    data[(ends[0] + ends[1]) // 2] ^= 0xFF  # a bad sector inside B's record
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        q = files.open()
    assert sorted(d.tenant for d in q.lease("w", 10, LEASE_MS)) == ["a", "c", "d"]
    assert f"{path}: skipped {ends[1] - ends[0]} damaged bytes at byte {ends[0]}" in caplog.text
    assert [(p, d.offset) for p, d in q.damaged] == [(path, ends[0])]  # type: ignore[attr-defined]
    assert path.stat().st_size == len(data)  # nothing cut


def test_a_batch_over_the_record_limit_is_split_never_dropped(files: Harness) -> None:
    """Once a 10 MB batch of zeros became one 67 MB record, over the reader's limit: on
    restart the log was cut there, with every later record of every tenant."""
    count = records.MAX_BODY // 2**20 + 2
    q = files.open()
    big = q.enqueue("acme", "e", [b"0" * 2**20] * count, "k").ids
    later = q.enqueue("beta", "e", [b"later"], None).ids
    q = files.reopen(q)
    assert sum(p.stat().st_size for p in segments(files.root)) > records.MAX_BODY
    assert q.enqueue("acme", "e", [b"again"], "k").ids == big
    got = q.lease("w", 10_000, LEASE_MS)
    assert sorted(d.id for d in got) == sorted(big + later)
    assert [d.body for d in got if d.tenant == "acme"] == [b"0" * 2**20] * count


def test_an_item_too_big_for_a_record_is_refused_before_anything_is_queued(
    files: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "MAX_BODY", 4096)
    q = files.open()
    with pytest.raises(UserError, match=r"items\[1\]: 5000 bytes"):
        q.enqueue("acme", "e", [b"1", b"x" * 5000], "k")
    assert not q.pending() and q.stats().get("acme", None) in (None, TenantStats(0, 0, 0, False))
    assert q.enqueue("acme", "e", [b"1"], "k").duplicate is False  # the key was not taken


def legacy(record: list) -> bytes:
    """A record framed as versions before format 2 wrote it."""
    body = msgpack.packb(record, use_bin_type=True)
    return struct.pack("<II", len(body), zlib.crc32(body)) + body


def test_a_home_written_before_format_2_still_reads(files: Harness) -> None:
    root = files.root
    for folder in ("log", "dead", "keys"):
        (root / folder).mkdir(parents=True)
    at = files.clock()
    segment_path(root, 1).write_bytes(
        legacy([records.MARK, 0])
        + legacy([records.ITEMS, "acme", "e", 1, at, at, "k", [[1, b"one"], [2, b"two"], [3, b"three"]]])
        + legacy([records.DONE, [2]])
    )
    (root / "dead" / "acme.log").write_bytes(legacy([records.DEAD, 3, "e", 1, at, at, "boom", b"three"]))
    q = files.open()
    assert [(d.id, d.body) for d in q.lease("w", 10, LEASE_MS)] == [(f"{1:016x}", b"one")]
    assert [d.reason for d in q.dead("acme")] == ["boom"]
    assert q.enqueue("acme", "e", [b"x"], "k").ids == [f"{n:016x}" for n in (1, 2, 3)]
    with (root / "dead" / "acme.log").open("ab") as handle:  # format 2 after the old frames
        handle.write(records.dead_record(4, "e", 2, at, at, "again", b"four"))
    q.close()
    q = files.open()
    assert [d.reason for d in q.dead("acme")] == ["boom", "again"]
    assert q.damaged == []  # type: ignore[attr-defined]
