"""`?`: every key of the dashboard in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Jobico dashboard

**Everywhere**
- `o` `t` `e` `d` Overview · Tenants · Executions · Dead letters
- `:` palette: jump to a tenant, event, execution id or event id; run any action
- `s` send a test event (checked against its schema) · `u` upload a file or deploy a
  package, then see ctl's verdict (loaded, or the load error)
- `/` filter the screen · `Enter` open · `Esc` back · `Tab` next field · `?` help · `q` quit

**Overview** `R` restart a component · `p` pause or resume a tenant's queue ·
`l` the component's log (its last 2,000 lines, followed; `f` stops following)

**Tenants** `v` view the package or schema text

**Executions** `/` searches the recorder (id, tenant, event, status, reason) ·
since/until take `15m`, `2h`, `3d` or ISO · `b` load older · `f` follow the newest ·
`space` pause the tail (it reconnects by itself after a recorder restart)

**Record** `r` replay (dead-lettered events only) · `c` copy id · `C` copy event id

**Dead letters** `Enter` body and attempts · `r` / `A` replay one / all shown ·
`x` / `X` purge one / all shown
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(HELP)
