"""Executions: search the recorder, page back through history, and follow new runs live.

Every filter (tenant, event, status, the `/` text, since/until) goes to the
recorder, which searches all it keeps; `b` loads the page after the leftmost
record shown in the recorder's newest-first order (its ``before``), exact however
many records started at the same time. Records are kept in a bounded buffer (``LIMIT`` while tailing, up to
``HISTORY`` after loading older pages) so memory stays flat however long the
tail runs. The tail reconnects by itself when its stream ends (a recorder
restart), with backoff, and resumes from what it last showed (tui/tail.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator

from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static

from jobico.cli.times import parse_when
from jobico.errors import JobicoError, UserError
from jobico.recorder.records import STATUSES, iso_utc
from tui import fmt
from tui.screens.base import DashScreen
from tui.screens.record import RecordScreen
from tui.source import Record, RecordFilter
from tui.tail import BACKLOG, TailCursor, backoff
from tui.widgets.filter_bar import FilterBar
from tui.widgets.live_table import LiveTable, Row

LIMIT = 1000  # records the live tail keeps
PAGE = 500  # records one "load older" adds
HISTORY = 10_000  # the most records shown after loading older pages
SEARCH_DELAY_S = 0.3  # typing pauses this long before the recorder is asked


def row(record: Record) -> Row:
    return (record.started_at, record.tenant, record.event, str(record.attempt),
            fmt.status(record.status), fmt.number(record.duration_ms, " ms"), record.id)


class ExecutionsScreen(DashScreen):
    AUTO_FOCUS = "#records"
    BINDINGS = [
        Binding("f", "toggle_follow", "Follow"),
        Binding("space", "toggle_pause", "Pause"),
        Binding("b", "older", "Older"),
    ]

    record_filter: reactive[RecordFilter] = reactive(RecordFilter, init=False)
    following: reactive[bool] = reactive(True)
    paused: reactive[bool] = reactive(False)
    link: reactive[str] = reactive("connecting")

    def __init__(self) -> None:
        super().__init__()
        self.records: deque[Record] = deque()
        self.waiting: deque[Record] = deque(maxlen=LIMIT)
        self.capacity = LIMIT
        self.exhausted = False
        self._search: Timer | None = None

    def body(self) -> Iterator[Widget]:
        with Horizontal(id="filters"):
            yield Select[str]([], prompt="any tenant", id="tenant")
            yield Select[str]([], prompt="any event", id="event")
            yield Select[str]([(s, s) for s in STATUSES], prompt="any status", id="status")
            yield Input(placeholder="since (15m, ISO)", id="since")
            yield Input(placeholder="until (2h, ISO)", id="until")
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

    # -- the search: every field goes to the recorder ------------------------------------
    def on_select_changed(self) -> None:
        self.search_soon(0)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("since", "until"):
            self.search_soon(SEARCH_DELAY_S)

    def watch_filter_text(self) -> None:
        self.search_soon(SEARCH_DELAY_S)

    def search(self, text: str) -> None:
        """Search for ``text`` now (the `:` palette's "search executions")."""
        bar = self.query_one(FilterBar)
        bar.value = text
        bar.add_class("-open")
        self.filter_text = text
        self.search_soon(0)

    def search_soon(self, delay: float) -> None:
        """Apply the fields after ``delay`` without another change (one query per pause)."""
        if self._search is not None:
            self._search.stop()
        self._search = self.set_timer(delay, self.apply_search) if delay else None
        if not delay:
            self.apply_search()

    def apply_search(self) -> None:
        try:
            wanted = self.wanted_filter()
        except UserError as exc:
            self.show_problem(exc)
            return
        if wanted != self.record_filter:
            self.record_filter = wanted

    def wanted_filter(self) -> RecordFilter:
        """The filter the fields ask for. Errors: UserError naming a bad time field."""
        picked = {s.id: s.value for s in self.query(Select)}
        pick = {k: v if isinstance(v, str) else None for k, v in picked.items()}
        times = {}
        now = time.time()
        for name in ("since", "until"):
            text = self.query_one(f"#{name}", Input).value.strip()
            times[name] = iso_utc(parse_when(text, now, name)) if text else None
        return RecordFilter(pick["tenant"], pick["event"], pick["status"],
                            self.filter_text.strip() or None, times["since"], times["until"])

    def watch_record_filter(self) -> None:
        self.reload()

    # -- the tail ---------------------------------------------------------------------------
    @work(exclusive=True, group="tail")
    async def reload(self) -> None:
        """Query the newest records for the filter, then follow new ones until cancelled,
        reconnecting (with backoff) whenever the stream ends or fails."""
        filt = self.record_filter
        cursor = TailCursor(time.time())
        self.link = "connecting"
        failures = 0
        loaded = False
        while True:
            try:
                if not loaded:
                    newest = await self.source.executions(filt, LIMIT)
                    self.show_problem(None)
                    self.show_first_page(newest, cursor)
                    loaded = True
                    if filt.until:
                        self.link = "range"
                        return
                async with self.source.follow(cursor.resume(filt), BACKLOG) as records:
                    self.link = "live"
                    if failures:
                        self.show_problem(None)
                    failures = 0
                    async for record in records:
                        if cursor.fresh(record):
                            self.receive(record)
                problem: JobicoError | None = None
            except JobicoError as exc:
                problem = exc
            failures += 1
            self.show_problem(problem)
            delay = backoff(failures)
            self.link = f"reconnecting in {delay:g}s"
            await asyncio.sleep(delay)

    def show_first_page(self, newest: list[Record], cursor: TailCursor) -> None:
        self.records.clear()
        self.waiting.clear()
        self.capacity = LIMIT
        self.exhausted = len(newest) < LIMIT
        for record in reversed(newest):
            cursor.fresh(record)
            self.records.append(record)
        self.render_records()

    def receive(self, record: Record) -> None:
        if not self.record_filter.matches(record):
            return
        if self.paused:
            self.waiting.append(record)
            self.update_state()
            return
        self.records.append(record)
        while len(self.records) > self.capacity:
            self.records.popleft()
            self.exhausted = False
        table = self.query_one("#records", LiveTable)
        table.append(record.id, row(record), self.capacity)
        if self.following:
            table.move_cursor(row=table.row_count - 1)
        self.update_state()

    # -- older pages ------------------------------------------------------------------------
    @work(exclusive=True, group="older")
    async def action_older(self) -> None:
        """The page before the oldest record shown, from the recorder."""
        if self.exhausted:
            self.notify("no older records match", severity="information")
            return
        room = HISTORY - len(self.records)
        if room <= 0:
            self.notify(f"{HISTORY:,} records shown: narrow the search (until) to go further back",
                        severity="warning")
            return
        limit = min(PAGE, room)
        oldest = self.records[0].id if self.records else None
        page = await self.fetch(self.source.executions(self.record_filter, limit, oldest))
        if page is None:
            return
        shown = {r.id for r in self.records}  # live runs arrive by end, not start: a few repeat
        older = [r for r in reversed(page) if r.id not in shown][-room:]
        self.exhausted = len(page) < limit
        self.records.extendleft(reversed(older))
        self.capacity = max(self.capacity, len(self.records))
        self.following = False
        self.render_records()
        if older:
            self.query_one("#records", LiveTable).move_cursor(row=len(older) - 1)

    # -- drawing ----------------------------------------------------------------------------
    def render_records(self) -> None:
        table = self.query_one("#records", LiveTable)
        table.replace({r.id: row(r) for r in self.records})
        if self.following and table.row_count:
            table.move_cursor(row=table.row_count - 1)
        self.update_state()

    def watch_link(self) -> None:
        self.update_state()

    def update_state(self) -> None:
        parts = [{"live": "live", "range": "closed range"}.get(self.link, self.link),
                 "following" if self.following else "not following"]
        if self.paused:
            parts.append(f"paused, {len(self.waiting)} new")
        parts.append(f"{len(self.records):,} shown")
        parts.append("all loaded" if self.exhausted else "b loads older")
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
            while len(self.records) > self.capacity:
                self.records.popleft()
            self.waiting.clear()
            self.render_records()
        self.update_state()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        record = next((r for r in self.records if r.id == event.row_key.value), None)
        if record is not None:
            self.app.push_screen(RecordScreen(record))
