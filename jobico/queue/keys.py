"""Idempotency keys: a repeat within 24 h gets the first call's ids (SPEC §3).

A key lives in the namespace (scope, tenant, event, key). ``sender`` keys come
from the webhook's ``Idempotency-Key`` header, ``platform`` keys from Jobico
itself (a chained event's ``<event id>:on_ok``), so no sender can pre-claim a
key the platform will use, and one key sent to two events of a tenant names two
requests. A key is bound to the digest of the body it first came with: a repeat
with another body is a ``Conflict`` (409), never a silent duplicate.

The table is a dict in insertion order, which is acceptance order, so expiry
only ever looks at its oldest entry. A key remembers the commit of the enqueue
it answered: a repeat that arrives before that enqueue is durable must wait for
the same fsync.

On disk a key is the ``key`` field of ITEMS and KEY records (``log_records.py``):
``[scope, event, key, digest]``. Records written before keys were scoped hold
the bare key string; they read back as a ``sender`` key of an unknown event
(``event`` None, matching any event of the tenant) with no digest. They expire
within 24 h of the upgrade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from jobico.errors import Conflict, UserError
from jobico.queue.policy import format_id

IDEMPOTENCY_TTL_S = 24 * 3600.0  # how long a key is remembered (SPEC §3)

SCOPES = ("sender", "platform")


class KeyName(NamedTuple):
    scope: str
    tenant: str
    event: str | None  # None: a key journaled before keys were per event
    key: str


@dataclass(frozen=True, slots=True)
class KnownKey:
    ids: list[str]
    at: float
    commit: int
    digest: str | None


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A key read back from disk."""

    name: KeyName
    digest: str | None
    ids: list[int]
    at: float


def check_key(key: object, digest: object, scope: object) -> None:
    """The idempotency fields of an enqueue; errors name the field."""
    if key is not None and not isinstance(key, str):
        raise UserError("key must be a string or null")
    if digest is not None and not isinstance(digest, str):
        raise UserError("digest must be a hex string or null")
    if scope not in SCOPES:
        raise UserError(f"scope {scope!r} is not one of {SCOPES}")


def stored(name: KeyName, digest: str | None) -> list[str | None]:
    """The ``key`` field of the records that journal ``name``."""
    return [name.scope, name.event, name.key, digest]


def from_stored(tenant: str, field: Any, ids: list[int], at: float) -> KeyEntry | None:
    """A journaled key field read back (a bare string is the older, unscoped form); None if garbled."""
    if isinstance(field, str):
        return KeyEntry(KeyName("sender", tenant, None, field), None, ids, at)
    if isinstance(field, list) and len(field) == 4:
        scope, event, key, digest = field
        if scope in SCOPES and isinstance(event, str) and isinstance(key, str):
            return KeyEntry(KeyName(scope, tenant, event, key), digest if isinstance(digest, str) else None,
                            ids, at)
    return None


class IdempotencyKeys:
    def __init__(self) -> None:
        self._keys: dict[KeyName, KnownKey] = {}

    def get(self, name: KeyName, digest: str | None, now: float) -> KnownKey | None:
        """The first answer to ``name``, unless it is over 24 h old (then forgotten).

        Errors: ``Conflict`` when the key was first used with a different body
        (an unknown digest on either side, as for older keys, is no conflict).
        """
        self._forget(now)
        known = self._keys.get(name)
        if known is None and name.scope == "sender":
            known = self._keys.get(name._replace(event=None))
        if known is not None and None not in (known.digest, digest) and known.digest != digest:
            raise Conflict(f"idempotency key {name.key!r} was used for a different body")
        return known

    def put(self, name: KeyName, ids: list[str], at: float, commit: int, digest: str | None) -> None:
        self._keys[name] = KnownKey(ids, at, commit, digest)

    def restore(self, entries: Iterable[KeyEntry], now: float) -> None:
        """Load keys read back from disk; stale ones are skipped."""
        for entry in sorted(entries, key=lambda entry: entry.at):
            if entry.at + IDEMPOTENCY_TTL_S > now:
                ids = [format_id(n) for n in entry.ids]
                self._keys[entry.name] = KnownKey(ids, entry.at, 0, entry.digest)

    def _forget(self, now: float) -> None:
        while self._keys:
            oldest = next(iter(self._keys))
            if self._keys[oldest].at + IDEMPOTENCY_TTL_S > now:
                return
            del self._keys[oldest]
