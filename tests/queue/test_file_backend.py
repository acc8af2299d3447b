"""The file backend on real files: restarts, crashes, garbage, segment deletion, leases. Damage and
torn tails, the same for both stores, are in ``tests/storage/test_recovery.py``."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import msgpack
import pytest

from jobico.errors import Conflict, UserError
from jobico.queue import leases
from jobico.queue import log_records as records
from jobico.queue.api import Settlement, TenantStats
from jobico.queue.file_backend import FileBackend
from jobico.queue.file_journal import segment_path

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
    q.lease("w", 10, LEASE_MS)  # leases survive too: r1, r2 stay w's
    q.settle("w", [Settlement(backing_off, "retry", delay_ms=60_000), Settlement(dead, "dead", "boom")])
    q.pause("globex")
    q = files.reopen(q)
    assert q.enqueue("acme", "e", [b"again"], "key-1").ids == ready
    assert [(d.id, d.attempt, d.reason) for d in q.dead("acme")] == [(dead, 1, "boom")]
    assert q.stats()["globex"].paused
    assert leased_ids(q) == [] and q.stats()["acme"].inflight == 2
    assert q.settle("w", [Settlement(i, "ack") for i in ready]).applied == ready
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
    q.settle("w", [Settlement(ids[1], "ack")])
    flush_all(q)
    crashed = files.open()
    assert crashed.release("w") == 2  # as a restarted executor does
    assert leased_ids(crashed) == [ids[0], ids[2]]


def test_garbage_files_do_not_lose_earlier_records(files: Harness) -> None:
    q = files.open()
    ids = q.enqueue("acme", "e", [b"1", b"2"], "k")
    q.lease("w", 1, LEASE_MS)
    q.settle("w", [Settlement(ids.ids[0], "dead", "x")])
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
    q.settle("w", [Settlement(d.id, "ack") for d in got if d.id not in keep])
    flush_all(q)
    assert len(segments(files.root)) > 10  # the oldest segment still holds "keep"
    q.settle("w", [Settlement(keep[0], "ack")])
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
    q.settle("w", [Settlement(item, "dead", "boom")])
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
    q.settle("w", [Settlement(ids[0], "ack")])
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
        q.settle("w", [Settlement(i, "ack") for i in ids])
        q.compact()
        flush_all(q)
    assert len(segments(files.root)) <= 3
    q = files.reopen(q)
    q.resume("slow")
    assert [(d.id, d.body, d.attempt) for d in q.lease("w", 10, LEASE_MS)] == [(held, b"held", 1)]


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
    q.flush(1_000, 2**20)  # the lease log's new generation, begun at every open
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


# -- leases outlive the queue process (issue 13, item 4) -------------------------------------------


def lease_files(root: Path) -> list[Path]:
    return sorted((root / "leases").glob("*.log"))


def test_leases_survive_a_crash_and_their_holder_keeps_them(files: Harness) -> None:
    q = files.open()
    running, waiting = q.enqueue("acme", "e", [b"1", b"2"], None).ids
    q.lease("w1", 10, 2000)
    files.clock.advance(1.5)
    q.renew("w1", [running, waiting], 2000)
    flush_all(q)  # the group commit writes the lease records along with the rest
    crashed = files.open()  # kill -9: no close
    assert crashed.stats()["acme"].inflight == 2
    assert crashed.lease("w2", 10, 2000) == []
    files.clock.advance(1.9)
    assert crashed.renew("w1", [running], 2000).renewed == [running]
    files.clock.advance(1.9)  # the unrenewed one runs out (a full lease from the restart)
    assert crashed.expire() == 1
    assert [d.id for d in crashed.lease("w2", 10, 2000)] == [waiting]
    assert crashed.lease("w3", 10, 2000) == []
    assert crashed.settle("w1", [Settlement(running, "ack")]).applied == [running]


def test_a_restart_gives_holders_a_full_lease_to_renew_in(files: Harness) -> None:
    q = files.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w1", 1, 2000)
    flush_all(q)
    files.clock.advance(1.8)  # the queue was down most of the lease
    crashed = files.open()
    files.clock.advance(1.8)
    assert crashed.expire() == 0 and crashed.renew("w1", [item], 2000).renewed == [item]


def test_released_expired_and_settled_leases_are_not_restored(files: Harness) -> None:
    q = files.open()
    released, expired, retried = q.enqueue("acme", "e", [b"1", b"2", b"3"], None).ids
    q.lease("w1", 1, 60_000)
    q.lease("w2", 1, 1000)
    q.lease("w3", 1, 60_000)
    q.release("w1")
    files.clock.advance(2)
    assert q.expire() == 1
    q.settle("w3", [Settlement(retried, "retry", delay_ms=0)])
    flush_all(q)
    crashed = files.open()
    got = crashed.lease("w4", 10, 1000)
    assert sorted((d.id, d.attempt) for d in got) == [(released, 1), (expired, 1), (retried, 2)]


def test_the_lease_log_is_rewritten_as_it_grows(files: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "ROTATE_BYTES", 2000)
    q = files.open()
    ids = q.enqueue("acme", "e", [b"x"] * 20, None).ids
    q.lease("w1", 20, 2000)
    for _ in range(40):
        files.clock.advance(0.5)
        q.renew("w1", ids, 2000)
        q.compact()
        flush_all(q)
    assert len(lease_files(files.root)) == 1
    assert lease_files(files.root)[0].stat().st_size < 4000
    crashed = files.open()
    assert crashed.stats()["acme"].inflight == 20
    assert crashed.renew("w1", ids, 2000).renewed == ids


def test_a_torn_lease_record_is_dropped_and_never_appended_to(files: Harness) -> None:
    q = files.open()
    first, second = q.enqueue("acme", "e", [b"1", b"2"], None).ids
    q.lease("w1", 1, 60_000)
    flush_all(q)
    q.lease("w2", 1, 60_000)
    flush_all(q)
    [path] = lease_files(files.root)
    os.truncate(path, path.stat().st_size - 5)  # the kill cut the last write
    crashed = files.open()
    assert [d.id for d in crashed.lease("w3", 10, 60_000)] == [second]
    flush_all(crashed)
    assert [p.name for p in lease_files(files.root)] != [path.name]  # a new generation
    again = files.open()
    assert again.lease("w4", 10, 60_000) == [] and again.stats()["acme"].inflight == 2
    assert again.settle("w1", [Settlement(first, "ack")]).applied == [first]


def test_keys_journaled_before_scoping_are_still_honoured(files: Harness) -> None:
    q = files.open()
    q.close()
    hour = int(files.clock.now // 3600)
    old = records.key_record("acme", "old-key", [7, 8], files.clock.now)  # [KEY, tenant, key, ids, at]
    (files.root / "keys" / f"{hour}.log").write_bytes(old)
    q = files.open()
    again = q.enqueue("acme", "any-event", [b"1"], "old-key", digest="aa")
    assert again.duplicate and again.ids == ["0000000000000007", "0000000000000008"]
    assert not q.enqueue("acme", "any-event", [b"1"], "old-key", scope="platform").duplicate


def test_scoped_keys_survive_a_restart_with_their_digest(files: Harness) -> None:
    q = files.open()
    first = q.enqueue("acme", "e", [b"1"], "k", digest="aa")
    platform = q.enqueue("acme", "e", [b"1"], "k", scope="platform")
    q = files.reopen(q)
    assert q.enqueue("acme", "e", [b"1"], "k", digest="aa").ids == first.ids
    assert q.enqueue("acme", "e", [b"1"], "k", scope="platform").ids == platform.ids
    assert not q.enqueue("acme", "other", [b"1"], "k", digest="aa").duplicate
    with pytest.raises(Conflict):
        q.enqueue("acme", "e", [b"2"], "k", digest="bb")


def test_a_garbled_lease_log_costs_only_its_leases(files: Harness) -> None:
    q = files.open()
    [item] = q.enqueue("acme", "e", [b"1"], None).ids
    q.lease("w1", 1, 60_000)
    q.close()
    [path] = lease_files(files.root)
    path.write_bytes(b"\xc1" + os.urandom(3000))  # not msgpack at all
    q = files.open()
    assert [d.id for d in q.lease("w2", 1, 60_000)] == [item]  # the lease is gone, the item is not
