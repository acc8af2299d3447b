"""The records of the queue's logs: their kinds, how each is encoded, and decoding them.

Every queue file (log segments, dead-letter logs, idempotency-key logs) is a
plain concatenation of frames (``storage.frames``) whose payload is a msgpack
array, the record kind first. Reading a file back after a crash or damage is
``storage.recovery``'s; an intact frame that is not a well-formed record of a
known kind is skipped as damage.

The queue's one size limit is ``MAX_BODY``, given to the writer and the reader
alike: a batch whose ITEMS record would be larger is written as several
records (``items_frames``), and an item too big for a record of its own is
refused before anything is queued, never written and dropped on restart.

Pure and synchronous: bytes in, records out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import msgpack

from jobico.caps import KIB, MIB
from jobico.errors import UserError
from jobico.rpc.protocol import MAX_MESSAGE_SIZE
from jobico.storage import frames

# Any one item an enqueue message can carry fits in a record, with the record's other fields.
MAX_BODY = MAX_MESSAGE_SIZE + MIB
_PAIR_BYTES = 16  # what an [id, body] pair adds besides the body: headers and a u64 id
_ARRAY_GROWTH = 4  # a list's header grows from 1 byte (empty) to 5 (over 65535 entries)
_KEY_SLACK = KIB  # a key record's fields besides its key and its u64 ids
# A journaled idempotency key: [scope, event, key, digest] (keys.stored), or the bare
# string of homes written before keys were scoped.
KeyField = str | list[str | None]
MAX_REASON_CHARS = 64 * KIB  # a dead letter's reason is for a person to read
IDS_PER_RECORD = MIB  # ids in one DONE or UNDEAD record: 9 MiB at most

# Record kinds (the first element of the body).
ITEMS = 1  # [ITEMS, tenant, event, attempt, enqueued_at, not_before, key, [[id, body], ...]]
DONE = 2  # [DONE, [id, ...]]: acknowledged, dead-lettered, or superseded
MARK = 3  # [MARK, last_id]: first record of a segment, the event-id high-water mark
DEAD = 4  # [DEAD, id, event, attempt, enqueued_at, dead_at, reason, body]
UNDEAD = 5  # [UNDEAD, [id, ...]]: replayed or purged dead letters
KEY = 6  # [KEY, tenant, key, [id, ...], at]: an idempotency key

# Number of elements of each kind, checked on decode.
_ARITY = {ITEMS: 8, DONE: 2, MARK: 2, DEAD: 8, UNDEAD: 2, KEY: 5}


def frame(record: list[Any]) -> bytes:
    """One record as the bytes appended to a file.

    Errors: ``FrameTooLarge`` (a ``UserError``) when it encodes to more than ``MAX_BODY``.
    """
    return frames.encode(record, MAX_BODY)


@dataclass(frozen=True, slots=True)
class ItemsBatch:
    """Items of one tenant and event that share an attempt number, times and key."""

    tenant: str
    event: str
    attempt: int
    enqueued_at: float
    not_before: float
    key: KeyField | None
    items: list[tuple[int, bytes]]


def items_record(batch: ItemsBatch) -> bytes:
    return frame(_items_fields(batch))


def _items_fields(b: ItemsBatch) -> list[Any]:
    return [ITEMS, b.tenant, b.event, b.attempt, b.enqueued_at, b.not_before, b.key, b.items]


Part = tuple[bytes, list[tuple[int, bytes]]]  # an ITEMS record and the items it holds


def items_frames(batch: ItemsBatch) -> list[Part]:
    """The ITEMS record of ``batch``, or several when one would be over ``MAX_BODY``.

    The parts carry no idempotency key: a crash may keep some parts of a batch it
    never acknowledged, and a key restored with only their ids would answer a resend
    with them, losing the rest. The key record (``key_record``) remembers it once the
    whole batch is written. Errors: ``UserError`` naming an item too big for a record.
    """
    try:
        return [(items_record(batch), batch.items)]
    except frames.FrameTooLarge:
        pass
    empty = msgpack.packb(_items_fields(replace(batch, key=None, items=[])), use_bin_type=True)
    room = MAX_BODY - len(empty) - _ARRAY_GROWTH
    parts: list[Part] = []
    part: list[tuple[int, bytes]] = []
    size = 0
    for index, (number, body) in enumerate(batch.items):
        cost = len(body) + _PAIR_BYTES
        if cost > room:
            raise UserError(f"items[{index}]: {len(body)} bytes, over the {room - _PAIR_BYTES} bytes "
                            "a queue record holds for one item")
        if part and size + cost > room:
            parts.append((items_record(replace(batch, key=None, items=part)), part))
            part, size = [], 0
        part.append((number, body))
        size += cost
    parts.append((items_record(replace(batch, key=None, items=part)), part))
    return parts


def key_fits(tenant: str, key: KeyField, count: int) -> bool:
    """Whether the key record of a batch of ``count`` items is within ``MAX_BODY``."""
    return len(tenant) + len(msgpack.packb(key)) + 9 * count + _KEY_SLACK <= MAX_BODY


def done_record(ids: list[int]) -> bytes:
    return _id_records(DONE, ids)


def mark_record(last_id: int) -> bytes:
    return frame([MARK, last_id])


def dead_record(
    id: int, event: str, attempt: int, enqueued_at: float, dead_at: float, reason: str, body: bytes
) -> bytes:
    """A dead letter; its reason is cut to ``MAX_REASON_CHARS``, so that the record of
    any item that fitted an ITEMS record fits too."""
    return frame([DEAD, id, event, attempt, enqueued_at, dead_at, reason[:MAX_REASON_CHARS], body])


def undead_record(ids: list[int]) -> bytes:
    return _id_records(UNDEAD, ids)


def _id_records(kind: int, ids: list[int]) -> bytes:
    """One record of ``ids``, or several in a row for a list too long for one (a purge of
    millions of dead letters): each id is at most 9 bytes, so each record fits."""
    if len(ids) <= IDS_PER_RECORD:
        return frame([kind, ids])
    return b"".join(frame([kind, ids[i:i + IDS_PER_RECORD]]) for i in range(0, len(ids), IDS_PER_RECORD))


def key_record(tenant: str, key: KeyField, ids: list[int], at: float) -> bytes:
    return frame([KEY, tenant, key, ids, at])


def scan(data: bytes) -> frames.Frames[list[Any]]:
    """The records of a queue file: iterate for ``(offset, length, record)``; see ``storage.frames``."""
    return frames.Frames(data, MAX_BODY, _decode)


def _decode(body: memoryview) -> list[Any] | None:
    """The record in ``body``, or None when it is not a well-formed known kind."""
    record = frames.unpacked(body)
    if not isinstance(record, list) or not record:
        return None
    arity = _ARITY.get(record[0]) if isinstance(record[0], int) else None
    return record if arity == len(record) else None
