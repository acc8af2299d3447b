"""The queue's narrow interface to a storage engine.

Kept small on purpose (DESIGN.md "Beyond one machine"): enqueue a batch,
lease, renew, settle, dead letters, stats, pause. A new engine (Redis Streams, say) is
a new module implementing ``Backend``, not a rewrite of the service.

Durability is explicit: every call that writes returns a *commit* number, and
``flush`` makes everything up to some commit durable. The service answers an
enqueue only once ``flush`` has passed its commit (group commit: many callers
share one write and one fsync). A backend with nothing to make durable returns
commit 0 throughout.

What a backend takes and hands back (``Delivery``, ``Settlement``, ``Settled``...)
is defined in ``jobico.queue.api``: the same objects cross the socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jobico.ctl import api as ctl_api
from jobico.errors import QueueFull, UserError
from jobico.names import check_event, check_id
from jobico.queue.api import (
    Applied,
    DeadLetter,
    Delivery,
    EnqueueResult,
    Renewed,
    Settled,
    Settlement,
    TenantStats,
)
from jobico.queue.keys import check_key


def check_tenant(tenant: object) -> str:
    """A tenant id, validated: it names files, so it must match SPEC §1."""
    return check_id(tenant, "tenant")


def check_enqueue(tenant: str, event: str, items: Sequence[bytes], key: str | None,
                  digest: str | None, scope: str) -> None:
    """What every backend checks of an ``enqueue`` before touching its state (a caller
    in the same process skips ``queue_api.Enqueue.from_wire``)."""
    check_tenant(tenant)
    check_event(event)
    check_key(key, digest, scope)
    if not items or not all(isinstance(body, bytes) for body in items):
        raise UserError("items must be a non-empty list of bytes")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-tenant bounds: items queued or in flight, and items leased at once."""

    max_depth: int = 1_000_000
    max_inflight: int = 1_000_000


LimitsFor = Callable[[str], Limits]


@dataclass(frozen=True, slots=True)
class Packages:
    """What the queue knows of packages, from ctl's catalog: which package each
    ``(tenant, event)`` belongs to, and each ``(tenant, package)``'s ``[limits]``
    ``max_concurrency`` (``caps``) and ``max_queue_depth`` (``depths``), only for
    packages that set them. ``events`` is derived: each package's events, whose items
    count against its depth."""

    of: Mapping[tuple[str, str], str] = field(default_factory=dict)
    caps: Mapping[tuple[str, str], int] = field(default_factory=dict)
    depths: Mapping[tuple[str, str], int] = field(default_factory=dict)
    events: Mapping[tuple[str, str], tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        events: dict[tuple[str, str], list[str]] = {}
        for (tenant, event), package in self.of.items():
            events.setdefault((tenant, package), []).append(event)
        object.__setattr__(self, "events", {k: tuple(sorted(v)) for k, v in events.items()})

    def depth_cap(self, tenant: str, event: str) -> tuple[str, int, tuple[str, ...]] | None:
        """The package of ``event`` when it has a ``max_queue_depth``: its name, that cap
        and the events sharing it."""
        package = self.of.get((tenant, event))
        cap = self.depths.get((tenant, package)) if package is not None else None
        if package is None or cap is None:
            return None
        return package, cap, self.events[(tenant, package)]

    @classmethod
    def from_catalog(cls, catalog: ctl_api.Catalog) -> Packages:
        """Which package each event belongs to, and the caps of the packages that set them."""
        of = {(job.tenant, job.event): job.package for job in catalog.jobs()}
        concurrency: dict[tuple[str, str], int] = {}
        depths: dict[tuple[str, str], int] = {}
        for tenant, entry in catalog.tenants.items():
            for package, summary in entry.packages.items():
                limits = summary.limits
                for found, cap in ((concurrency, limits.max_concurrency), (depths, limits.max_queue_depth)):
                    if cap is not None and cap > 0:  # 0, None: unlimited
                        found[(tenant, package)] = cap
        return cls(of, concurrency, depths)


def queue_full(tenant: str, depth: int, limit: int, package: str | None = None) -> QueueFull:
    """An enqueue over a depth limit, with the tenant's own figures (its sender sees them in
    the 503)."""
    whose = f"tenant {tenant}" + (f" package {package}" if package is not None else "")
    return QueueFull(f"{whose} queue is full: {depth} of {limit} items queued")




class Backend(Protocol):
    """What the queue service needs from a storage engine.

    Errors: ``UserError`` for malformed input (naming the item), ``NotFound``
    for ids that are not dead letters, ``QueueFull`` (an ``Unavailable``) when an
    enqueue would take a tenant, or a package of it, over its depth limit. Calls
    are not thread-safe, except ``flush`` and ``pending``, which may run in a
    worker thread while the others continue.
    """

    def recover(self) -> None:
        """Load durable state; called once, before any other method."""

    def enqueue(
        self,
        tenant: str,
        event: str,
        items: Sequence[bytes],
        key: str | None,
        *,
        digest: str | None = None,
        scope: str = "sender",
    ) -> EnqueueResult:
        """Queue items under new, increasing ids.

        A known ``(scope, tenant, event, key)`` returns the first ids again
        (``duplicate``); with another ``digest`` it raises ``Conflict``. Every item
        still queued (ready, backing off or leased) counts against its tenant's
        ``max_depth`` and its package's ``max_queue_depth``: a batch that would pass
        either raises ``QueueFull`` and queues nothing.
        """

    def lease(
        self,
        worker: str,
        max_items: int,
        lease_ms: int,
        *,
        held: Mapping[str, int] | None = None,
        per_tenant: int | None = None,
    ) -> list[Delivery]:
        """Up to ``max_items`` ready items, fairly across tenants, held until settled or expired.

        Each tenant gives at most its in-flight cap (and each of its packages'
        ``max_concurrency``) minus what it has leased; with ``per_tenant``, also
        at most ``per_tenant - held[tenant]`` to this worker.
        """

    def renew(self, worker: str, ids: Sequence[str], lease_ms: int) -> Renewed:
        """Extend to now + ``lease_ms`` the leases ``worker`` still holds."""

    def settle(self, worker: str, results: Sequence[Settlement]) -> Settled:
        """Apply verdicts on items ``worker`` holds; any other id is ``stale`` and left as it is."""

    def set_packages(self, packages: Packages) -> None:
        """Adopt the event -> package map and package caps and depths of a new catalog."""

    def expire(self) -> int:
        """Return expired leases to their tenant's ready queue; how many."""

    def release(self, worker: str) -> int:
        """Return every lease ``worker`` holds to the ready queues now; how many items."""

    def compact(self) -> int:
        """Housekeeping that lets storage be reclaimed; the commit to flush (0: none)."""

    def dead(self, tenant: str | None) -> list[DeadLetter]: ...

    def replay(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        """Re-queue dead letters under their ids, as attempt + 1."""

    def purge(self, ids: Sequence[str] | None, tenant: str | None) -> Applied: ...

    def stats(self) -> dict[str, TenantStats]: ...

    def pause(self, tenant: str) -> None: ...

    def resume(self, tenant: str) -> None: ...

    def pending(self) -> bool:
        """Whether some commit is not yet durable."""

    def flush(self, max_records: int, max_bytes: int) -> int:
        """Write (and fsync) up to about these amounts; the highest durable commit."""

    def close(self) -> None:
        """Flush everything and release files."""
