"""The on-disk frame of one record: u32 length, u32 CRC32 of the payload, msgpack payload.

Pure: bytes in, records out. A crash can leave a torn frame at the end of a
segment; ``scan`` stops at the first frame whose length, checksum or payload
is wrong and reports where the good data ends, so the caller can cut it and
garbage is never loaded as a record.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgpack

HEADER = struct.Struct("<II")
MAX_PAYLOAD = 16 * 1024 * 1024  # well above a record with 1 MiB result + 1 MiB logs


class CorruptFrame(Exception):
    """A frame read back at a known offset does not check out: the file changed under us."""


def encode(record: dict[str, Any]) -> bytes:
    payload = msgpack.packb(record, use_bin_type=True)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _payload(buf: bytes | memoryview, offset: int) -> tuple[dict[str, Any], int] | None:
    """The record framed at ``offset`` and the offset after it, or None if it is not whole."""
    if len(buf) - offset < HEADER.size:
        return None
    length, crc = HEADER.unpack_from(buf, offset)
    start = offset + HEADER.size
    if length > MAX_PAYLOAD or len(buf) - start < length:
        return None
    payload = memoryview(buf)[start:start + length]  # no copy: crc32 and msgpack take views
    if zlib.crc32(payload) != crc:
        return None
    try:
        record = msgpack.unpackb(payload, raw=False)
    except (ValueError, TypeError):
        return None
    if not isinstance(record, dict):
        return None
    return record, start + length


def scan(buf: bytes | memoryview) -> tuple[list[tuple[int, int, dict[str, Any]]], int]:
    """Every whole frame from the start of ``buf`` as (offset, length, record), and the
    offset where good data ends (``len(buf)`` when the segment is intact)."""
    frames: list[tuple[int, int, dict[str, Any]]] = []
    offset = 0
    while offset < len(buf):
        found = _payload(buf, offset)
        if found is None:
            break
        record, end = found
        frames.append((offset, end - offset, record))
        offset = end
    return frames, offset


def decode(frame: bytes) -> dict[str, Any]:
    """The record in one whole frame read back from disk.

    Errors: ``CorruptFrame`` when it does not check out.
    """
    found = _payload(frame, 0)
    if found is None or found[1] != len(frame):
        raise CorruptFrame(f"bad frame of {len(frame)} bytes")
    return found[0]
