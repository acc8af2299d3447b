"""dead, replay, purge, pause, resume, restart: the admin actions of the dashboard."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jobico.cli.app import (
    ADMIN_PANEL,
    EXIT_ERROR,
    HomeOption,
    JsonOption,
    OptTenant,
    ask,
    command,
    fail,
    home_of,
    print_json,
    print_table,
)
from jobico.cli.completion import complete_component, complete_tenant
from jobico.names import check_id
from jobico.queue import api as queue_api
from jobico.rpc.api import Call
from supervisor import api as supervisor_api

AllOption = Annotated[bool, typer.Option("--all", help="Every dead-lettered event of --tenant.")]
EventIdArgument = Annotated[str | None, typer.Argument(help="Event id (from `jobico dead`).")]
TenantArgument = Annotated[str, typer.Argument(help="Tenant id.", autocompletion=complete_tenant)]


@command(ADMIN_PANEL, "jobico dead --tenant demo")
def dead(home: HomeOption = None, tenant: OptTenant = None, json: JsonOption = False) -> None:
    """Dead-lettered events: every attempt failed."""
    entries = ask(home_of(home), "queue", queue_api.dead, queue_api.ListDead(tenant or None))
    if json:
        print_json(entries.to_wire())
        return
    print_table(["event id", "tenant", "event", "attempts", "reason"],
                [(e.id, e.tenant, e.event, e.attempt, e.reason[:70]) for e in entries.letters])


def _target(event_id: str | None, all_: bool, tenant: str | None, verb: str) -> queue_api.Selection:
    if all_ == (event_id is not None):
        raise typer.BadParameter("give one EVENT_ID, or --all --tenant T", param_hint=verb)
    if event_id is not None:
        return queue_api.Selection(ids=(event_id,))
    if not tenant:
        raise typer.BadParameter("--all needs --tenant T", param_hint=verb)
    return queue_api.Selection(tenant=tenant)


@command(ADMIN_PANEL, "jobico replay --all --tenant demo")
def replay(
    event_id: EventIdArgument = None, all_: AllOption = False, tenant: OptTenant = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Re-queue dead-lettered events under the same event id."""
    result = ask(home_of(home), "queue", queue_api.replay, _target(event_id, all_, tenant, "replay"))
    _done(result, "replayed", json)


@command(ADMIN_PANEL, "jobico purge --all --tenant demo --yes")
def purge(
    event_id: EventIdArgument = None, all_: AllOption = False, tenant: OptTenant = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before purging --all.")] = False,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Drop dead-lettered events for good; --all asks first."""
    target = _target(event_id, all_, tenant, "purge")
    where = home_of(home)
    if all_ and not yes:
        count = len(ask(where, "queue", queue_api.dead, queue_api.ListDead(tenant)).letters)
        if not typer.confirm(f"purge all {count} dead-lettered event(s) of tenant {tenant!r} "
                             "for good?", default=False, err=True):
            fail("nothing purged")
    _done(ask(where, "queue", queue_api.purge, target), "purged", json)


def _done(result: queue_api.Applied, verb: str, json: bool) -> None:
    ids = result.ids
    if json:
        print_json({verb: ids})
        return
    typer.echo(f"{verb} {len(ids)} event(s)")
    if not ids:
        raise typer.Exit(EXIT_ERROR)


@command(ADMIN_PANEL, "jobico pause demo")
def pause(tenant: TenantArgument, home: HomeOption = None, json: JsonOption = False) -> None:
    """Stop leasing a tenant's events to executors; the webhook still accepts them."""
    _pause_or_resume(tenant, queue_api.pause, home, json)


@command(ADMIN_PANEL, "jobico resume demo")
def resume(tenant: TenantArgument, home: HomeOption = None, json: JsonOption = False) -> None:
    """Run a paused tenant's events again, the waiting ones first."""
    _pause_or_resume(tenant, queue_api.resume, home, json)


def _pause_or_resume(tenant: str, verb: Call[queue_api.OfTenant, queue_api.Paused], home: Any,
                     json: bool) -> None:
    check_id(tenant)
    result = ask(home_of(home), "queue", verb, queue_api.OfTenant(tenant))
    if json:
        print_json(result.to_wire())
    else:
        typer.echo(f"tenant {tenant} {'paused' if result.paused else 'resumed'}")


@command(ADMIN_PANEL, "jobico restart executor-1")
def restart(
    component: Annotated[str, typer.Argument(help="Component name (see `jobico status`).",
                                             autocompletion=complete_component)],
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Restart one component: SIGTERM, then the supervisor starts it again."""
    result = ask(home_of(home), "supervisor", supervisor_api.restart, supervisor_api.Restart(component))
    if json:
        print_json(result.to_wire())
    else:
        typer.echo(f"restarting {component}")


