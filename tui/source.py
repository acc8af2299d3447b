"""What the screens see: plain data and the one interface they read it through.

Screens never touch sockets. They call a ``DataSource``: ``PlatformClient``
(tui/client.py) in production, a fixed in-memory source in tests, so every
screen can be drawn and snapshot-tested without a running platform.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jobico.errors import Unavailable
from tui.times import epoch


class Offline(Unavailable):
    """Nothing is running in the home: the supervisor socket is missing or dead."""

    def __init__(self, home: Path) -> None:
        super().__init__(f"Nothing is running in {home}: run `jobico up` there.")
        self.home = home


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    name: str
    state: str
    pid: int | None
    restarts: int
    uptime_s: float | None
    cpu_percent: float | None = None
    rss_mb: float | None = None


@dataclass(frozen=True, slots=True)
class TenantQueue:
    tenant: str
    depth: int
    inflight: int
    dead: int
    paused: bool = False


@dataclass(frozen=True, slots=True)
class Trends:
    """The overview's sparklines: one point per ``step_s``, oldest first, None where
    nothing was measured in that step."""

    step_s: float
    accepted_per_s: tuple[float | None, ...] = ()
    runs_per_s: tuple[float | None, ...] = ()
    e2e_p99_ms: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Overview:
    """One refresh of the overview; rates are ``None`` until two samples exist."""

    components: tuple[ComponentInfo, ...]
    queues: tuple[TenantQueue, ...]
    accepted_per_s: float | None = None
    runs_per_s: Mapping[str, float] | None = None
    trends: Trends | None = None


@dataclass(frozen=True, slots=True)
class LoadError:
    file: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class EventInfo:
    tenant: str
    package: str
    event: str
    schema: Any
    wasm: str
    module_sha256: str
    abi: str
    size: int | None = None
    exports: tuple[str, ...] = ()
    schema_file: str | None = None


@dataclass(frozen=True, slots=True)
class PackageInfo:
    tenant: str
    package: str
    file: str
    version: str | None
    events: tuple[EventInfo, ...] = ()
    errors: tuple[LoadError, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalog:
    version: int
    packages: tuple[PackageInfo, ...]

    def tenants(self) -> list[str]:
        return sorted({p.tenant for p in self.packages})

    def event(self, tenant: str, event: str) -> EventInfo | None:
        for package in self.packages:
            for info in package.events:
                if package.tenant == tenant and info.event == event:
                    return info
        return None

    def events(self) -> list[EventInfo]:
        return [info for package in self.packages for info in package.events]


@dataclass(frozen=True, slots=True)
class LogLine:
    level: str
    message: str
    at: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """An execution record (SPEC §5) as the screens show it."""

    id: str
    event_id: str
    tenant: str
    package: str
    event: str
    attempt: int
    status: str
    started_at: str
    duration_ms: float
    reason: str | None = None
    code: int | None = None
    result: str = ""
    truncated: bool = False
    logs: tuple[LogLine, ...] = ()
    module_sha256: str = ""
    accepted_at: str | None = None  # None in records written before SPEC §5 named it

    def searchable(self) -> str:
        """What the recorder's ``text`` filter looks in (recorder/index.py), lower-cased."""
        fields = (self.id, self.event_id, self.tenant, self.package, self.event, self.status,
                  self.reason or "")
        return " ".join(fields).lower()


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records the executions list asks the recorder for; ``None`` means any.

    ``text`` is the recorder's substring search; ``since`` (inclusive) and ``until``
    (exclusive) are ISO 8601 times of ``started_at``.
    """

    tenant: str | None = None
    event: str | None = None
    status: str | None = None
    text: str | None = None
    since: str | None = None
    until: str | None = None

    def matches(self, record: Record) -> bool:
        """The recorder's own rule, for records that reach the screen another way."""
        if any(getattr(record, k) != getattr(self, k) for k in ("tenant", "event", "status")
               if getattr(self, k)):
            return False
        if self.text and self.text.lower() not in record.searchable():
            return False
        started = epoch(record.started_at)
        since, until = epoch(self.since), epoch(self.until)
        if started is not None and since is not None and started < since:
            return False
        return started is None or until is None or started < until


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    tenant: str
    event: str
    attempt: int
    reason: str
    body: str = ""
    dead_at: float | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """Where a file went and ctl's verdict on it: ``kind`` is "package" for .toml (deploy),
    else "file"; ``loaded`` when ctl serves the file at ``sha256``; ``errors`` are ctl's
    load errors naming it. Neither within the wait: ctl has not picked it up (yet)."""

    tenant: str
    path: str
    sha256: str
    kind: str = field(default="file")
    loaded: bool = False
    errors: tuple[LoadError, ...] = ()


class DataSource(Protocol):
    """Everything the dashboard reads and does. Errors: ``Offline`` when nothing runs,
    ``Unavailable`` when one component is down, ``UserError`` for a bad request."""

    home: Path

    async def overview(self) -> Overview: ...

    async def catalog(self) -> Catalog: ...

    async def read_file(self, tenant: str, path: str) -> str: ...

    async def executions(self, filt: RecordFilter, limit: int,
                         before: str | None = None) -> list[Record]:
        """The newest ``limit`` matching records, newest first; with ``before`` (a record id),
        those after that record in this order (the recorder's paging). Errors: ``NotFound``
        when the recorder keeps no record ``before``."""
        ...

    def follow(self, filt: RecordFilter, backlog: int = 0
               ) -> AbstractAsyncContextManager[AsyncIterator[Record]]:
        """Entered once the stream is open: the newest ``backlog`` matching records (oldest
        first), then each new one as it is stored."""
        ...

    async def record(self, record_id: str) -> Record: ...

    async def attempts(self, event_id: str) -> list[Record]: ...

    async def dead(self, tenant: str | None = None) -> list[DeadLetter]: ...

    async def replay(self, ids: list[str] | None = None, tenant: str | None = None) -> int: ...

    async def purge(self, ids: list[str] | None = None, tenant: str | None = None) -> int: ...

    async def send(self, tenant: str, event: str, item: Any) -> list[str]: ...

    async def upload(self, tenant: str, path: Path) -> Upload: ...

    async def restart(self, component: str) -> None: ...

    async def pause(self, tenant: str) -> None: ...

    async def resume(self, tenant: str) -> None: ...

    def log_file(self, component: str) -> Path: ...

    async def close(self) -> None: ...
