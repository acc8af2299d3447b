"""queue's RPC contract: batches in, leases out, verdicts back; dead letters, stats, pause.

The service (``jobico.queue.service``), the listener (``enqueue``), the executor
(``lease``, ``renew``, ``settle``, ``release``, chained ``enqueue``), the CLI and
the TUI import this module; the pattern is ``jobico.rpc.api``'s. The data a
backend hands back (``Delivery``, ``DeadLetter``, ``TenantStats``, ``Renewed``,
``EnqueueResult``, ``Settled``, ``Applied``) and the verdict it takes
(``Settlement``) are defined here once: the engines (``jobico.queue.backend``)
produce and take the same objects that cross the socket. Where a backend result
carries a ``commit`` (the group commit to await before answering), that number
stays in the queue: it is not on the wire, and reads back as 0.

``lease``, ``settle`` and ``enqueue`` are the hot paths: a delivery and a verdict
check their fields with a few type tests (``Fields``, naming the field, only when
one fails), and ``Delivery.to_wire`` is written out (perf/api_bench.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

from jobico.errors import UserError
from jobico.names import EVENT_ID_PATTERN, check_event, check_event_id, check_id
from jobico.rpc.api import Call, Empty, Fields, each_of, string

Outcome = Literal["ack", "retry", "dead"]
OUTCOMES: tuple[Outcome, ...] = ("ack", "retry", "dead")
_OUTCOME: dict[str, Outcome] = {o: o for o in OUTCOMES}


# --- what a backend hands back ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """A leased item: the event's id, whose it is, which attempt, its body (the item's JSON)."""

    id: str
    tenant: str
    event: str
    attempt: int
    body: bytes
    enqueued_at: float

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "event": self.event, "attempt": self.attempt,
                "body": self.body, "enqueued_at": self.enqueued_at}

    @classmethod
    def from_wire(cls, data: object) -> Delivery:
        if type(data) is dict:  # the hot path: a lease of 128 reads 128 of these
            i, t, e, a, b, q = (data.get("id"), data.get("tenant"), data.get("event"), data.get("attempt"),
                                data.get("body"), data.get("enqueued_at"))
            if (type(i) is str and type(t) is str and type(e) is str and type(a) is int and type(b) is bytes
                    and (type(q) is float or type(q) is int)):
                return cls(i, t, e, a, b, q)
        f = Fields(data, "delivery")  # something is off: say which field
        return cls(f.text("id"), f.text("tenant"), f.text("event"), f.integer("attempt"), f.blob("body"),
                   f.number("enqueued_at"))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An item whose last attempt failed (or that was dead-lettered at once), and why."""

    id: str
    tenant: str
    event: str
    attempt: int
    body: bytes
    enqueued_at: float
    dead_at: float
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "event": self.event, "attempt": self.attempt,
                "body": self.body, "enqueued_at": self.enqueued_at, "dead_at": self.dead_at,
                "reason": self.reason}

    @classmethod
    def from_wire(cls, data: object) -> DeadLetter:
        f = Fields(data, "dead letter")
        return cls(f.text("id"), f.text("tenant"), f.text("event"), f.integer("attempt"), f.blob("body"),
                   f.number("enqueued_at"), f.number("dead_at"), f.text("reason"))


@dataclass(frozen=True, slots=True)
class TenantStats:
    """``depth``: items waiting (ready or backing off); ``inflight``: leased now."""

    depth: int
    inflight: int
    dead: int
    paused: bool

    def to_wire(self) -> dict[str, Any]:
        return {"depth": self.depth, "inflight": self.inflight, "dead": self.dead, "paused": self.paused}

    @classmethod
    def from_wire(cls, data: object) -> TenantStats:
        f = Fields(data, "tenant stats")
        return cls(f.integer("depth"), f.integer("inflight"), f.integer("dead"), f.flag("paused"))


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """The ids of a batch, in item order; ``duplicate`` when a known key answered with its first ids."""

    ids: list[str]
    duplicate: bool
    commit: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"ids": self.ids, "duplicate": self.duplicate}

    @classmethod
    def from_wire(cls, data: object) -> EnqueueResult:
        f = Fields(data, "reply")
        return cls(list(f.each("ids", string)), f.flag("duplicate"))


@dataclass(frozen=True, slots=True)
class Settled:
    """What a settle did: ``applied`` ids, ``stale`` ones (not leased by the caller)."""

    applied: list[str]
    stale: list[str]
    commit: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"applied": self.applied, "stale": self.stale}

    @classmethod
    def from_wire(cls, data: object) -> Settled:
        f = Fields(data, "reply")
        return cls(list(f.each("applied", string)), list(f.each("stale", string)))


@dataclass(frozen=True, slots=True)
class Renewed:
    """``renewed``: leases the worker still holds, now extended; ``lost``: ids it no longer holds."""

    renewed: list[str]
    lost: list[str]

    def to_wire(self) -> dict[str, Any]:
        return {"renewed": self.renewed, "lost": self.lost}

    @classmethod
    def from_wire(cls, data: object) -> Renewed:
        f = Fields(data, "reply")
        return cls(list(f.each("renewed", string)), list(f.each("lost", string)))


@dataclass(frozen=True, slots=True)
class Applied:
    """The ids a replay or purge acted on."""

    ids: list[str]
    commit: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"ids": self.ids}

    @classmethod
    def from_wire(cls, data: object) -> Applied:
        return cls(list(Fields(data, "reply").each("ids", string)))


# --- requests, and the replies only the wire has ---------------------------------------


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Queue ``items`` (each one JSON body) of ``tenant``'s ``event``.

    ``key`` (idempotency) lives in ``scope``'s namespace, "sender" (a webhook's
    ``Idempotency-Key``) or "platform" (a chained event), and is bound to
    ``digest``, the body's hex sha256. The backend checks the key's fields.
    """

    tenant: str
    event: str
    items: tuple[bytes, ...]
    key: str | None = None
    digest: str | None = None
    scope: str = "sender"

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "event": self.event, "items": list(self.items), "key": self.key,
                "digest": self.digest, "scope": self.scope}

    @classmethod
    def from_wire(cls, data: object) -> Enqueue:
        f = Fields(data)
        items = f.each("items", _body)
        if not items:
            raise UserError("params 'items' must hold at least one item")
        return cls(check_id(f.text("tenant")), check_event(f.text("event")), items, f.text_or_none("key"),
                   f.text_or_none("digest"), f.text_or_none("scope") or "sender")


@dataclass(frozen=True, slots=True)
class Lease:
    """Up to ``max`` deliveries for ``worker``, each held ``lease_ms`` (None: the configured lease).

    ``wait_ms``: how long to wait for the first one (a long poll; the queue caps it).
    ``held`` (tenant -> count) and ``per_tenant`` bound what this worker gets of
    each tenant, so it keeps room for the others.
    """

    worker: str
    max: int = 1
    lease_ms: int | None = None
    wait_ms: int = 0
    held: Mapping[str, int] | None = None
    per_tenant: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"worker": self.worker, "max": self.max, "lease_ms": self.lease_ms, "wait_ms": self.wait_ms,
                "held": None if self.held is None else dict(self.held), "per_tenant": self.per_tenant}

    @classmethod
    def from_wire(cls, data: object) -> Lease:
        f = Fields(data)
        held = _held(data)
        return cls(_worker(f), _count(f, "max", 1), _count(f, "lease_ms"), _count(f, "wait_ms", 0), held,
                   _count(f, "per_tenant"))


@dataclass(frozen=True, slots=True)
class Deliveries:
    """A lease's deliveries (an array on the wire); empty when nothing was ready."""

    items: tuple[Delivery, ...]

    def to_wire(self) -> list[dict[str, Any]]:
        return [d.to_wire() for d in self.items]

    @classmethod
    def from_wire(cls, data: object) -> Deliveries:
        return cls(each_of(data, Delivery.from_wire, "deliveries"))


@dataclass(frozen=True, slots=True)
class Renew:
    """Extend to now + ``lease_ms`` (None: the configured lease) the leases ``worker`` holds of ``ids``."""

    worker: str
    ids: tuple[str, ...]
    lease_ms: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"worker": self.worker, "ids": list(self.ids), "lease_ms": self.lease_ms}

    @classmethod
    def from_wire(cls, data: object) -> Renew:
        f = Fields(data)
        return cls(_worker(f), f.each("ids", check_event_id), _count(f, "lease_ms"))


@dataclass(frozen=True, slots=True)
class Settlement:
    """The executor's verdict on one delivery.

    ``retry`` re-queues the item as attempt + 1 after ``delay_ms`` (the retry
    policy's backoff when None); ``dead`` moves it to the dead-letter log.
    """

    id: str
    outcome: Outcome
    reason: str = ""
    delay_ms: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "outcome": self.outcome, "reason": self.reason, "delay_ms": self.delay_ms}

    @classmethod
    def from_wire(cls, data: object) -> Settlement:
        if type(data) is dict:  # the hot path: one per delivery settled
            i, o, r, d = data.get("id"), data.get("outcome"), data.get("reason"), data.get("delay_ms")
            outcome = _OUTCOME.get(o) if type(o) is str else None
            if (outcome is not None and type(i) is str and EVENT_ID_PATTERN.fullmatch(i) is not None
                    and (r is None or type(r) is str) and (d is None or (type(d) is int and d >= 0))):
                return cls(i, outcome, r or "", d)
        f = Fields(data, "result")  # something is off: say which field
        said = f.text("outcome")
        outcome = _OUTCOME.get(said)
        if outcome is None:
            raise UserError(f"result 'outcome' must be one of {', '.join(OUTCOMES)}, got {said!r:.40}")
        delay = f.integer_or_none("delay_ms")
        if delay is not None and delay < 0:
            raise UserError("result 'delay_ms' must be a non-negative integer or nil")
        return cls(check_event_id(f.text("id")), outcome, f.text_or_none("reason") or "", delay)


@dataclass(frozen=True, slots=True)
class Settle:
    """Apply ``results`` to items ``worker`` holds; nothing is applied when one is malformed."""

    worker: str
    results: tuple[Settlement, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"worker": self.worker, "results": [r.to_wire() for r in self.results]}

    @classmethod
    def from_wire(cls, data: object) -> Settle:
        f = Fields(data)
        return cls(_worker(f), f.each("results", Settlement.from_wire))


@dataclass(frozen=True, slots=True)
class Release:
    """Give back every lease ``worker`` (a restarted executor's name) holds."""

    worker: str

    def to_wire(self) -> dict[str, Any]:
        return {"worker": self.worker}

    @classmethod
    def from_wire(cls, data: object) -> Release:
        return cls(_worker(Fields(data)))


@dataclass(frozen=True, slots=True)
class Released:
    released: int

    def to_wire(self) -> dict[str, Any]:
        return {"released": self.released}

    @classmethod
    def from_wire(cls, data: object) -> Released:
        return cls(Fields(data, "reply").integer("released"))


@dataclass(frozen=True, slots=True)
class ListDead:
    """Every dead letter, or one tenant's (``tenant`` None: all)."""

    tenant: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {} if self.tenant is None else {"tenant": self.tenant}

    @classmethod
    def from_wire(cls, data: object) -> ListDead:
        return cls(_tenant_or_none(Fields(data)))


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """Dead letters in id order (an array on the wire)."""

    letters: tuple[DeadLetter, ...]

    def to_wire(self) -> list[dict[str, Any]]:
        return [letter.to_wire() for letter in self.letters]

    @classmethod
    def from_wire(cls, data: object) -> DeadLetters:
        return cls(each_of(data, DeadLetter.from_wire, "dead letters"))


@dataclass(frozen=True, slots=True)
class Selection:
    """Dead letters by ``ids``, or all of ``tenant``'s; both: those ids, each checked to be the tenant's."""

    ids: tuple[str, ...] | None = None
    tenant: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {} if self.ids is None else {"ids": list(self.ids)}
        if self.tenant is not None:
            wire["tenant"] = self.tenant
        return wire

    @classmethod
    def from_wire(cls, data: object) -> Selection:
        f = Fields(data)
        ids = None if _absent(data, "ids") else f.each("ids", check_event_id)
        return cls(ids, _tenant_or_none(f))


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Each tenant's figures, by tenant (a map on the wire)."""

    tenants: Mapping[str, TenantStats]

    def to_wire(self) -> dict[str, Any]:
        return {tenant: s.to_wire() for tenant, s in self.tenants.items()}

    @classmethod
    def from_wire(cls, data: object) -> QueueStats:
        if type(data) is not dict:
            raise UserError(f"stats must be a map, got {type(data).__name__}")
        if not all(type(tenant) is str for tenant in data):
            raise UserError("stats must be keyed by tenant")
        return cls({tenant: TenantStats.from_wire(s) for tenant, s in data.items()})


@dataclass(frozen=True, slots=True)
class OfTenant:
    """The tenant to pause or resume."""

    tenant: str

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant}

    @classmethod
    def from_wire(cls, data: object) -> OfTenant:
        return cls(check_id(Fields(data).text("tenant")))


@dataclass(frozen=True, slots=True)
class Paused:
    tenant: str
    paused: bool

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "paused": self.paused}

    @classmethod
    def from_wire(cls, data: object) -> Paused:
        f = Fields(data, "reply")
        return cls(f.text("tenant"), f.flag("paused"))




def _body(data: object) -> bytes:
    if type(data) is bytes:
        return data
    raise UserError(f"an item must be bytes, got {type(data).__name__}")


def _worker(f: Fields) -> str:
    worker = f.text("worker")
    if not worker:
        raise UserError("params 'worker' must not be empty")
    return worker


@overload
def _count(f: Fields, key: str, default: int) -> int: ...
@overload
def _count(f: Fields, key: str, default: None = None) -> int | None: ...
def _count(f: Fields, key: str, default: int | None = None) -> int | None:
    """A non-negative integer at ``key``; ``default`` when it is missing or nil."""
    value = f.integer_or_none(key)
    if value is None:
        return default
    if value < 0:
        raise UserError(f"params {key!r} must be a non-negative integer, got {value}")
    return value


def _held(data: object) -> dict[str, int] | None:
    held = data.get("held") if type(data) is dict else None
    if held is None:
        return None
    if type(held) is not dict or not all(
            type(t) is str and type(n) is int and n >= 0 for t, n in held.items()):
        raise UserError("params 'held' must map tenants to non-negative integers")
    return held


def _tenant_or_none(f: Fields) -> str | None:
    tenant = f.text_or_none("tenant")
    return None if tenant is None else check_id(tenant)


def _absent(data: object, key: str) -> bool:
    return type(data) is not dict or data.get(key) is None


enqueue = Call("enqueue", Enqueue.from_wire, EnqueueResult.from_wire)
"""Answered once the batch is durable (fsync'd).

**Errors:** ``UserError`` naming the bad field; ``Conflict`` for a known key with
another ``digest``; ``QueueFull`` (an ``Unavailable``) when the tenant, or the
event's package, would go over its depth limit; ``Unavailable`` when the disk
(or Redis) failed."""

lease = Call("lease", Lease.from_wire, Deliveries.from_wire)
"""Fairly across tenants, within each tenant's and package's in-flight caps.

**Errors:** ``UserError`` for a missing worker or a negative or non-integer count."""

renew = Call("renew", Renew.from_wire, Renewed.from_wire)
"""**Errors:** ``UserError`` for a malformed id (nothing is renewed then)."""

settle = Call("settle", Settle.from_wire, Settled.from_wire)
"""Written by the next group commit, not waited for (a lost ack is one more delivery).
A result for an id ``worker`` does not hold is not applied: ``stale``.

**Errors:** ``UserError`` naming ``results[i]`` and its bad field (nothing is applied)."""

release = Call("release", Release.from_wire, Released.from_wire)
"""A no-op on Redis (its leases are per node). **Errors:** ``UserError`` for a missing worker."""

dead = Call("dead", ListDead.from_wire, DeadLetters.from_wire)
"""**Errors:** ``UserError`` for a malformed tenant."""

replay = Call("replay", Selection.from_wire, Applied.from_wire)
"""Re-queue dead letters under their ids, as attempt + 1; answered once durable.

**Errors:** ``UserError`` when neither ids nor a tenant are given; ``NotFound``
for an id that is not a dead letter (of the tenant, when given)."""

purge = Call("purge", Selection.from_wire, Applied.from_wire)
"""Drop dead letters for good; answered once durable. **Errors:** as ``replay``."""

stats = Call("stats", Empty.from_wire, QueueStats.from_wire)

pause = Call("pause", OfTenant.from_wire, Paused.from_wire)
"""Stop leasing the tenant's items (it still accepts them). **Errors:** ``UserError``."""

resume = Call("resume", OfTenant.from_wire, Paused.from_wire)
"""Lease the tenant's items again. **Errors:** ``UserError``."""
