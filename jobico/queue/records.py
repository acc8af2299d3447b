"""The queue's on-disk record format: framing, CRC, kinds, and segment scanning.

Every queue file (log segments, dead-letter logs, idempotency-key logs) is a
plain concatenation of frames::

    u32 little-endian  length of the body
    u32 little-endian  CRC-32 of the body
    body               a msgpack array whose first element is the record kind

A crash can leave a *torn tail*: a frame cut short, or bytes that never made it
to disk. ``scan`` reads frames until the first one that is short, fails its
CRC or does not decode to a known record, and reports where the valid prefix
ends, so the caller can cut the file there. A torn tail is therefore never
loaded as data, and every record before it survives.

Pure and synchronous: bytes in, records out.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import msgpack

HEADER = struct.Struct("<II")
MAX_BODY = 64 * 1024 * 1024

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
    """One record as the bytes appended to a file."""
    body = msgpack.packb(record, use_bin_type=True)
    return HEADER.pack(len(body), zlib.crc32(body)) + body


@dataclass(frozen=True, slots=True)
class ItemsBatch:
    """Items of one tenant and event that share an attempt number, times and key."""

    tenant: str
    event: str
    attempt: int
    enqueued_at: float
    not_before: float
    key: str | None
    items: list[tuple[int, bytes]]


def items_record(batch: ItemsBatch) -> bytes:
    b = batch
    return frame([ITEMS, b.tenant, b.event, b.attempt, b.enqueued_at, b.not_before, b.key, b.items])


def done_record(ids: list[int]) -> bytes:
    return frame([DONE, ids])


def mark_record(last_id: int) -> bytes:
    return frame([MARK, last_id])


def dead_record(
    id: int, event: str, attempt: int, enqueued_at: float, dead_at: float, reason: str, body: bytes
) -> bytes:
    return frame([DEAD, id, event, attempt, enqueued_at, dead_at, reason, body])


def undead_record(ids: list[int]) -> bytes:
    return frame([UNDEAD, ids])


def key_record(tenant: str, key: str, ids: list[int], at: float) -> bytes:
    return frame([KEY, tenant, key, ids, at])


@dataclass(frozen=True, slots=True)
class Scan:
    """What ``scan`` found: the decoded records and where the valid prefix ends.

    ``error`` is None when the whole input was valid, else why the record
    starting at ``valid_end`` was rejected.
    """

    records: list[list[Any]]
    valid_end: int
    error: str | None


def scan(data: bytes) -> Scan:
    """Decode frames from the start of ``data`` until the end or the first bad one."""
    records: list[list[Any]] = []
    pos = 0
    size = len(data)
    while pos < size:
        if size - pos < HEADER.size:
            return Scan(records, pos, f"torn header at byte {pos}")
        length, crc = HEADER.unpack_from(data, pos)
        if length == 0 or length > MAX_BODY:
            return Scan(records, pos, f"impossible record length {length} at byte {pos}")
        start = pos + HEADER.size
        if start + length > size:
            return Scan(records, pos, f"torn record at byte {pos}: {size - start} of {length} bytes")
        body = data[start : start + length]
        if zlib.crc32(body) != crc:
            return Scan(records, pos, f"CRC mismatch at byte {pos}")
        record = _decode(body)
        if record is None:
            return Scan(records, pos, f"undecodable record at byte {pos}")
        records.append(record)
        pos = start + length
    return Scan(records, pos, None)


def _decode(body: bytes) -> list[Any] | None:
    """The record in ``body``, or None when it is not a well-formed known kind."""
    try:
        record = msgpack.unpackb(body, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(record, list) or not record:
        return None
    arity = _ARITY.get(record[0]) if isinstance(record[0], int) else None
    return record if arity == len(record) else None
