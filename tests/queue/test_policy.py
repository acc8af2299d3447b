from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobico.ctl.api import EMPTY_CATALOG, Catalog
from jobico.errors import UserError
from jobico.queue.backend import Packages
from jobico.queue.policy import allocate_ids, fair_shares, format_id, lane_shares, parse_id, retry_delay


class Fixed(random.Random):
    """A generator whose every draw is ``draw``: the jitter's ends, exactly."""

    def __init__(self, draw: float) -> None:
        super().__init__()
        self.draw = draw

    def random(self) -> float:
        return self.draw


def test_retry_delay_starts_near_one_second_doubles_and_caps_at_sixty() -> None:
    rng = random.Random(1)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0)]:
        delays = [retry_delay(attempt, rng) for _ in range(200)]
        assert base * 0.75 <= min(delays) and max(delays) <= base * 1.25
        assert max(delays) - min(delays) > base * 0.3  # jittered, not constant
    assert all(45.0 <= retry_delay(a, rng) <= 60.0 for a in (7, 20, 100) for _ in range(50))


def test_retry_delay_jitters_the_doubling_then_caps() -> None:
    assert retry_delay(1, Fixed(0.5)) == 1.0
    assert retry_delay(2, Fixed(0.5)) == 2.0
    assert retry_delay(3, Fixed(0.0)) == 3.0  # -25 %
    assert retry_delay(3, Fixed(1.0)) == 5.0  # +25 %
    assert retry_delay(7, Fixed(0.0)) == 48.0  # 64 s less 25 %: the cap comes after the jitter
    assert retry_delay(30, Fixed(1.0)) == 60.0
    assert retry_delay(5000, Fixed(1.0)) == 60.0  # no float overflow, however many attempts


def test_fair_shares_round_robin_whatever_the_backlog() -> None:
    shares, _ = fair_shares(["a", "b", "c"], {"a": 10_000, "b": 1, "c": 3}, {"a": 99, "b": 99, "c": 99}, 6, 0)
    assert shares == {"a": 3, "b": 1, "c": 2}


def test_fair_shares_respect_room_and_rotate_the_start() -> None:
    tenants = ["a", "b", "c"]
    avail = {"a": 5, "b": 5, "c": 5}
    shares, nxt = fair_shares(tenants, avail, {"a": 0, "b": 5, "c": 5}, 1, 0)
    assert shares == {"b": 1} and nxt == 2
    shares, nxt = fair_shares(tenants, avail, {"a": 5, "b": 5, "c": 5}, 1, nxt)
    assert shares == {"c": 1} and nxt == 0
    assert fair_shares(tenants, {}, {}, 10, 1) == ({}, 1)


def test_ids_increase_through_bursts_and_clock_steps() -> None:
    ids, last = allocate_ids(0, 1_000, 3)
    assert ids == [1_000, 1_001, 1_002] and last == 1_002
    ids, last = allocate_ids(last, 500, 2)  # the clock went back
    assert ids == [1_003, 1_004]
    assert format_id(255) == "00000000000000ff" and parse_id("00000000000000ff") == 255
    with pytest.raises(UserError, match="16 lower-case hex"):
        parse_id("00000000000000FF")


def one_at_a_time(
    tenants: list[str], limit: dict[str, int], max_items: int, start: int
) -> tuple[dict[str, int], int]:
    """The rule as stated: visit tenants in turn from ``start``, one item per visit."""
    shares: dict[str, int] = {}
    given, pos, nxt, idle = 0, start % len(tenants), start % len(tenants), 0
    while given < max_items and idle < len(tenants):
        tenant = tenants[pos]
        pos = (pos + 1) % len(tenants)
        if shares.get(tenant, 0) < limit[tenant]:
            shares[tenant] = shares.get(tenant, 0) + 1
            given, nxt, idle = given + 1, pos, 0
        else:
            idle += 1
    return shares, nxt


@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=6),
    st.integers(0, 100),
    st.integers(0, 10),
)
def test_fair_shares_match_the_one_at_a_time_rule(
    counts: list[tuple[int, int]], max_items: int, start: int
) -> None:
    tenants = [f"t{i}" for i in range(len(counts))]
    available = {t: a for t, (a, _) in zip(tenants, counts, strict=True)}
    room = {t: r for t, (_, r) in zip(tenants, counts, strict=True)}
    limit = {t: min(available[t], room[t]) for t in tenants}
    expected, expected_next = one_at_a_time(tenants, limit, max_items, start)
    shares, nxt = fair_shares(tenants, available, room, max_items, start)
    assert shares == expected
    if shares:
        assert nxt == expected_next


def test_lane_shares_let_a_capped_package_give_only_its_room() -> None:
    lanes = ["slow", "slower", "fast"]
    ready = {"slow": 10, "slower": 10, "fast": 10}
    group_of = {"slow": "heavy", "slower": "heavy", "fast": "light"}
    shares, nxt = lane_shares(lanes, ready, group_of, {"heavy": 3}, 8, 0)
    assert shares == {"slow": 2, "slower": 1, "fast": 5}
    assert lane_shares(lanes, ready, group_of, {"heavy": 0}, 8, 0)[0] == {"fast": 8}
    assert lane_shares(lanes, ready, {}, {}, 2, nxt)[0] == {"slow": 1, "slower": 1}  # next round goes on


def lanes_one_at_a_time(
    lanes: list[str], ready: dict[str, int], group_of: dict[str, str], room: dict[str, int], count: int,
    start: int,
) -> dict[str, int]:
    """The rule as stated: visit lanes in turn, one item per visit, while the lane and its group last."""
    shares: dict[str, int] = {}
    left = dict(room)
    pos, idle, given = start % len(lanes), 0, 0
    while given < count and idle < len(lanes):
        lane = lanes[pos]
        pos = (pos + 1) % len(lanes)
        group = group_of.get(lane, "")
        if shares.get(lane, 0) < ready[lane] and left.get(group, 1) > 0:
            shares[lane] = shares.get(lane, 0) + 1
            if group in left:
                left[group] -= 1
            given, idle = given + 1, 0
        else:
            idle += 1
    return shares


@given(
    st.lists(st.tuples(st.integers(0, 8), st.sampled_from(["", "a", "b"])), min_size=1, max_size=6),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 6)),
    st.integers(0, 40),
    st.integers(0, 10),
)
def test_lane_shares_match_the_one_at_a_time_rule(
    spec: list[tuple[int, str]], room: dict[str, int], count: int, start: int
) -> None:
    lanes = [f"e{i}" for i in range(len(spec))]
    ready = {lane: n for lane, (n, _) in zip(lanes, spec, strict=True)}
    group_of = {lane: g for lane, (_, g) in zip(lanes, spec, strict=True) if g}
    expected = lanes_one_at_a_time(lanes, ready, group_of, room, count, start)
    assert lane_shares(lanes, ready, group_of, room, count, start)[0] == expected


def test_packages_are_read_from_a_catalog_document() -> None:
    document = {"version": 3, "tenants": {
        "acme": {"events": {"signup": {"package": "flow"}, "welcome": {"package": "flow"}},
                 "packages": {"flow": {"limits": {"max_concurrency": 2, "max_queue_depth": 5}},
                              "other": {"limits": {}}}},
        "globex": {"events": {"x": {"package": "p"}},
                   "packages": {"p": {"limits": {"max_concurrency": 0, "max_queue_depth": None}}}},
    }}
    with pytest.raises(UserError, match="tenant broken must be a map"):  # refused as the stream reads it
        Catalog.from_wire({**document, "tenants": {**document["tenants"], "broken": "not a map"}})
    packages = Packages.from_catalog(Catalog.from_wire(document))
    assert packages.of == {("acme", "signup"): "flow", ("acme", "welcome"): "flow", ("globex", "x"): "p"}
    assert packages.caps == {("acme", "flow"): 2}  # 0 = unlimited
    assert packages.depths == {("acme", "flow"): 5}  # None = unlimited
    assert packages.depth_cap("acme", "welcome") == ("flow", 5, ("signup", "welcome"))
    assert packages.depth_cap("globex", "x") is None and packages.depth_cap("acme", "nothing") is None
    assert Packages.from_catalog(EMPTY_CATALOG) == Packages()
