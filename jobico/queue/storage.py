"""The file backend: the memory backend's rules over a ``SegmentJournal``, rebuilt on start.

Everything queued lives in memory (bounded by the per-tenant depth limit) and
in the journal's files (layout in ``journal.py``); ``recover`` reads the files
back. Along the way it

- cuts a torn tail (a crash in the middle of an append) off every file, so
  later appends are readable; skips a record damaged in the middle of a file
  (logged as an error, counted in ``damaged``), keeping the records after it;
- replays the shared log in order: an ITEMS record adds or supersedes (a
  retry is the same id with attempt + 1), a DONE record removes;
- loads each tenant's dead letters and rewrites the file without the
  replayed or purged ones;
- reconciles the two, since a dead-lettering or a replay touches both files
  and a crash may land between their writes: the record with the higher
  attempt wins (dead-lettering attempt n leaves attempt n in both; a replay
  queues attempt n + 1);
- restores idempotency keys younger than 24 h, from the key files and from
  the ITEMS records that carried them (whichever reached the disk);
- restores the leases of the lease log (``leases.py``) whose item is still
  queued at the leased attempt, so an event running in an executor is not
  leased to another worker meanwhile, then starts a new lease generation.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from jobico.names import ID_PATTERN
from jobico.queue import leases, records
from jobico.queue.backend import IDEMPOTENCY_TTL_S, DeadLetter, Limits, LimitsFor
from jobico.queue.keys import KeyEntry, from_stored
from jobico.queue.memory import Item, MemoryBackend
from jobico.queue.policy import format_id
from jobico.queue.segments import KEY_BUCKET_S, SEGMENT_BYTES, expired_key_files, segment_path


class FileBackend(MemoryBackend):
    """A durable queue in the folder ``root`` (normally ``home.queue``)."""

    def __init__(
        self,
        root: Path,
        limits: LimitsFor = lambda _tenant: Limits(),
        *,
        fsync: bool = True,
        segment_bytes: int = SEGMENT_BYTES,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self._log = log or logging.getLogger("jobico.queue")
        self._files = leases.LeaseJournal(root, self._log, fsync=fsync, segment_bytes=segment_bytes,
                                          clock=clock)
        super().__init__(limits, clock=clock, rng=rng, journal=self._files)
        self._root = root
        self._fsync = fsync
        self.damaged: list[tuple[Path, records.Damage]] = []  # skipped by recover, for status

    def recover(self) -> None:
        """Read the folder back into memory; see the module docstring.

        Errors: ``OSError`` when the folder cannot be read or written.
        """
        for folder in ("log", "dead", "keys"):
            (self._root / folder).mkdir(parents=True, exist_ok=True)
        keys: list[KeyEntry] = []
        items, seg_of, segments, last_id = self._load_log(keys)
        letters = self._load_dead()
        keys.extend(self._load_keys())
        stale_live = [n for n, item in items.items() if n in letters and letters[n].attempt >= item.attempt]
        for number in stale_live:
            del items[number]
        stale_dead: dict[str, list[int]] = {}
        for number, letter in list(letters.items()):
            if number in items:
                stale_dead.setdefault(letter.tenant, []).append(number)
                del letters[number]
        last_id = max([last_id, *letters])
        held, generation = leases.load(self._root / "leases", self._log)
        self._files.adopt(segments, seg_of, last_id)
        self._restore(list(items.values()), list(letters.values()), keys, self._load_paused(), last_id, held)
        self._files.leases.rotate(self._lease_groups(), after=generation)
        if stale_live:
            self._files.done(stale_live)
        for tenant, numbers in stale_dead.items():
            self._files.undead(tenant, numbers)
        self._log.info(
            "queue recovered: %d queued (%d leased), %d dead, %d segments",
            len(items), sum(map(len, self._held.values())), len(letters), len(segments),
        )

    def _load_log(self, keys: list[KeyEntry]) -> tuple[dict[int, Item], dict[int, int], list[int], int]:
        """Replay the shared log: live items, their segments, every segment, the last id."""
        folder = self._root / "log"
        segments = sorted(int(p.stem) for p in folder.glob("*.seg") if p.stem.isdigit())
        self._warn_strays(folder, {segment_path(self._root, s).name for s in segments})
        items: dict[int, Item] = {}
        seg_of: dict[int, int] = {}
        last_id = 0
        for seg in segments:
            for record in self._read(segment_path(self._root, seg)):
                kind = record[0]
                if kind == records.ITEMS:
                    _, tenant, event, attempt, at, not_before, key, pairs = record
                    for number, body in pairs:
                        items.pop(number, None)
                        items[number] = Item(number, tenant, event, attempt, body, at, not_before)
                        seg_of[number] = seg
                        last_id = max(last_id, number)
                    if key is not None:
                        self._add_key(keys, tenant, key, [n for n, _ in pairs], at)
                elif kind == records.DONE:
                    for number in record[1]:
                        items.pop(number, None)
                        seg_of.pop(number, None)
                elif kind == records.MARK:
                    last_id = max(last_id, record[1])
        return items, seg_of, segments, last_id

    def _load_dead(self) -> dict[int, DeadLetter]:
        """Every tenant's dead letters; each file is rewritten without the removed ones."""
        letters: dict[int, DeadLetter] = {}
        folder = self._root / "dead"
        paths = [p for p in folder.glob("*.log") if ID_PATTERN.fullmatch(p.stem)]
        self._warn_strays(folder, {p.name for p in paths})
        for path in paths:
            mine: dict[int, DeadLetter] = {}
            removed = False
            for record in self._read(path):
                if record[0] == records.DEAD:
                    _, number, event, attempt, at, dead_at, reason, body = record
                    mine[number] = DeadLetter(
                        format_id(number), path.stem, event, attempt, body, at, dead_at, reason
                    )
                elif record[0] == records.UNDEAD:
                    removed = True
                    for number in record[1]:
                        mine.pop(number, None)
            if removed:
                self._rewrite(
                    path,
                    b"".join(
                        records.dead_record(n, d.event, d.attempt, d.enqueued_at, d.dead_at, d.reason, d.body)
                        for n, d in mine.items()
                    ),
                )
            letters.update(mine)
        return letters

    def _load_keys(self) -> list[KeyEntry]:
        """Keys of the last 24 h; older hour files are deleted unread."""
        horizon = (self._clock() - IDEMPOTENCY_TTL_S) // KEY_BUCKET_S
        for path in expired_key_files(self._root, horizon):
            path.unlink()
        keys: list[KeyEntry] = []
        for path in sorted((self._root / "keys").glob("*.log")):
            for record in self._read(path):
                if record[0] == records.KEY:
                    _, tenant, key, numbers, at = record
                    self._add_key(keys, tenant, key, numbers, at)
        return keys

    def _add_key(self, keys: list[KeyEntry], tenant: str, field: object, ids: list[int], at: float) -> None:
        entry = from_stored(tenant, field, ids, at)
        if entry is None:
            self._log.warning("queue key record of tenant %s: unreadable key %r; skipped", tenant, field)
        else:
            keys.append(entry)

    def _load_paused(self) -> set[str]:
        path = self._root / "paused.json"
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return set()
        except ValueError as exc:
            self._log.warning("%s: unreadable (%s); no tenant is paused", path, exc)
            return set()
        return {n for n in names if isinstance(n, str) and ID_PATTERN.fullmatch(n)}

    def _read(self, path: Path) -> list[list[object]]:
        """The readable records of ``path``; a damaged one is skipped and a torn tail cut
        off (both logged)."""
        data = path.read_bytes()
        found = records.scan(data)
        for damage in found.damaged:
            self._log.error("%s: skipped %d damaged bytes at byte %d: %s (the records after them are kept)",
                            path, damage.length, damage.offset, damage.reason)
            self.damaged.append((path, damage))
        if found.error is not None:
            self._log.warning("%s: %s; cutting %d bytes", path, found.error, len(data) - found.valid_end)
            with path.open("r+b") as handle:
                handle.truncate(found.valid_end)
                if self._fsync:
                    os.fsync(handle.fileno())
        return found.records

    def _rewrite(self, path: Path, data: bytes) -> None:
        """Replace ``path`` atomically (write aside, fsync, rename)."""
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            if self._fsync:
                os.fsync(handle.fileno())
        tmp.replace(path)

    def _warn_strays(self, folder: Path, expected: set[str]) -> None:
        for path in folder.iterdir():
            if path.name not in expected:
                self._log.warning("%s: not a queue file; ignored", path)
