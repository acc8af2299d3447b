"""One SVG snapshot per screen, drawn from FixedData (tests/tui/__snapshots__/).

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py
--snapshot-update`, and look at the SVGs before keeping them.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Select, TextArea

from tests.tui.conftest import SIZE, script, settle
from tests.tui.fixed import FixedData
from tui.app import JobicoApp
from tui.widgets.live_table import LiveTable


def rows(app: JobicoApp, table: str, n: int) -> bool:
    return any(t.row_count == n for t in app.screen.query(f"#{table}").results(LiveTable))


def over_loaded_overview(app: JobicoApp, screen: str) -> bool:
    """A modal ``screen`` is up and the overview under it has drawn its data (load-proof)."""
    base = app.screen_stack[0]
    return type(app.screen).__name__ == screen and any(
        t.row_count == 2 for t in base.query("#queues").results(LiveTable))


def test_overview(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        until=lambda: rows(app, "queues", 2)))


def test_tenants_with_a_load_error_highlighted(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script("t", *["down"] * 5))


def test_tenants_event_detail(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script("t", "down", "down", "down"))


def test_executions(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "e", until=lambda: rows(app, "records", 8)))


def test_record(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "e", "enter", until=lambda: rows(app, "attempts", 1)))


def test_dead_letters(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "d", until=lambda: rows(app, "dead", 2)))


def test_confirm_purge(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script("d", "x"))


def test_send_with_schema_problems(snap_compare) -> None:
    app = JobicoApp(FixedData())

    async def fill(pilot: Pilot[None]) -> None:
        app.screen.query_one("#target", Select).value = "acme/signup"
        await settle(pilot)
        app.screen.query_one("#editor", TextArea).text = '{"age": "old"}'

    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "s", until=lambda: over_loaded_overview(app, "SendScreen"), then=fill))


def test_upload(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "u", until=lambda: over_loaded_overview(app, "UploadScreen")))


def test_help(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "question_mark", until=lambda: over_loaded_overview(app, "HelpScreen")))


def test_nothing_running(snap_compare) -> None:
    app = JobicoApp(FixedData(Path("/srv/empty-home"), offline=True))
    assert snap_compare(app, terminal_size=SIZE, run_before=script())
