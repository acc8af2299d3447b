"""The on-disk frame of one record: u32 length, u32 CRC32 of the payload, msgpack payload.

Pure: bytes in, records out. A crash can leave a torn frame at the end of a
segment; ``scan`` stops at the first frame whose length, checksum or payload
is wrong, so the caller knows where the good data ends, can cut the rest, and
garbage is never loaded as a record.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import msgpack

HEADER = struct.Struct("<II")
MAX_PAYLOAD = 16 * 1024 * 1024  # well above a record with 1 MiB result + 1 MiB logs
_packer = msgpack.Packer(use_bin_type=True)  # one for all: packb builds a Packer per call


class CorruptFrame(Exception):
    """A frame read back at a known offset does not check out: the file changed under us."""


def encode(record: dict[str, Any]) -> bytes:
    """The frame of ``record``. Errors: ``TypeError``/``ValueError`` for a value msgpack
    cannot carry (the shared packer starts clean again after one)."""
    payload = _packer.pack(record)
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


def scan(buf: bytes | memoryview) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Every whole frame from the start of ``buf`` as (offset, length, record), lazily
    (a segment's records are not all held at once); good data ends where the last
    one ends (``len(buf)`` when the segment is intact)."""
    offset = 0
    while offset < len(buf):
        found = _payload(buf, offset)
        if found is None:
            return
        record, end = found
        yield offset, end - offset, record
        offset = end


def decode(frame: bytes) -> dict[str, Any]:
    """The record in one whole frame read back from disk.

    Errors: ``CorruptFrame`` when it does not check out.
    """
    found = _payload(frame, 0)
    if found is None or found[1] != len(frame):
        raise CorruptFrame(f"bad frame of {len(frame)} bytes")
    return found[0]
