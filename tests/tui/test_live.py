"""The dashboard against a real `jobico up` on a temporary home made by `jobico init`."""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.command import CommandInput, CommandList

from jobico.recorder.records import iso_utc
from tests.e2e.platform import Platform, free_port, package
from tests.executor import guests
from tests.tui.conftest import SIZE, settle
from tui.app import JobicoApp
from tui.widgets.live_table import LiveTable
from tui.widgets.trend import Trend

pytestmark = pytest.mark.e2e
TEMPLATE = Path(__file__).resolve().parents[2] / "jobico" / "templates" / "home" / "tenants"
SECRET = "whsec_" + base64.b64encode(b"issue-16 dashboard secret, 32 b!").decode()


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


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A home listening elsewhere than its jobico.toml says (``up --port``), through two
    listener processes (``listener-1``, ``listener-2``: no component named ``listener``),
    serving a package whose webhook takes only signed requests."""
    platform = Platform(tmp_path_factory.mktemp("elsewhere") / "home", config="workers = 2\n")
    platform.configured_port = platform.port  # type: ignore[attr-defined]
    platform.write("signed/echo.wasm", guests.ECHO)
    platform.write("signed/hook.toml", package({"event": "echo", "wasm": "echo.wasm"},
                                               webhook={"secret": SECRET}))
    live = free_port()
    platform.start(up_args=("--port", str(live)))
    platform.port = live  # the platform's own HTTP goes where the home listens
    platform.wait_for_event("signed", "echo")
    yield platform
    platform.stop()


@pytest.mark.asyncio
async def test_a_send_reaches_the_port_the_home_listens_on_signed(elsewhere: Platform) -> None:
    from tui.client import PlatformClient

    assert elsewhere.configured_port != elsewhere.port  # type: ignore[attr-defined]
    names = {c["name"] for c in elsewhere.status()["components"]}
    assert {"listener-1", "listener-2"} <= names and "listener" not in names
    assert elsewhere.post("signed", "echo", {"n": 0})[0] == 401  # unsigned: refused

    client = PlatformClient(elsewhere.root)
    try:
        ids = await asyncio.wait_for(client.send("signed", "echo", {"n": 1, "name": "Zoë"}), 30)
    finally:
        await client.close()
    record = (await asyncio.to_thread(elsewhere.wait_records, 1, tenant="signed", text=ids[0]))[0]
    assert record["status"] == "ok" and record["result"] == '{"n":1,"name":"Zoë"}'


@pytest.mark.asyncio
async def test_b_pages_back_exactly_through_records_started_in_one_microsecond(
    elsewhere: Platform, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every record starts at the same microsecond, more of them than a page: "load older"
    continues after the leftmost record shown (the recorder's ``before``), none twice."""
    from tui.client import PlatformClient
    from tui.screens import executions

    monkeypatch.setattr(executions, "LIMIT", 5)
    monkeypatch.setattr(executions, "PAGE", 4)
    same = iso_utc(time.time() - 60)
    runs = [{"event_id": f"{n:016x}", "tenant": "ties", "package": "ties", "event": "tie",
             "attempt": 1, "status": "ok", "duration_ms": 1.0, "started_at": same}
            for n in range(0x71e0, 0x71e0 + 23)]
    elsewhere.rpc("recorder", "append", {"records": runs})
    newest_first = [r["id"] for r in elsewhere.rpc("recorder", "query", {"tenant": "ties", "limit": 100})]
    assert len(newest_first) == 23

    app = JobicoApp(PlatformClient(elsewhere.root))
    async with asyncio.timeout(120), app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await _wait(pilot, lambda: "live" in _state(app), "the tail")
        table = app.screen.query_one("#records", LiveTable)
        await pilot.press("slash", *"ties", "enter")  # the recorder's text search: the tenant
        await _wait(pilot, lambda: table.keys == newest_first[:5][::-1], "the newest page")
        for _ in range(10):
            if "all loaded" in _state(app):
                break
            shown = len(table.keys)
            await pilot.press("b")
            await _wait(pilot, lambda shown=shown: len(table.keys) > shown  # type: ignore[misc]
                        or "all loaded" in _state(app), "an older page")
        assert table.keys == newest_first[::-1]
