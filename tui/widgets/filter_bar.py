"""The `/` filter: one line of text that narrows every list and log on a screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


def matches(query: str, *fields: object) -> bool:
    """Every space-separated word of ``query`` appears (any case) in some field."""
    haystack = " ".join(str(f) for f in fields).lower()
    return all(word in haystack for word in query.lower().split())


class FilterBar(Input):
    """Hidden until `/`; posts ``FilterBar.Query`` on every edit; Escape clears and hides."""

    BINDINGS = [Binding("escape", "clear", "Clear filter")]
    DEFAULT_CSS = "FilterBar { dock: bottom; display: none; } FilterBar.-open { display: block; }"

    @dataclass
    class Query(Message):
        text: str

    def __init__(self) -> None:
        super().__init__(placeholder="filter: words to match (Enter keeps it, Esc clears)",
                         id="filter")

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Query(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()
        if not self.value:
            self.remove_class("-open")

    def action_clear(self) -> None:
        self.value = ""
        self.remove_class("-open")
        self.screen.focus_next()
