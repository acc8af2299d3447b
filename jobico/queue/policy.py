"""Pure queue decisions: retry schedule, fair leasing, package caps, event ids.

No clock, no I/O and no global random state: every input is a parameter, so
each rule tests in microseconds and reads as the contract it implements.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from jobico.names import EVENT_ID_PATTERN, check_event_id

RETRY_FIRST_S = 1.0
RETRY_CAP_S = 60.0
RETRY_JITTER = 0.25


def retry_delay(failed_attempt: int, rng: random.Random) -> float:
    """Seconds before the retry that follows attempt ``failed_attempt`` (1-based).

    SPEC §4: the first retry after about 1 s, doubling each time, ±25 % jitter,
    capped at 60 s after the jitter (from the seventh failure on, 48 to 60 s). The
    one copy of the schedule: the executor names it as the delay of every retry it
    settles (``jobico.executor.settle``); the queue applies it to a retry that names none.
    """
    base = RETRY_FIRST_S * 2.0 ** min(max(failed_attempt - 1, 0), 16)  # 2^16 s is far past the cap
    return min(RETRY_CAP_S, base * rng.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER))


def fair_shares(
    tenants: Sequence[str],
    available: Mapping[str, int],
    room: Mapping[str, int],
    max_items: int,
    start: int,
) -> tuple[dict[str, int], int]:
    """How many items to lease from each tenant, and where the next call starts.

    Round robin, one item per tenant per round, beginning at ``tenants[start]``:
    a tenant with a deep backlog gets no more per round than one with a single
    item, so a flood cannot starve anyone. ``room`` is each tenant's remaining
    in-flight allowance (its cap minus what it has leased). The returned start
    is just past the last tenant served, so the next lease begins with the
    tenant that would have come next.
    """
    count = len(tenants)
    if count == 0 or max_items <= 0:
        return {}, 0
    start %= count
    shares: dict[str, int] = {}
    limit: dict[str, int] = {}
    eligible: list[tuple[int, str]] = []
    for i in range(count):
        tenant = tenants[(start + i) % count]
        limit[tenant] = min(available.get(tenant, 0), room.get(tenant, 0))
        if limit[tenant] > 0:
            eligible.append(((start + i + 1) % count, tenant))
    given = 0
    next_start = start
    while eligible and given < max_items:
        # As many whole rounds as every eligible tenant can take, at once ...
        rounds = min(
            min(limit[t] - shares.get(t, 0) for _, t in eligible), (max_items - given) // len(eligible)
        )
        if rounds == 0:
            # ... then one more item each for the first few, in order.
            eligible = eligible[: max_items - given]
            rounds = 1
        for _, tenant in eligible:
            shares[tenant] = shares.get(tenant, 0) + rounds
        given += rounds * len(eligible)
        next_start = eligible[-1][0]
        eligible = [(after, t) for after, t in eligible if shares[t] < limit[t]]
    return shares, next_start


def lane_shares(
    lanes: Sequence[str],
    ready: Mapping[str, int],
    group_of: Mapping[str, str],
    room: Mapping[str, int],
    count: int,
    start: int,
) -> tuple[dict[str, int], int]:
    """How many items to lease from each of a tenant's lanes (its events), and the next start.

    The rule of ``fair_shares`` one level down: one item per lane per round,
    from ``lanes[start]``, a lane giving at most its ``ready`` items. Lanes of
    one group (a package) share that group's ``room`` (its ``max_concurrency``
    minus what it has leased), so a package at its cap gives nothing more while
    the tenant's other packages still do; a lane whose group has no entry in
    ``room`` (or no group: "") is not limited by it. Each round either gives an item to a lane or
    drops it, so this costs O(count + lanes); without caps it is ``fair_shares``, by whole rounds.
    """
    size = len(lanes)
    if size == 0 or count <= 0:
        return {}, start
    if not any(group_of.get(lane, "") in room for lane in lanes):  # no cap applies: tenants' rule
        return fair_shares(lanes, ready, ready, count, start)
    start %= size
    left = dict(room)
    shares: dict[str, int] = {}
    active = [(start + i) % size for i in range(size)]
    given = 0
    next_start = start
    while active and given < count:
        kept = []
        for pos in active:
            if given == count:
                break
            lane = lanes[pos]
            group = group_of.get(lane, "")
            if shares.get(lane, 0) >= ready.get(lane, 0) or left.get(group, 1) <= 0:
                continue
            shares[lane] = shares.get(lane, 0) + 1
            if group in left:
                left[group] -= 1
            given += 1
            next_start = (pos + 1) % size
            kept.append(pos)
        active = kept
    return shares, next_start


def allocate_ids(last: int, now_us: int, count: int) -> tuple[list[int], int]:
    """``count`` new event ids, strictly above ``last``; returns them and the new last.

    An id is microseconds since the epoch, bumped past ``last`` so ids keep
    increasing through bursts and clock steps backwards.
    """
    first = max(now_us, last + 1)
    return list(range(first, first + count)), first + count - 1


def format_id(number: int) -> str:
    """The 16 lower-case hex digits users see (they sort as strings like the numbers)."""
    return f"{number:016x}"


def parse_id(text: object) -> int:
    """The number behind an event id string; a malformed one is the caller's error."""
    if isinstance(text, str) and EVENT_ID_PATTERN.fullmatch(text):  # the hot path: one call
        return int(text, 16)
    return int(check_event_id(text), 16)  # raises, naming the id
