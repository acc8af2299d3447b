"""`?`: every key of the dashboard in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Jobico dashboard

| key | does |
|---|---|
| `o` `t` `e` `d` | Overview · Tenants · Executions · Dead letters |
| `s` | send a test event (JSON checked against the event's schema) |
| `u` | upload a schema or wasm, or deploy a package (.toml), by path |
| `/` | filter every list and log on the screen (Esc clears) |
| `Tab` / `Shift+Tab` | move focus |
| `Enter` | open the highlighted item |
| `q` | quit, `?` this help |

**Overview** `R` restart the highlighted component · `p` pause or resume the
highlighted tenant's queue.
**Tenants** `v` view the package or schema text.
**Executions** `f` follow the newest · `space` pause the tail · `Enter` open a record.
**Dead letters** `r` replay one · `A` replay all shown · `x` purge one · `X` purge all shown.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Markdown(HELP)
