"""Executions: the live tail of run records, filtered by tenant, event and status.

Records are kept oldest-first in a bounded buffer (``LIMIT``) so memory stays
flat however long the tail runs. Following keeps the cursor on the newest row;
pausing freezes the view while new records wait (still bounded) to be shown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Select, Static

from jobico.errors import JobicoError
from tui import fmt
from tui.screens.base import DashScreen
from tui.screens.record import RecordScreen
from tui.source import STATUSES, Record, RecordFilter
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable, Row

LIMIT = 1000


def row(record: Record) -> Row:
    return (record.started_at, record.tenant, record.event, str(record.attempt),
            fmt.status(record.status), fmt.number(record.duration_ms, " ms"), record.id)


class ExecutionsScreen(DashScreen):
    AUTO_FOCUS = "#records"
    BINDINGS = [
        Binding("f", "toggle_follow", "Follow"),
        Binding("space", "toggle_pause", "Pause"),
    ]

    record_filter: reactive[RecordFilter] = reactive(RecordFilter, init=False)
    following: reactive[bool] = reactive(True)
    paused: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        self.records: deque[Record] = deque(maxlen=LIMIT)
        self.waiting: deque[Record] = deque(maxlen=LIMIT)

    def body(self) -> Iterator[Widget]:
        with Horizontal(id="filters"):
            yield Select[str]([], prompt="any tenant", id="tenant")
            yield Select[str]([], prompt="any event", id="event")
            yield Select[str]([(s, s) for s in STATUSES], prompt="any status", id="status")
            yield Static("", id="tail-state")
        yield LiveTable("started", "tenant", "event", "attempt", "status", "duration", "id",
                        id="records")

    def on_mount(self) -> None:
        self.load_options()
        self.reload()

    @work(exclusive=True, group="options")
    async def load_options(self) -> None:
        catalog = await self.fetch(self.source.catalog())
        if catalog is not None:
            self.query_one("#tenant", Select).set_options((t, t) for t in catalog.tenants())
            names = sorted({e.event for e in catalog.events()})
            self.query_one("#event", Select).set_options((e, e) for e in names)

    def on_select_changed(self, event: Select.Changed) -> None:
        values = {s.id: s.value for s in self.query(Select)}
        pick = {k: v if isinstance(v, str) else None for k, v in values.items()}
        self.record_filter = RecordFilter(pick["tenant"], pick["event"], pick["status"])

    def watch_record_filter(self) -> None:
        self.reload()

    @work(exclusive=True, group="tail")
    async def reload(self) -> None:
        """Query the newest records for the filter, then follow new ones until cancelled."""
        filt = self.record_filter
        newest = await self.fetch(self.source.executions(filt, LIMIT))
        if newest is None:
            return
        self.records.clear()
        self.waiting.clear()
        self.records.extend(reversed(newest))
        self.render_records()
        try:
            async for record in self.source.follow(filt):
                self.receive(record)
        except JobicoError as exc:
            self.show_problem(exc)

    def receive(self, record: Record) -> None:
        if not self.record_filter.matches(record):
            return
        if self.paused:
            self.waiting.append(record)
            self.update_state()
            return
        self.records.append(record)
        if matches(self.filter_text, *row(record)):
            table = self.query_one("#records", LiveTable)
            table.append(record.id, row(record), LIMIT)
            if self.following:
                table.move_cursor(row=table.row_count - 1)

    def render_records(self) -> None:
        table = self.query_one("#records", LiveTable)
        q = self.filter_text
        table.replace({r.id: row(r) for r in self.records if matches(q, *row(r))})
        if self.following and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self.update_state()

    def watch_filter_text(self) -> None:
        self.render_records()

    def update_state(self) -> None:
        parts = ["following" if self.following else "not following"]
        if self.paused:
            parts.append(f"paused, {len(self.waiting)} new")
        self.query_one("#tail-state", Static).update(" · ".join(parts))

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        table = self.query_one("#records", LiveTable)
        if self.following and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self.update_state()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.records.extend(self.waiting)
            self.waiting.clear()
            self.render_records()
        self.update_state()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        record = next((r for r in self.records if r.id == event.row_key.value), None)
        if record is not None:
            self.app.push_screen(RecordScreen(record))
