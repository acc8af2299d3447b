"""Key bindings and flows of the dashboard, driven with Pilot over FixedData."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static, TextArea

from tests.tui.conftest import plain, running, settle
from tests.tui.fixed import FixedData, record, rid
from tui.screens import executions, offline
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.offline import OfflineScreen
from tui.screens.record import RecordScreen
from tui.screens.send import SendScreen
from tui.widgets.live_table import LiveTable


def keys(app, table_id: str) -> list[str]:
    return app.screen.query_one(f"#{table_id}", LiveTable).keys


@pytest.mark.asyncio
async def test_mode_keys_switch_screens_and_help_opens_and_closes() -> None:
    async with running() as (app, pilot):
        for key, mode in (("t", "tenants"), ("e", "executions"), ("d", "dead"), ("o", "overview")):
            await pilot.press(key)
            assert app.current_mode == mode
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.asyncio
async def test_slash_filters_the_list_and_escape_restores_it() -> None:
    async with running() as (app, pilot):
        await pilot.press("d")
        await settle(pilot)
        assert len(keys(app, "dead")) == 2
        await pilot.press("slash", *"globex")
        await settle(pilot)
        assert keys(app, "dead") == ["000000000000000b"]
        await pilot.press("escape")
        await settle(pilot)
        assert len(keys(app, "dead")) == 2


@pytest.mark.asyncio
async def test_replay_and_purge_act_only_after_yes() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert source.calls == []
        await pilot.press("r", "y")
        await settle(pilot)
        assert source.calls == [("replay", ["000000000000000a"])]
        await pilot.press("X", "y")
        await settle(pilot)
        assert source.calls[-1] == ("purge", ["000000000000000a", "000000000000000b"])
        assert keys(app, "dead") == []


@pytest.mark.asyncio
async def test_restart_asks_first_and_pause_toggles_the_tenant_queue() -> None:
    source = FixedData()
    async with running(source) as (_, pilot):
        await pilot.press("R", "y")
        await settle(pilot)
        assert ("restart", "ctl") in source.calls
        await pilot.press("tab", "p")  # focus the tenants table: acme is running
        await settle(pilot)
        await pilot.press("down", "p")  # globex is paused
        await settle(pilot)
        assert [c for c in source.calls if c[0] in ("pause", "resume")] == [
            ("pause", "acme"), ("resume", "globex")]


async def open_send(app, pilot, target: str, text: str) -> SendScreen:
    await pilot.press("s")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SendScreen)
    screen.query_one("#target", Select).value = target
    await settle(pilot)
    screen.query_one("#editor", TextArea).text = text
    await settle(pilot)
    return screen


@pytest.mark.asyncio
async def test_send_refuses_an_item_that_breaks_the_schema_and_says_where() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        screen = await open_send(app, pilot, "acme/signup", '{"age": "old"}')
        await pilot.press("ctrl+s")
        await settle(pilot)
        problems = plain(screen.query_one("#problems", Static))
        assert "/age" in problems and "name" in problems
        assert source.calls == []
        assert app.screen is screen


@pytest.mark.asyncio
async def test_send_posts_a_valid_item_and_closes() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await open_send(app, pilot, "acme/signup", '{"name": "ada", "age": 36}')
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert source.calls == [("send", ("acme", "signup", {"name": "ada", "age": 36}))]
        assert not isinstance(app.screen, SendScreen)


@pytest.mark.asyncio
async def test_upload_by_path_goes_to_the_chosen_tenant(tmp_path: Path) -> None:
    source = FixedData()
    package = tmp_path / "orders.toml"
    package.write_text("[[jobs]]\n")
    async with running(source) as (app, pilot):
        await pilot.press("u")
        await settle(pilot)
        app.screen.query_one("#tenant", Select).value = "globex"
        app.screen.query_one("#path", Input).value = str(package)
        await pilot.click("#path")
        await pilot.press("enter")
        await settle(pilot)
        assert source.calls == [("upload", ("globex", package))]


@pytest.mark.asyncio
async def test_tail_follows_pauses_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executions, "LIMIT", 10)
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        table = app.screen.query_one("#records", LiveTable)
        assert len(table.keys) == 8
        source.live.put_nowait(record(50))
        await settle(pilot)
        assert table.keys[-1] == rid(50) and table.cursor_row == table.row_count - 1
        await pilot.press("space")
        source.live.put_nowait(record(51))
        await settle(pilot)
        assert rid(51) not in table.keys
        assert "1 new" in plain(app.screen.query_one("#tail-state", Static))
        await pilot.press("space")
        await settle(pilot)
        assert table.keys[-1] == rid(51)
        for n in range(60, 80):
            source.live.put_nowait(record(n))
        await settle(pilot)
        assert len(table.keys) == 10 and table.keys[-1] == rid(79)


@pytest.mark.asyncio
async def test_enter_opens_the_record_with_logs_and_attempts() -> None:
    async with running() as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        assert screen.query_one("#logs", LiveTable).row_count == 3
        assert screen.query_one("#attempts", LiveTable).keys == [rid(8)]
        await pilot.press("slash", *"mail")
        await settle(pilot)
        assert screen.query_one("#logs", LiveTable).row_count == 1
        await pilot.press("escape", "escape")
        assert app.screen.__class__.__name__ == "ExecutionsScreen"


@pytest.mark.asyncio
async def test_tenants_tree_shows_load_errors_with_file_and_reason() -> None:
    async with running() as (app, pilot):
        await pilot.press("t")
        await settle(pilot)
        await pilot.press(*["down"] * 5)  # acme, signup, signup, welcome, billing
        await settle(pilot)
        detail = plain(app.screen.query_one("#detail", Static))
        assert "billing.toml:7: unknown key 'retries'" in detail


@pytest.mark.asyncio
async def test_nothing_running_names_the_home_and_recovers_when_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offline, "RETRY_S", 0.05)
    source = FixedData(Path("/tmp/some-home"), offline=True)
    async with running(source) as (app, pilot):
        assert isinstance(app.screen, OfflineScreen)
        message = plain(app.screen.query_one("#offline-message", Static))
        assert "/tmp/some-home" in message and "jobico up" in message
        await pilot.press("d")
        assert isinstance(app.screen, OfflineScreen)
        source.offline = False
        await pilot.pause(0.3)
        assert not isinstance(app.screen, OfflineScreen)
