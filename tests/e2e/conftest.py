from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform

Factory = Callable[..., Platform]


def _platforms(base: Path) -> Iterator[Factory]:
    """Make platforms on homes under ``base``; stop every one of them at the end."""
    started: list[Platform] = []

    def make(config: str = "", name: str = "home", start: bool = True) -> Platform:
        p = Platform(base / name, config)
        started.append(p)
        if start:
            p.start()
        return p

    yield make
    for p in started:
        p.stop()


@pytest.fixture
def platform_factory(tmp_path: Path) -> Iterator[Factory]:
    """Make (and always stop) platforms on temporary homes."""
    yield from _platforms(tmp_path)


@pytest.fixture(scope="module")
def module_platform_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Factory]:
    """The same, for one platform that every test of a module shares (a start costs seconds)."""
    yield from _platforms(tmp_path_factory.mktemp("e2e"))


@pytest.fixture
def platform(platform_factory: Factory) -> Platform:
    return platform_factory()
