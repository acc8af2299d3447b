"""A component's log, followed live like k9s `l`: the last lines only, across rotation.

The file is read by name (``.jobico/logs/<component>.log``) in a worker thread a
few times a second, by the follower `jobico logs -f` uses, never more than
``WINDOW_BYTES`` at once; at most ``KEEP_LINES`` lines are kept, and `/` narrows them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Log, Static

from jobico.cli.logfiles import Follower
from jobico.cli.visible import visible
from tui.screens.base import DashScreen
from tui.widgets.filter_bar import matches

POLL_S = 0.3
KEEP_LINES = 2000
WINDOW_BYTES = 1 << 20  # the most read at once: enough for KEEP_LINES of ~500 bytes


class LogScreen(DashScreen):
    AUTO_FOCUS = "#log"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f", "toggle_follow", "Follow"),
    ]

    def __init__(self, component: str, path: Path) -> None:
        super().__init__()
        self.component = component
        self.path = path
        self.lines: deque[str] = deque(maxlen=KEEP_LINES)

    def body(self) -> Iterator[Widget]:
        yield Static(id="log-title")
        yield Log(max_lines=KEEP_LINES, id="log")

    def on_mount(self) -> None:
        self.update_title()
        self.follow()

    def update_title(self) -> None:
        log = self.query_one("#log", Log)
        state = "following" if log.auto_scroll else "not following"
        self.query_one("#log-title", Static).update(Text.assemble(
            (f"{self.component} log", "bold"), f"  {self.path.name}  ·  last {KEEP_LINES:,} "
            f"lines  ·  {state}" + ("" if self.path.exists() else "  ·  no log file yet")))

    @work(exclusive=True)
    async def follow(self) -> None:
        """Read what was appended, until the screen closes (which cancels this worker)."""
        tail = Follower(self.path, window=WINDOW_BYTES)
        try:
            while True:
                lines = [visible(line) for line in await asyncio.to_thread(tail.poll)]
                if lines:
                    self.lines.extend(lines)
                    q = self.filter_text
                    self.query_one("#log", Log).write_lines(
                        [line for line in lines if matches(q, line)])
                    self.update_title()
                await asyncio.sleep(POLL_S)
        finally:
            tail.close()

    def watch_filter_text(self) -> None:
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines([line for line in self.lines if matches(self.filter_text, line)])

    def action_toggle_follow(self) -> None:
        log = self.query_one("#log", Log)
        log.auto_scroll = not log.auto_scroll
        if log.auto_scroll:
            log.scroll_end(animate=False)
        self.update_title()
