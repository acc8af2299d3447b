"""Overview: components, ingest and run rates with their last minutes as sparklines,
and every tenant's queue, live. `l` opens the highlighted component's log."""

from __future__ import annotations

from collections.abc import Iterator

from textual import work
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from jobico.recorder.records import STATUSES
from tui import actions, fmt
from tui.screens.base import DashScreen
from tui.source import Overview
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable
from tui.widgets.trend import Trend

REFRESH_S = 1.0


def rates_line(data: Overview) -> str:
    runs = data.runs_per_s or {}
    by_status = "  ".join(f"{s} {fmt.number(runs.get(s) if data.runs_per_s else None)}"
                          for s in STATUSES)
    return f"events accepted/s {fmt.number(data.accepted_per_s)}    runs/s  {by_status}"


class OverviewScreen(DashScreen):
    AUTO_FOCUS = "#components"
    BINDINGS = [
        Binding("R", "restart", "Restart"),
        Binding("p", "pause", "Pause"),
        Binding("l", "logs", "Logs"),
    ]

    data: reactive[Overview | None] = reactive(None)

    def body(self) -> Iterator[Widget]:
        yield Static("", id="rates")
        yield Label("Last 5 minutes", id="trends-title", classes="section")
        yield Trend("accepted/s", id="trend-accepted")
        yield Trend("runs/s", id="trend-runs")
        yield Trend("end-to-end p99", " ms", id="trend-e2e")
        yield Label("Components", classes="section")
        yield LiveTable("component", "state", "pid", "restarts", "uptime", "cpu", "memory",
                        id="components")
        yield Label("Tenants", classes="section")
        yield LiveTable("tenant", "queue depth", "in flight", "dead letters", "queue",
                        id="queues")

    def on_mount(self) -> None:
        self.refresh_data()
        self.set_interval(REFRESH_S, self.refresh_data)

    @work(exclusive=True)
    async def refresh_data(self) -> None:
        data = await self.fetch(self.source.overview())
        if data is not None:
            self.data = data

    def watch_data(self) -> None:
        self.render_data()

    def watch_filter_text(self) -> None:
        self.render_data()

    def render_data(self) -> None:
        if self.data is None:
            return
        self.query_one("#rates", Static).update(rates_line(self.data))
        trends = self.data.trends
        if trends is not None:
            minutes = trends.step_s * len(trends.accepted_per_s) / 60
            self.query_one("#trends-title", Label).update(
                f"Last {minutes:g} minutes, one bar per {trends.step_s:g} s")
            self.query_one("#trend-accepted", Trend).points = trends.accepted_per_s
            self.query_one("#trend-runs", Trend).points = trends.runs_per_s
            self.query_one("#trend-e2e", Trend).points = trends.e2e_p99_ms
        q = self.filter_text
        self.query_one("#components", LiveTable).sync({
            c.name: (c.name, fmt.status(c.state), str(c.pid or fmt.DASH), str(c.restarts),
                     fmt.duration(c.uptime_s), fmt.number(c.cpu_percent, "%"),
                     fmt.number(c.rss_mb, " MiB"))
            for c in self.data.components if matches(q, c.name, c.state, c.pid)
        })
        self.query_one("#queues", LiveTable).sync({
            t.tenant: (t.tenant, str(t.depth), str(t.inflight), str(t.dead),
                       fmt.status("paused" if t.paused else "running"))
            for t in self.data.queues if matches(q, t.tenant, "paused" if t.paused else "")
        })

    @work(exclusive=True, group="action")
    async def action_restart(self) -> None:
        name = self.query_one("#components", LiveTable).current_key
        if name and await actions.restart(self.jobico, name):
            self.refresh_data()

    @work(exclusive=True, group="action")
    async def action_pause(self) -> None:
        tenant = self.query_one("#queues", LiveTable).current_key
        if tenant is None or self.data is None:
            return
        paused = any(t.paused for t in self.data.queues if t.tenant == tenant)
        await actions.set_paused(self.jobico, tenant, not paused)
        self.refresh_data()

    def action_logs(self) -> None:
        name = self.query_one("#components", LiveTable).current_key
        if name:
            self.jobico.show_logs(name)
