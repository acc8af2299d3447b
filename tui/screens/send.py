"""Send a test event: pick the event, write its JSON, see schema problems before sending."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static, TextArea

from jobico.cli.visible import visible
from jobico.errors import JobicoError
from tui import fmt
from tui.source import Catalog, EventInfo
from tui.validation import check_item, skeleton

if TYPE_CHECKING:
    from tui.app import JobicoApp


class SendScreen(ModalScreen[list[str] | None]):
    """Dismisses with the accepted event ids, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "send", "Send"),
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.events = {f"{e.tenant}/{e.event}": e for e in catalog.events()}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Send a test event", classes="section")
            yield Select[str]([(k, k) for k in sorted(self.events)], prompt="tenant/event",
                              id="target")
            yield TextArea("{}", id="editor", show_line_numbers=True, tab_behavior="indent")
            yield Static("", id="problems")
            with Horizontal(classes="buttons"):
                yield Button("Send (ctrl+s)", variant="primary", id="send")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.check()

    @property
    def target(self) -> EventInfo | None:
        value = self.query_one("#target", Select).value
        return self.events.get(value) if isinstance(value, str) else None

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.target is not None:
            self.query_one("#editor", TextArea).text = skeleton(self.target.schema)
        self.check()

    def on_text_area_changed(self) -> None:
        self.check()

    def check(self) -> list[str]:
        """Validate the editor's text against the chosen event's schema; show what is wrong."""
        if self.target is None:
            problems = ["choose the event to send"]
        else:
            _, problems = check_item(self.query_one("#editor", TextArea).text, self.target.schema)
        shown = self.query_one("#problems", Static)
        shown.update(Text("\n".join(f"✗ {visible(p)}" for p in problems) or "✓ valid"))  # never markup
        shown.set_class(bool(problems), "-bad")
        return problems

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.dismiss(None)

    @work(exclusive=True)
    async def action_send(self) -> None:
        target = self.target
        if self.check() or target is None:
            return
        item, _ = check_item(self.query_one("#editor", TextArea).text, target.schema)
        try:
            ids = await cast("JobicoApp", self.app).source.send(target.tenant, target.event, item)
        except JobicoError as exc:
            self.notify(fmt.said(exc), title="Not sent", severity="error", markup=False)
            return
        self.notify(f"{target.tenant}/{target.event} accepted: {', '.join(ids)}")
        self.dismiss(ids)
