from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobico.recorder import frames

RECORDS = [{"id": f"r{i}", "result": "x" * i} for i in range(5)]


def scanned(buf: bytes) -> tuple[list[tuple[int, int, dict]], int]:
    """Every frame ``scan`` yields, and where the good data ends (after the last one)."""
    found = list(frames.scan(buf))
    return found, (found[-1][0] + found[-1][1] if found else 0)


def test_scan_returns_every_whole_frame() -> None:
    data = b"".join(frames.encode(r) for r in RECORDS)
    found, end = scanned(data)
    assert [r for _, _, r in found] == RECORDS
    assert end == len(data)
    offset, length, _ = found[2]
    assert frames.decode(data[offset:offset + length]) == RECORDS[2]


@given(cut=st.integers(min_value=0), flip=st.integers(min_value=0))
def test_damage_is_never_loaded(cut: int, flip: int) -> None:
    """Whatever a crash leaves at the tail, only whole, intact frames before it load."""
    whole = [frames.encode(r) for r in RECORDS]
    data = bytearray(b"".join(whole))
    cut %= len(data) + 1
    damaged = bytearray(data[:cut])
    if damaged:
        damaged[flip % len(damaged)] ^= 0x5A
    found, end = scanned(bytes(damaged))
    loaded = [r for _, _, r in found]
    assert loaded == RECORDS[:len(loaded)]
    assert end == sum(len(f) for f in whole[:len(loaded)])
    assert end <= len(damaged)


def test_garbage_length_is_not_trusted() -> None:
    assert scanned(b"\xff\xff\xff\xff\x00\x00\x00\x00rest") == ([], 0)


def test_decode_rejects_a_bad_frame() -> None:
    frame = bytearray(frames.encode(RECORDS[1]))
    frame[-1] ^= 1
    with pytest.raises(frames.CorruptFrame):
        frames.decode(bytes(frame))
