"""Issue 13 item 15: the dashboard shows guests' and senders' text as text.

DataTable cells and Statics read a ``str`` as Rich markup: a result ``[/]`` raised
and a control character would reach the terminal. Records and dead letters whose
every guest- or sender-controlled field is hostile are rendered with Pilot.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Static

from tests.cli.test_hostile_output import HOSTILE, RAW, SHOWN
from tests.tui.conftest import plain, running, settle
from tests.tui.fixed import FixedData, record
from tui.screens.record import RecordScreen
from tui.source import DeadLetter, LogLine, Record, RecordFilter
from tui.widgets.live_table import LiveTable

RECORDS = [replace(record(n + 1, "error"), event=text, package=text, reason=text, result=text,
                   logs=(LogLine("info", text, "2025-01-02T03:04:05Z"),))
           for n, text in enumerate(HOSTILE)]
JSON_RESULT = replace(RECORDS[0], id="r0100", result='{"a": "' + "\u009b31m" + '"}')


class HostileData(FixedData):
    async def executions(self, filt: RecordFilter, limit: int) -> list[Record]:
        return [*RECORDS, JSON_RESULT]

    async def record(self, record_id: str) -> Record:
        return next(r for r in (*RECORDS, JSON_RESULT) if r.id == record_id)

    async def attempts(self, event_id: str) -> list[Record]:
        return [next(r for r in RECORDS if r.event_id == event_id)]

    async def dead(self, tenant: str | None = None) -> list[DeadLetter]:
        return [DeadLetter(f"{n:016x}", "acme", "signup", 3, text, text) for n, text in enumerate(HOSTILE)]


def cells(table: LiveTable) -> str:
    return "\n".join(" ".join(str(c) for c in table.get_row(key)) for key in table.keys)


def assert_escaped(text: str, shown: list[str]) -> None:
    for raw in RAW:
        assert raw not in text, text
    for expected in shown:
        assert expected in text, text


@pytest.mark.asyncio
async def test_executions_and_record_screens_show_hostile_text_escaped() -> None:
    async with running(HostileData()) as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        table = app.screen.query_one("#records", LiveTable)
        assert_escaped(cells(table), SHOWN)  # the event column
        for key in table.keys:
            table.move_cursor(row=table.get_row_index(key))
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, RecordScreen)
            shown = SHOWN[HOSTILE.index(screen.record.reason)]
            assert_escaped(plain(screen.query_one("#summary", Static)), [f"reason: {shown}"])
            assert_escaped(plain(screen.query_one("#result", Static)),
                           ["\\x9b31m" if key == JSON_RESULT.id else shown])
            assert_escaped(cells(screen.query_one("#logs", LiveTable)), [shown])
            assert_escaped(cells(screen.query_one("#attempts", LiveTable)), [shown])
            await pilot.press("escape")
            await settle(pilot)


@pytest.mark.asyncio
async def test_dead_letters_screen_shows_hostile_reasons_and_bodies_escaped() -> None:
    async with running(HostileData()) as (app, pilot):
        await pilot.press("d")
        await settle(pilot)
        assert_escaped(cells(app.screen.query_one("#dead", LiveTable)), SHOWN)
