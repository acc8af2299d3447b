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
    command,
    follow,
    home_of,
    json_text,
    print_json,
    print_json_line,
    print_table,
    rpc,
)
from jobico.cli.completion import complete_event
from jobico.cli.paging import MAX_PAGE, PAGE, pages
from jobico.cli.times import parse_when
from jobico.cli.visible import visible
from jobico.errors import NotFound, UserError


class Status(StrEnum):
    ok = "ok"
    error = "error"
    timeout = "timeout"
    trap = "trap"
    limit = "limit"


COLUMNS = ["id", "tenant", "event", "try", "status", "ms", "started", "result / reason"]
# --all and --follow print lines as they come, so columns cannot be sized to fit: fixed widths
_WIDTHS = (24, 12, 16, 3, 7, 9, 23)


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    started = str(r["started_at"]).replace("T", " ")[:23]
    return (r["id"], r["tenant"], r["event"], r["attempt"], r["status"], f"{r['duration_ms']:.1f}",
            started, (r.get("reason") or r.get("result") or "")[:80])


def _line(r: dict[str, Any]) -> str:
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
    filters: dict[str, Any] = {k: v for k, v in {"tenant": tenant, "event": event, "text": text,
                                                 "status": status.value if status else None}.items() if v}
    if since:
        filters["since"] = parse_when(since, now, "--since")
    if until:
        filters["until"] = parse_when(until, now, "--until")
    if follow_:
        if before or all_:
            raise UserError("--follow prints new records as they come: it takes no --before or --all")
        each = print_json_line if json else (lambda r: typer.echo(_line(r)))
        follow(where, "recorder", "follow", filters, each)
        return
    found = pages(lambda params: rpc(where, "recorder", "query", params), filters,
                  None if all_ else limit, before, page=PAGE if all_ else MAX_PAGE)
    if all_:
        for record in found:
            print_json_line(record) if json else typer.echo(_line(record))
    elif json:
        _print_json_array(found)
    else:
        print_table(COLUMNS, [_row(r) for r in found])


def _print_json_array(records: Iterable[Any]) -> None:
    """The text ``print_json(list(records))`` prints, written one record at a time."""
    out = sys.stdout
    first = True
    for record in records:
        out.write("[\n" if first else ",\n")
        out.write("\n".join("  " + line for line in json_text(record, indent=2).splitlines()))
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
        record = rpc(where, "recorder", "get", {"id": execution_id})
    except NotFound:
        history = rpc(where, "recorder", "attempts", {"event_id": execution_id})
        if not history:
            raise NotFound(f"no execution or event with id {execution_id!r}") from None
        record = max(history, key=lambda r: r["attempt"])
    if json:
        print_json(record)
        return
    for key in ("id", "event_id", "tenant", "package", "event", "attempt", "status", "reason",
                "code", "accepted_at", "started_at", "duration_ms", "truncated", "module_sha256"):
        typer.echo(f"{key:>13}: {visible(str(record.get(key)))}")
    typer.echo("       result:")
    typer.echo(_indent(visible(_pretty(record.get("result") or ""), multiline=True)))
    typer.echo("         logs:")
    for log in record.get("logs") or []:
        typer.echo(visible(f"    [{log['level']}] {log['message']}"))


def _pretty(text: str) -> str:
    try:
        return jsonlib.dumps(jsonlib.loads(text), indent=2)
    except ValueError:
        return text


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


