"""Upload a schema or wasm file, or deploy a package (.toml), into a tenant by path,
then show ctl's verdict as `jobico deploy` does: loaded, or the load errors (the
dialog then stays open, so the file can be fixed and sent again)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from jobico.cli.visible import visible
from jobico.errors import JobicoError
from tui import fmt
from tui.source import Upload

if TYPE_CHECKING:
    from tui.app import JobicoApp


class UploadScreen(ModalScreen[Upload | None]):
    """Dismisses with where the file went, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, tenants: list[str]) -> None:
        super().__init__()
        self.tenants = tenants

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Upload a file or deploy a package", classes="section")
            yield Input(placeholder="path of a .toml, .json or .wasm file", id="path")
            yield Select[str]([(t, t) for t in self.tenants], prompt="tenant", id="tenant")
            yield Static("", id="verdict")
            with Horizontal(classes="buttons"):
                yield Button("Upload", variant="primary", id="upload")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "upload":
            self.upload()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.upload()

    @work(exclusive=True)
    async def upload(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        tenant = self.query_one("#tenant", Select).value
        if not raw or not isinstance(tenant, str):
            self.notify("give a file path and choose a tenant", severity="warning")
            return
        path = Path(raw).expanduser()  # noqa: ASYNC240 - reads $HOME only, no file I/O
        try:
            done = await cast("JobicoApp", self.app).source.upload(tenant, path)
        except JobicoError as exc:
            self.notify(fmt.said(exc), title="Not uploaded", severity="error", markup=False)
            return
        verb = "deployed package" if done.kind == "package" else "uploaded"
        where = f"{verb} {done.tenant}/{done.path}"
        if done.errors:
            problems = "\n".join(f"✗ {visible(str(e))}" for e in done.errors)
            verdict = self.query_one("#verdict", Static)
            verdict.update(Text(f"{where}, but ctl did not load it:\n{problems}"))  # never markup
            verdict.add_class("-bad")
            self.notify(problems, title="Load error", severity="error", markup=False)
            return
        if done.loaded:
            self.notify(f"{where}: loaded by ctl")
        else:
            self.notify(f"{where}: ctl has not loaded it yet (no package uses it, or it is "
                        "still loading: see Tenants)", severity="warning")
        self.dismiss(done)
