"""Which components each role runs: pure data from the config (supervisor/spec.py)."""

from __future__ import annotations

import pytest

from jobico.config import Config, QueueConfig
from jobico.errors import ConfigError
from supervisor.spec import components, shutdown_order

REDIS = Config(queue=QueueConfig(backend="redis", url="redis://127.0.0.1:6379"))


def test_executor_role_runs_the_catalog_follower_queue_relay_and_executors() -> None:
    specs = components(REDIS, "executor")
    assert [(s.name, s.module) for s in specs] == [
        ("repo", "repo"), ("ctl", "ctl"), ("queue", "queue"),
        ("recorder", "recorder.redis_relay"), ("executor-1", "executor"),
    ]
    stops = [[s.name for s in group] for group in shutdown_order(specs)]
    assert stops == [["executor-1"], ["recorder"], ["queue"], ["ctl"], ["repo"]]


def test_main_node_on_redis_adds_the_records_inbox_stopped_before_the_recorder() -> None:
    specs = components(REDIS)
    assert ("records", "recorder.redis_inbox") in [(s.name, s.module) for s in specs]
    stops = [s.name for group in shutdown_order(specs) for s in group]
    assert stops.index("records") < stops.index("recorder")
    assert "records" not in [s.name for s in components(Config())]


def test_executor_role_needs_the_redis_queue_and_roles_are_checked() -> None:
    with pytest.raises(ConfigError, match="--queue redis://"):
        components(Config(), "executor")
    with pytest.raises(ConfigError, match="role 'worker'"):
        components(REDIS, "worker")
