from __future__ import annotations

import struct
import zlib

import msgpack
import pytest

from jobico.caps import MAX_RECORD_BYTES
from jobico.recorder import frames
from jobico.storage.frames import FrameTooLarge

RECORDS = [{"id": f"r{i}", "result": "x" * i} for i in range(5)]


def scanned(buf: bytes) -> tuple[list[tuple[int, int, dict]], int]:
    """Every frame ``scan`` yields, and where the good data ends."""
    found = frames.scan(buf)
    return list(found), found.end


def test_scan_returns_every_whole_frame() -> None:
    data = b"".join(frames.encode(r) for r in RECORDS)
    found, end = scanned(data)
    assert [r for _, _, r in found] == RECORDS
    assert end == len(data)
    offset, length, _ = found[2]
    assert frames.decode(data[offset:offset + length]) == RECORDS[2]


def test_garbage_length_is_not_trusted() -> None:
    assert scanned(b"\xff\xff\xff\xff\x00\x00\x00\x00rest") == ([], 0)


def test_decode_rejects_a_bad_frame() -> None:
    frame = bytearray(frames.encode(RECORDS[1]))
    frame[-1] ^= 1
    with pytest.raises(frames.CorruptFrame):
        frames.decode(bytes(frame))


def test_a_record_over_the_cap_is_never_framed() -> None:
    """The recorder's one limit: what it would refuse to read back, it refuses to write."""
    fits = {"id": "r", "result": "x" * (MAX_RECORD_BYTES - 64)}
    assert frames.decode(frames.encode(fits)) == fits
    with pytest.raises(FrameTooLarge, match=f"over the limit of {MAX_RECORD_BYTES}"):
        frames.encode({"id": "r", "result": "x" * MAX_RECORD_BYTES})


def test_frames_of_earlier_versions_still_read_whatever_their_size() -> None:
    """Before the cap, records of any size were written without a frame header of their own."""
    big = {"id": "old", "logs": [{"level": "info", "message": "x" * 1000}] * 5000}
    payload = msgpack.packb(big)
    assert len(payload) > MAX_RECORD_BYTES
    legacy = struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
    data = legacy + frames.encode(RECORDS[0])
    assert [r for _, _, r in frames.scan(data)] == [big, RECORDS[0]]
    assert frames.decode(legacy) == big
