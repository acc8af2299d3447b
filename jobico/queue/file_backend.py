"""The file backend: the memory backend's rules over a ``FileJournal``, rebuilt on start.

Everything queued lives in memory (bounded by the per-tenant depth limit) and
in the journal's files (layout in ``file_journal.py``); ``recover`` reads the
files back. Along the way it

- cuts a torn tail (a crash in the middle of an append) off every file, so
  later appends are readable; skips a record damaged in the middle of a file
  (logged as an error, counted in ``damaged``), keeping the records after it
  (``storage.recovery``);
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
import random
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from jobico.names import ID_PATTERN
from jobico.queue import leases
from jobico.queue import log_records as records
from jobico.queue.api import DeadLetter
from jobico.queue.backend import Limits, LimitsFor
from jobico.queue.file_journal import KEY_BUCKET_S, SEGMENT_BYTES, FileJournal, expired_key_files
from jobico.queue.keys import IDEMPOTENCY_TTL_S, KeyEntry, from_stored
from jobico.queue.memory import Item, MemoryBackend
from jobico.queue.policy import format_id
from jobico.storage import files, segments
from jobico.storage.frames import Damage
from jobico.storage.recovery import Recovery


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
        self._files = FileJournal(root, self._log, fsync=fsync, segment_bytes=segment_bytes, clock=clock)
        super().__init__(limits, clock=clock, rng=rng, journal=self._files)
        self._root = root
        self._fsync = fsync
        self._recovery = Recovery(self._log)

    @property
    def damaged(self) -> list[tuple[Path, Damage]]:
        """The damaged records ``recover`` skipped, by file (for status)."""
        return self._recovery.damaged

    def recover(self) -> None:
        """Read the folder back into memory; see the module docstring.

        Errors: ``OSError`` when the folder cannot be read or written.
        """
        for folder in ("log", "dead", "keys"):
            (self._root / folder).mkdir(parents=True, exist_ok=True)
        keys: list[KeyEntry] = []
        items, seg_of, numbers, last_id = self._load_log(keys)
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
        self._files.adopt(numbers, seg_of, last_id)
        self._restore(list(items.values()), list(letters.values()), keys, self._load_paused(), last_id, held)
        self._files.leases.rotate(self._lease_groups(), after=generation)
        if stale_live:
            self._files.done(stale_live)
        for tenant, numbers in stale_dead.items():
            self._files.undead(tenant, numbers)
        self._log.info(
            "queue recovered: %d queued (%d leased), %d dead, %d segments",
            len(items), sum(map(len, self._held.values())), len(letters), len(numbers),
        )

    def _load_log(self, keys: list[KeyEntry]) -> tuple[dict[int, Item], dict[int, int], list[int], int]:
        """Replay the shared log: live items, their segments, every segment, the last id."""
        found, strays = segments.listed(self._root / "log")
        self._warn_strays(strays)
        items: dict[int, Item] = {}
        seg_of: dict[int, int] = {}
        last_id = 0
        for segment in found:
            seg = segment.number
            for record in self._read(segment.path):
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
        return items, seg_of, [segment.number for segment in found], last_id

    def _load_dead(self) -> dict[int, DeadLetter]:
        """Every tenant's dead letters; each file is rewritten without the removed ones."""
        letters: dict[int, DeadLetter] = {}
        folder = self._root / "dead"
        paths = [p for p in folder.glob("*.log") if ID_PATTERN.fullmatch(p.stem)]
        self._warn_strays(set(folder.iterdir()) - set(paths))
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
                files.atomic_write(
                    path,
                    b"".join(
                        records.dead_record(n, d.event, d.attempt, d.enqueued_at, d.dead_at, d.reason, d.body)
                        for n, d in mine.items()
                    ),
                    fsync=self._fsync,
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

    def _read(self, path: Path) -> list[list[Any]]:
        """The readable records of ``path``; a damaged one is skipped and a torn tail cut
        off (both logged)."""
        found = records.scan(path.read_bytes())
        cut = partial(files.truncate, path, fsync=self._fsync)
        return [record for _, _, record in self._recovery.records(path, found, cut)]

    def _warn_strays(self, strays: Iterable[Path]) -> None:
        for path in strays:
            self._log.warning("%s: not a queue file; ignored", path)
