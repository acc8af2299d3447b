"""The queue's semantics, in memory: the memory backend, and the core of the file one.

``MemoryBackend`` holds every queued item in memory: per tenant, a FIFO of
ready items for each event (a *lane*), one heap of items backing off until
their not-before time, and one heap of lease deadlines. Every change is also
reported to a ``Journal``; the memory backend's journal writes nothing, the
file backend's appends records to its logs (``file_journal.py``) and rebuilds
this state on start (``file_backend.py``). One implementation of the rules, two
durabilities.

Leasing is fair twice over: round robin across tenants
(``policy.fair_shares``), then across a tenant's events (``policy.lane_shares``),
within three caps: the tenant's in-flight cap (``[tenants.<t>]
max_concurrency``, across every worker), each package's ``[limits]
max_concurrency`` (which event belongs to which package comes from ctl's
catalog, ``set_packages``), and the caller's ``per_tenant`` bound. A lease
belongs to its worker: only that worker renews or settles it (anyone else's
settle is ``stale``), and ``release`` gives back all of a worker's leases.

An enqueue is refused (``QueueFull``) when it would take the tenant's items
(ready, backing off or leased) past its ``max_depth``, or those of the event's
package past the package's ``[limits] max_queue_depth``: each tenant counts its
live items per event, so a package's depth is the sum over its few events.

Removal from the heaps is lazy: an entry whose item has moved on (settled,
renewed to a later deadline) is skipped when reached, and per-tenant counters
keep the figures exact.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from jobico.errors import NotFound, UserError
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
from jobico.queue.backend import Limits, LimitsFor, Packages, check_enqueue, check_tenant, queue_full
from jobico.queue.journal import Journal, NullJournal
from jobico.queue.keys import IdempotencyKeys, KeyEntry, KeyName, stored
from jobico.queue.leases import Lease, LeaseGroup
from jobico.queue.log_records import ItemsBatch
from jobico.queue.policy import allocate_ids, fair_shares, format_id, lane_shares, parse_id, retry_delay

READY, DELAYED, LEASED, GONE = range(4)


@dataclass(slots=True, eq=False)
class Item:
    id: int
    tenant: str
    event: str
    attempt: int
    body: bytes
    enqueued_at: float
    not_before: float
    state: int = READY
    # While LEASED: the holder, when its lease ends unless renewed, the lease's
    # length, and the package whose in-flight count it takes ("" for none).
    worker: str = ""
    deadline: float = 0.0
    lease_ms: int = 0
    package: str = ""


@dataclass(slots=True)
class _Tenant:
    lanes: dict[str, deque[Item]] = field(default_factory=dict)  # event -> its ready items, in order
    lane_ready: Counter[str] = field(default_factory=Counter)
    lane_rr: int = 0
    ready_n: int = 0
    delayed_n: int = 0
    inflight_n: int = 0
    package_inflight: Counter[str] = field(default_factory=Counter)
    live: Counter[str] = field(default_factory=Counter)  # event -> its items ready, backing off or leased
    paused: bool = False
    dead: dict[int, DeadLetter] = field(default_factory=dict)


class MemoryBackend:
    """A complete queue in memory (see ``backend.Backend`` for the contract)."""

    def __init__(
        self,
        limits: LimitsFor = lambda _tenant: Limits(),
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        journal: Journal | None = None,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._rng = rng or random.Random()
        self._journal: Journal = journal or NullJournal()
        self._live: dict[int, Item] = {}
        self._tenants: dict[str, _Tenant] = {}
        self._order: list[str] = []
        self._rr = 0
        self._delayed: list[tuple[float, int, Item]] = []
        self._leases: list[tuple[float, int, list[Item]]] = []  # one entry per lease or renew call
        self._held: dict[str, dict[int, Item]] = {}  # worker -> the items it holds, in lease order
        self._packages = Packages()
        self._keys = IdempotencyKeys()
        self._last_id = 0
        self._seq = itertools.count(1)

    # -- writing ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Nothing survives a memory backend's process."""

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
        check_enqueue(tenant, event, items, key, digest, scope)
        now = self._clock()
        name = KeyName(scope, tenant, event, key) if key is not None else None
        if name is not None:
            known = self._keys.get(name, digest, now)
            if known is not None:
                return EnqueueResult(known.ids, True, known.commit)
        state = self._tenant(tenant)
        depth = state.ready_n + state.delayed_n + state.inflight_n
        limit = self._limits(tenant).max_depth
        if depth + len(items) > limit:
            raise queue_full(tenant, depth, limit)
        capped = self._packages.depth_cap(tenant, event)
        if capped is not None:
            package, cap, events = capped
            depth = sum([state.live.get(e, 0) for e in events])
            if depth + len(items) > cap:
                raise queue_full(tenant, depth, cap, package)
        numbers, self._last_id = allocate_ids(self._last_id, int(now * 1_000_000), len(items))
        key_field = stored(name, digest) if name is not None else None
        commit = self._journal.items(
            ItemsBatch(tenant, event, 1, now, now, key_field, list(zip(numbers, items, strict=True)))
        )
        fresh = [Item(n, tenant, event, 1, body, now, now) for n, body in zip(numbers, items, strict=True)]
        self._live.update((item.id, item) for item in fresh)
        lane = state.lanes.get(event)
        if lane is None:
            lane = state.lanes[event] = deque()
        lane.extend(fresh)
        state.lane_ready[event] += len(fresh)
        state.ready_n += len(fresh)
        state.live[event] += len(fresh)
        ids = [f"{n:016x}" for n in numbers]  # format_id, inlined: this is the hot path
        if name is not None:
            commit = self._journal.key(tenant, key_field, numbers, now)
            self._keys.put(name, ids, now, commit, digest)
        return EnqueueResult(ids, False, commit)

    def settle(self, worker: str, results: Sequence[Settlement]) -> Settled:
        now = self._clock()
        done: list[int] = []
        applied: list[str] = []
        stale: list[str] = []
        commit = 0
        numbers = [parse_id(result.id) for result in results]  # all valid before any applies
        mine = self._held.get(worker, {})
        for number, result in zip(numbers, results, strict=True):
            item = mine.get(number)
            if item is None:  # not leased, or leased by another worker (this one's lease expired)
                stale.append(result.id)
                continue
            self._unhold(item)
            item.state = GONE
            applied.append(result.id)
            if result.outcome == "retry":
                delay = (
                    result.delay_ms / 1000
                    if result.delay_ms is not None
                    else retry_delay(item.attempt, self._rng)
                )
                again = Item(
                    item.id,
                    item.tenant,
                    item.event,
                    item.attempt + 1,
                    item.body,
                    item.enqueued_at,
                    now + delay,
                )
                commit = self._journal_one(again)
                self._add(again, now)
                continue
            del self._live[item.id]
            live = self._tenants[item.tenant].live
            live[item.event] -= 1
            if not live[item.event]:
                del live[item.event]
            done.append(item.id)
            if result.outcome == "dead":
                letter = DeadLetter(
                    result.id,
                    item.tenant,
                    item.event,
                    item.attempt,
                    item.body,
                    item.enqueued_at,
                    now,
                    result.reason,
                )
                self._tenant(item.tenant).dead[item.id] = letter
                commit = self._journal.dead(item.tenant, [letter])
        if done:
            commit = self._journal.done(done)
        return Settled(applied, stale, commit)

    def replay(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        now = self._clock()
        commit = 0
        letters = self._select_dead(ids, tenant)
        for letter in letters:
            item = Item(
                parse_id(letter.id),
                letter.tenant,
                letter.event,
                letter.attempt + 1,
                letter.body,
                letter.enqueued_at,
                now,
            )
            commit = self._journal_one(item)
            self._add(item, now)
        return Applied([letter.id for letter in letters], max(commit, self._drop_dead(letters)))

    def purge(self, ids: Sequence[str] | None, tenant: str | None) -> Applied:
        letters = self._select_dead(ids, tenant)
        return Applied([letter.id for letter in letters], self._drop_dead(letters))

    def pause(self, tenant: str) -> None:
        self._tenant(check_tenant(tenant)).paused = True
        self._journal.paused({name for name, state in self._tenants.items() if state.paused})

    def resume(self, tenant: str) -> None:
        self._tenant(check_tenant(tenant)).paused = False
        self._journal.paused({name for name, state in self._tenants.items() if state.paused})

    def set_packages(self, packages: Packages) -> None:
        """Adopt a new catalog's packages; leases held now are recounted under them."""
        self._packages = packages
        for state in self._tenants.values():
            state.package_inflight.clear()
        for mine in self._held.values():
            for item in mine.values():
                item.package = packages.of.get((item.tenant, item.event), "")
                if item.package:
                    self._tenants[item.tenant].package_inflight[item.package] += 1

    # -- leasing ---------------------------------------------------------------------------

    def lease(
        self,
        worker: str,
        max_items: int,
        lease_ms: int,
        *,
        held: Mapping[str, int] | None = None,
        per_tenant: int | None = None,
    ) -> list[Delivery]:
        now = self._clock()
        self._promote(now)
        self._expire(now)
        plans: dict[str, tuple[list[str], dict[str, str], dict[str, int]]] = {}
        available: dict[str, int] = {}
        for name, state in self._tenants.items():
            if not state.ready_n or state.paused:
                continue
            room = self._limits(name).max_inflight - state.inflight_n
            if per_tenant is not None:
                room = min(room, per_tenant - (held or {}).get(name, 0))
            if room <= 0:
                continue
            lanes = [event for event, count in state.lane_ready.items() if count]
            group_of, group_room = self._package_room(name, state, lanes)
            shares, _ = lane_shares(lanes, state.lane_ready, group_of, group_room, min(room, max_items),
                                    state.lane_rr)
            if shares:
                available[name] = sum(shares.values())
                plans[name] = (lanes, group_of, group_room)
        if not available:
            return []
        shares, self._rr = fair_shares(self._order, available, available, max_items, self._rr)
        deadline = now + lease_ms / 1000
        leased: list[Item] = []
        out: list[Delivery] = []
        mine = self._held.get(worker)
        if mine is None:
            mine = self._held[worker] = {}
        for tenant, count in shares.items():
            state = self._tenants[tenant]
            lanes, group_of, group_room = plans[tenant]
            per_lane, state.lane_rr = lane_shares(
                lanes, state.lane_ready, group_of, group_room, count, state.lane_rr
            )
            for event, n in per_lane.items():
                lane = state.lanes[event]
                package = group_of.get(event, "")
                state.lane_ready[event] -= n
                state.ready_n -= n
                state.inflight_n += n
                if package:
                    state.package_inflight[package] += n
                while n:  # _hold, inlined: this is the hot path
                    item = lane.popleft()
                    if item.state != READY:
                        continue
                    n -= 1
                    item.state, item.worker, item.deadline = LEASED, worker, deadline
                    item.lease_ms, item.package = lease_ms, package
                    mine[item.id] = item
                    leased.append(item)
                    out.append(
                        Delivery(
                            format_id(item.id), tenant, item.event, item.attempt, item.body, item.enqueued_at
                        )
                    )
                if not lane:
                    del state.lanes[event], state.lane_ready[event]
        heapq.heappush(self._leases, (deadline, next(self._seq), leased))
        self._journal.leased([(worker, deadline, lease_ms, [(item.id, item.attempt) for item in leased])])
        return out

    def renew(self, worker: str, ids: Sequence[str], lease_ms: int) -> Renewed:
        """Only the holder renews, even past the deadline as long as no one else leased the item:
        the sweeper may not have run yet, and the holder is still running it."""
        now = self._clock()
        numbers = [parse_id(text) for text in ids]
        deadline = now + lease_ms / 1000
        mine = self._held.get(worker, {})
        renewed: list[str] = []
        lost: list[str] = []
        items: list[Item] = []
        for text, number in zip(ids, numbers, strict=True):
            item = mine.get(number)
            if item is None:
                lost.append(text)
                continue
            item.deadline = deadline
            item.lease_ms = lease_ms
            renewed.append(text)
            items.append(item)
        if items:
            heapq.heappush(self._leases, (deadline, next(self._seq), items))
            self._journal.leased([(worker, deadline, lease_ms, [(item.id, item.attempt) for item in items])])
        return Renewed(renewed, lost)

    def expire(self) -> int:
        return self._expire(self._clock())

    def release(self, worker: str) -> int:
        """Give back at once every lease ``worker`` holds (a restarted worker's predecessor
        died with them): its events run again now instead of when the leases expire."""
        items = list(self._held.get(worker, {}).values())
        for item in reversed(items):  # keep their order at the front
            self._give_back(item)
        if items:
            self._journal.freed([item.id for item in items])
        return len(items)

    def compact(self) -> int:
        commit = 0
        for number in self._journal.stragglers():
            commit = self._journal_one(self._live[number])
        if self._journal.leases_full():
            self._journal.rotate_leases(self._lease_groups())
        return commit

    # -- reading ---------------------------------------------------------------------------

    def dead(self, tenant: str | None) -> list[DeadLetter]:
        names = [check_tenant(tenant)] if tenant is not None else sorted(self._tenants)
        letters = [
            letter for name in names if name in self._tenants for letter in self._tenants[name].dead.values()
        ]
        return sorted(letters, key=lambda letter: letter.id)

    def stats(self) -> dict[str, TenantStats]:
        return {
            name: TenantStats(s.ready_n + s.delayed_n, s.inflight_n, len(s.dead), s.paused)
            for name, s in sorted(self._tenants.items())
        }

    # -- durability ------------------------------------------------------------------------

    def pending(self) -> bool:
        return self._journal.pending()

    def flush(self, max_records: int, max_bytes: int) -> int:
        return self._journal.flush(max_records, max_bytes)

    def close(self) -> None:
        self._journal.close()

    # -- internals -------------------------------------------------------------------------

    def _restore(
        self,
        items: Sequence[Item],
        letters: Sequence[DeadLetter],
        keys: Sequence[KeyEntry],
        paused: set[str],
        last_id: int,
        leases: Mapping[int, Lease],
    ) -> None:
        """Install state read back from durable logs (used by the file backend).

        A lease of the item's current attempt is held again by its worker. Its
        holder could not renew it while the queue was down, so it runs for at
        least its length again from now.
        """
        now = self._clock()
        self._last_id = max(self._last_id, last_id)
        by_deadline: dict[float, list[Item]] = {}
        for item in items:
            lease = leases.get(item.id)
            if lease is None or lease.attempt != item.attempt:
                self._add(item, now)
                continue
            self._live[item.id] = item
            self._tenant(item.tenant).live[item.event] += 1
            deadline = max(lease.deadline, now + lease.lease_ms / 1000)
            self._hold(item, lease.worker, deadline, lease.lease_ms, "")
            by_deadline.setdefault(deadline, []).append(item)
        for deadline, held in by_deadline.items():
            heapq.heappush(self._leases, (deadline, next(self._seq), held))
        for letter in letters:
            self._tenant(letter.tenant).dead[parse_id(letter.id)] = letter
        self._keys.restore(keys, now)
        for tenant in paused:
            self._tenant(tenant).paused = True

    def _lease_groups(self) -> list[LeaseGroup]:
        """Every lease held now, grouped as they are journaled."""
        groups: dict[tuple[str, float, int], list[tuple[int, int]]] = {}
        for worker, mine in self._held.items():
            for item in mine.values():
                groups.setdefault((worker, item.deadline, item.lease_ms), []).append((item.id, item.attempt))
        return [(worker, deadline, ms, pairs) for (worker, deadline, ms), pairs in groups.items()]

    def _journal_one(self, item: Item) -> int:
        """Journal one item as it now stands (a retry, a replay, a straggler copied forward)."""
        return self._journal.items(
            ItemsBatch(item.tenant, item.event, item.attempt, item.enqueued_at, item.not_before, None,
                       [(item.id, item.body)])
        )

    def _tenant(self, name: str) -> _Tenant:
        state = self._tenants.get(name)
        if state is None:
            state = self._tenants[name] = _Tenant()
            self._order.append(name)
        return state

    def _package_room(
        self, tenant: str, state: _Tenant, lanes: list[str]
    ) -> tuple[dict[str, str], dict[str, int]]:
        """Each lane's package, and the room left under each package cap of the tenant."""
        of, caps = self._packages.of, self._packages.caps
        group_of: dict[str, str] = {}
        room: dict[str, int] = {}
        for event in lanes:
            package = of.get((tenant, event))
            if package is None:
                continue
            group_of[event] = package
            cap = caps.get((tenant, package))
            if cap is not None:
                room[package] = cap - state.package_inflight[package]
        return group_of, room

    def _add(self, item: Item, now: float) -> None:
        """Queue ``item``: new (a replay, a recovered item), or the next attempt of a live one."""
        state = self._tenant(item.tenant)
        if item.id not in self._live:  # a retry was counted live when first queued
            state.live[item.event] += 1
        self._live[item.id] = item
        if item.not_before > now:
            item.state = DELAYED
            state.delayed_n += 1
            heapq.heappush(self._delayed, (item.not_before, next(self._seq), item))
        else:
            self._ready(item, state, front=False)

    def _ready(self, item: Item, state: _Tenant, *, front: bool) -> None:
        item.state = READY
        state.ready_n += 1
        state.lane_ready[item.event] += 1
        lane = state.lanes.get(item.event)
        if lane is None:
            lane = state.lanes[item.event] = deque()
        if front:
            lane.appendleft(item)
        else:
            lane.append(item)

    def _hold(self, item: Item, worker: str, deadline: float, lease_ms: int, package: str) -> None:
        """Make ``item`` LEASED by ``worker`` (its ready counts are the caller's)."""
        state = self._tenant(item.tenant)
        state.inflight_n += 1
        if package:
            state.package_inflight[package] += 1
        item.state = LEASED
        item.worker, item.deadline, item.lease_ms, item.package = worker, deadline, lease_ms, package
        mine = self._held.get(worker)
        if mine is None:
            mine = self._held[worker] = {}
        mine[item.id] = item

    def _unhold(self, item: Item) -> None:
        """Undo ``_hold``: the item is no longer leased (its new state is the caller's)."""
        state = self._tenants[item.tenant]
        state.inflight_n -= 1
        if item.package:
            state.package_inflight[item.package] -= 1
        mine = self._held[item.worker]
        del mine[item.id]
        if not mine:
            del self._held[item.worker]
        item.worker = item.package = ""

    def _promote(self, now: float) -> None:
        """Move items whose not-before time has come to their ready FIFO."""
        while self._delayed and self._delayed[0][0] <= now:
            item = heapq.heappop(self._delayed)[2]
            if item.state == DELAYED:
                state = self._tenants[item.tenant]
                state.delayed_n -= 1
                self._ready(item, state, front=False)

    def _expire(self, now: float) -> int:
        """Expired leases go back to the *front* of their FIFO: they waited already."""
        freed: list[int] = []
        while self._leases and self._leases[0][0] <= now:
            for item in reversed(heapq.heappop(self._leases)[2]):  # keep their order at the front
                if item.state == LEASED and item.deadline <= now:
                    self._give_back(item)
                    freed.append(item.id)
        if freed:
            self._journal.freed(freed)
        return len(freed)

    def _give_back(self, item: Item) -> None:
        self._unhold(item)
        self._ready(item, self._tenants[item.tenant], front=True)

    def _select_dead(self, ids: Sequence[str] | None, tenant: str | None) -> list[DeadLetter]:
        """The dead letters named by ``ids``, or all of ``tenant``'s; unknown ids are an error."""
        if ids is None:
            if tenant is None:
                raise UserError("name the dead letters: ids or a tenant")
            return self.dead(tenant)
        found: dict[int, DeadLetter] = {}
        for text in ids:
            number = parse_id(text)
            letter = next((s.dead[number] for s in self._tenants.values() if number in s.dead), None)
            if letter is None or (tenant is not None and letter.tenant != tenant):
                raise NotFound(f"event {text} is not a dead letter" + (f" of {tenant}" if tenant else ""))
            found[number] = letter
        return list(found.values())

    def _drop_dead(self, letters: Sequence[DeadLetter]) -> int:
        commit = 0
        by_tenant: dict[str, list[int]] = {}
        for letter in letters:
            number = parse_id(letter.id)
            del self._tenants[letter.tenant].dead[number]
            by_tenant.setdefault(letter.tenant, []).append(number)
        for tenant, numbers in by_tenant.items():
            commit = self._journal.undead(tenant, numbers)
        return commit
