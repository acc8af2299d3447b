from __future__ import annotations

from dataclasses import replace

from jobico.recorder.records import iso_utc
from tests.tui.fixed import record
from tui.source import Record, RecordFilter
from tui.tail import BACKOFF_S, TailCursor, backoff
from tui.times import epoch

T0 = 1_735_787_045.0


def at(n: int, started: float) -> Record:
    return replace(record(n), started_at=iso_utc(started))


def test_each_record_is_fresh_once() -> None:
    cursor = TailCursor(T0)
    assert cursor.fresh(at(1, T0)) and not cursor.fresh(at(1, T0))


def test_resume_reaches_the_margin_before_the_newest_start_seen() -> None:
    cursor = TailCursor(T0, margin_s=60)
    assert epoch(cursor.resume(RecordFilter()).since) == T0 - 60  # nothing seen: from opening
    cursor.fresh(at(1, T0 + 100))
    resumed = cursor.resume(RecordFilter(tenant="acme"))
    assert resumed.tenant == "acme" and epoch(resumed.since) == T0 + 40


def test_a_filter_that_starts_later_keeps_its_own_since() -> None:
    cursor = TailCursor(T0, margin_s=60)
    own = RecordFilter(since=iso_utc(T0 + 10))
    assert cursor.resume(own) is own


def test_a_resumed_backlog_drops_what_was_shown_and_keeps_runs_that_ended_meanwhile() -> None:
    cursor = TailCursor(T0, margin_s=60)
    shown = [at(n, T0 + n) for n in range(1, 6)]
    assert all(cursor.fresh(r) for r in shown)
    since = epoch(cursor.resume(RecordFilter()).since)
    long_run = at(9, T0 + 2.5)  # started before the last one shown, stored after the break
    backlog = [r for r in [*shown, long_run, at(6, T0 + 6)] if epoch(r.started_at) >= since]
    assert [r.id for r in backlog if cursor.fresh(r)] == [long_run.id, at(6, 0).id]


def test_memory_is_bounded_and_the_resume_point_moves_up_instead_of_repeating() -> None:
    cursor = TailCursor(T0, margin_s=3600, keep=3)
    for n in range(1, 6):
        cursor.fresh(at(n, T0 + n))
    since = epoch(cursor.resume(RecordFilter()).since)
    assert since == T0 + 3  # ids of runs 1 and 2 were forgotten: resume after them
    assert not cursor.fresh(at(3, T0 + 3))


def test_backoff_grows_then_stays_at_its_ceiling() -> None:
    assert [backoff(n) for n in range(1, 8)] == [*BACKOFF_S, BACKOFF_S[-1], BACKOFF_S[-1]]

