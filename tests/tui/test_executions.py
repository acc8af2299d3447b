"""Executions: the recorder's search, older pages, and a tail that survives a recorder restart."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from textual.widgets import Input, Static

from jobico.errors import Unavailable
from jobico.recorder.records import iso_utc
from tests.tui.conftest import plain, running, settle
from tests.tui.fixed import FixedData, record, rid
from tui.screens import executions
from tui.tail import BACKLOG
from tui.times import epoch
from tui.widgets.live_table import LiveTable


def shown(app) -> list[str]:  # type: ignore[no-untyped-def]
    return app.screen.query_one("#records", LiveTable).keys


def state(app) -> str:  # type: ignore[no-untyped-def]
    return plain(app.screen.query_one("#tail-state", Static))


async def until(pilot, predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    try:
        async with asyncio.timeout(10):
            while not predicate():
                await pilot.pause(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.asyncio
async def test_slash_searches_the_recorder_not_the_rows_in_memory() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("slash", *"GLOBEX")
        await until(pilot, lambda: source.queries[-1][0].text == "GLOBEX", "the text query")
        await until(pilot, lambda: shown(app) == [rid(3), rid(6)], "globex's records")
        assert source.follows[-1][0].text == "GLOBEX"  # the live tail is searched too


@pytest.mark.asyncio
async def test_since_and_until_take_relative_or_iso_times_and_name_a_bad_one() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        before = time.time()
        app.screen.query_one("#since", Input).value = "15m"
        await until(pilot, lambda: source.queries[-1][0].since is not None, "a since query")
        since = epoch(source.queries[-1][0].since)
        assert before - 900 - 1 <= since <= time.time() - 900
        app.screen.query_one("#until", Input).value = "2025-01-02T03:04:05Z"
        await until(pilot, lambda: source.queries[-1][0].until == "2025-01-02T03:04:05.000000Z",
                    "an until query")
        assert "closed range" in state(app)  # a range that ended is not followed
        app.screen.query_one("#since", Input).value = "yesterday"
        await until(pilot, lambda: "since 'yesterday': expected an ISO 8601 time" in
                    plain(app.screen.query_one("#problem", Static)), "the problem line")


@pytest.mark.asyncio
async def test_b_pages_back_from_the_oldest_record_shown_until_all_are_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executions, "LIMIT", 3)
    monkeypatch.setattr(executions, "PAGE", 2)
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        assert shown(app) == [rid(6), rid(7), rid(8)] and "b loads older" in state(app)
        await pilot.press("b")
        await settle(pilot)
        filt, limit, before = source.queries[-1]
        assert before == rid(6) and limit == 2 and filt == app.screen.record_filter
        assert shown(app) == [rid(n) for n in range(4, 9)]
        for _ in range(3):
            await pilot.press("b")
            await settle(pilot)
        assert shown(app) == [rid(n) for n in range(1, 9)]
        assert "all loaded" in state(app)


@pytest.mark.asyncio
async def test_the_tail_reconnects_after_a_recorder_restart_missing_and_repeating_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executions, "backoff", lambda attempt: 0.3)
    now = time.time()
    source = FixedData()

    def fresh(n: int) -> object:
        return replace(record(n), started_at=iso_utc(now + n / 1000))

    async with running(source) as (app, pilot):
        await pilot.press("e")
        await until(pilot, lambda: "live" in state(app), "the tail to go live")
        source.live.put_nowait(fresh(50))
        await until(pilot, lambda: rid(50) in shown(app), "a live record")
        source.live.put_nowait(Unavailable("recorder went away while following records"))
        await until(pilot, lambda: "reconnecting" in state(app), "the reconnecting state")
        assert "recorder went away" in plain(app.screen.query_one("#problem", Static))
        source.records += [fresh(51), fresh(52)]  # stored while the stream was down
        await until(pilot, lambda: "live" in state(app), "the tail to resume")
        await until(pilot, lambda: rid(52) in shown(app), "the records stored meanwhile")
        source.live.put_nowait(fresh(53))
        await until(pilot, lambda: rid(53) in shown(app), "a live record after the restart")
        assert shown(app) == [rid(n) for n in range(1, 9)] + [rid(50), rid(51), rid(52), rid(53)]
        assert [r.id for r in app.screen.records] == shown(app)  # each record once
        resumed, backlog = source.follows[-1]
        assert backlog == BACKLOG and epoch(resumed.since) <= now + 0.05  # reaches back
        assert not plain(app.screen.query_one("#problem", Static)).strip()
