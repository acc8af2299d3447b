"""One execution record: what ran, its result pretty-printed, its logs, every attempt.

`r` replays the event when it is dead-lettered (SPEC §6: a replay re-queues a dead
letter under its own event id; any other event is refused with the reason), and
`c` / `C` copy the record id / the event id to the clipboard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from rich.console import RenderableType
from rich.syntax import Syntax
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
from tui.source import Record
from tui.widgets.attempts import AttemptsTable
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable


def summary(r: Record) -> Text:
    """Plain ``Text`` (never markup), every field on one line as ``visible`` shows it."""
    text = Text.assemble(("record ", "bold"), visible(r.id), ("  event id ", "bold"), visible(r.event_id),
                         "\n", visible(f"{r.tenant} / {r.package} / {r.event}   attempt {r.attempt}   "),
                         fmt.status(r.status), f"   code {fmt.DASH if r.code is None else r.code}")
    text.append(visible(f"\naccepted {r.accepted_at or fmt.DASH}   started {r.started_at}   "
                        f"took {fmt.number(r.duration_ms, ' ms')}   "
                        f"module {r.module_sha256[:16] or fmt.DASH}", multiline=True))
    if r.reason:
        text.append("\nreason: " + visible(r.reason), style="red")
    if r.truncated:
        text.append("\nresult or logs were truncated", style="yellow")
    return text


def pretty_result(result: str) -> RenderableType:
    """JSON results indented and highlighted; anything else as plain text; control characters
    (which JSON strings may hold as C1 or bidi characters) shown as escapes either way."""
    try:
        value = json.loads(result)
    except ValueError:
        return Text(visible(result, multiline=True) or "(empty)")
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    return Syntax(visible(pretty, multiline=True), "json", word_wrap=True)


class RecordScreen(DashScreen):
    AUTO_FOCUS = "#logs"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "replay", "Replay"),
        Binding("c", "copy('id')", "Copy id", group=Binding.Group("Copy id/event id")),
        Binding("C", "copy('event_id')", "Copy event id", group=Binding.Group("Copy id/event id")),
    ]

    record: reactive[Record | None] = reactive(None)
    attempts: reactive[tuple[Record, ...]] = reactive(())

    def __init__(self, record: Record) -> None:
        super().__init__()
        self.set_reactive(RecordScreen.record, record)

    def body(self) -> Iterator[Widget]:
        with VerticalScroll():
            yield Static(id="summary")
            yield Label("Result", classes="section")
            yield Static(id="result")
            yield Label("Logs", classes="section")
            yield LiveTable("time", "level", "message", id="logs")
            yield Label("Attempts", classes="section")
            yield AttemptsTable(id="attempts")

    def on_mount(self) -> None:
        self.render_record()
        self.load()

    @work(exclusive=True)
    async def load(self) -> None:
        """The full record (the list may hold a summary), then its attempt history."""
        assert self.record is not None
        full = await self.fetch(self.source.record(self.record.id))
        record = full or self.record
        self.record = record
        attempts = await self.fetch(self.source.attempts(record.event_id))
        if attempts is not None:
            self.attempts = tuple(attempts)

    def watch_record(self) -> None:
        self.render_record()

    def watch_filter_text(self) -> None:
        self.render_record()

    def render_record(self) -> None:
        r = self.record
        if r is None:
            return
        self.query_one("#summary", Static).update(summary(r))
        self.query_one("#result", Static).update(pretty_result(r.result))
        q = self.filter_text
        self.query_one("#logs", LiveTable).replace({
            str(i): (line.at or "", fmt.level(line.level), line.message)
            for i, line in enumerate(r.logs) if matches(q, line.level, line.message)
        })

    def watch_attempts(self) -> None:
        self.query_one("#attempts", AttemptsTable).show(self.attempts)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "attempts":
            return
        other = next((a for a in self.attempts if a.id == event.row_key.value), None)
        if other is not None and self.record is not None and other.id != self.record.id:
            self.app.push_screen(RecordScreen(other))

    def action_copy(self, field: str) -> None:
        if self.record is not None:
            value = getattr(self.record, field)
            self.app.copy_to_clipboard(value)
            self.notify(f"copied {value}", markup=False)

    @work(exclusive=True, group="action")
    async def action_replay(self) -> None:
        """Replay when the event is a dead letter; otherwise say why it cannot be."""
        record = self.record
        if record is None:
            return
        letters = await self.fetch(self.source.dead(record.tenant))
        if letters is None:
            return
        if not any(d.id == record.event_id for d in letters):
            self.notify(f"event {record.event_id} is not dead-lettered: only dead letters can be "
                        "replayed (they keep their event id); send its body again for a new run",
                        title="Not replayed", severity="warning", markup=False)
            return
        if await actions.replay(self.jobico, [record.event_id]):
            self.load()
