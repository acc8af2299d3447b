from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import platform_factory
from tests.fuzz.server import Server, running

__all__ = ["platform_factory", "server"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One webhook for the module; every test ends by checking it did not crash."""
    with running() as s:
        yield s
        assert s.alive(), f"the webhook crashed: {s.crashed!r}"
