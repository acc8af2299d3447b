"""Issue 13, item 5, through a real `jobico up`: a spinning tenant does not hold the slots
another tenant waits for (SPEC §4 Fairness), and a package's ``max_concurrency`` holds.

Tenant ``spinner`` queues 60 events whose guest spins until its 1 s timeout; with
4 run slots that is 15 s of work. Tenant ``quiet`` then posts 20 echo events.
Leasing FIFO and filling every slot with the first tenant made them wait 17 s;
now free slots go to waiting tenants in turn, and the quiet tenant's events
finish within 2 s of being posted. A *limit* test (SPEC's fairness promise), so it
compares the measured wait with that bound.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.executor import guests

pytestmark = pytest.mark.e2e
CONFIG = "[executor]\nmax_concurrency = 4\n"
QUIET_WITHIN_S = 2.0


def _span(record: dict[str, Any]) -> tuple[float, float]:
    started = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()
    return started, started + record["duration_ms"] / 1000


def _finished(record: dict[str, Any]) -> float:
    return _span(record)[1]


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(CONFIG)
    p.write("capped/spin.wasm", guests.SPIN)
    p.write("capped/one.toml", package({"event": "spin", "wasm": "spin.wasm", "timeout_ms": 500,
                                        "max_attempts": 1}, limits={"max_concurrency": 1}))
    p.write("spinner/spin.wasm", guests.SPIN)
    p.write("spinner/spin.toml", package({"event": "spin", "wasm": "spin.wasm", "timeout_ms": 1000,
                                          "max_attempts": 1}))
    p.write("quiet/echo.wasm", guests.ECHO)
    p.write("quiet/echo.toml", package({"event": "echo", "wasm": "echo.wasm"}))
    p.wait_for_event("spinner", "spin")
    p.wait_for_event("quiet", "echo")
    p.wait_for_event("capped", "spin")
    return p


def test_a_packages_max_concurrency_holds(home: Platform) -> None:
    status, reply = home.post("capped", "spin", {"data": [{"n": n} for n in range(3)]})
    assert status == 202, reply
    runs = home.wait_records(3, timeout=30, tenant="capped")
    spans = sorted(_span(r) for r in runs)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"runs overlapped: {spans}"


def test_a_quiet_tenant_is_served_while_another_spins(home: Platform) -> None:
    status, reply = home.post("spinner", "spin", {"data": [{"n": n} for n in range(60)]})
    assert status == 202, reply
    wait_until(lambda: home.rpc("executor-1", "status")["running"].get("spinner") == 4, 15,
               "the spinner to take every slot")
    posted_at = time.time()
    status, reply = home.post("quiet", "echo", {"data": [{"n": n} for n in range(20)]})
    assert status == 202, reply
    quiet = home.wait_records(20, timeout=30, tenant="quiet")
    waited = max(_finished(r) for r in quiet) - posted_at
    spun = home.query(tenant="spinner")
    print(f"quiet tenant's 20 events done {waited:.2f} s after posting; spinner had {len(spun)} of 60 done")
    assert {r["status"] for r in quiet} == {"ok"}
    assert len(spun) < 60, "the spinning load was over before the quiet tenant was served"
    assert waited <= QUIET_WITHIN_S
