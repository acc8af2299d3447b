from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from jobico.queue.backend import Delivery, EnqueueResult, Limits, Settled, Settlement
from jobico.queue.file_backend import FileBackend
from jobico.queue.memory import MemoryBackend
from jobico.queue.redis_backend import RedisBackend
from tests.redis.blocking import Blocking
from tests.redis.server import redis_server

START = 1_800_000_000.0


class Clock:
    """Wall-clock stand-in: tests move time instead of sleeping."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """Builds a backend of one kind, and "restarts" it the way a process would."""

    def __init__(self, kind: str, root: Path, redis_url: str = "") -> None:
        self.kind = kind
        self.redis_url = redis_url  # kind "redis": a fresh prefix per harness keeps tests apart
        self.root = root
        self.clock = Clock()
        self.limits: dict[str, Limits] = {}
        self.segment_bytes = 64 * 1024
        self.opened: list[MemoryBackend] = []

    def open(self) -> MemoryBackend:
        def limits(tenant: str) -> Limits:
            return self.limits.get(tenant, Limits())

        backend: MemoryBackend
        if self.kind == "file":
            backend = FileBackend(
                self.root, limits, segment_bytes=self.segment_bytes, clock=self.clock, rng=random.Random(7)
            )
        elif self.kind == "redis":
            prefix = f"t{id(self)}"
            backend = RedisBeforeTheContract(Blocking(lambda: RedisBackend(  # type: ignore[assignment]
                self.redis_url, limits, prefix=prefix, clock=self.clock, rng=random.Random(7)
            )))
        else:
            backend = MemoryBackend(limits, clock=self.clock, rng=random.Random(7))
        backend.recover()
        self.opened.append(backend)
        return backend

    def reopen(self, backend: MemoryBackend) -> MemoryBackend:
        """Flush and close (a clean stop), then open again."""
        backend.close()
        return self.open()


REDIS_LATER = "redis: lands with the redis contract step"


def skip_redis(harness: Harness) -> None:
    """For behaviour of the issue-13 queue contract that the redis backend does not have yet."""
    if harness.kind == "redis":
        pytest.skip(REDIS_LATER)


class RedisBeforeTheContract:
    """The redis backend as it is until the redis contract step: the shared suite calls the
    issue-13 signatures, and this drops what redis does not take yet (a settle's worker, a
    lease's ``held``/``per_tenant``, a key's digest and scope). Tests of those behaviours skip
    redis (``skip_redis``); the rest keep running on it. Remove with that step."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def enqueue(self, tenant: str, event: str, items: Sequence[bytes], key: str | None, *,
                digest: str | None = None, scope: str = "sender") -> EnqueueResult:
        return self._inner.enqueue(tenant, event, items, key)  # type: ignore[no-any-return]

    def lease(self, worker: str, max_items: int, lease_ms: int, *, held: Mapping[str, int] | None = None,
              per_tenant: int | None = None) -> list[Delivery]:
        return self._inner.lease(worker, max_items, lease_ms)  # type: ignore[no-any-return]

    def settle(self, worker: str, results: Sequence[Settlement]) -> Settled:
        applied = self._inner.settle(results)
        return Settled(applied.ids, [], applied.commit)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["memory", "file", "redis"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    h = Harness(request.param, tmp_path / "queue", url)
    yield h
    for backend in h.opened:
        backend.close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Harness]:
    h = Harness("file", tmp_path / "queue")
    yield h
    for backend in h.opened:
        backend.close()


def flush_all(backend: MemoryBackend) -> None:
    while backend.pending():
        backend.flush(1024, 1 << 20)
