"""The `:` palette: jumps (tenant, event, execution id, event id) and actions, with Pilot."""

from __future__ import annotations

import asyncio

import pytest
from textual.command import CommandInput, CommandList, CommandPalette
from textual.widgets import Tree

from tests.tui.conftest import running, settle
from tests.tui.fixed import FixedData, rid
from tui.screens.confirm import ConfirmScreen
from tui.screens.dead_letter import DeadLetterScreen
from tui.screens.executions import ExecutionsScreen
from tui.screens.record import RecordScreen
from tui.screens.tenants import TenantsScreen


async def choose(app, pilot, query: str, prompt: str) -> None:  # type: ignore[no-untyped-def]
    """Open the palette, type ``query``, wait for the hit starting with ``prompt``, run it."""
    await pilot.press("colon")
    await settle(pilot)
    assert isinstance(app.screen, CommandPalette)
    app.screen.query_one(CommandInput).value = query  # as typed, without a search per key
    async with asyncio.timeout(10):  # until the hits are in and stay put (providers stream them)
        before: list[str] = []
        while True:
            options = app.screen.query_one(CommandList)
            texts = [str(options.get_option_at_index(i).hit.text)
                     for i in range(options.option_count)]
            index = next((i for i, t in enumerate(texts) if t.startswith(prompt)), None)
            if index is not None and texts == before:
                break
            before = texts
            await pilot.pause(0.1)
    highlighted = options.highlighted
    for _ in range(index + 1 if highlighted is None else index - highlighted):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)


def cursor_label(app) -> str:  # type: ignore[no-untyped-def]
    node = app.screen.query_one("#tree", Tree).cursor_node
    return str(node.label) if node else ""


@pytest.mark.asyncio
async def test_colon_jumps_to_a_tenant_and_to_an_event() -> None:
    async with running() as (app, pilot):
        await choose(app, pilot, "globex", "Tenant globex")
        assert isinstance(app.screen, TenantsScreen) and cursor_label(app) == "globex"
        await choose(app, pilot, "acme/welcome", "Event acme/welcome")
        await settle(pilot)
        assert cursor_label(app) == "welcome"
        await choose(app, pilot, "go to dead", "Go to Dead letters")
        assert app.current_mode == "dead"
        await choose(app, pilot, "logs of recorder", "Logs of recorder")
        assert app.screen.__class__.__name__ == "LogScreen" and app.screen.component == "recorder"


@pytest.mark.asyncio
async def test_an_execution_id_or_an_event_id_opens_its_record_through_the_recorder() -> None:
    async with running() as (app, pilot):
        await choose(app, pilot, rid(3), "Execution")
        assert isinstance(app.screen, RecordScreen) and app.screen.record.id == rid(3)
        await pilot.press("escape")
        await choose(app, pilot, f"{5:016x}", f"Event {5:016x}")
        assert isinstance(app.screen, RecordScreen) and app.screen.record.id == rid(5)
        await pilot.press("escape")
        await choose(app, pilot, "000000000000000b", "Dead letter 000000000000000b")
        assert isinstance(app.screen, DeadLetterScreen)


@pytest.mark.asyncio
async def test_an_unknown_id_finds_nothing_but_a_search() -> None:
    async with running() as (app, pilot):
        await pilot.press("colon")
        await settle(pilot)
        app.screen.query_one(CommandInput).value = f"{999:016x}"
        await pilot.pause(0.3)
        options = app.screen.query_one(CommandList)
        texts = [str(options.get_option_at_index(i).hit.text) for i in range(options.option_count)]
        assert texts == [f"Search executions for '{999:016x}'"]


@pytest.mark.asyncio
async def test_actions_run_from_the_palette_and_ask_first_where_they_cannot_be_undone() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await choose(app, pilot, "restart queue", "Restart queue")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        await choose(app, pilot, "pause tenant acme", "Pause tenant acme")
        await choose(app, pilot, "resume tenant globex", "Resume tenant globex")
        await choose(app, pilot, "replay dead letter 000000000000000a", "Replay dead letter")
        await pilot.press("y")
        await settle(pilot)
        await choose(app, pilot, "purge every dead letter of globex", "Purge every dead letter")
        await pilot.press("y")
        await settle(pilot)
        assert source.calls == [("restart", "queue"), ("pause", "acme"), ("resume", "globex"),
                                ("replay", ["000000000000000a"]),
                                ("purge", ["000000000000000b"])]


@pytest.mark.asyncio
async def test_any_text_can_be_searched_for_in_the_executions() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await choose(app, pilot, "guest returned", "Search executions")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExecutionsScreen)
        assert source.queries[-1][0].text == "guest returned"
        assert sorted(app.screen.query_one("#records").keys) == [rid(4), rid(8)]  # the errors
