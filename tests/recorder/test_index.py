from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobico.recorder.index import Entry, Index
from jobico.recorder.records import Filter, normalize
from tests.recorder.conftest import T0, rec


def index_of(*raws: dict) -> Index:
    index = Index()
    for seq, raw in enumerate(raws, start=1):
        record, started = normalize(raw, 0, now=T0)
        assert index.admits(record)
        entry = Entry.of(record, started, seq, 1, 0, 0)
        index.add(entry)
        index.place([entry])
    return index


def ids(entries: list[Entry]) -> list[str]:
    return [e.id for e in entries]


def test_newest_first_whatever_the_arrival_order() -> None:
    index = index_of(rec("b", at=T0 + 2), rec("a", at=T0 + 1), rec("c", at=T0 + 3))
    assert ids(index.query(Filter(), 10)) == ["c-1", "b-1", "a-1"]
    assert ids(index.query(Filter(), 2)) == ["c-1", "b-1"]


def test_filters_combine() -> None:
    index = index_of(
        rec("a", at=T0 + 1, tenant="acme", event="signup"),
        rec("b", at=T0 + 2, tenant="acme", event="signup", status="trap", reason="oob"),
        rec("c", at=T0 + 3, tenant="beta", event="signup", status="trap"),
        rec("d", at=T0 + 4, tenant="acme", event="order", status="error"),
    )
    assert ids(index.query(Filter(tenant="acme"), 10)) == ["d-1", "b-1", "a-1"]
    assert ids(index.query(Filter(event="signup", statuses=frozenset({"trap"})), 10)) == [
        "c-1", "b-1"]
    assert ids(index.query(Filter(statuses=frozenset({"ok", "error"})), 10)) == ["d-1", "a-1"]
    assert ids(index.query(Filter(since=T0 + 2, until=T0 + 4), 10)) == ["c-1", "b-1"]
    assert ids(index.query(Filter(text="OOB"), 10)) == ["b-1"]
    assert ids(index.query(Filter(tenant="nobody"), 10)) == []


def test_entries_past_max_seq_are_hidden() -> None:
    index = index_of(rec("a"), rec("b"))
    assert ids(index.query(Filter(), 10, max_seq=1)) == ["a-1"]


def test_idempotency_rules() -> None:
    index = index_of(rec("e", 1, "error"), rec("e", 2, "ok"))
    record = normalize(rec("e", 1, "trap"), 0, T0)[0]
    assert not index.admits(record)  # same (event id, attempt)
    assert not index.admits(normalize(rec("e", 3, "ok"), 0, T0)[0])  # second ok
    assert index.admits(normalize(rec("e", 3, "error"), 0, T0)[0])  # a later failure is a run
    assert not index.admits(normalize(rec("f", id="e-2"), 0, T0)[0])  # same record id
    assert index.ok_ids(["e", "f"]) == {"e"}
    assert [e.attempt for e in index.attempts("e")] == [1, 2]


def test_discard_forgets_everything_about_an_entry() -> None:
    index = index_of(rec("a", at=T0 + 1), rec("b", at=T0 + 2))
    removed = index.discard(lambda e: e.event_id == "b")
    assert ids(removed) == ["b-1"]
    assert ids(index.query(Filter(tenant="acme"), 10)) == ["a-1"]
    assert index.get("b-1") is None and index.ok_ids(["b"]) == set()
    assert index.admits(normalize(rec("b"), 0, T0)[0])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # _TAIL is set per example
@given(batches=st.lists(st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["acme", "beta"]),
                                           st.sampled_from(["ok", "trap"])),
                                 min_size=1, max_size=8), min_size=1, max_size=12),
       tail=st.sampled_from([1, 4096]))
def test_batches_out_of_start_order_query_newest_first(
        batches: list[list[tuple[int, str, str]]], tail: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs end in another order than they start: however batches overlap in time
    (and when a batch lands far back, ``tail=1``), every filter walks newest first."""
    monkeypatch.setattr("jobico.recorder.index._TAIL", tail)
    index, everything, seq = Index(), [], 0
    for batch in batches:
        placed = []
        for at, tenant, status in batch:
            seq += 1
            record, started = normalize(rec(f"{seq}", at=T0 + at, tenant=tenant, status=status), 0, T0)
            entry = Entry.of(record, started, seq, 1, 0, 0)
            index.add(entry)
            placed.append(entry)
        index.place(placed)
        everything += placed
    newest_first = sorted(everything, key=lambda e: (e.started, e.seq), reverse=True)
    for where in (Filter(), Filter(tenant="beta"), Filter(statuses=frozenset({"trap"})),
                  Filter(event="signup", since=T0 + 10, until=T0 + 40)):
        matching = [e for e in newest_first if where.matches(e)]
        assert ids(index.query(where, 1000)) == ids(matching)
        assert ids(pages_of(index, where, 3)) == ids(matching)  # many start at the same second
        for anchor in newest_first[::7]:  # any record, matching or not, is a place to resume
            after = newest_first[newest_first.index(anchor) + 1:]
            assert ids(index.query(where, 1000, before=anchor)) == ids(
                [e for e in after if where.matches(e)])


def pages_of(index: Index, where: Filter, size: int) -> list[Entry]:
    """Every match, a page of ``size`` at a time, each continuing after the last of the one before."""
    walked = index.query(where, size)
    while walked and (page := index.query(where, size, before=walked[-1])):
        walked += page
    return walked


def test_before_cuts_through_records_started_in_the_same_microsecond() -> None:
    index = index_of(*(rec(f"{n:02d}", at=T0 + 0.000001 * (n // 4)) for n in range(10)))
    everything = index.query(Filter(), 100)
    assert ids(everything) == [f"{n:02d}-1" for n in (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)]
    assert ids(pages_of(index, Filter(), 3)) == ids(everything)
    anchor = index.get("05-1")
    assert ids(index.query(Filter(), 2, before=anchor)) == ["04-1", "03-1"]  # 04 shares its time
    assert index.query(Filter(), 5, before=index.get("00-1")) == []


def test_before_an_anchor_the_filter_leaves_out() -> None:
    index = index_of(*(rec(f"{n}", at=T0 + n // 2, tenant="acme" if n % 3 else "beta")
                       for n in range(9)))
    anchor = index.get("6-1")  # beta, started with 7
    assert anchor is not None and anchor.tenant == "beta"
    assert ids(index.query(Filter(tenant="acme"), 10, before=anchor)) == ["5-1", "4-1", "2-1", "1-1"]
    assert ids(index.query(Filter(tenant="acme", until=T0 + 2), 10, before=anchor)) == ["2-1", "1-1"]
    assert ids(index.query(Filter(tenant="acme", since=T0 + 2), 10, before=anchor)) == ["5-1", "4-1"]
