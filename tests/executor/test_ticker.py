"""The epoch ticker keeps time while Python threads keep the GIL busy (SPEC §4: at most 100 ms late).

A guest that spins in wasm makes no host call: only the epoch, advanced by the
sandbox's ticker thread, stops it. That thread needs the GIL to wake, and in the
executor other Python threads want it all the time (the event loop, other
guests' host calls). Here one Python thread that never sleeps stands for them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from jobico.executor.sandbox import TICK_MS, Sandbox

from . import guests

TIMEOUT_MS = 500
SLACK_MS = 100


@contextmanager
def busy_python_thread() -> Iterator[None]:
    """A thread running Python without pause: it gives the GIL up only when made to."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin, name="gil-hog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (its own ticker) per test."""
    with Sandbox() as box:
        yield box


def test_a_spinning_guest_is_stopped_on_time_while_a_python_thread_holds_the_gil(sandbox: Sandbox) -> None:
    spin = sandbox.load(guests.SPIN, guests.sha256(guests.SPIN))
    with busy_python_thread():
        result = sandbox.run(spin, b"{}", timeout_ms=TIMEOUT_MS)
    assert result.status == "timeout", result
    assert TIMEOUT_MS <= result.duration_ms <= TIMEOUT_MS + SLACK_MS, result.duration_ms


def test_a_run_that_starts_while_the_ticker_is_behind_gets_its_whole_timeout(sandbox: Sandbox) -> None:
    # As if the ticker had waited 300 ms for the GIL: 30 ticks are due at once. A run
    # starting meanwhile counts them in its deadline, or their burst would end it at once.
    spin = sandbox.load(guests.SPIN, guests.sha256(guests.SPIN))
    behind = 30
    sandbox._ticker._start -= behind * TICK_MS * 1_000_000
    result = sandbox.run(spin, b"{}", timeout_ms=TIMEOUT_MS)
    assert result.status == "timeout", result
    assert TIMEOUT_MS <= result.duration_ms <= TIMEOUT_MS + SLACK_MS, result.duration_ms
