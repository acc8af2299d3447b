from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.queue.backend import Limits
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
        self.redis_url = redis_url
        self.prefix = f"t{secrets.token_hex(4)}"  # kind "redis": a fresh prefix per harness keeps tests apart
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
            backend = Blocking(lambda: RedisBackend(  # type: ignore[assignment]
                self.redis_url, limits, prefix=self.prefix, clock=self.clock, rng=random.Random(7)
            ))
        else:
            backend = MemoryBackend(limits, clock=self.clock, rng=random.Random(7))
        backend.recover()
        self.opened.append(backend)
        return backend

    def reopen(self, backend: MemoryBackend) -> MemoryBackend:
        """Flush and close (a clean stop), then open again."""
        backend.close()
        return self.open()


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
