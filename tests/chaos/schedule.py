"""The chaos plan: which component dies when, derived from a seed and nothing else.

A failing chaos run is only worth something if it can be run again exactly: the
victims' order and the kill moments both come from ``random.Random(seed)`` (never
the process-wide ``random``, which other code may draw from), so ``CHAOS_SEED=<n>``
replays the same plan. ``plan`` is a pure function, tested as such in
``test_schedule.py``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class Kill:
    victim: str
    at_s: float  # seconds after the load started


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    load_s: float
    kills: tuple[Kill, ...]

    def describe(self) -> str:
        """One line a failing run prints, enough to recognise and replay it."""
        moments = " ".join(f"{k.victim}@{k.at_s:.1f}s" for k in self.kills)
        return f"CHAOS_SEED={self.seed} load={self.load_s:.0f}s plan: {moments}"


def plan(seed: int, pool: Sequence[str], rounds: int, load_s: float) -> Plan:
    """``rounds`` times every component of ``pool`` in a shuffled order, then the supervisor.

    The load is cut into one slot per kill (plus a quiet one at the end), and each
    kill lands at a random moment in the last 70 % of its slot, so consecutive
    kills are never closer than 30 % of a slot.
    """
    rng = random.Random(seed)
    victims: list[str] = []
    for _ in range(rounds):
        victims += [*rng.sample(list(pool), len(pool)), SUPERVISOR]
    slot = load_s / (len(victims) + 1)
    kills = tuple(Kill(victim, slot * (i + rng.uniform(0.3, 1.0))) for i, victim in enumerate(victims))
    return Plan(seed, load_s, kills)


def seed_from_env() -> int:
    """``CHAOS_SEED`` when set (to replay a run), else a fresh random seed."""
    given = os.environ.get("CHAOS_SEED")
    return int(given) if given else random.SystemRandom().randrange(1 << 32)
