"""FixedData: a DataSource with fixed content, for snapshots and key-binding tests.

It records every admin call in ``calls`` so tests can check that a confirmed
dialog really acted. ``live`` feeds the executions tail on demand: a record is
stored (``records``) and sent to the open follow stream; an exception put there
breaks the stream, as a recorder restart does. A follow replays its backlog from
``records`` the way the recorder does (newest matching first, sent oldest first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from jobico.errors import NotFound
from tui.source import (
    Catalog,
    ComponentInfo,
    DeadLetter,
    EventInfo,
    LoadError,
    LogLine,
    Offline,
    Overview,
    PackageInfo,
    Record,
    RecordFilter,
    TenantQueue,
    Trends,
    Upload,
)
from tui.times import epoch

SIGNUP_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}
EXPORTS = ("memory", "malloc", "free", "init", "event")


def _event(tenant: str, package: str, event: str, schema: Any = SIGNUP_SCHEMA) -> EventInfo:
    return EventInfo(tenant, package, event, schema, wasm="greet.wasm",
                     module_sha256="ab12" * 16, abi="jobicolet", size=48_213, exports=EXPORTS,
                     schema_file=f"{event}.schema.json")


CATALOG = Catalog(version=3, packages=(
    PackageInfo("acme", "signup", "signup.toml", "3",
                events=(_event("acme", "signup", "signup"), _event("acme", "signup", "welcome"))),
    PackageInfo("acme", "billing", "billing.toml", None,
                errors=(LoadError("billing.toml", "unknown key 'retries' in [[jobs]]", 7),)),
    PackageInfo("globex", "orders", "orders.toml", "1",
                events=(_event("globex", "orders", "order-placed", {"type": "object"}),)),
))


def rid(n: int, attempt: int = 1) -> str:
    """The id of ``record(n)``: its event id and attempt, as the recorder names runs."""
    return f"{n:016x}-{attempt}"


def record(n: int, status: str = "ok", attempt: int = 1, event_id: str | None = None) -> Record:
    event_id = event_id or f"{n:016x}"
    return Record(
        id=f"{event_id}-{attempt}", event_id=event_id, tenant="acme" if n % 3 else "globex",
        package="signup", event="signup", attempt=attempt, status=status,
        started_at=f"2025-01-02T03:04:{n % 60:02d}Z", duration_ms=0.3 + n / 100,
        reason=None if status == "ok" else "guest returned code 2", code=0 if status == "ok" else 2,
        result=f'{{"greeting": "hello ada", "n": {n}}}',
        logs=(LogLine("info", "starting", "2025-01-02T03:04:05Z"),
              LogLine("warn", "name looks short", "2025-01-02T03:04:05Z"),
              LogLine("error", "could not send mail", "2025-01-02T03:04:05Z")),
        module_sha256="ab12" * 16,
        accepted_at=f"2025-01-02T03:04:{n % 60:02d}Z" if n % 2 else None,
    )


RECORDS = [record(n, "error" if n % 4 == 0 else "ok") for n in range(1, 9)]
DEAD = [
    DeadLetter("000000000000000a", "acme", "signup", 3, "trap: unreachable", '{"name": "x"}',
               1735787045.0),
    DeadLetter("000000000000000b", "globex", "order-placed", 3, "timeout after 2000 ms",
               '{"order": 7}', 1735787046.0),
]
OVERVIEW = Overview(
    components=tuple(ComponentInfo(name, "running", 4100 + i, i % 2, 3725.0 + i, 1.5, 42.0)
                     for i, name in enumerate(("ctl", "repo", "listener", "queue",
                                               "executor-1", "recorder"))),
    queues=(TenantQueue("acme", 12, 3, 1), TenantQueue("globex", 0, 0, 1, paused=True)),
    accepted_per_s=125.0,
    runs_per_s={"ok": 118.0, "error": 4.0, "timeout": 1.0, "trap": 0.0, "limit": 0.0},
    trends=Trends(
        step_s=5.0,
        accepted_per_s=(None,) * 10 + tuple(100.0 + 25 * (i % 5) for i in range(50)),
        runs_per_s=(None,) * 10 + tuple(90.0 + 30 * (i % 4) for i in range(50)),
        e2e_p99_ms=(None,) * 30 + tuple(40.0 + 5 * (i % 6) for i in range(30)),
    ),
)
LOG_FILE = Path(__file__).parent / "data" / "ctl.log"


class FixedData:
    """Fixed answers; ``offline=True`` behaves like a home where nothing runs."""

    def __init__(self, home: Path = Path("/srv/demo-home"), *, offline: bool = False) -> None:
        self.home = home
        self.offline = offline
        self.calls: list[tuple[str, Any]] = []
        self.live: asyncio.Queue[Record | Exception] = asyncio.Queue()
        self.records = list(RECORDS)
        self.queries: list[tuple[RecordFilter, int, str | None]] = []
        self.follows: list[tuple[RecordFilter, int]] = []
        self.dead_letters = list(DEAD)
        self.load_errors: tuple[LoadError, ...] = ()

    def _check(self) -> None:
        if self.offline:
            raise Offline(self.home)

    async def overview(self) -> Overview:
        self._check()
        return OVERVIEW

    async def catalog(self) -> Catalog:
        self._check()
        return CATALOG

    async def read_file(self, tenant: str, path: str) -> str:
        if path.endswith(".toml"):
            return f'[[jobs]]\nevent = "signup"\nschema = "signup.schema.json"\nwasm = "{path}"\n'
        return '{"type": "object", "required": ["name"]}'

    async def executions(self, filt: RecordFilter, limit: int,
                         before: str | None = None) -> list[Record]:
        self._check()
        self.queries.append((filt, limit, before))
        newest = self._newest_first()
        if before is not None:
            at = next((i for i, r in enumerate(newest) if r.id == before), None)
            if at is None:
                raise NotFound(f"before: no execution record {before!r}")
            newest = newest[at + 1:]
        return [r for r in newest if filt.matches(r)][:limit]

    def _newest_first(self) -> list[Record]:
        """The recorder's order: newest start first, then the last stored first."""
        stored = sorted(enumerate(self.records), key=lambda nr: (epoch(nr[1].started_at), nr[0]))
        return [r for _, r in reversed(stored)]

    @asynccontextmanager
    async def follow(self, filt: RecordFilter, backlog: int = 0
                     ) -> AsyncIterator[AsyncIterator[Record]]:
        self._check()
        self.follows.append((filt, backlog))
        newest = self._newest_first()
        yield self._stream([r for r in newest if filt.matches(r)][:backlog][::-1])

    async def _stream(self, backlog: list[Record]) -> AsyncIterator[Record]:
        for r in backlog:
            yield r
        while True:
            item = await self.live.get()
            if isinstance(item, Exception):
                raise item
            self.records.append(item)
            yield item

    async def record(self, record_id: str) -> Record:
        for r in self.records:
            if r.id == record_id:
                return r
        raise NotFound(f"no record {record_id}")

    async def attempts(self, event_id: str) -> list[Record]:
        runs = [r for r in self.records if r.event_id == event_id]
        if not runs:
            dead = next((d for d in self.dead_letters if d.id == event_id), None)
            if dead is None:
                return []
            runs = [replace(record(int(event_id, 16), "trap", attempt=n, event_id=event_id),
                            tenant=dead.tenant, event=dead.event, reason=dead.reason,
                            result="") for n in range(1, dead.attempt + 1)]
        return sorted(runs, key=lambda r: r.attempt)

    async def dead(self, tenant: str | None = None) -> list[DeadLetter]:
        self._check()
        return [d for d in self.dead_letters if tenant in (None, d.tenant)]

    async def replay(self, ids: list[str] | None = None, tenant: str | None = None) -> int:
        self.calls.append(("replay", ids))
        return len(ids or ())

    async def purge(self, ids: list[str] | None = None, tenant: str | None = None) -> int:
        self.calls.append(("purge", ids))
        self.dead_letters = [d for d in self.dead_letters if d.id not in (ids or ())]
        return len(ids or ())

    async def send(self, tenant: str, event: str, item: Any) -> list[str]:
        self.calls.append(("send", (tenant, event, item)))
        return ["00000000000000ff"]

    async def upload(self, tenant: str, path: Path) -> Upload:
        self.calls.append(("upload", (tenant, path)))
        return Upload(tenant, path.name, "cd" * 32, "package" if path.suffix == ".toml" else "file",
                      loaded=not self.load_errors, errors=self.load_errors)

    async def restart(self, component: str) -> None:
        self.calls.append(("restart", component))

    async def pause(self, tenant: str) -> None:
        self.calls.append(("pause", tenant))

    async def resume(self, tenant: str) -> None:
        self.calls.append(("resume", tenant))

    def log_file(self, component: str) -> Path:
        return LOG_FILE.with_name(f"{component}.log")

    async def close(self) -> None:
        self.calls.append(("close", None))
