"""Dead letters: events that failed their last attempt; replay or purge, after a yes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

from textual import work
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget

from tui import fmt
from tui.screens.base import DashScreen
from tui.screens.confirm import ConfirmScreen
from tui.source import DeadLetter
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable

REFRESH_S = 2.0


def when(ts: float | None) -> str:
    return fmt.DASH if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


class DeadScreen(DashScreen):
    AUTO_FOCUS = "#dead"
    BINDINGS = [
        Binding("r", "replay(False)", "Replay"),
        Binding("A", "replay(True)", "Replay all shown"),
        Binding("x", "purge(False)", "Purge"),
        Binding("X", "purge(True)", "Purge all shown"),
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
            d.id: (d.id, d.tenant, d.event, str(d.attempt), d.reason, when(d.dead_at),
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
        await self.confirmed("Replay", self.selection(every), self.source.replay)

    @work(exclusive=True, group="action")
    async def action_purge(self, every: bool) -> None:
        await self.confirmed("Purge", self.selection(every), self.source.purge)

    async def confirmed(self, verb: str, ids: list[str], call: Callable[..., Awaitable[int]]) -> None:
        """Ask, then act on ``ids``; nothing happens on "no" or with nothing selected."""
        if not ids:
            return
        what = ids[0] if len(ids) == 1 else f"all {len(ids)} dead letters shown"
        if await self.app.push_screen_wait(ConfirmScreen(f"{verb} {what}?")):
            await self.act(call(ids=ids), f"{verb}: {len(ids)} event(s)")
            self.refresh_data()
