"""``--before`` and ``--all`` paging against the real recorder store (its query, its order)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobico.cli.paging import MAX_PAGE, pages
from jobico.errors import NotFound
from jobico.recorder.api import EVERY, Query, Record
from jobico.recorder.records import Filter, iso_utc, parse_time
from jobico.recorder.store import Store

T0 = 1_760_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "recorder")
    yield s
    s.close()


def record(n: int, started: float, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"ev{n:06d}", "attempt": 1, "tenant": extra.pop("tenant", "acme"),
            "event": "signup", "status": extra.pop("status", "ok"), "started_at": iso_utc(started),
            **extra}


def query_of(store: Store, calls: list[Query] | None = None) -> Any:
    def query(request: Query) -> list[Record]:
        if calls is not None:
            calls.append(request)
        assert 1 <= request.limit <= MAX_PAGE  # what the recorder accepts
        return [Record.of(r) for r in store.query(request.where, request.limit, request.before)]
    return query


def stored(store: Store, where: Filter = EVERY, limit: int = 1000) -> list[Record]:
    """What one query of the recorder answers."""
    return [Record.of(r) for r in store.query(where, limit)]


def ids(records: Iterable[Record]) -> list[str]:
    return [r.id for r in records]


def test_pages_walk_every_record_once_in_the_recorders_order(store: Store) -> None:
    # 5 records per microsecond: pages must cut inside a run of equal start times
    store.append([record(n, T0 + (n // 5) * 1e-6 * 7) for n in range(53)])
    everything = stored(store)
    walked = list(pages(query_of(store), Query(), None, page=4))
    assert ids(walked) == ids(everything)
    assert len(walked) == 53


def test_before_continues_exactly_after_the_anchor(store: Store) -> None:
    store.append([record(n, T0 + (n // 3)) for n in range(30)])  # ties of three at each second
    everything = stored(store)
    for cut in (0, 1, 2, 3, 10, 28):
        anchor = everything[cut]
        got = list(pages(query_of(store), Query(before=anchor.id), 5))
        assert ids(got) == ids(everything[cut + 1:cut + 6])
    assert list(pages(query_of(store), Query(before=everything[-1].id), 5)) == []


def test_before_keeps_the_filters_and_the_users_until(store: Store) -> None:
    store.append([record(n, T0 + n, status="error" if n % 2 else "ok") for n in range(20)])
    errors = stored(store, Filter(statuses=frozenset({"error"})), 100)
    wanted = Filter(statuses=frozenset({"error"}), until=T0 + 9)
    got = list(pages(query_of(store), Query(wanted, before=errors[0].id), None, page=2))
    assert ids(got) == ids(r for r in errors if T0 + 1 <= _t(r) < T0 + 9)


def test_an_anchor_outside_the_filters_pages_from_its_time(store: Store) -> None:
    store.append([record(n, T0 + n, tenant="acme" if n % 2 else "beta") for n in range(10)])
    beta_anchor = stored(store, Filter(tenant="beta"), 1)[0]  # started T0 + 8
    got = list(pages(query_of(store), Query(Filter(tenant="acme"), before=beta_anchor.id), 10))
    assert [_t(r) - T0 for r in got] == [7, 5, 3, 1]


def test_before_an_id_the_recorder_does_not_keep_names_the_flag(store: Store) -> None:
    store.append([record(1, T0)])
    with pytest.raises(NotFound, match=r"--before 'ev999999-1': no execution with that id"):
        list(pages(query_of(store), Query(before="ev999999-1"), 10))


def test_all_holds_one_page_at_a_time(store: Store) -> None:
    store.append([record(n, T0 + n * 0.001) for n in range(2_500)])
    calls: list[Query] = []
    stream = pages(query_of(store, calls), Query(), None, page=1000)
    first = next(stream)
    assert len(calls) == 1 and calls[0].limit == 1000  # nothing asked beyond the first page
    assert first.id == "ev002499-1"
    assert 1 + sum(1 for _ in stream) == 2_500
    assert all(c.limit <= 1000 for c in calls)
    assert [c.before for c in calls[1:]] == ["ev001500-1", "ev000500-1", "ev000000-1"]


def test_limit_over_the_recorders_cap_is_paged(store: Store) -> None:
    store.append([record(n, T0 + n * 0.001) for n in range(MAX_PAGE + 50)])
    calls: list[Query] = []
    got = list(pages(query_of(store, calls), Query(), MAX_PAGE + 20, page=MAX_PAGE))
    assert len(got) == MAX_PAGE + 20 and len(set(ids(got))) == MAX_PAGE + 20
    assert len(calls) == 2


def _t(r: Record) -> float:
    return round(parse_time(r.started_at, "started_at"), 6)



def test_more_records_in_one_microsecond_than_a_query_returns_are_paged(store: Store) -> None:
    """A burst stored with one start time (an import, a clock that stalled) is no wall:
    paging continues after an id, not after a time."""
    store.append([record(n, T0) for n in range(MAX_PAGE + 50)])
    walked = ids(pages(query_of(store), Query(), None, page=MAX_PAGE))
    assert walked == [f"ev{n:06d}-1" for n in reversed(range(MAX_PAGE + 50))]
