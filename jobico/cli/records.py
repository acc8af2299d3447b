"""executions, show, dead, replay, purge: what ran, what failed for good, and what to do about it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from jobico.cli.app import (
    HomeOption,
    JsonOption,
    app,
    follow,
    home_of,
    print_json,
    print_json_line,
    print_table,
    rpc,
)
from jobico.cli.visible import visible
from jobico.errors import NotFound, UserError
from jobico.rpc.errors import RemoteError

STATUSES = ("ok", "error", "timeout", "trap", "limit")
OptTenant = Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every dead-lettered event of --tenant.")]
EventIdArgument = Annotated[str | None, typer.Argument(help="Event id (from `jobico dead`).")]


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    started = str(r["started_at"]).replace("T", " ")[:23]
    return (r["id"], r["tenant"], r["event"], r["attempt"], r["status"], f"{r['duration_ms']:.1f}",
            started, (r.get("reason") or r.get("result") or "")[:80])


COLUMNS = ["id", "tenant", "event", "try", "status", "ms", "started", "result / reason"]


@app.command()
def executions(
    home: HomeOption = None,
    tenant: OptTenant = None,
    event: Annotated[str | None, typer.Option("--event", "-e", help="Only this event.")] = None,
    status: Annotated[str | None, typer.Option("--status", "-s", help="ok|error|timeout|trap|limit")]
    = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO time, e.g. 2026-01-01T10:00")]
    = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N records.")] = 50,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new records.")]
    = False,
    json: JsonOption = False,
) -> None:
    """Query execution records, newest first; --follow tails new ones."""
    if status and status not in STATUSES:
        raise UserError(f"--status {status!r}: must be one of {', '.join(STATUSES)}")
    where = home_of(home)
    filters = {k: v for k, v in {"tenant": tenant, "event": event, "status": status}.items() if v}
    if since:
        filters["since"] = _timestamp(since)
    if follow_:
        each = print_json_line if json else (lambda r: typer.echo(visible("  ".join(map(str, _row(r))))))
        follow(where, "recorder", "follow", filters, each)
        return
    records = rpc(where, "recorder", "query", {**filters, "limit": limit})
    if json:
        print_json(records)
    else:
        print_table(COLUMNS, [_row(r) for r in records])


def _timestamp(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since {text!r}: expected an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@app.command()
def show(
    execution_id: Annotated[str, typer.Argument(help="Execution id, or an event id.")],
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """One record with its result, logs and the event's attempt history."""
    where = home_of(home)
    try:
        record = rpc(where, "recorder", "get", {"id": execution_id})
    except (NotFound, RemoteError) as exc:
        if not isinstance(exc, NotFound):
            raise
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
    import json as jsonlib

    try:
        return jsonlib.dumps(jsonlib.loads(text), indent=2)
    except ValueError:
        return text


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@app.command()
def dead(home: HomeOption = None, tenant: OptTenant = None, json: JsonOption = False) -> None:
    """Dead-lettered events: every attempt failed."""
    entries = rpc(home_of(home), "queue", "dead", {"tenant": tenant} if tenant else {})
    if json:
        print_json(entries)
        return
    print_table(["event id", "tenant", "event", "attempts", "reason"],
                [(e["id"], e["tenant"], e["event"], e["attempt"], (e.get("reason") or "")[:70])
                 for e in entries])


def _target(event_id: str | None, all_: bool, tenant: str | None, verb: str) -> dict[str, Any]:
    if all_ == (event_id is not None):
        raise UserError(f"{verb}: give one EVENT_ID, or --all --tenant T")
    if all_:
        if not tenant:
            raise UserError(f"{verb} --all needs --tenant T")
        return {"tenant": tenant}
    return {"ids": [event_id]}


@app.command()
def replay(
    event_id: EventIdArgument = None, all_: AllOption = False, tenant: OptTenant = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Re-queue dead-lettered events under the same event id."""
    result = rpc(home_of(home), "queue", "replay", _target(event_id, all_, tenant, "replay"))
    _done(result, "replayed", json)


@app.command()
def purge(
    event_id: EventIdArgument = None, all_: AllOption = False, tenant: OptTenant = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Drop dead-lettered events for good."""
    result = rpc(home_of(home), "queue", "purge", _target(event_id, all_, tenant, "purge"))
    _done(result, "purged", json)


def _done(result: Any, verb: str, json: bool) -> None:
    ids = result.get("ids", []) if isinstance(result, dict) else list(result or [])
    if json:
        print_json({verb: ids})
        return
    typer.echo(f"{verb} {len(ids)} event(s)")
    if not ids:
        raise typer.Exit(1)
