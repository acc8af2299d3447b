"""Shown instead of the dashboard while nothing runs in the home; goes away by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from jobico.errors import JobicoError
from tui.source import Offline

if TYPE_CHECKING:
    from tui.app import JobicoApp

RETRY_S = 2.0


class OfflineScreen(Screen[None]):
    """Names the home and says to run `jobico up`; checks again every few seconds."""

    BINDINGS = [Binding("q", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        home = cast("JobicoApp", self.app).source.home
        with Vertical(classes="dialog"):
            yield Static(str(Offline(home)), id="offline-message")
            yield Static("Waiting for it to start… (q quits)", classes="dim")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(RETRY_S, self.check)

    @work(exclusive=True)
    async def check(self) -> None:
        try:
            await cast("JobicoApp", self.app).source.overview()
        except JobicoError:
            return
        self.dismiss()
