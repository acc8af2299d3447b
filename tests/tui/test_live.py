"""The dashboard against a real `jobico up` on a temporary home made by `jobico init`."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.e2e.platform import Platform
from tests.tui.conftest import SIZE, settle
from tui.app import JobicoApp
from tui.widgets.live_table import LiveTable

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
