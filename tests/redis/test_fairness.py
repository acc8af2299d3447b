"""Issue 13, item 5, on the redis queue: the fairness end-to-end tests of ``tests/e2e/test_fairness.py``
(a quiet tenant served within 2 s while another spins; a package's ``max_concurrency``), run against
a home whose queue is Redis, where the lease script applies the round robin and the caps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.e2e.test_fairness as fairness
from tests.e2e.platform import Platform
from tests.redis.server import redis_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The file-queue module's home, built by its own fixture, on Redis."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        started: list[Platform] = []

        def on_redis(config: str = "") -> Platform:
            queue = f'[queue]\nbackend = "redis"\nurl = "{url}"\n'
            p = Platform(tmp_path_factory.mktemp("home"), queue + config)
            started.append(p)
            p.start()
            return p

        try:
            yield fairness.home.__wrapped__(on_redis)
        finally:
            for p in started:
                p.stop()


def test_a_packages_max_concurrency_holds_on_redis(home: Platform) -> None:
    fairness.test_a_packages_max_concurrency_holds(home)


def test_a_quiet_tenant_is_served_while_another_spins_on_redis(home: Platform) -> None:
    fairness.test_a_quiet_tenant_is_served_while_another_spins(home)
