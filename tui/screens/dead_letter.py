"""One dead letter: its full body, why it died, and every attempt the recorder kept.

Replay and purge act on this one event after a yes, then go back to the list.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from jobico.cli.visible import visible
from tui import actions, fmt
from tui.screens.base import DashScreen
from tui.screens.record import RecordScreen, pretty_result
from tui.source import DeadLetter, Record
from tui.widgets.attempts import AttemptsTable


def summary(d: DeadLetter) -> Text:
    """Plain ``Text`` (never markup): the reason is a guest's or the platform's words."""
    text = Text.assemble(("dead letter ", "bold"), visible(d.id), "\n",
                         visible(f"{d.tenant} / {d.event}   attempts {d.attempt}   "
                                 f"dead since {fmt.when(d.dead_at)}"))
    text.append("\nreason: " + visible(d.reason), style="red")
    return text


class DeadLetterScreen(DashScreen):
    AUTO_FOCUS = "#attempts"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "replay", "Replay"),
        Binding("x", "purge", "Purge"),
        Binding("c", "copy", "Copy id"),
    ]

    attempts: reactive[tuple[Record, ...]] = reactive(())

    def __init__(self, letter: DeadLetter) -> None:
        super().__init__()
        self.letter = letter

    def body(self) -> Iterator[Widget]:
        with VerticalScroll():
            yield Static(summary(self.letter), id="summary")
            yield Label("Body", classes="section")
            yield Static(pretty_result(self.letter.body), id="body")
            yield Label("Attempts", classes="section")
            yield AttemptsTable(id="attempts")

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True)
    async def load(self) -> None:
        attempts = await self.fetch(self.source.attempts(self.letter.id))
        if attempts is not None:
            self.attempts = tuple(attempts)

    def watch_attempts(self) -> None:
        self.query_one("#attempts", AttemptsTable).show(self.attempts)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        record = next((a for a in self.attempts if a.id == event.row_key.value), None)
        if record is not None:
            self.app.push_screen(RecordScreen(record))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.letter.id)
        self.notify(f"copied {self.letter.id}")

    @work(exclusive=True, group="action")
    async def action_replay(self) -> None:
        if await actions.replay(self.jobico, [self.letter.id]):
            self.dismiss()

    @work(exclusive=True, group="action")
    async def action_purge(self) -> None:
        if await actions.purge(self.jobico, [self.letter.id]):
            self.dismiss()
