"""kill -9 under load: every acknowledged event runs ok exactly once, nothing stays stuck.

While events are posted continuously, the queue, an executor, the recorder, the
listener and the supervisor itself are killed with SIGKILL at random moments (the
seed is printed; ``CHAOS_SEED`` replays one). The supervisor restarts a killed
component; a killed supervisor's components stop by themselves and ``jobico up``
runs again on the same home. Then ``load.audit`` checks SPEC §3-5's promises.
The CI run is ~20 s of load with one kill of each kind; ``make chaos`` runs the
``slow`` one: a minute, three rounds of kills, ctl and repo too.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.chaos import load
from tests.e2e.conftest import Factory

pytestmark = pytest.mark.e2e

CI_VICTIMS = ["queue", "executor-1", "recorder", "listener"]
SLOW_VICTIMS = ["queue", "executor-1", "executor-2", "recorder", "listener", "ctl", "repo"]


def run_chaos(platform_factory: Factory, victims: list[str], load_s: float, batch: int = 5) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    p = platform_factory(load.CONFIG)
    load.install(p)
    traffic = load.Load(p.port, batch=batch)
    started = time.monotonic()
    traffic.start()
    kills: list[str] = []
    try:
        slot = load_s / (len(victims) + 1)
        for i, victim in enumerate(victims):
            moment = started + slot * (i + rng.uniform(0.3, 1.0))
            time.sleep(max(0.0, moment - time.monotonic()))
            load.kill(p, victim)
            kills.append(f"{victim}@{time.monotonic() - started:.1f}s")
        time.sleep(max(0.0, started + load_s - time.monotonic()))
    finally:
        traffic.stop()
    drain_started = time.monotonic()
    result = load.audit(p, traffic.acked)
    print(f"\nchaos seed={seed} load={load_s:.0f}s kills: {' '.join(kills)}\n"
          f"answers: {dict(traffic.statuses)}\n{result.summary()}; "
          f"drained in {time.monotonic() - drain_started:.1f}s")
    load.assert_promises_kept(result)


def test_kill_9_of_each_component_and_the_supervisor_under_load(platform_factory: Factory) -> None:
    victims = [*random.sample(CI_VICTIMS, len(CI_VICTIMS)), "supervisor"]
    run_chaos(platform_factory, victims, load_s=20)


@pytest.mark.slow
def test_long_chaos_with_repeated_kills(platform_factory: Factory) -> None:
    victims: list[str] = []
    for _ in range(3):
        victims += [*random.sample(SLOW_VICTIMS, len(SLOW_VICTIMS)), "supervisor"]
    run_chaos(platform_factory, victims, load_s=60, batch=2)  # kills stretch it: stay under the audit's cap
