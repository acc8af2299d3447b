"""The chaos plan replays from its seed alone: same seed, same victims at the same moments."""

from __future__ import annotations

import random

import pytest

from tests.chaos.schedule import SUPERVISOR, plan, seed_from_env

POOL = ["queue", "executor-1", "executor-2", "recorder", "listener", "ctl", "repo"]


def test_the_same_seed_gives_the_same_plan_whatever_the_global_random_state() -> None:
    random.seed(1)
    first = plan(1234, POOL, rounds=3, load_s=60)
    random.seed(2)
    random.random()
    again = plan(1234, POOL, rounds=3, load_s=60)
    assert again == first


def test_planning_does_not_draw_from_the_global_random() -> None:
    random.seed(7)
    state = random.getstate()
    plan(99, POOL, rounds=2, load_s=30)
    assert random.getstate() == state


def test_other_seeds_give_other_victim_orders_and_moments() -> None:
    plans = [plan(seed, POOL, rounds=1, load_s=60) for seed in range(20)]
    assert len({tuple(k.victim for k in p.kills) for p in plans}) > 10
    assert len({tuple(k.at_s for k in p.kills) for p in plans}) == 20


def test_each_round_kills_every_component_once_then_the_supervisor_in_order_of_time() -> None:
    made = plan(5, POOL, rounds=3, load_s=60)
    victims = [k.victim for k in made.kills]
    size = len(POOL) + 1
    for r in range(3):
        assert sorted(victims[r * size:(r + 1) * size - 1]) == sorted(POOL)
        assert victims[(r + 1) * size - 1] == SUPERVISOR
    moments = [k.at_s for k in made.kills]
    assert moments == sorted(moments) and moments[0] > 0 and moments[-1] < 60
    assert f"CHAOS_SEED=5 load=60s plan: {victims[0]}@" in made.describe()


def test_chaos_seed_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOS_SEED", "424242")
    assert seed_from_env() == 424242
    monkeypatch.delenv("CHAOS_SEED")
    assert 0 <= seed_from_env() < 1 << 32
