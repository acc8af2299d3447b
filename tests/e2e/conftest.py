from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform


@pytest.fixture
def platform_factory(tmp_path: Path) -> Iterator[type[Platform]]:
    """Make (and always stop) platforms on temporary homes."""
    started: list[Platform] = []

    def make(config: str = "", name: str = "home", start: bool = True) -> Platform:
        p = Platform(tmp_path / name, config)
        started.append(p)
        if start:
            p.start()
        return p

    yield make  # type: ignore[misc]
    for p in started:
        p.stop()


@pytest.fixture
def platform(platform_factory) -> Platform:  # type: ignore[no-untyped-def]
    return platform_factory()
