"""What every dashboard screen shares: the data source, the `/` filter, errors.

Data flows down as attributes (each screen keeps a reactive snapshot of what
it shows, rendered by its ``watch_`` method) and up as messages (the filter
bar posts ``FilterBar.Query``). I/O runs in workers; a failure is shown on a
problem line, or, when the whole home is down, by the app's offline screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING, TypeVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from jobico.errors import JobicoError
from tui import fmt
from tui.source import DataSource, Offline
from tui.widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from tui.app import JobicoApp

T = TypeVar("T")


class DashScreen(Screen[None]):
    """A top-level screen: header, a problem line, the body, the filter bar, the footer."""

    BINDINGS = [Binding("slash", "open_filter", "Filter")]

    filter_text: reactive[str] = reactive("")

    @property
    def jobico(self) -> JobicoApp:
        return cast("JobicoApp", self.app)

    @property
    def source(self) -> DataSource:
        return self.jobico.source

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="problem")
        yield from self.body()
        yield FilterBar()
        yield Footer(compact=True, show_command_palette=False)

    def body(self) -> Iterator[Widget]:
        raise NotImplementedError

    def action_open_filter(self) -> None:
        self.query_one(FilterBar).open()

    def on_filter_bar_query(self, message: FilterBar.Query) -> None:
        self.filter_text = message.text

    def show_problem(self, exc: JobicoError | None) -> None:
        """Say what failed on the problem line (cleared with None); Offline goes app-wide."""
        if isinstance(exc, Offline):
            self.jobico.show_offline()
        line = self.query_one("#problem", Static)
        line.update(Text("" if exc is None else f"⚠ {fmt.said(exc)}"))  # Text: never markup
        line.set_class(exc is not None, "-shown")

    async def fetch(self, call: Awaitable[T]) -> T | None:
        """Await a read; on a Jobico error show it and return None. Errors: none escape."""
        try:
            result = await call
        except JobicoError as exc:
            self.show_problem(exc)
            return None
        self.show_problem(None)
        return result
