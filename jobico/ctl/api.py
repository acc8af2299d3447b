"""ctl's RPC contract: the catalog (a call, and a stream of each new version) and the package list.

ctl's builder (``jobico.ctl.catalog``) makes these objects, its service serves
them, and every reader of the catalog takes them typed: the listener (routes),
the queue (package caps), the CLI (``packages``, ``deploy``'s verdict, ``send``'s
secret, completion) and the TUI. The pattern is ``jobico.rpc.api``'s.

The catalog on the wire is ``{"version", "tenants": {tenant: {"events": {event:
job}, "packages": {package: summary}}}}`` (docs/internals.md "Data"). Reading it,
what a reader needs to find a job is required: the version, the tenants, each
tenant's events, a job's package. Every other field may be left out or nil and
reads as its default, the package default of SPEC §2 (``timeout_ms`` 2000, ...):
the one place those defaults are applied to a catalog. ctl always sends every
field, so ``to_wire`` gives back exactly what ctl sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from jobico import caps
from jobico.errors import UserError
from jobico.names import check_id
from jobico.rpc.api import EMPTY, Call, Empty, Fields, Stream, each_of, string

if TYPE_CHECKING:
    from jobico.rpc.follow import Connect

ABIS = ("auto", "jobicolet", "wasi")
DEFAULT_ABI = "auto"
DEFAULT_ENTRY = "event"
DEFAULT_TIMEOUT_MS = 2000
DEFAULT_MEMORY_MB = 64
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAX_BODY_KB = 256
PACKAGE_STATES = ("ok", "stale", "error")

T = TypeVar("T")

Schema = dict[str, Any] | bool | None
"""A job's JSON Schema as parsed (an object or a boolean), or None: any JSON."""


@dataclass(frozen=True, slots=True)
class Job:
    """One event of a tenant: what the webhook checks and what the executor runs.

    ``schema_sha256`` keys the compiled validators; ``module_sha256`` names the
    blob ``.jobico/blobs/<sha256>.wasm`` the executor runs (``wasm`` is the
    tenant file it came from); ``abi`` is resolved by ctl (``jobicolet`` or ``wasi``).
    """

    tenant: str
    package: str
    event: str
    schema: Schema = None
    schema_sha256: str | None = None
    wasm: str = ""
    module_sha256: str = ""
    abi: str = DEFAULT_ABI
    entry: str = DEFAULT_ENTRY
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    memory_mb: int = DEFAULT_MEMORY_MB
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    on_ok: str | None = None
    on_error: str | None = None
    secret: str | None = None
    max_body_kb: int = DEFAULT_MAX_BODY_KB
    max_items: int = caps.DEFAULT_MAX_ITEMS

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "package": self.package, "event": self.event,
                "schema": self.schema, "schema_sha256": self.schema_sha256, "wasm": self.wasm,
                "module_sha256": self.module_sha256, "abi": self.abi, "entry": self.entry,
                "timeout_ms": self.timeout_ms, "memory_mb": self.memory_mb,
                "max_attempts": self.max_attempts, "on_ok": self.on_ok, "on_error": self.on_error,
                "secret": self.secret, "max_body_kb": self.max_body_kb, "max_items": self.max_items}

    @classmethod
    def from_wire(cls, data: object, tenant: str, event: str) -> Job:
        """The job found under ``tenant`` and ``event`` (the document repeats both inside it)."""
        where = f"job {tenant}/{event}"
        f, raw = _read(data, where)
        schema = raw.get("schema")
        if schema is not None and type(schema) is not dict and type(schema) is not bool:
            raise UserError(f"{where} 'schema' must be a map, a boolean or nil, got {type(schema).__name__}")
        abi = _or(f.text_or_none("abi"), DEFAULT_ABI)
        if abi not in ABIS:
            raise UserError(f"{where} 'abi' must be one of {', '.join(ABIS)}, got {abi!r:.40}")
        return cls(
            tenant, f.text("package"), event, schema, f.text_or_none("schema_sha256"),
            _or(f.text_or_none("wasm"), ""), _or(f.text_or_none("module_sha256"), ""), abi,
            _or(f.text_or_none("entry"), DEFAULT_ENTRY),
            _or(f.integer_or_none("timeout_ms"), DEFAULT_TIMEOUT_MS),
            _or(f.integer_or_none("memory_mb"), DEFAULT_MEMORY_MB),
            _or(f.integer_or_none("max_attempts"), DEFAULT_MAX_ATTEMPTS),
            f.text_or_none("on_ok"), f.text_or_none("on_error"), f.text_or_none("secret"),
            _or(f.integer_or_none("max_body_kb"), DEFAULT_MAX_BODY_KB),
            _or(f.integer_or_none("max_items"), caps.DEFAULT_MAX_ITEMS),
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """A package's ``[limits]`` (SPEC §2): None (or 0) is unlimited."""

    max_queue_depth: int | None = None
    rate: float | None = None
    burst: int | None = None
    max_concurrency: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"max_queue_depth": self.max_queue_depth, "rate": self.rate, "burst": self.burst,
                "max_concurrency": self.max_concurrency}

    @classmethod
    def from_wire(cls, data: object) -> Limits:
        f, raw = _read(data, "limits")
        rate = None if raw.get("rate") is None else f.number("rate")
        return cls(f.integer_or_none("max_queue_depth"), rate, f.integer_or_none("burst"),
                   f.integer_or_none("max_concurrency"))


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file a package version was loaded from (its TOML, schemas and modules)."""

    path: str
    sha256: str

    def to_wire(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256}

    @classmethod
    def from_wire(cls, data: object) -> PackageFile:
        f = Fields(data, "file")
        return cls(f.text("path"), f.text("sha256"))


@dataclass(frozen=True, slots=True)
class PackageSummary:
    """A live package in the catalog: its version, events, files and limits."""

    file: str = ""
    name: str | None = None
    version: int = 0
    events: tuple[str, ...] = ()
    files: tuple[PackageFile, ...] = ()
    limits: Limits = Limits()

    def to_wire(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "version": self.version,
                "events": list(self.events), "files": [f.to_wire() for f in self.files],
                "limits": self.limits.to_wire()}

    @classmethod
    def from_wire(cls, data: object) -> PackageSummary:
        f, raw = _read(data, "package")
        return cls(
            _or(f.text_or_none("file"), ""), f.text_or_none("name"), _or(f.integer_or_none("version"), 0),
            f.each("events", string) if "events" in raw else (),
            f.each("files", PackageFile.from_wire) if "files" in raw else (),
            Limits.from_wire(raw["limits"]) if "limits" in raw else Limits(),
        )


@dataclass(frozen=True, slots=True)
class TenantCatalog:
    """A tenant's live events (each a ``Job``) and packages (each a ``PackageSummary``)."""

    events: Mapping[str, Job]
    packages: Mapping[str, PackageSummary]

    def to_wire(self) -> dict[str, Any]:
        return {"events": {name: job.to_wire() for name, job in self.events.items()},
                "packages": {name: p.to_wire() for name, p in self.packages.items()}}

    @classmethod
    def from_wire(cls, data: object, tenant: str) -> TenantCatalog:
        where = f"tenant {tenant}"
        f, raw = _read(data, where)
        events = {name: Job.from_wire(job, tenant, name) for name, job in _entries(f, raw, "events", where)}
        packages = ({name: PackageSummary.from_wire(p) for name, p in _entries(f, raw, "packages", where)}
                    if "packages" in raw else {})
        return cls(events, packages)


@dataclass(frozen=True, slots=True)
class Catalog:
    """One published version: every tenant with a live package, and its events.

    Tenants with no live package are left out: their events do not exist.
    """

    version: int
    tenants: Mapping[str, TenantCatalog]

    def job(self, tenant: str, event: str) -> Job | None:
        """The job serving ``tenant``/``event``; None when this version has no such event."""
        found = self.tenants.get(tenant)
        return found.events.get(event) if found is not None else None

    def jobs(self) -> Iterator[Job]:
        """Every job of every tenant."""
        for tenant in self.tenants.values():
            yield from tenant.events.values()

    def to_wire(self) -> dict[str, Any]:
        return {"version": self.version,
                "tenants": {name: t.to_wire() for name, t in self.tenants.items()}}

    @classmethod
    def from_wire(cls, data: object) -> Catalog:
        f, raw = _read(data, "catalog")
        tenants = _entries(f, raw, "tenants", "catalog")
        return cls(f.integer("version"), {name: TenantCatalog.from_wire(t, name) for name, t in tenants})


EMPTY_CATALOG = Catalog(0, {})
"""What a reader holds before ctl's first version: no tenant, no event."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a package file did not load: ``file`` relative to the home, ``line`` 1-based
    (None when it cannot be placed)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def to_wire(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}

    @classmethod
    def from_wire(cls, data: object) -> Problem:
        f = Fields(data, "error")
        return cls(f.text("file"), f.integer_or_none("line"), f.text("message"))


@dataclass(frozen=True, slots=True)
class PackageStatus:
    """A package file, loaded or not: its live version (None when none ever loaded) and the
    problems of the file as it is now, while that live version keeps serving.

    ``state``: ``ok``, ``stale`` (errors, an older version live) or ``error`` (none live).
    """

    tenant: str
    package: str
    file: str
    name: str | None
    version: int | None
    state: str
    files: tuple[PackageFile, ...]
    events: tuple[str, ...]
    errors: tuple[Problem, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "package": self.package, "file": self.file, "name": self.name,
                "version": self.version, "state": self.state,
                "files": [f.to_wire() for f in self.files], "events": list(self.events),
                "errors": [e.to_wire() for e in self.errors]}

    @classmethod
    def from_wire(cls, data: object) -> PackageStatus:
        f = Fields(data, "package")
        state = f.text("state")
        if state not in PACKAGE_STATES:
            raise UserError(f"package 'state' must be one of {', '.join(PACKAGE_STATES)}, got {state!r:.40}")
        return cls(f.text("tenant"), f.text("package"), f.text("file"), f.text_or_none("name"),
                   f.integer_or_none("version"), state, f.each("files", PackageFile.from_wire),
                   f.each("events", string), f.each("errors", Problem.from_wire))


@dataclass(frozen=True, slots=True)
class ListPackages:
    """Every package file, or one tenant's (``tenant`` None: all)."""

    tenant: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {} if self.tenant is None else {"tenant": self.tenant}

    @classmethod
    def from_wire(cls, data: object) -> ListPackages:
        tenant = Fields(data).text_or_none("tenant")
        return cls(None if tenant is None else check_id(tenant))


@dataclass(frozen=True, slots=True)
class PackageList:
    """Package files sorted by tenant then package (an array on the wire)."""

    packages: tuple[PackageStatus, ...]

    def to_wire(self) -> list[dict[str, Any]]:
        return [p.to_wire() for p in self.packages]

    @classmethod
    def from_wire(cls, data: object) -> PackageList:
        return cls(each_of(data, PackageStatus.from_wire, "packages"))


catalog = Call("catalog", Empty.from_wire, Catalog.from_wire)
"""The current version."""

catalog_stream = Stream("catalog", Empty.from_wire, Catalog.from_wire)
"""The current version, then each new one; a slow reader skips to the latest. The
stream ends only when ctl stops (``follow_catalog`` then subscribes again)."""

packages = Call("packages", ListPackages.from_wire, PackageList.from_wire)
"""**Errors:** ``UserError`` for an invalid tenant id."""


async def follow_catalog(
    connect: Connect, adopt: Callable[[Catalog], Awaitable[object]], log: logging.Logger
) -> NoReturn:
    """Hand ``adopt`` ctl's current catalog, then every newer version, for good.

    A version off the contract is not adopted: the stream is reopened, as when ctl
    restarts, and the last good version stays with the reader.
    **Cancellation:** the only way it ends.
    """
    # imported here: follow needs trio, which the TUI (asyncio), importing this module, must not load
    from jobico.rpc.follow import follow

    await follow(connect, partial(catalog_stream, request=EMPTY), adopt, log=log,
                 what="catalog stream from ctl")


def _or(value: T | None, default: T) -> T:
    """``value``, or ``default`` when it is None (a field left out or nil)."""
    return default if value is None else value


def _read(data: object, where: str) -> tuple[Fields, dict[str, Any]]:
    """``data`` as ``Fields`` (which checks it is a map) and as the map itself."""
    f = Fields(data, where)
    return f, data if type(data) is dict else {}


def _entries(f: Fields, raw: dict[str, Any], key: str, where: str) -> Iterator[tuple[str, Any]]:
    """The entries of the map at ``key``.

    **Errors:** ``UserError`` when it is missing or not a map, or for a name that is not a string.
    """
    f.map(key)
    for name, value in raw[key].items():
        if type(name) is not str:
            raise UserError(f"{where} {key!r} names must be strings, got {type(name).__name__}")
        yield name, value


