"""One execution record: what ran, its result pretty-printed, its logs, every attempt."""

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
from tui import fmt
from tui.screens.base import DashScreen
from tui.source import Record
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable


def summary(r: Record) -> Text:
    """Plain ``Text`` (never markup), every field on one line as ``visible`` shows it."""
    text = Text.assemble(("record ", "bold"), visible(r.id), ("  event id ", "bold"), visible(r.event_id),
                         "\n", visible(f"{r.tenant} / {r.package} / {r.event}   attempt {r.attempt}   "),
                         fmt.status(r.status), f"   code {fmt.DASH if r.code is None else r.code}")
    text.append(visible(f"\nstarted {r.started_at}   took {fmt.number(r.duration_ms, ' ms')}   "
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
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

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
            yield LiveTable("attempt", "status", "reason", "started", "duration", "record",
                            id="attempts")

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
        attempts = await self.fetch(self.source.attempts(record))
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
        self.query_one("#attempts", LiveTable).sync({
            a.id: (str(a.attempt), fmt.status(a.status), a.reason or "", a.started_at,
                   fmt.number(a.duration_ms, " ms"), a.id)
            for a in self.attempts
        })

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "attempts":
            return
        other = next((a for a in self.attempts if a.id == event.row_key.value), None)
        if other is not None and self.record is not None and other.id != self.record.id:
            self.app.push_screen(RecordScreen(other))
