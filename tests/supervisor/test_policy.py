"""Restart backoff and component order: pure decisions, no clock."""

from __future__ import annotations

from jobico.config import Config, ExecutorConfig, ListenerConfig
from supervisor.policy import BASE_S, CAP_S, STABLE_S, next_failure_count, restart_delay
from supervisor.spec import components, shutdown_order, start_waves


def test_backoff_doubles_and_caps() -> None:
    delays = [restart_delay(n, ran_for_s=0.1) for n in range(1, 12)]
    assert delays[:3] == [BASE_S, BASE_S * 2, BASE_S * 4]
    assert delays == sorted(delays)
    assert max(delays) == CAP_S


def test_a_stable_run_resets_backoff() -> None:
    failures = 0
    for _ in range(8):
        failures = next_failure_count(failures, ran_for_s=0.1)
    assert restart_delay(failures, 0.1) == CAP_S
    failures = next_failure_count(failures, ran_for_s=STABLE_S + 1)
    assert failures == 1
    assert restart_delay(failures, STABLE_S + 1) == BASE_S


def test_component_names_follow_spec() -> None:
    config = Config(executor=ExecutorConfig(workers=2), listener=ListenerConfig(workers=1))
    names = [c.name for c in components(config)]
    assert names == ["repo", "ctl", "queue", "recorder", "executor-1", "executor-2", "listener"]
    several = Config(listener=ListenerConfig(workers=2))
    assert [c.name for c in components(several)][-2:] == ["listener-1", "listener-2"]


def test_shutdown_starts_with_listeners_and_ends_with_repo() -> None:
    config = Config(executor=ExecutorConfig(workers=2), listener=ListenerConfig(workers=2))
    groups = [[s.name for s in g] for g in shutdown_order(components(config))]
    assert groups == [["listener-1", "listener-2"], ["executor-1", "executor-2"], ["queue"],
                      ["recorder"], ["ctl"], ["repo"]]


def test_listeners_start_after_everything_else() -> None:
    waves = [[s.name for s in w] for w in start_waves(components(Config()))]
    assert waves == [["repo", "ctl", "queue", "recorder", "executor-1"], ["listener"]]
