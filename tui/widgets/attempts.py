"""Every run of one event, in attempt order (the record and dead-letter screens)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tui import fmt
from tui.source import Record
from tui.widgets.live_table import LiveTable


class AttemptsTable(LiveTable):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("attempt", "status", "reason", "started", "duration", "record", **kwargs)

    def show(self, attempts: Sequence[Record]) -> None:
        self.sync({a.id: (str(a.attempt), fmt.status(a.status), a.reason or "", a.started_at,
                          fmt.number(a.duration_ms, " ms"), a.id)
                   for a in attempts})
