"""The `:` command palette: jump anywhere and run any action by typing part of its name.

Commands are built when the palette opens, from what the home runs now (tenants
and events from ctl's catalog, components and queues from the overview, dead
letters from the queue); a part that cannot be read is left out. A typed event
id or execution id is looked up in the recorder (``attempts`` / ``get``), and
any text can be searched for in the executions.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from jobico.cli.visible import visible
from jobico.errors import JobicoError
from jobico.names import EVENT_ID_RE, is_event_id
from tui import actions
from tui.source import Catalog, DeadLetter, Overview, Record

if TYPE_CHECKING:
    from tui.app import JobicoApp

EXECUTION_ID = re.compile(rf"^{EVENT_ID_RE}-[0-9]+$")
MODES = (("overview", "Overview"), ("tenants", "Tenants"), ("executions", "Executions"),
         ("dead", "Dead letters"))
SEARCH_SCORE = 0.01  # below every name that matches: "search for it" comes last
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Command:
    text: str
    help: str
    run: Callable[[], Any]


def static_commands(app: JobicoApp) -> list[Command]:
    return [
        *(Command(f"Go to {title}", f"the {title.lower()} screen", partial(app.switch_mode, mode))
          for mode, title in MODES),
        Command("Send a test event", "post JSON to an event's webhook", app.action_send),
        Command("Upload a file or deploy a package", "into a tenant, by path", app.action_upload),
        Command("Help: every key", "the ? screen", app.action_help),
    ]


def catalog_commands(app: JobicoApp, catalog: Catalog) -> list[Command]:
    commands = [Command(f"Tenant {t}", "its packages and events", partial(app.jump_to_tenant, t))
                for t in catalog.tenants()]
    commands += [Command(f"Event {e.tenant}/{e.event}", f"package {e.package}",
                         partial(app.jump_to_tenant, e.tenant, e.event))
                 for e in catalog.events()]
    return commands


def overview_commands(app: JobicoApp, overview: Overview) -> list[Command]:
    commands = []
    for c in overview.components:
        commands.append(Command(f"Restart {c.name}", f"now {c.state}; asks first",
                                partial(app.run_admin, actions.restart, c.name)))
        commands.append(Command(f"Logs of {c.name}", f".jobico/logs/{c.name}.log",
                                partial(app.show_logs, c.name)))
    for q in overview.queues:
        verb, help = ("Resume", "its queue is paused") if q.paused else ("Pause", "stop leasing")
        commands.append(Command(f"{verb} tenant {q.tenant}", help,
                                partial(app.run_admin, actions.set_paused, q.tenant, not q.paused)))
    return commands


def dead_letter_commands(app: JobicoApp, letters: list[DeadLetter]) -> list[Command]:
    commands = []
    by_tenant: dict[str, list[str]] = {}
    for d in letters:
        what = visible(f"{d.tenant}/{d.event}: {d.reason}")[:60]
        commands += [
            Command(f"Dead letter {d.id}", what, partial(app.open_dead_letter, d)),
            Command(f"Replay dead letter {d.id}", what, partial(app.run_admin, actions.replay,
                                                                [d.id])),
            Command(f"Purge dead letter {d.id}", what, partial(app.run_admin, actions.purge,
                                                               [d.id])),
        ]
        by_tenant.setdefault(d.tenant, []).append(d.id)
    for tenant, ids in sorted(by_tenant.items()):
        commands += [
            Command(f"Replay every dead letter of {tenant}", f"{len(ids)} event(s)",
                    partial(app.run_admin, actions.replay, ids)),
            Command(f"Purge every dead letter of {tenant}", f"{len(ids)} event(s)",
                    partial(app.run_admin, actions.purge, ids)),
        ]
    return commands


def record_hit(app: JobicoApp, record: Record, score: float, what: str) -> Hit:
    text = visible(f"{what} {record.id}: {record.tenant}/{record.event} attempt "
                   f"{record.attempt}, {record.status}")
    return Hit(score, Content(text), partial(app.open_record, record), text=text,
               help=visible(record.started_at))


async def _quietly(call: Awaitable[T]) -> T | None:
    """A read whose failure only leaves its commands out."""
    try:
        return await call
    except JobicoError:
        return None


class JobicoCommands(Provider):
    """Every jump and action of the dashboard, plus id lookups and a search."""

    commands: list[Command]
    letters: dict[str, DeadLetter]

    @property
    def jobico(self) -> JobicoApp:
        return cast("JobicoApp", self.app)

    async def startup(self) -> None:
        app = self.jobico
        catalog, overview, letters = await asyncio.gather(
            _quietly(app.source.catalog()), _quietly(app.source.overview()),
            _quietly(app.source.dead()))
        self.letters = {d.id: d for d in letters or ()}
        self.commands = [
            *static_commands(app),
            *(catalog_commands(app, catalog) if catalog else ()),
            *(overview_commands(app, overview) if overview else ()),
            *dead_letter_commands(app, letters or []),
        ]

    async def discover(self) -> Hits:
        for command in self.commands:
            yield DiscoveryHit(command.text, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands:
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(score, matcher.highlight(command.text), command.run, text=command.text,
                          help=command.help)
        for hit in await self.lookups(query.strip()):
            yield hit
        text = visible(f"Search executions for {query.strip()!r}")
        yield Hit(SEARCH_SCORE, Content(text), partial(self.jobico.search_executions,
                                                       query.strip()), text=text,
                  help="the recorder's text search over every record it keeps")

    async def lookups(self, query: str) -> Iterable[Hit]:
        """Hits for an execution id (``get``) or an event id (``attempts``) typed whole."""
        app = self.jobico
        if EXECUTION_ID.fullmatch(query):
            record = await _quietly(app.source.record(query))
            return [record_hit(app, record, 1.0, "Execution")] if record else []
        if not is_event_id(query):
            return []
        hits = []
        runs = await _quietly(app.source.attempts(query)) or []
        if runs:
            hits.append(record_hit(app, runs[-1], 1.0, f"Event {query}, last run"))
        if query in self.letters:
            text = f"Dead letter {query}"
            hits.append(Hit(1.0, Content(text), partial(app.open_dead_letter,
                                                        self.letters[query]), text=text))
        return hits
