"""Frames read back after damage: a torn tail is cut, a damaged record in the middle skipped."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobico.storage.frames import HEADER, MAGIC, Frames, FrameTooLarge, frame

LIMIT = 1024
PAYLOADS = [b"A" * 40, b"B" * 50, b"C" * 60, b"D" * 70]


def read(data: bytes, limit: int = LIMIT) -> tuple[list[bytes], Frames[bytes]]:
    found = Frames(data, limit, bytes)
    return [record for _, _, record in found], found


def legacy(payload: bytes) -> bytes:
    """A frame as versions before format 2 wrote it."""
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def joined(parts: list[bytes]) -> tuple[bytes, list[int]]:
    """The frames one after another, and where each starts."""
    starts, at = [], 0
    for part in parts:
        starts.append(at)
        at += len(part)
    return b"".join(parts), starts


def test_intact_frames_read_back() -> None:
    data, starts = joined([frame(p, LIMIT) for p in PAYLOADS])
    records, found = read(data)
    assert records == PAYLOADS
    assert [offset for offset, _, _ in Frames(data, LIMIT, bytes)] == starts
    assert (found.end, found.tail, found.damaged) == (len(data), None, [])


# Where a byte of B is damaged: each part of its header, and its payload.
@pytest.mark.parametrize("at", [0, 3, 4, 7, 8, 11, HEADER.size, HEADER.size + 30])
def test_a_damaged_record_in_the_middle_is_skipped_and_the_rest_kept(at: int) -> None:
    data, starts = joined([frame(p, LIMIT) for p in PAYLOADS])
    damaged = bytearray(data)
    damaged[starts[1] + at] ^= 0xFF
    records, found = read(bytes(damaged))
    assert records == [PAYLOADS[0], PAYLOADS[2], PAYLOADS[3]]
    assert found.tail is None and found.end == len(data)
    ((offset, length, reason),) = [(d.offset, d.length, d.reason) for d in found.damaged]
    assert (offset, length) == (starts[1], starts[2] - starts[1]) and reason


def test_a_damaged_header_that_claims_the_rest_of_the_file_is_not_a_torn_tail() -> None:
    data, starts = joined([frame(p, LIMIT) for p in PAYLOADS])
    damaged = bytearray(data)
    damaged[starts[1] + 4:starts[1] + 8] = struct.pack("<I", LIMIT)  # length past the end
    records, found = read(bytes(damaged))
    assert records == [PAYLOADS[0], PAYLOADS[2], PAYLOADS[3]]
    assert found.tail is None and [d.offset for d in found.damaged] == [starts[1]]


def test_a_torn_tail_is_reported_where_it_starts() -> None:
    data, starts = joined([frame(p, LIMIT) for p in PAYLOADS])
    for cut in range(starts[3] + 1, len(data)):
        records, found = read(data[:cut])
        assert records == PAYLOADS[:3]
        assert found.end == starts[3] and found.tail and found.damaged == []


def test_a_whole_last_frame_that_fails_its_crc_is_a_torn_tail() -> None:
    """Power lost after the file grew but before the last frame's bytes reached the disk."""
    data, starts = joined([frame(p, LIMIT) for p in PAYLOADS])
    records, found = read(data[:-5] + bytes(5))
    assert records == PAYLOADS[:3] and found.end == starts[3] and found.damaged == []


def test_a_frame_inside_a_damaged_payload_is_never_read() -> None:
    """A tenant's bytes may look like a frame: a damaged record is skipped whole, its
    payload is never searched for frames, and neither is a torn one."""
    forged = frame(b"FORGED" * 5, LIMIT)
    carrier = frame(b"x" * 10 + forged + b"y" * 10, LIMIT)
    data, starts = joined([frame(PAYLOADS[0], LIMIT), carrier, frame(PAYLOADS[1], LIMIT)])
    damaged = bytearray(data)
    damaged[starts[1] + HEADER.size + 3] ^= 1  # before the forged frame
    assert read(bytes(damaged))[0] == [PAYLOADS[0], PAYLOADS[1]]
    torn = data[:starts[1] + HEADER.size + 10 + len(forged) + 4]  # the forged frame is whole
    records, found = read(torn)
    assert records == [PAYLOADS[0]] and found.end == starts[1]


def test_an_intact_frame_the_store_cannot_decode_is_skipped() -> None:
    data, starts = joined([frame(p, LIMIT) for p in PAYLOADS])
    found = Frames(data, LIMIT, lambda p: None if bytes(p) == PAYLOADS[1] else bytes(p))
    assert [r for _, _, r in found] == [PAYLOADS[0], PAYLOADS[2], PAYLOADS[3]]
    assert [(d.offset, d.length) for d in found.damaged] == [(starts[1], starts[2] - starts[1])]


def test_the_writer_refuses_what_the_reader_would_refuse() -> None:
    with pytest.raises(FrameTooLarge, match=f"{LIMIT + 1} bytes encoded, over the limit of {LIMIT}"):
        frame(b"x" * (LIMIT + 1), LIMIT)
    big = frame(b"x" * (LIMIT + 1), LIMIT + 1)  # as a store with a higher limit wrote it
    data, starts = joined([frame(PAYLOADS[0], LIMIT), big, frame(PAYLOADS[1], LIMIT)])
    records, found = read(data)
    assert records == [PAYLOADS[0], PAYLOADS[1]]  # skipped, and the next one kept
    assert [d.offset for d in found.damaged] == [starts[1]] and "over the limit" in found.damaged[0].reason
    records, found = read(data[:starts[2]])
    assert records == [PAYLOADS[0]] and found.tail is None  # intact, so not a tail to cut


def test_legacy_frames_read_back_and_format_2_frames_may_follow_them() -> None:
    parts = [legacy(PAYLOADS[0]), legacy(b"L" * (LIMIT * 2)), frame(PAYLOADS[1], LIMIT)]
    data, starts = joined(parts)
    assert read(data)[0] == [PAYLOADS[0], b"L" * (LIMIT * 2), PAYLOADS[1]]
    damaged = bytearray(data)
    damaged[starts[1] + 20] ^= 1  # a legacy payload: its length leads to a good frame
    records, found = read(bytes(damaged))
    assert records == [PAYLOADS[0], PAYLOADS[1]] and [d.offset for d in found.damaged] == [starts[1]]
    records, found = read(data[:-3])  # a torn tail
    assert records == [PAYLOADS[0], b"L" * (LIMIT * 2)] and found.end == starts[2]


def test_magic_is_never_a_legacy_length() -> None:
    assert struct.unpack("<I", MAGIC)[0] > 800 * 1024 * 1024


@given(cut=st.integers(min_value=0), at=st.integers(min_value=0), bits=st.integers(1, 255))
def test_damage_anywhere_loses_only_the_frame_it_hits(cut: int, at: int, bits: int) -> None:
    """Cut the data anywhere and damage one byte anywhere: every other whole frame is read,
    nothing else is, and every byte is either read, skipped as damage or the torn tail."""
    parts = [frame(p, LIMIT) for p in PAYLOADS]
    data, starts = joined(parts)
    cut %= len(data) + 1
    damaged = bytearray(data[:cut])
    if damaged:
        damaged[at % len(damaged)] ^= bits
    hit = at % len(damaged) if damaged else -1
    found = Frames(bytes(damaged), LIMIT, bytes)
    read_back = list(found)

    def survives(i: int) -> bool:
        start, end = starts[i], starts[i] + len(parts[i])
        own_crc = start + 12 <= hit < start + HEADER.size  # only needed for a bad frame
        return end <= cut and (not start <= hit < end or own_crc)

    assert [r for _, _, r in read_back] == [p for i, p in enumerate(PAYLOADS) if survives(i)]
    accounted = sum(n for _, n, _ in read_back) + sum(d.length for d in found.damaged)
    assert accounted + (len(damaged) - found.end) == len(damaged)
