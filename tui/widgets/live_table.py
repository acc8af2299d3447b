"""A DataTable that is refreshed in place, so a live screen never flickers.

Clearing and refilling a table every second makes it blink and loses the
cursor; instead each refresh is diffed against what is shown: rows that are
gone are removed, changed cells updated, new rows added, all by row key.
Text cells are shown as they are: DataTable would read a ``str`` as Rich markup
(a guest's result ``[/]`` raises), and a control character would reach the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from jobico.cli.visible import visible

Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class RowDiff:
    removed: list[str]
    changed: dict[str, list[tuple[int, Any]]]
    added: list[str]


def diff_rows(shown: Mapping[str, Row], wanted: Mapping[str, Row]) -> RowDiff:
    """What to do to turn the ``shown`` rows into the ``wanted`` ones (by key)."""
    changed = {}
    for key, cells in wanted.items():
        if key in shown:
            cells_changed = [(i, c) for i, (old, c) in enumerate(zip(shown[key], cells,
                                                                    strict=True)) if old != c]
            if cells_changed:
                changed[key] = cells_changed
    return RowDiff(
        removed=[k for k in shown if k not in wanted],
        changed=changed,
        added=[k for k in wanted if k not in shown],
    )


def plain(cell: Any) -> Any:
    """A ``str`` cell as literal text; renderables (styled ``Text``) pass as they are."""
    return Text(visible(cell)) if isinstance(cell, str) else cell


class LiveTable(DataTable[Any]):
    """``sync`` replaces the whole content by diff; ``append`` tails with a row bound."""

    DEFAULT_CSS = "LiveTable { height: 1fr; }"

    def __init__(self, *columns: str, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._column_names = columns
        self._shown: dict[str, Row] = {}

    def on_mount(self) -> None:
        for name in self._column_names:
            self.add_column(name, key=name)

    def sync(self, rows: Mapping[str, Row]) -> None:
        diff = diff_rows(self._shown, rows)
        for key in diff.removed:
            self.remove_row(key)
        for key, cells in diff.changed.items():
            for index, value in cells:
                self.update_cell(key, self._column_names[index], plain(value), update_width=True)
        for key in diff.added:
            self.add_row(*map(plain, rows[key]), key=key)
        self._shown = {k: tuple(v) for k, v in rows.items()}

    def append(self, key: str, cells: Row, limit: int) -> None:
        """Add a row at the bottom, dropping the oldest so at most ``limit`` remain."""
        if key in self._shown:
            return
        self.add_row(*map(plain, cells), key=key)
        self._shown[key] = tuple(cells)
        while len(self._shown) > limit:
            oldest = next(iter(self._shown))
            del self._shown[oldest]
            self.remove_row(oldest)

    @property
    def keys(self) -> list[str]:
        return list(self._shown)

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def replace(self, rows: Mapping[str, Row]) -> None:
        """Show exactly ``rows`` in their order (for a new filter, where order matters)."""
        self.clear()
        self._shown = {}
        for key, cells in rows.items():
            self.add_row(*map(plain, cells), key=key)
            self._shown[key] = tuple(cells)
