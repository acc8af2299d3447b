"""Frames: how the queue and the recorder put records in append-only files, and find them again.

A record is a msgpack value (``encode``, ``unpacked``); each store says which
values are its records (``Frames``'s ``decode``).

A store's file is a plain concatenation of frames. A frame (format 2)::

    4 bytes   MAGIC
    u32 LE    length of the payload
    u32 LE    CRC-32 of the payload
    u32 LE    CRC-32 of the 12 bytes before it: the header checks itself
    payload

Files written before format 2 hold *legacy* frames (``u32 length | u32 CRC |
payload``), and a file may hold both (legacy first: stores append to files
they found). MAGIC read as a legacy length is over 800 MiB, so the two are
never mistaken for each other.

Reading tells apart what a crash leaves from what a bad disk leaves:

- a *torn tail*: damage with no good frame after it, the last append cut
  short; ``Frames.end`` is where it starts, for the caller to cut it;
- a *damaged record in the middle*: skipped, listed in ``Frames.damaged``,
  never a reason to drop the records after it. Reading resumes where the
  damaged frame ends when its header checks out (so a damaged payload is
  skipped whole: whatever it holds, a tenant's bytes that look like frames
  included, is never searched), else at the next MAGIC whose header checks out.

One size limit per store, given to both sides: ``frame`` refuses a payload
over it and the reader skips a frame over it, so a writer never writes what
its reader would refuse. Legacy frames were written under other limits and
are read whatever their length when whole and intact.

Pure: bytes in, frames out.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgpack

from jobico.errors import UserError

MAGIC = b"\xfeJB2"
HEADER = struct.Struct("<4sIII")
_CHECKED = struct.Struct("<4sII")  # the part of the header its own CRC covers
_CRC = struct.Struct("<I")
LEGACY = struct.Struct("<II")

T = TypeVar("T")
Buffer = bytes | bytearray | memoryview
# One for all: packb builds a Packer per call. Thread-safe as used: pack holds the GIL
# throughout (no hook calls back into Python) and starts clean again after an error.
_packer = msgpack.Packer(use_bin_type=True)


class FrameTooLarge(UserError):
    """A payload over the store's limit: the store refuses it rather than write it."""


def frame(payload: bytes, limit: int) -> bytes:
    """``payload`` framed for appending. Errors: ``FrameTooLarge`` over ``limit`` bytes."""
    size = len(payload)
    if size > limit:
        raise FrameTooLarge(f"{size} bytes encoded, over the limit of {limit}")
    checked = _CHECKED.pack(MAGIC, size, zlib.crc32(payload))
    return b"".join((checked, _CRC.pack(zlib.crc32(checked)), payload))


def encode(value: object, limit: int) -> bytes:
    """The frame of ``value`` in msgpack.

    Errors: ``TypeError``/``ValueError`` for a value msgpack cannot carry;
    ``FrameTooLarge`` when it encodes to more than ``limit`` bytes.
    """
    return frame(_packer.pack(value), limit)


def unpacked(payload: Buffer) -> Any:
    """The msgpack value in an intact payload, or None when it holds none (then not a record)."""
    try:
        return msgpack.unpackb(payload, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None


@dataclass(frozen=True, slots=True)
class Damage:
    """``length`` bytes from ``offset`` that held no readable record, and why."""

    offset: int
    length: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Bad:
    """Why the frame at some offset is unreadable, and where reading may go on: an
    offset (its header checks out), or None (search for the next frame). A ``torn``
    frame that reaches the end of the data is the torn tail; any other is skipped."""

    reason: str
    resume: int | None
    torn: bool = True


class Frames(Generic[T]):
    """The readable frames of ``data``: iterate for ``(offset, length, record)``.

    ``decode`` turns an intact payload into a record, or None when it is not one
    (skipped as damage). Iteration is lazy, so a segment's records need not all
    be held at once; once it ends, ``end`` is where good data ends (``size``, the
    length of the data, unless there is a torn tail, whose reason is ``tail``) and
    ``damaged`` lists the regions skipped before it.
    """

    def __init__(self, data: Buffer, limit: int, decode: Callable[[memoryview], T | None]) -> None:
        self._data = memoryview(data)
        self._limit = limit
        self._decode = decode
        self.size = self.end = len(data)
        self.tail: str | None = None
        self.damaged: list[Damage] = []

    def __iter__(self) -> Iterator[tuple[int, int, T]]:
        data, size = self._data, len(self._data)
        pos = 0
        while pos < size:
            found = _look(data, pos, self._limit)
            if isinstance(found, _Bad):
                resume = found.resume if found.resume is not None else _next_header(data, pos + 1)
                if resume is None or (resume >= size and found.torn):
                    self.end, self.tail = pos, found.reason
                    return
                self._skip(pos, resume, found.reason)
                pos = resume
                continue
            start, end = found
            record = self._decode(data[start:end])
            if record is None:
                self._skip(pos, end, "an intact frame that holds no record this version reads")
            else:
                yield pos, end - pos, record
            pos = end

    def _skip(self, start: int, end: int, reason: str) -> None:
        """Note damage, merged with the region just before it (one report per bad stretch)."""
        last = self.damaged[-1] if self.damaged else None
        if last is not None and last.offset + last.length == start:
            self.damaged[-1] = Damage(last.offset, end - last.offset, last.reason)
        else:
            self.damaged.append(Damage(start, end - start, reason))


def payload(frame_bytes: Buffer, limit: int) -> memoryview | None:
    """The payload of one whole frame read back from where an index said it is, or
    None when it does not check out (the file changed under the index)."""
    data = memoryview(frame_bytes)
    found = _look(data, 0, limit)
    if isinstance(found, _Bad) or found[1] != len(data):
        return None
    return data[found[0]:found[1]]


def _look(data: memoryview, pos: int, limit: int) -> tuple[int, int] | _Bad:
    """The payload bounds of an intact frame at ``pos``, or why there is none."""
    size = len(data)
    if data[pos:pos + 4] == MAGIC:
        if size - pos < HEADER.size:
            return _Bad(f"a torn header ({size - pos} bytes)", None)
        _, length, crc, _ = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        end = start + length
        # The payload CRC also vouches for the length; the header's own CRC is only
        # needed to decide whether a bad frame's length can be trusted.
        if length <= limit and end <= size and zlib.crc32(data[start:end]) == crc:
            return start, end
        if not _header_checks(data, pos):
            return _Bad("a damaged header", None)
        if end > size:
            return _Bad(f"a torn record ({size - start} of {length} bytes)", size)
        if length > limit:
            return _Bad(f"a record of {length} bytes, over the limit of {limit}", end, torn=False)
        return _Bad("a CRC mismatch", end)
    if size - pos < LEGACY.size:
        return _Bad(f"a torn header ({size - pos} bytes)", None)
    length, crc = LEGACY.unpack_from(data, pos)
    start = pos + LEGACY.size
    end = start + length
    if length and end <= size and zlib.crc32(data[start:end]) == crc:
        return start, end
    if length and end <= size and (end == size or _starts_frame(data, end)):
        # No header CRC in a legacy frame: its length is trusted only when it
        # leads to the end of the data or to the start of a frame.
        return _Bad("a CRC mismatch", end)
    return _Bad("not a frame", None)


def _starts_frame(data: memoryview, pos: int) -> bool:
    """Whether a format-2 header that checks out, or a whole intact legacy frame, is at ``pos``."""
    if data[pos:pos + 4] == MAGIC:
        return _header_checks(data, pos)
    if len(data) - pos < LEGACY.size:
        return False
    length, crc = LEGACY.unpack_from(data, pos)
    end = pos + LEGACY.size + length
    return bool(length) and end <= len(data) and zlib.crc32(data[pos + LEGACY.size:end]) == crc


def _header_checks(data: Buffer, pos: int) -> bool:
    if len(data) - pos < HEADER.size:
        return False
    own: int = HEADER.unpack_from(data, pos)[3]
    return zlib.crc32(data[pos:pos + _CHECKED.size]) == own


def _next_header(data: memoryview, start: int) -> int | None:
    """The offset of the next format-2 header that checks out, at or after ``start``."""
    raw = data.obj if isinstance(data.obj, bytes) and len(data.obj) == len(data) else bytes(data)
    while True:
        pos = raw.find(MAGIC, start)
        if pos < 0:
            return None
        if _header_checks(raw, pos):
            return pos
        start = pos + 1
