"""kill -9 under load: every acknowledged event runs ok exactly once, nothing stays stuck.

While events are posted continuously, the queue, an executor, the recorder, the
listener and the supervisor itself are killed with SIGKILL at planned moments. The
plan (victims' order and moments) derives from the seed alone (``schedule.plan``);
the seed and the plan are printed first, and ``CHAOS_SEED=<n>`` replays them. An
executor is killed at its planned moment or, if it has no run in flight then, at
the first moment after it has one (``load.kill``), so executor kills land mid-run.
The supervisor restarts a killed component; a killed supervisor's components stop
by themselves and ``jobico up`` runs again on the same home.

After each kill, 202s must come back within ``LIVENESS_S`` (the time is printed
per kill). Then ``load.audit`` checks SPEC §3-5's promises, and that at least one
executor kill interrupted a run. The CI run is ~20 s of load with one kill of each
kind; the ``slow`` one (``make chaos``, also run by .ci/run) is a minute, three rounds
of kills, both executors, ctl and repo too.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos import load
from tests.chaos.schedule import Plan, plan, seed_from_env
from tests.e2e.conftest import Factory

pytestmark = pytest.mark.e2e

CI_POOL = ["queue", "executor-1", "recorder", "listener"]
SLOW_POOL = ["queue", "executor-1", "executor-2", "recorder", "listener", "ctl", "repo"]
LIVENESS_S = 15.0  # from a kill (or a new `jobico up`) to the next 202


def run_chaos(platform_factory: Factory, made: Plan, batch: int = 5) -> None:
    print(f"\n{made.describe()}", flush=True)
    p = platform_factory(load.CONFIG)
    load.install(p)
    ticks = load.Load(p.port, batch=batch)
    slow = load.Load(p.port, event=load.SLOW_EVENT, batch=1, rate=load.SLOW_RATE)
    started = time.monotonic()
    ticks.start()
    slow.start()
    blows: list[load.Blow] = []
    try:
        for planned in made.kills:
            time.sleep(max(0.0, started + planned.at_s - time.monotonic()))
            blows.append(load.kill(p, planned.victim, started))
            load.await_liveness(ticks, blows[-1], LIVENESS_S)
            print(f"  {blows[-1].describe()}", flush=True)
        time.sleep(max(0.0, started + made.load_s - time.monotonic()))
    finally:
        ticks.stop()
        slow.stop()
    drain_started = time.monotonic()
    result = load.audit(p, ticks.acked + slow.acked, blows)
    print(f"CHAOS_SEED={made.seed} answers: {dict(ticks.statuses)} (slow: {dict(slow.statuses)})\n"
          f"{result.summary()}; drained in {time.monotonic() - drain_started:.1f}s", flush=True)
    load.assert_promises_kept(result)
    if any(b.victim.startswith("executor") for b in blows):
        assert result.interrupted, (
            f"no executor kill landed mid-run (CHAOS_SEED={made.seed}): "
            f"{[b.describe() for b in blows if b.victim.startswith('executor')]}")


def test_kill_9_of_each_component_and_the_supervisor_under_load(platform_factory: Factory) -> None:
    run_chaos(platform_factory, plan(seed_from_env(), CI_POOL, rounds=1, load_s=20))


@pytest.mark.slow
def test_long_chaos_with_repeated_kills(platform_factory: Factory) -> None:
    # kills stretch the load past load_s: two items a batch keeps the records under the audit's cap
    run_chaos(platform_factory, plan(seed_from_env(), SLOW_POOL, rounds=3, load_s=60), batch=2)
