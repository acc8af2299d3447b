"""The ``webhook-id``s a listener process accepted, so a replayed signed request is 401 (SPEC §3).

Pure: the (wall) clock is passed in. A signed request passes only within
``TOLERANCE_S`` of its timestamp, so an id is remembered until ``timestamp +
TOLERANCE_S``; a replay after that fails the timestamp check instead.

- Ids are kept per (tenant, package), the scope of a secret: the signature does
  not cover the path, so a request signed for one event of a package could
  otherwise be replayed to another. They are hashed to 16 bytes, so a 16 KiB id
  costs no more memory than a short one.
- An id is claimed once its signature matches and released if the request is
  refused after all (422, 429, 503...): Standard Webhooks senders retry a failed
  delivery with the same id. Two concurrent requests with one id: the second is 401.
- Bounded: at most ``per_tenant`` live ids per tenant (about 330 signed requests a
  second sustained over the window, per process). A tenant past that gets 503 until
  ids expire, rather than a window with holes; another tenant is never refused.
- Per process: with ``listener.workers = N`` each process has its own ids and the
  kernel spreads connections across processes, so a replay on a new connection is
  caught only when it lands on the process that accepted the original. Senders that
  need exactly-once across processes send an ``Idempotency-Key``: the queue keeps
  those for every listener, and a replay with the same key and body enqueues nothing.
"""

from __future__ import annotations

import hashlib

from jobico.errors import Unavailable
from jobico.listener.signatures import TOLERANCE_S

MAX_IDS_PER_TENANT = 100_000
# A full tenant's ids are swept for expired ones at most this often (a sweep is O(ids)).
SWEEP_EVERY_S = 1.0


class TooManyIds(Unavailable):
    """The tenant has ``per_tenant`` live ids: its signed requests wait (HTTP 503)."""


def _key(package: str, msg_id: str) -> bytes:
    return hashlib.blake2b(f"{package}\0{msg_id}".encode(),
                           digest_size=16).digest()


class SeenIds:
    def __init__(self, per_tenant: int = MAX_IDS_PER_TENANT) -> None:
        self._per_tenant = per_tenant
        self._ids: dict[str, dict[bytes, float]] = {}  # tenant -> id hash -> expiry
        self._swept: dict[str, float] = {}

    def claim(self, tenant: str, package: str, msg_id: str, timestamp: int, now: float) -> bool:
        """True the first time (the id is now taken), False for a replay.

        Errors: ``TooManyIds`` when the tenant holds ``per_tenant`` live ids.
        """
        seen = self._ids.setdefault(tenant, {})
        key = _key(package, msg_id)
        expires = seen.get(key)
        if expires is not None and expires >= now:
            return False
        if len(seen) >= self._per_tenant and not self._sweep(tenant, seen, now):
            raise TooManyIds(f"tenant {tenant}: over {self._per_tenant} signed requests "
                             f"in {TOLERANCE_S} s")
        seen[key] = timestamp + TOLERANCE_S
        return True

    def release(self, tenant: str, package: str, msg_id: str) -> None:
        """Forget a claimed id whose request was refused, so the sender may retry it."""
        self._ids.get(tenant, {}).pop(_key(package, msg_id), None)

    def _sweep(self, tenant: str, seen: dict[bytes, float], now: float) -> bool:
        """Drop expired ids (at most once per ``SWEEP_EVERY_S``); True if there is room."""
        if now >= self._swept.get(tenant, float("-inf")) + SWEEP_EVERY_S:
            self._swept[tenant] = now
            for key in [key for key, expires in seen.items() if expires < now]:
                del seen[key]
        return len(seen) < self._per_tenant
