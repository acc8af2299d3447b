from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from tests.tui.fixed import FixedData
from tui.app import JobicoApp

SIZE = (120, 36)
LIMIT_S = 20


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (rich renderables included)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish with FixedData (instant) and the screen repaint."""
    for _ in range(3):
        await pilot.pause()


@asynccontextmanager
async def running(source: FixedData | None = None) -> AsyncIterator[tuple[JobicoApp, Pilot[None]]]:
    """The app over ``source`` in a headless terminal, every step bounded by a timeout."""
    app = JobicoApp(source or FixedData())
    async with asyncio.timeout(LIMIT_S), app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        yield app, pilot


def script(*keys: str, until: Callable[[], bool] = lambda: True,
           then: Callable[[Pilot[None]], Awaitable[None]] | None = None,
           ) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A snapshot's run_before: press ``keys`` (settling after each), wait (bounded) until
    the screen shows what it should, then run ``then``."""
    async def run(pilot: Pilot[None]) -> None:
        async with asyncio.timeout(LIMIT_S):
            await settle(pilot)
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
            while not until():
                await pilot.pause(0.02)
            if then is not None:
                await then(pilot)
            await settle(pilot)
    return run
