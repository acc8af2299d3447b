"""The webhook's counters, summed over every listener process of the home and kept on disk.

With ``listener.workers > 1`` the kernel hands each connection to one of the
processes, and a Prometheus scrape reaches one of them: were each to answer its
own counters, every scrape would see other numbers, and Prometheus a reset at
each switch. So each process keeps its counters in
``.jobico/run/<name>.counters.json`` (written when they changed, at most every
``SAVE_S``, before each scrape it answers, and on the way out), and a scrape sums
the files of every listener of the home, its own just written.

Counters never go down: every value a scrape shows was written to its file first;
a file is only ever replaced by a later snapshot (``atomic_write``, one writer per
process, under a lock); and a restarted process starts from its file. A process
killed with ``kill -9`` loses what it counted after its last save (at most
``SAVE_S`` of it), never what a scrape showed. Files of listener instances no
longer configured (``listener.workers`` lowered) stay in the sum, frozen.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobico.storage.files import atomic_write

SAVE_S = 0.5
SUFFIX = ".counters.json"

log = logging.getLogger("jobico.listener")


@dataclass(frozen=True, slots=True)
class Tally:
    """Counters at one moment: ``requests`` answered on ``/events/...`` by (tenant, HTTP
    code), ``items`` accepted by tenant, ``connections_refused`` over ``max_connections``.
    The tenant is ``""`` when the path names no known tenant (so senders cannot mint labels)."""

    requests: Mapping[tuple[str, int], int] = field(default_factory=dict)
    items: Mapping[str, int] = field(default_factory=dict)
    connections_refused: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(dict(Counter(self.requests) + Counter(other.requests)),
                     dict(Counter(self.items) + Counter(other.items)),
                     self.connections_refused + other.connections_refused)

    def to_json(self) -> bytes:
        return json.dumps({
            "requests": [[t, code, n] for (t, code), n in sorted(self.requests.items())],
            "items": dict(sorted(self.items.items())),
            "connections_refused": self.connections_refused,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Tally:
        """Errors: ``ValueError`` when ``data`` is not what ``to_json`` writes."""
        try:
            doc = json.loads(data)
            requests = {(str(t), int(code)): _count(n) for t, code, n in doc["requests"]}
            items = {str(t): _count(n) for t, n in doc["items"].items()}
            return cls(requests, items, _count(doc["connections_refused"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a counters file: {exc}") from None


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a count, got {value!r}")
    return value


class Counters:
    """What this process answered. Thread-safe: requests are counted on the HTTP thread,
    snapshots are taken on either."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._items: Counter[str] = Counter()
        self._refused = 0
        self.changes = 0  # grows with every count: whether a save is due

    def answered(self, tenant: str, code: int, items: int = 0) -> None:
        """One request to ``/events/...`` answered ``code``, accepting ``items`` items."""
        with self._lock:
            self._requests[tenant, code] += 1
            if items:
                self._items[tenant] += items
            self.changes += 1

    def refuse_connection(self) -> None:
        with self._lock:
            self._refused += 1
            self.changes += 1

    def snapshot(self) -> Tally:
        with self._lock:
            return Tally(dict(self._requests), dict(self._items), self._refused)

    def restore(self, saved: Tally) -> None:
        """Start from what an earlier run of this process counted."""
        with self._lock:
            self._requests.update(saved.requests)
            self._items.update(saved.items)
            self._refused += saved.connections_refused
            self.changes += 1

    def as_dict(self) -> dict[str, Any]:
        """For the component's ``status`` (the TUI's accepted/s reads ``accepted``)."""
        now = self.snapshot()
        return {"accepted": dict(now.items),
                "requests": [{"tenant": t, "code": code, "count": n}
                             for (t, code), n in sorted(now.requests.items())],
                "connections_refused": now.connections_refused}


class TallyFiles:
    """This process's counters file and its siblings' in ``run`` (see the module doc)."""

    def __init__(self, run: Path, name: str, counters: Counters) -> None:
        self._run = run
        self._own = run / f"{name}{SUFFIX}"
        self._counters = counters
        self._lock = threading.Lock()  # snapshots are written in the order they were taken
        self._saved = -1

    def load(self) -> None:
        """Add what the file of this process holds to its counters (none: start at 0)."""
        try:
            saved = Tally.from_json(self._own.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("%s: %s; these counters start again at 0", self._own, exc)
            return
        self._counters.restore(saved)

    def save(self) -> Tally:
        """Write this process's counters if they changed since the last save; returns them.

        Errors: ``OSError`` from the disk.
        """
        with self._lock:
            changes = self._counters.changes
            now = self._counters.snapshot()
            if changes != self._saved:
                atomic_write(self._own, now.to_json())
                self._saved = changes
            return now

    @property
    def due(self) -> bool:
        return self._counters.changes != self._saved

    def total(self) -> Tally:
        """The sum over every listener of the home: this one saved now, the others as their
        files last were (a file that cannot be read is left out, and logged)."""
        try:
            total = self.save()
        except OSError as exc:  # a full disk: the sum is still right, though not yet kept
            log.warning("%s: %s", self._own, exc)
            total = self._counters.snapshot()
        for path in sorted(self._run.glob(f"listener*{SUFFIX}")):
            if path == self._own:
                continue
            try:
                total += Tally.from_json(path.read_bytes())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("%s: %s; left out of /metrics", path, exc)
        return total
