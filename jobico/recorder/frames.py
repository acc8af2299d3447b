"""The recorder's frames: one msgpack-encoded execution record per frame (``storage.frames``).

Pure: bytes in, records out. The recorder's one size limit is the record cap,
``caps.MAX_RECORD_BYTES`` of msgpack: ``encode`` refuses a bigger record (the
store then refuses it on its own) and ``scan`` skips a bigger frame, so the
recorder never writes what it would refuse to read back.
"""

from __future__ import annotations

from typing import Any

from jobico.caps import MAX_RECORD_BYTES
from jobico.storage import frames
from jobico.storage.frames import Frames, payload


class CorruptFrame(Exception):
    """A frame read back at a known offset does not check out: the file changed under us."""


def encode(record: dict[str, Any]) -> bytes:
    """The frame of ``record``. Errors: ``TypeError``/``ValueError`` for a value msgpack
    cannot carry; ``FrameTooLarge`` (a ``UserError``) when it encodes to more than
    ``MAX_RECORD_BYTES``."""
    return frames.encode(record, MAX_RECORD_BYTES)


def _record(data: memoryview) -> dict[str, Any] | None:
    """The record in an intact payload, or None when it is not a map (not a record)."""
    record = frames.unpacked(data)
    return record if isinstance(record, dict) else None


def scan(data: bytes) -> Frames[dict[str, Any]]:
    """The frames of a segment: iterate for (offset, length, record); see ``Frames``."""
    return Frames(data, MAX_RECORD_BYTES, _record)


def decode(whole: bytes) -> dict[str, Any]:
    """The record in one whole frame read back from disk.

    Errors: ``CorruptFrame`` when it does not check out.
    """
    found = payload(whole, MAX_RECORD_BYTES)
    record = None if found is None else _record(found)
    if record is None:
        raise CorruptFrame(f"bad frame of {len(whole)} bytes")
    return record
