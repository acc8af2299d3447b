"""Long waits say what they wait for: `jobico up --detach` and `jobico down` on a real home."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import package, wait_until
from tests.executor import guests

pytestmark = pytest.mark.e2e


def test_up_detach_and_down_say_what_they_wait_for(platform_factory: Factory) -> None:
    p = platform_factory(start=False)
    p.write("slow/spin.wasm", guests.SPIN)
    p.write("slow/slow.toml", package({"event": "spin", "wasm": "spin.wasm", "timeout_ms": 3000,
                                       "max_attempts": 1}))
    up = p.cli("up", "--detach", timeout=120)
    try:
        assert re.search(r"waiting for .* to start", up.stderr), up.stderr
        assert "jobico is running" in up.stdout
        p.wait_for_event("slow", "spin")
        p.cli("send", "slow", "spin", "{}", "-n", "2")
        wait_until(lambda: p.rpc("executor-1", "status")["in_flight"] >= 1, 30, "runs in flight")
        down = p.cli("down", timeout=120)
    finally:
        p.cli("down", check=False, timeout=120)
    assert re.search(r"waiting for executor-1 to finish \d runs?", down.stderr), down.stderr
    assert "jobico stopped" in down.stdout
