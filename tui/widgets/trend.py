"""One named sparkline with its latest value: the overview's trends."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from tui import fmt


class Trend(Widget):
    """``points`` (oldest first, None where nothing was measured) drawn as bars; a gap
    is drawn as zero, and the value on the right is the newest one measured."""

    DEFAULT_CSS = """
    Trend { height: 1; layout: horizontal; }
    Trend > .trend-name { width: 20; padding-left: 1; color: $text-muted; }
    Trend > Sparkline { width: 1fr; }
    Trend > .trend-last { width: 14; text-align: right; }
    """

    points: reactive[tuple[float | None, ...]] = reactive(())

    def __init__(self, name: str, unit: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = name
        self.unit = unit

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="trend-name")
        yield Sparkline([])
        yield Static(fmt.DASH, classes="trend-last")

    def watch_points(self) -> None:
        self.query_one(Sparkline).data = [p or 0.0 for p in self.points]
        last = next((p for p in reversed(self.points) if p is not None), None)
        self.query_one(".trend-last", Static).update(fmt.number(last, self.unit))
