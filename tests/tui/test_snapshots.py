"""One SVG snapshot per screen, drawn from FixedData (tests/tui/__snapshots__/).

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py
--snapshot-update`, and look at the SVGs before keeping them.
"""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Input, Log, Select, TextArea

from tests.tui.conftest import SIZE, script, settle
from tests.tui.fixed import FixedData
from tui.app import JobicoApp
from tui.source import LoadError
from tui.widgets.live_table import LiveTable


def rows(app: JobicoApp, table: str, n: int) -> bool:
    return any(t.row_count == n for t in app.screen.query(f"#{table}").results(LiveTable))


def over_loaded_overview(app: JobicoApp, screen: str) -> bool:
    """A modal ``screen`` is up and the overview under it has drawn its data (load-proof)."""
    base = app.screen_stack[0]
    return type(app.screen).__name__ == screen and any(
        t.row_count == 2 for t in base.query("#queues").results(LiveTable))


def palette_hits(app: JobicoApp) -> int:
    return sum(c.option_count for c in app.screen.query(CommandList).results(CommandList))


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


def test_component_log(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "l", until=lambda: sum(w.line_count for w in app.screen.query("#log").results(Log)) >= 40))


def test_dead_letter_with_body_and_attempts(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "d", "enter", until=lambda: rows(app, "attempts", 3)))


def test_palette_finds_a_tenant_and_its_actions(snap_compare) -> None:
    app = JobicoApp(FixedData())
    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "colon", *"globex", until=lambda: palette_hits(app) >= 4))


def test_upload_shows_the_load_error(snap_compare) -> None:
    source = FixedData()
    source.load_errors = (LoadError("billing.toml", "unknown key 'retries' in [[jobs]]", 7),)
    app = JobicoApp(source)

    async def upload(pilot: Pilot[None]) -> None:
        app.screen.query_one("#tenant", Select).value = "acme"
        app.screen.query_one("#path", Input).value = "billing.toml"
        await settle(pilot)
        await pilot.click("#upload")

    assert snap_compare(app, terminal_size=SIZE, run_before=script(
        "u", until=lambda: over_loaded_overview(app, "UploadScreen"), then=upload))
