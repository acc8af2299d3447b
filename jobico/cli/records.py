"""executions and show: what ran, page after page, live, or one record in full."""

from __future__ import annotations

import json as jsonlib
import sys
import time
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

import typer

from jobico.cli.app import (
    RECORDS_PANEL,
    HomeOption,
    JsonOption,
    OptTenant,
    ask,
    command,
    follow,
    home_of,
    json_text,
    print_json,
    print_json_line,
    print_table,
)
from jobico.cli.completion import complete_event
from jobico.cli.paging import MAX_PAGE, PAGE, pages
from jobico.cli.times import parse_when
from jobico.cli.visible import visible
from jobico.errors import NotFound, UserError
from jobico.recorder import api as recorder_api
from jobico.recorder.api import Filter, Record


class Status(StrEnum):
    ok = "ok"
    error = "error"
    timeout = "timeout"
    trap = "trap"
    limit = "limit"


COLUMNS = ["id", "tenant", "event", "try", "status", "ms", "started", "result / reason"]
# --all and --follow print lines as they come, so columns cannot be sized to fit: fixed widths
_WIDTHS = (24, 12, 16, 3, 7, 9, 23)


def _row(r: Record) -> tuple[Any, ...]:
    started = r.started_at.replace("T", " ")[:23]
    return (r.id, r.tenant, r.event, r.attempt, r.status, f"{r.duration_ms:.1f}", started,
            (r.reason or r.result or "")[:80])


def _line(r: Record) -> str:
    cells = [visible(str(v)) for v in _row(r)]
    return "  ".join([*(c.ljust(w) for c, w in zip(cells, _WIDTHS, strict=False)), cells[-1]]).rstrip()


@command(RECORDS_PANEL, "jobico executions --tenant demo --status error --since 2h --limit 20")
def executions(
    home: HomeOption = None,
    tenant: OptTenant = None,
    event: Annotated[str | None, typer.Option("--event", "-e", help="Only this event.",
                                              autocompletion=complete_event)] = None,
    status: Annotated[Status | None, typer.Option("--status", "-s", help="Only this outcome.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Started at or after: ISO time (2026-01-01T10:00, UTC) or ago (15m, 2h, 1d).")]
    = None,
    until: Annotated[str | None, typer.Option("--until", help="Started before: same forms as --since.")]
    = None,
    text: Annotated[str | None, typer.Option(
        "--text", help="Case-insensitive text in id, event id, tenant, package, event, status or reason.")]
    = None,
    before: Annotated[str | None, typer.Option(
        "--before", help="Continue after this execution id (the last of a previous page).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N records.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Stream every match (JSON lines with --json).")]
    = False,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new records.")] = False,
    json: JsonOption = False,
) -> None:
    """Query execution records, newest first; page, stream or tail them.

    --before ID continues after the last record of a page, --all streams every match
    (JSON lines with --json), --follow prints new records as they come.
    """
    where = home_of(home)
    now = time.time()
    wanted = Filter(tenant=tenant or None, event=event or None, text=text or None,
                    statuses=frozenset({status.value}) if status else None,
                    since=parse_when(since, now, "--since") if since else None,
                    until=parse_when(until, now, "--until") if until else None)
    if follow_:
        if before or all_:
            raise UserError("--follow prints new records as they come: it takes no --before or --all")
        follow(where, "recorder", recorder_api.follow.name, recorder_api.Follow(wanted).to_wire(),
               lambda item: _print_line(recorder_api.follow.decode(item), json))
        return
    found = pages(lambda query: ask(where, "recorder", recorder_api.query, query).items,
                  recorder_api.Query(wanted, before=before), None if all_ else limit,
                  page=PAGE if all_ else MAX_PAGE)
    if all_:
        for record in found:
            _print_line(record, json)
    elif json:
        _print_json_array(found)
    else:
        print_table(COLUMNS, [_row(r) for r in found])


def _print_line(record: Record, json: bool) -> None:
    """One record on a line of its own (``--all``, ``--follow``): JSON, or the table's columns."""
    if json:
        print_json_line(record.to_wire())
    else:
        typer.echo(_line(record))


def _print_json_array(records: Iterable[Record]) -> None:
    """The text ``print_json(list(records))`` prints, written one record at a time."""
    out = sys.stdout
    first = True
    for record in records:
        out.write("[\n" if first else ",\n")
        out.write("\n".join("  " + line for line in json_text(record.to_wire(), indent=2).splitlines()))
        first = False
    out.write("[]\n" if first else "\n]\n")


@command(RECORDS_PANEL, "jobico show 0190a1b2c3d4e5f6-1")
def show(
    execution_id: Annotated[str, typer.Argument(help="Execution id, or an event id.")],
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """One record with its result, logs and the event's attempt history."""
    where = home_of(home)
    try:
        record = ask(where, "recorder", recorder_api.get, recorder_api.Get(execution_id))
    except NotFound:
        history = ask(where, "recorder", recorder_api.attempts, recorder_api.Attempts(execution_id)).items
        if not history:
            raise NotFound(f"no execution or event with id {execution_id!r}") from None
        record = max(history, key=lambda r: r.attempt)
    if json:
        print_json(record.to_wire())
        return
    for key in ("id", "event_id", "tenant", "package", "event", "attempt", "status", "reason",
                "code", "accepted_at", "started_at", "duration_ms", "truncated", "module_sha256"):
        typer.echo(f"{key:>13}: {visible(str(getattr(record, key)))}")
    typer.echo("       result:")
    typer.echo(_indent(visible(_pretty(record.result), multiline=True)))
    typer.echo("         logs:")
    for log in record.logs:
        typer.echo(visible(f"    [{log.level}] {log.message}"))


def _pretty(text: str) -> str:
    try:
        return jsonlib.dumps(jsonlib.loads(text), indent=2)
    except ValueError:
        return text


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


