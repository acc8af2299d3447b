"""The dashboard against a real `jobico up` on a temporary home made by `jobico init`."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from textual.command import CommandInput, CommandList

from jobico.recorder.records import iso_utc
from tests.e2e.platform import Platform
from tests.tui.conftest import SIZE, settle
from tui.app import JobicoApp
from tui.widgets.live_table import LiveTable
from tui.widgets.trend import Trend

pytestmark = pytest.mark.e2e
TEMPLATE = Path(__file__).resolve().parents[2] / "jobico" / "templates" / "home" / "tenants"


@pytest.fixture
def running(tmp_path: Path):  # type: ignore[no-untyped-def]
    platform = Platform(tmp_path / "home")
    shutil.copytree(TEMPLATE, platform.root / "tenants", dirs_exist_ok=True)
    platform.start()
    yield platform
    platform.stop()


async def _until(pilot, predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(30):
        while not predicate():
            await pilot.pause(0.2)


@pytest.mark.asyncio
async def test_dashboard_watches_and_operates_a_running_home(running: Platform) -> None:
    from tui.client import PlatformClient

    app = JobicoApp(PlatformClient(running.root))
    async with asyncio.timeout(90), app.run_test(size=SIZE) as pilot:
        def table(name: str) -> LiveTable:
            return app.screen.query_one(name, LiveTable)

        await _until(pilot, lambda: table("#components").row_count == 6, "six components")
        assert "listener" in table("#components").keys

        await pilot.press("t")
        await _until(pilot, lambda: bool(app.screen.query("#tree").first().root.children), "tenants")
        await settle(pilot)
        assert str(app.screen.query_one("#tree").root.children[0].label) == "hello"

        ids = await app.source.send("hello", "greet", {"name": "Pilot", "n": 7})
        await pilot.press("e")
        await _until(pilot, lambda: f"{ids[0]}-1" in table("#records").keys, "the sent event's record")


async def _wait(pilot, predicate, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await pilot.pause(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.mark.asyncio
async def test_dashboard_everyday_use_on_a_running_home(running: Platform, tmp_path: Path) -> None:
    """Issue 16 on a real home: ctl's verdict on uploads, the log pane, the palette's id
    lookup, the recorder's search, the p99 sparkline, and a tail that outlives a
    recorder restart."""
    from tui.client import PlatformClient
    from tui.screens.logs import LogScreen
    from tui.screens.record import RecordScreen

    app = JobicoApp(PlatformClient(running.root))
    async with asyncio.timeout(150), app.run_test(size=SIZE) as pilot:
        source = app.source
        await _wait(pilot, lambda: app.screen.query_one("#components", LiveTable).row_count == 6,
                    "six components")

        broken = tmp_path / "broken.toml"
        broken.write_text('[[jobs]]\nevent = "oops"\nwasm = "missing.wasm"\n')
        verdict = await source.upload("hello", broken)
        assert not verdict.loaded and any("missing.wasm" in str(e) for e in verdict.errors), verdict
        fine = tmp_path / "again.toml"
        fine.write_text('[[jobs]]\nevent = "again"\nwasm = "greet.wasm"\nabi = "auto"\n')
        verdict = await source.upload("hello", fine)
        assert verdict.loaded and verdict.errors == (), verdict

        await pilot.press("l")  # ctl is the highlighted component
        await _wait(pilot, lambda: isinstance(app.screen, LogScreen) and bool(app.screen.lines),
                    "ctl's log lines")
        assert any("broken.toml" in line for line in app.screen.lines), app.screen.lines[-5:]
        await pilot.press("escape")

        ids = await source.send("hello", "greet", {"name": "Palette", "n": 1})
        await pilot.press("e")
        table = app.screen.query_one("#records", LiveTable)
        await _wait(pilot, lambda: f"{ids[0]}-1" in table.keys, "the sent event's record")

        await pilot.press("colon")
        await pilot.pause(0.2)
        app.screen.query_one(CommandInput).value = ids[0]
        await _wait(pilot, lambda: app.screen.query_one(CommandList).option_count >= 2,
                    "the event id's hits")
        await pilot.press("down", "enter")
        await _wait(pilot, lambda: isinstance(app.screen, RecordScreen), "the record screen")
        assert app.screen.record.event_id == ids[0]
        await pilot.press("escape")

        await pilot.press("slash", *ids[0][-6:])
        await _wait(pilot, lambda: table.keys == [f"{ids[0]}-1"], "the recorder's text search")
        await pilot.press("escape")
        await _wait(pilot, lambda: app.screen.record_filter.text is None, "the search cleared")

        await source.restart("recorder")
        await _wait(pilot, lambda: "reconnecting" in _state(app), "the reconnecting state")
        during = await source.send("hello", "greet", {"name": "During", "n": 2})  # webhook is up
        await _wait(pilot, lambda: "live" in _state(app), "the tail to resume", timeout=60)
        after = await source.send("hello", "greet", {"name": "After", "n": 3})
        await _wait(pilot, lambda: {f"{during[0]}-1", f"{after[0]}-1"} <= set(table.keys),
                    "records stored during and after the restart", timeout=60)
        screen = app.screen
        assert len({r.id for r in screen.records}) == len(screen.records)  # nothing twice

        await pilot.press("o")
        # a run accepted 250 ms before it started, as an executor following SPEC §5 records it
        # (this branch's executor may not fill accepted_at yet: its runs are left out)
        now = time.time()
        run = {"event_id": "ffff000000000001", "tenant": "hello", "package": "greet",
               "event": "greet", "attempt": 1, "status": "ok", "duration_ms": 50.0,
               "accepted_at": iso_utc(now - 0.25), "started_at": iso_utc(now)}
        await asyncio.to_thread(running.rpc, "recorder", "append", {"records": [run]})
        e2e = app.screen.query_one("#trend-e2e", Trend)
        await _wait(pilot, lambda: any(p is not None and p >= 299 for p in e2e.points),
                    "the end-to-end p99 of that run", timeout=60)


def _state(app: JobicoApp) -> str:
    return str(app.screen.query_one("#tail-state").content)
