"""JobicoApp: the thin Textual shell that wires the screens, keys and data source.

Each top-level screen is a mode (its own screen stack, so switching back keeps
its state); dialogs are pushed on top. The app owns the data source, the
decision to show the offline screen when nothing runs in the home, and the
jumps the `:` palette (tui/palette.py) makes across screens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen

from jobico.errors import JobicoError
from tui import fmt
from tui.palette import JobicoCommands
from tui.screens.dead import DeadScreen
from tui.screens.dead_letter import DeadLetterScreen
from tui.screens.executions import ExecutionsScreen
from tui.screens.help import HelpScreen
from tui.screens.logs import LogScreen
from tui.screens.offline import OfflineScreen
from tui.screens.overview import OverviewScreen
from tui.screens.record import RecordScreen
from tui.screens.send import SendScreen
from tui.screens.tenants import TenantsScreen
from tui.screens.upload import UploadScreen
from tui.source import DataSource, DeadLetter, Offline, Record

SCREENS = Binding.Group("Screens")  # one footer entry for o t e d (? names each)
GLOBAL_ACTIONS = {"switch_mode", "send", "upload", "help", "command_palette"}


class JobicoApp(App[None]):
    TITLE = "Jobico"
    COMMANDS = App.COMMANDS | {JobicoCommands}
    COMMAND_PALETTE_BINDING = "colon"
    CSS_PATH = "app.tcss"
    MODES = {
        "overview": OverviewScreen,
        "tenants": TenantsScreen,
        "executions": ExecutionsScreen,
        "dead": DeadScreen,
    }
    DEFAULT_MODE = "overview"
    BINDINGS = [
        Binding("o", "switch_mode('overview')", "Overview", group=SCREENS),
        Binding("t", "switch_mode('tenants')", "Tenants", group=SCREENS),
        Binding("e", "switch_mode('executions')", "Executions", group=SCREENS),
        Binding("d", "switch_mode('dead')", "Dead letters", group=SCREENS),
        Binding("s", "send", "Send"),
        Binding("u", "upload", "Upload"),
        Binding("colon", "command_palette", "Palette", key_display=":"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: DataSource) -> None:
        super().__init__()
        self.source = source
        self.sub_title = str(source.home)
        self._offline_shown = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool:
        """Screen-changing keys wait while a dialog or the offline screen is up."""
        blocked = isinstance(self.screen, ModalScreen | OfflineScreen)
        return not (blocked and action in GLOBAL_ACTIONS)

    def on_mount(self) -> None:
        self.check_online()

    @work(exclusive=True, group="online")
    async def check_online(self) -> None:
        try:
            await self.source.overview()
        except Offline:
            self.show_offline()
        except JobicoError:
            return  # one component down: the screens say which

    def show_offline(self) -> None:
        """Cover the current screen with the offline message (once), until the home is up."""
        if not self._offline_shown:
            self._offline_shown = True
            self.push_screen(OfflineScreen(), lambda _: self._back_online())

    def _back_online(self) -> None:
        self._offline_shown = False

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    @work(exclusive=True, group="dialog")
    async def action_send(self) -> None:
        try:
            catalog = await self.source.catalog()
        except JobicoError as exc:
            self.notify(fmt.said(exc), title="No catalog", severity="error", markup=False)
            return
        await self.push_screen_wait(SendScreen(catalog))

    @work(exclusive=True, group="dialog")
    async def action_upload(self) -> None:
        try:
            tenants = (await self.source.catalog()).tenants()
        except JobicoError as exc:
            self.notify(fmt.said(exc), title="No catalog", severity="error", markup=False)
            return
        await self.push_screen_wait(UploadScreen(tenants))

    async def jump_to_tenant(self, tenant: str, event: str | None = None) -> None:
        await self.switch_mode("tenants")
        screen = self.screen
        if isinstance(screen, TenantsScreen):
            screen.reveal(tenant, event)

    async def search_executions(self, text: str) -> None:
        await self.switch_mode("executions")
        screen = self.screen
        if isinstance(screen, ExecutionsScreen):
            screen.search(text)

    def open_record(self, record: Record) -> None:
        self.push_screen(RecordScreen(record))

    def open_dead_letter(self, letter: DeadLetter) -> None:
        self.push_screen(DeadLetterScreen(letter))

    def show_logs(self, component: str) -> None:
        self.push_screen(LogScreen(component, self.source.log_file(component)))

    @work(group="admin")
    async def run_admin(self, action: Callable[..., Awaitable[bool]], *args: Any) -> None:
        """Run one of tui/actions.py (they ask in dialogs, so they need a worker; not
        exclusive: a second action must not cancel one waiting for its yes)."""
        await action(self, *args)

    async def on_unmount(self) -> None:
        await self.source.close()


def run_tui(home: Path) -> None:
    """Open the dashboard on ``home`` (what `jobico tui` calls); returns when the user quits."""
    from tui.client import PlatformClient  # the RPC shell is only needed for a real home

    JobicoApp(PlatformClient(home)).run()
