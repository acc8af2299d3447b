"""Dead-letter detail, record replay and copy, the upload verdict, the log pane, with Pilot."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input, Log, Select, Static

from tests.tui.conftest import plain, running, settle
from tests.tui.fixed import DEAD, FixedData, rid
from tui.screens import logs
from tui.screens.confirm import ConfirmScreen
from tui.screens.dead_letter import DeadLetterScreen
from tui.screens.logs import KEEP_LINES, LogScreen
from tui.screens.record import RecordScreen
from tui.screens.upload import UploadScreen
from tui.source import LoadError
from tui.widgets.live_table import LiveTable
from tui.widgets.trend import Trend


async def until(pilot, predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    try:
        async with asyncio.timeout(10):
            while not predicate():
                await pilot.pause(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.asyncio
async def test_enter_on_a_dead_letter_shows_its_full_body_and_every_attempt() -> None:
    source = FixedData()
    long_body = '{"name": "' + "x" * 300 + '"}'
    source.dead_letters[0] = replace(DEAD[0], body=long_body)
    async with running(source) as (app, pilot):
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeadLetterScreen)
        assert "trap: unreachable" in plain(screen.query_one("#summary", Static))
        assert plain(screen.query_one("#body", Static)).count("x") >= 300  # not cut at 60
        assert screen.query_one("#attempts", LiveTable).keys == [
            "000000000000000a-1", "000000000000000a-2", "000000000000000a-3"]
        await pilot.press("enter")  # an attempt opens its record
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)


@pytest.mark.asyncio
async def test_replay_and_purge_from_the_dead_letter_ask_then_go_back_to_the_list() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("d", "enter")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert source.calls == [] and isinstance(app.screen, DeadLetterScreen)
        await pilot.press("r", "y")
        await settle(pilot)
        assert source.calls == [("replay", ["000000000000000a"])]
        assert app.screen.__class__.__name__ == "DeadScreen"
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("x", "y")
        await settle(pilot)
        assert source.calls[-1] == ("purge", ["000000000000000b"])
        await until(pilot, lambda: app.screen.query_one("#dead", LiveTable).keys ==
                    ["000000000000000a"], "the purged letter to leave the list")


@pytest.mark.asyncio
async def test_a_record_replays_only_a_dead_lettered_event_and_says_why_not_otherwise() -> None:
    source = FixedData()
    async with running(source) as (app, pilot):
        await pilot.press("e", "enter")  # the newest record: not dead-lettered
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)
        await pilot.press("r")
        await settle(pilot)
        assert source.calls == [] and not isinstance(app.screen, ConfirmScreen)
        assert any("is not dead-lettered" in n.message for n in app._notifications)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("d", "enter")  # a dead letter, then its last attempt's record
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)
        await pilot.press("r", "y")
        await settle(pilot)
        assert source.calls == [("replay", ["000000000000000a"])]


@pytest.mark.asyncio
async def test_c_and_shift_c_copy_the_record_id_and_the_event_id() -> None:
    async with running() as (app, pilot):
        await pilot.press("e", "enter")
        await settle(pilot)
        await pilot.press("c")
        assert app.clipboard == rid(8)
        await pilot.press("C")
        assert app.clipboard == f"{8:016x}"


async def upload(app, pilot, source: FixedData, path: Path) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("u")
    await settle(pilot)
    app.screen.query_one("#tenant", Select).value = "acme"
    app.screen.query_one("#path", Input).value = str(path)
    await pilot.click("#path")
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.asyncio
async def test_an_upload_shows_ctls_load_error_and_stays_open_to_try_again(tmp_path: Path) -> None:
    source = FixedData()
    source.load_errors = (LoadError("billing.toml", "unknown key 'retries' in [[jobs]]", 7),)
    package = tmp_path / "billing.toml"
    package.write_text("[[jobs]]\nretries = 3\n")
    async with running(source) as (app, pilot):
        await upload(app, pilot, source, package)
        assert isinstance(app.screen, UploadScreen)
        verdict = plain(app.screen.query_one("#verdict", Static))
        assert "ctl did not load it" in verdict and "billing.toml:7: unknown key" in verdict
        source.load_errors = ()
        await pilot.click("#upload")
        await settle(pilot)
        assert not isinstance(app.screen, UploadScreen)
        assert any("loaded by ctl" in n.message for n in app._notifications)


@pytest.mark.asyncio
async def test_l_follows_the_components_log_bounded_and_across_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "POLL_S", 0.02)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "ctl.log").write_text("".join(f"start {n}\n" for n in range(3000)))

    class Home(FixedData):
        def log_file(self, component: str) -> Path:
            return log_dir / f"{component}.log"

    async with running(Home()) as (app, pilot):
        await pilot.press("l")  # ctl is highlighted
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LogScreen) and screen.component == "ctl"
        log = screen.query_one("#log", Log)
        await until(pilot, lambda: "start 2999" in screen.lines, "the last line")
        assert len(screen.lines) == KEEP_LINES and log.line_count <= KEEP_LINES
        (log_dir / "ctl.log").rename(log_dir / "ctl.log.1")
        (log_dir / "ctl.log").write_text("after rotation\n")
        await until(pilot, lambda: screen.lines[-1] == "after rotation", "the new file")
        await pilot.press("slash", *"rotation")
        await settle(pilot)
        assert log.lines == ["after rotation"]


@pytest.mark.asyncio
async def test_overview_draws_the_trends_it_is_given() -> None:
    async with running() as (app, pilot):
        await until(pilot, lambda: app.screen.query_one("#trend-e2e", Trend).points != (),
                    "the trends")
        e2e = app.screen.query_one("#trend-e2e", Trend)
        assert len(e2e.points) == 60
        assert plain(e2e.query_one(".trend-last", Static)).strip() == "65.0 ms"
