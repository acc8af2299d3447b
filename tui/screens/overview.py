"""Overview: components, ingest and run rates, and every tenant's queue, live."""

from __future__ import annotations

from collections.abc import Iterator

from textual import work
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from tui import fmt
from tui.screens.base import DashScreen
from tui.screens.confirm import ConfirmScreen
from tui.source import STATUSES, Overview
from tui.widgets.filter_bar import matches
from tui.widgets.live_table import LiveTable

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
        Binding("p", "pause", "Pause/resume"),
    ]

    data: reactive[Overview | None] = reactive(None)

    def body(self) -> Iterator[Widget]:
        yield Static("", id="rates")
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
        if name and await self.app.push_screen_wait(ConfirmScreen(f"Restart {name}?")):
            await self.act(self.source.restart(name), f"{name} restarting")
            self.refresh_data()

    @work(exclusive=True, group="action")
    async def action_pause(self) -> None:
        tenant = self.query_one("#queues", LiveTable).current_key
        if tenant is None or self.data is None:
            return
        paused = any(t.paused for t in self.data.queues if t.tenant == tenant)
        if paused:
            await self.act(self.source.resume(tenant), f"{tenant}: queue resumed")
        else:
            await self.act(self.source.pause(tenant), f"{tenant}: queue paused")
        self.refresh_data()
