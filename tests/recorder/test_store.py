from __future__ import annotations

from pathlib import Path

import pytest

from jobico.errors import NotFound
from jobico.recorder.records import Filter
from jobico.recorder.store import DAY, Store
from tests.recorder.conftest import T0, rec


def ids(records: list[dict]) -> list[str]:
    return [r["id"] for r in records]


def segment_files(root: Path) -> list[Path]:
    return sorted(root.glob("*.seg"))


def test_append_then_query_newest_first_with_filters(store: Store) -> None:
    stored = store.append([rec("a", at=T0 + 1), rec("b", at=T0 + 3, status="error"),
                           rec("c", at=T0 + 2, tenant="beta")])
    assert stored == [True, True, True]
    assert ids(store.query(Filter(), 10)) == ["b-1", "c-1", "a-1"]
    assert ids(store.query(Filter(), 1)) == ["b-1"]
    assert ids(store.query(Filter(tenant="acme", statuses=frozenset({"error"})), 10)) == ["b-1"]
    full = store.get("c-1")
    assert full["result"] == "result of c" and full["logs"] == [{"level": "info",
                                                                 "message": "hi"}]


def test_a_redelivered_run_is_never_recorded_twice(store: Store) -> None:
    assert store.append([rec("e", 1, "error"), rec("e", 2, "ok")]) == [True, True]
    # the same runs again, a duplicate inside one batch, and a second ok after a redelivery
    assert store.append([rec("e", 2, "ok"), rec("f"), rec("f"), rec("e", 3, "ok")]) == [
        False, True, False, False]
    assert [r["attempt"] for r in store.attempts("e")] == [1, 2]
    assert store.ok_ids(["e", "f", "g"]) == {"e", "f"}
    assert len(store.query(Filter(), 10)) == 3


def test_a_bad_record_is_refused_on_its_own(store: Store) -> None:
    written = store.write([rec("a"), rec("b", status="nope"), "not a map", rec("c")])
    store.sync()
    assert written.stored == [True, False, False, True]
    assert [(i, reason.split(":")[0]) for i, reason in written.refused] == [(1, "record 1"),
                                                                          (2, "record 2")]
    assert "status" in written.refused[0][1]
    assert ids(store.query(Filter(), 10)) == ["c-1", "a-1"]
    assert store.append([rec("b")]) == [True]  # refused, not remembered


def test_before_pages_exactly_through_ties_and_across_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    same = "2023-11-14T22:13:20.123456Z"  # six runs that started in the same microsecond
    store = Store(root)
    store.append([rec(f"{n}", at=same if n < 6 else T0 + n, tenant="acme" if n % 2 else "beta")
                  for n in range(9)])
    store.append([rec("late", at=same)])  # stored later, started at that same time
    everything = ids(store.query(Filter(), 100))
    assert everything == ["8-1", "7-1", "6-1", "late-1", "5-1", "4-1", "3-1", "2-1", "1-1", "0-1"]
    store.close()
    store = Store(root)  # the order, and so where a page continues, outlives a restart
    walked = store.query(Filter(), 4)
    while page := store.query(Filter(), 4, before=walked[-1]["id"]):
        walked += page
    assert ids(walked) == everything
    assert ids(store.query(Filter(tenant="acme"), 10, before="late-1")) == ["5-1", "3-1", "1-1"]
    assert ids(store.query(Filter(tenant="beta"), 10, before="late-1")) == ["4-1", "2-1", "0-1"]
    store.close()


def test_before_an_unknown_or_not_yet_durable_id_is_not_found(store: Store) -> None:
    store.append([rec("a")])
    with pytest.raises(NotFound, match=r"before: no execution record 'nope-1'"):
        store.query(Filter(), 10, before="nope-1")
    store.write([rec("b", at=T0 + 1)])
    with pytest.raises(NotFound, match="'b-1'"):  # a record queries cannot see yet
        store.query(Filter(), 10, before="b-1")
    store.sync()
    assert ids(store.query(Filter(), 10, before="b-1")) == ["a-1"]


def test_get_unknown_names_the_id(store: Store) -> None:
    with pytest.raises(NotFound, match="'x-1'"):
        store.get("x-1")


def test_restart_rebuilds_index_and_idempotency(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    first = Store(root, segment_bytes=600)  # small segments: several files
    for i in range(20):  # a segment rotates between batches, never inside one
        first.append([rec(f"{i:04d}", at=T0 + i, status="ok" if i % 3 else "error")])
    before = first.query(Filter(), 100)
    first.close()
    assert len(segment_files(root)) > 1
    again = Store(root, segment_bytes=600)
    try:
        assert again.query(Filter(), 100) == before
        assert again.append([rec("0001"), rec("0020", at=T0 + 20)]) == [False, True]
        assert again.stats()["tenants"]["acme"]["counts"] == {"ok": 14, "error": 7}
    finally:
        again.close()


def test_torn_tail_is_cut_and_never_loaded(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    s = Store(root)
    s.append([rec("a"), rec("b")])
    s.close()
    (segment,) = segment_files(root)
    good = segment.stat().st_size
    with segment.open("ab") as f:  # a torn frame: a header promising more than is there
        f.write(b"\x40\x00\x00\x00\x12\x34\x56\x78partial")
    s = Store(root)
    try:
        assert segment.stat().st_size == good
        assert ids(s.query(Filter(), 10)) == ["b-1", "a-1"]
        s.append([rec("c", at=T0 + 1)])
    finally:
        s.close()
    s = Store(root)
    try:
        assert ids(s.query(Filter(), 10)) == ["c-1", "b-1", "a-1"]
    finally:
        s.close()


def test_garbage_in_a_sealed_segment_is_skipped_and_kept_for_inspection(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    s = Store(root, segment_bytes=1)  # one record per segment
    for event_id in "abc":
        s.append([rec(event_id)])
    s.close()
    _, second, _ = segment_files(root)
    second.write_bytes(b"garbage" + second.read_bytes())
    s = Store(root, segment_bytes=1)
    try:
        assert ids(s.query(Filter(), 10)) == ["c-1", "b-1", "a-1"]
        assert (s.stats()["damaged"], s.stats()["damaged_bytes"]) == (1, len(b"garbage"))
        assert second.read_bytes().startswith(b"garbage")  # kept for inspection, not cut
    finally:
        s.close()


def test_retention_drops_whole_old_segments(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    now = T0 + 10 * DAY
    s = Store(root, retention_days=7, segment_bytes=1)
    s.append([rec("old", at=T0)])
    s.append([rec("recent", at=now - DAY)])
    assert s.sweep(now) == 1
    assert ids(s.query(Filter(), 10)) == ["recent-1"]
    assert s.ok_ids(["old", "recent"]) == {"recent"}
    s.close()
    assert len(segment_files(root)) == 1
    s = Store(root, retention_days=7)
    try:
        assert ids(s.query(Filter(), 10)) == ["recent-1"]
    finally:
        s.close()


def test_stats_count_by_tenant_and_status_with_histogram(store: Store) -> None:
    store.append([rec("a", duration_ms=0.5), rec("b", duration_ms=7, status="trap"),
                  rec("c", tenant="beta", duration_ms=99999)])
    stats = store.stats()
    acme = stats["tenants"]["acme"]
    assert acme["counts"] == {"ok": 1, "trap": 1}
    buckets = dict(zip(stats["buckets_ms"], acme["duration_ms"]["buckets"], strict=True))
    assert (buckets[1], buckets[5], buckets[10], acme["duration_ms"]["count"]) == (1, 1, 2, 2)
    beta = stats["tenants"]["beta"]["duration_ms"]
    assert beta["buckets"][-1] == 0 and beta["count"] == 1  # only in +Inf
    assert stats["records"] == 3


def test_written_records_are_hidden_until_durable(store: Store) -> None:
    written = store.write([rec("a")])
    assert written.stored == [True] and store.durable < written.ticket
    assert store.query(Filter(), 10) == [] and store.ok_ids(["a"]) == {"a"}
    durable = store.sync()
    assert [record["id"] for _, record in durable] == ["a-1"]
    assert ids(store.query(Filter(), 10)) == ["a-1"]


def test_a_query_reply_stays_within_the_rpc_message_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "rec")
    store.append([rec(f"{i}", at=T0 + i, result="x" * 600) for i in range(5)])
    frame = store.stats()["bytes"] / 5  # the five frames are the same size
    monkeypatch.setattr("jobico.recorder.store.REPLY_MAX_BYTES", int(2.5 * frame))
    assert ids(store.query(Filter(), 10)) == ["4-1", "3-1"]
    monkeypatch.setattr("jobico.recorder.store.REPLY_MAX_BYTES", 1)
    assert ids(store.query(Filter(), 10)) == ["4-1"]  # never nothing
    store.close()


def test_a_value_msgpack_cannot_carry_is_refused_on_its_own(store: Store) -> None:
    written = store.write([rec("a"), rec("b", result=object())])
    assert written.stored == [True, False] and written.refused[0][0] == 1
    assert written.refused[0][1].startswith("record 1: ")
    assert store.ok_ids(["a", "b"]) == {"a"}
