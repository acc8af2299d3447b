"""The queue's semantics, in memory: the memory backend, and the core of the file one.

``MemoryBackend`` holds every queued item in memory: per tenant a FIFO of
ready items, one heap of items backing off until their not-before time, and
one heap of lease deadlines. Every change is also reported to a ``Journal``;
the memory backend's journal writes nothing, the file backend's appends
records to its logs (``journal.py``) and rebuilds this state on start
(``storage.py``). One implementation of the rules, two durabilities.

Removal is lazy: an item that leaves the ready FIFO or a heap early (acked
while ready, say) is marked and skipped when reached, and per-tenant counters
keep the figures exact.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from jobico.errors import NotFound, Unavailable, UserError
from jobico.queue.backend import (
    Applied,
    DeadLetter,
    Delivery,
    EnqueueResult,
    Limits,
    LimitsFor,
    Settlement,
    TenantStats,
    check_tenant,
)
from jobico.queue.journal import Journal, NullJournal
from jobico.queue.keys import IdempotencyKeys
from jobico.queue.policy import allocate_ids, fair_shares, format_id, parse_id, retry_delay
from jobico.queue.records import ItemsBatch

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
    lease_no: int = 0


@dataclass(slots=True)
class _Tenant:
    ready: deque[Item] = field(default_factory=deque)
    ready_n: int = 0
    delayed_n: int = 0
    inflight_n: int = 0
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
        self._leases: list[tuple[float, int, list[Item]]] = []  # one entry per lease call
        self._owners: dict[int, str] = {}  # lease number -> worker, for release()
        self._keys = IdempotencyKeys()
        self._last_id = 0
        self._seq = itertools.count(1)

    # -- writing ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Nothing survives a memory backend's process."""

    def enqueue(self, tenant: str, event: str, items: Sequence[bytes], key: str | None) -> EnqueueResult:
        check_tenant(tenant)
        if not isinstance(event, str) or not event:
            raise UserError(f"event {event!r} is not a non-empty string")
        if not items or not all(isinstance(body, bytes) for body in items):
            raise UserError("items must be a non-empty list of bytes")
        now = self._clock()
        if key is not None:
            known = self._keys.get(tenant, key, now)
            if known is not None:
                return EnqueueResult(known.ids, True, known.commit)
        state = self._tenant(tenant)
        depth = state.ready_n + state.delayed_n + state.inflight_n
        limit = self._limits(tenant).max_depth
        if depth + len(items) > limit:
            raise Unavailable(f"tenant {tenant} queue is full: {depth} of {limit} items queued")
        numbers, self._last_id = allocate_ids(self._last_id, int(now * 1_000_000), len(items))
        commit = self._journal.items(
            ItemsBatch(tenant, event, 1, now, now, key, list(zip(numbers, items, strict=True)))
        )
        fresh = [Item(n, tenant, event, 1, body, now, now) for n, body in zip(numbers, items, strict=True)]
        self._live.update((item.id, item) for item in fresh)
        state.ready.extend(fresh)
        state.ready_n += len(fresh)
        ids = [f"{n:016x}" for n in numbers]  # format_id, inlined: this is the hot path
        if key is not None:
            commit = self._journal.key(tenant, key, numbers, now)
            self._keys.put(tenant, key, ids, now, commit)
        return EnqueueResult(ids, False, commit)

    def settle(self, results: Sequence[Settlement]) -> Applied:
        now = self._clock()
        done: list[int] = []
        applied: list[str] = []
        commit = 0
        numbers = [parse_id(result.id) for result in results]  # all valid before any applies
        for number, result in zip(numbers, results, strict=True):
            item = self._live.get(number)
            if item is None:
                continue
            self._detach(item)
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
        return Applied(applied, commit)

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

    # -- leasing ---------------------------------------------------------------------------

    def lease(self, worker: str, max_items: int, lease_ms: int) -> list[Delivery]:
        now = self._clock()
        self._promote(now)
        self._expire(now)
        available = {t: s.ready_n for t, s in self._tenants.items() if s.ready_n and not s.paused}
        if not available:
            return []
        room = {t: self._limits(t).max_inflight - self._tenants[t].inflight_n for t in available}
        shares, self._rr = fair_shares(self._order, available, room, max_items, self._rr)
        lease_no = next(self._seq)
        leased: list[Item] = []
        out: list[Delivery] = []
        for tenant, count in shares.items():
            state = self._tenants[tenant]
            while count:
                item = state.ready.popleft()
                if item.state != READY:
                    continue
                count -= 1
                state.ready_n -= 1
                state.inflight_n += 1
                item.state = LEASED
                item.lease_no = lease_no
                leased.append(item)
                out.append(
                    Delivery(
                        format_id(item.id), tenant, item.event, item.attempt, item.body, item.enqueued_at
                    )
                )
        if leased:
            heapq.heappush(self._leases, (now + lease_ms / 1000, lease_no, leased))
            self._owners[lease_no] = worker
        return out

    def expire(self) -> int:
        return self._expire(self._clock())

    def compact(self) -> int:
        commit = 0
        for number in self._journal.stragglers():
            commit = self._journal_one(self._live[number])
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
        keys: Sequence[tuple[str, str, list[int], float]],
        paused: set[str],
        last_id: int,
    ) -> None:
        """Install state read back from durable logs (used by the file backend)."""
        now = self._clock()
        self._last_id = max(self._last_id, last_id)
        for item in items:
            self._add(item, now)
        for letter in letters:
            self._tenant(letter.tenant).dead[parse_id(letter.id)] = letter
        self._keys.restore(keys, now)
        for tenant in paused:
            self._tenant(tenant).paused = True

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

    def _add(self, item: Item, now: float) -> None:
        self._live[item.id] = item
        state = self._tenant(item.tenant)
        if item.not_before > now:
            item.state = DELAYED
            state.delayed_n += 1
            heapq.heappush(self._delayed, (item.not_before, next(self._seq), item))
        else:
            item.state = READY
            state.ready_n += 1
            state.ready.append(item)

    def _detach(self, item: Item) -> None:
        """Take a live item out of whichever structure holds it (lazily)."""
        state = self._tenants[item.tenant]
        if item.state == READY:
            state.ready_n -= 1
        elif item.state == DELAYED:
            state.delayed_n -= 1
        elif item.state == LEASED:
            state.inflight_n -= 1
        item.state = GONE

    def _promote(self, now: float) -> None:
        """Move items whose not-before time has come to their ready FIFO."""
        while self._delayed and self._delayed[0][0] <= now:
            item = heapq.heappop(self._delayed)[2]
            if item.state == DELAYED:
                state = self._tenants[item.tenant]
                state.delayed_n -= 1
                state.ready_n += 1
                item.state = READY
                state.ready.append(item)

    def _expire(self, now: float) -> int:
        """Expired leases go back to the *front* of their FIFO: they waited already."""
        count = 0
        while self._leases and self._leases[0][0] <= now:
            _, lease_no, items = heapq.heappop(self._leases)
            count += self._give_back(lease_no, items)
        return count

    def release(self, worker: str) -> int:
        """Give back at once every lease ``worker`` holds (a restarted worker's predecessor
        died with them): its events run again now instead of when the leases expire."""
        mine = [entry for entry in self._leases if self._owners.get(entry[1]) == worker]
        if not mine:
            return 0
        self._leases = [entry for entry in self._leases if self._owners.get(entry[1]) != worker]
        heapq.heapify(self._leases)
        return sum(self._give_back(lease_no, items) for _, lease_no, items in mine)

    def _give_back(self, lease_no: int, items: list[Item]) -> int:
        self._owners.pop(lease_no, None)
        count = 0
        for item in reversed(items):  # keep their order at the front
            if item.state == LEASED and item.lease_no == lease_no:
                state = self._tenants[item.tenant]
                state.inflight_n -= 1
                state.ready_n += 1
                item.state = READY
                state.ready.appendleft(item)
                count += 1
        return count

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
