"""Dead letters: events that failed their last attempt; open one (Enter), replay or
purge, after a yes."""

from __future__ import annotations

from collections.abc import Iterator

from textual import work
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable

from tui import actions, fmt
from tui.screens.base import DashScreen
from tui.screens.dead_letter import DeadLetterScreen
from tui.source import DeadLetter
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable

REFRESH_S = 2.0


class DeadScreen(DashScreen):
    AUTO_FOCUS = "#dead"
    BINDINGS = [
        Binding("r", "replay(False)", "Replay", group=Binding.Group("Replay one/all")),
        Binding("A", "replay(True)", "Replay all shown", group=Binding.Group("Replay one/all")),
        Binding("x", "purge(False)", "Purge", group=Binding.Group("Purge one/all")),
        Binding("X", "purge(True)", "Purge all shown", group=Binding.Group("Purge one/all")),
    ]

    letters: reactive[tuple[DeadLetter, ...]] = reactive(())

    def body(self) -> Iterator[Widget]:
        yield LiveTable("event id", "tenant", "event", "attempts", "reason", "dead since", "body",
                        id="dead")

    def on_mount(self) -> None:
        self.refresh_data()
        self.set_interval(REFRESH_S, self.refresh_data)

    @work(exclusive=True)
    async def refresh_data(self) -> None:
        letters = await self.fetch(self.source.dead())
        if letters is not None:
            self.letters = tuple(letters)

    def shown(self) -> list[DeadLetter]:
        q = self.filter_text
        return [d for d in self.letters
                if matches(q, d.id, d.tenant, d.event, d.reason, d.body)]

    def watch_letters(self) -> None:
        self.render_letters()

    def watch_filter_text(self) -> None:
        self.render_letters()

    def render_letters(self) -> None:
        self.query_one("#dead", LiveTable).sync({
            d.id: (d.id, d.tenant, d.event, str(d.attempt), d.reason, fmt.when(d.dead_at),
                   d.body[:60])
            for d in self.shown()
        })

    def selection(self, every: bool) -> list[str]:
        if every:
            return [d.id for d in self.shown()]
        key = self.query_one("#dead", LiveTable).current_key
        return [key] if key else []

    @work(exclusive=True, group="action")
    async def action_replay(self, every: bool) -> None:
        if await actions.replay(self.jobico, self.selection(every)):
            self.refresh_data()

    @work(exclusive=True, group="action")
    async def action_purge(self, every: bool) -> None:
        if await actions.purge(self.jobico, self.selection(every)):
            self.refresh_data()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        letter = next((d for d in self.letters if d.id == event.row_key.value), None)
        if letter is not None:
            self.app.push_screen(DeadLetterScreen(letter), lambda _: self.refresh_data())
