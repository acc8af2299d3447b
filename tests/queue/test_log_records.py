from __future__ import annotations

import os
from typing import Any

import pytest

from jobico.errors import UserError
from jobico.queue import log_records as records
from jobico.rpc.protocol import MAX_MESSAGE_SIZE
from jobico.storage.frames import HEADER, Frames, FrameTooLarge


def sample() -> bytes:
    return (
        records.mark_record(7)
        + records.items_record(
            records.ItemsBatch("acme", "signup", 1, 1.5, 1.5, "k", [(8, b"{}"), (9, b"[]")])
        )
        + records.done_record([8])
    )


def scan(data: bytes) -> tuple[list[list[Any]], Frames[list[Any]]]:
    """Every record of ``data``, and what reading it found (``end``, ``tail``, ``damaged``)."""
    found = records.scan(data)
    return [record for _, _, record in found], found


def test_scan_reads_back_what_was_framed() -> None:
    read, found = scan(sample())
    assert found.tail is None and found.end == len(sample())
    assert read == [
        [records.MARK, 7],
        [records.ITEMS, "acme", "signup", 1, 1.5, 1.5, "k", [[8, b"{}"], [9, b"[]"]]],
        [records.DONE, [8]],
    ]


def test_a_record_cut_anywhere_is_a_torn_tail_and_earlier_records_survive() -> None:
    data = sample()
    last = len(data) - len(records.done_record([8]))
    for cut in range(last + 1, len(data)):
        read, found = scan(data[:cut])
        assert len(read) == 2 and found.end == last
        assert "torn" in (found.tail or "")


def test_a_flipped_bit_fails_the_crc() -> None:
    data = bytearray(sample())
    data[-1] ^= 0x01
    read, found = scan(bytes(data))
    assert len(read) == 2 and "CRC" in (found.tail or "")


def test_garbage_yields_no_records_and_a_reason() -> None:
    garbage = os.urandom(4096)
    read, found = scan(garbage)
    assert read == [] and found.end == 0 and found.tail


def test_a_valid_frame_of_an_unknown_shape_is_skipped_not_cut() -> None:
    unknown = records.frame([99, "x"]) + records.frame(["not", "a", "kind"])
    read, found = scan(unknown + sample())
    assert read == scan(sample())[0] and found.tail is None
    assert [(d.offset, d.length) for d in found.damaged] == [(0, len(unknown))]


def test_a_record_damaged_in_the_middle_is_skipped_and_the_rest_read() -> None:
    parts = [records.items_record(records.ItemsBatch(t, "e", 1, 1.5, 1.5, None, [(n, b"{}")]))
             for n, t in enumerate(["a", "b", "c", "d"], start=1)]
    data = bytearray(b"".join(parts))
    data[len(parts[0]) + len(parts[1]) // 2] ^= 0x10  # inside B
    read, found = scan(bytes(data))
    assert [r[1] for r in read] == ["a", "c", "d"] and found.tail is None
    assert [(d.offset, d.length) for d in found.damaged] == [(len(parts[0]), len(parts[1]))]


def batch(items: list[bytes], key: str | None = "k") -> records.ItemsBatch:
    return records.ItemsBatch("acme", "e", 1, 1.5, 1.5, key, list(enumerate(items, start=1)))


def test_a_batch_over_the_record_limit_is_split_and_reads_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(records, "MAX_BODY", 4096)
    zeros = [b"0"] * 2000  # a JSON array of zeros: tiny items, a record far over the limit
    parts = records.items_frames(batch(zeros))
    assert len(parts) > 1 and all(len(data) <= 4096 + HEADER.size for data, _ in parts)
    read, found = scan(b"".join(data for data, _ in parts))
    assert found.tail is None and found.damaged == []
    assert [pair for r in read for pair in r[7]] == [[n, b] for n, b in batch(zeros).items]
    assert {r[6] for r in read} == {None}  # the key record, written after, holds the key
    assert [items for _, items in parts] == [[tuple(p) for p in r[7]] for r in read]


def test_a_batch_within_the_limit_is_one_record_with_its_key() -> None:
    [(data, items)] = records.items_frames(batch([b"{}"] * 3))
    assert scan(data)[0][0][6] == "k" and len(items) == 3


def test_an_item_too_big_for_a_record_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_BODY", 4096)
    with pytest.raises(UserError, match=r"items\[2\]: 5000 bytes, over the \d+ bytes"):
        records.items_frames(batch([b"1", b"2", b"x" * 5000]))
    with pytest.raises(FrameTooLarge, match="over the limit of 4096"):
        records.frame([records.DONE, list(range(2000))])


def test_the_real_limit_holds_any_item_an_rpc_message_can_carry() -> None:
    assert records.MAX_BODY > MAX_MESSAGE_SIZE
    item = b"x" * (MAX_MESSAGE_SIZE - 1024)
    [(data, _)] = records.items_frames(records.ItemsBatch("t" * 63, "e" * 63, 1, 1.5, 1.5, None,
                                                          [(2**63, item)]))
    assert len(data) - HEADER.size <= records.MAX_BODY
    dead = records.dead_record(2**63, "e" * 63, 99, 1.5, 1.5, "r" * MAX_MESSAGE_SIZE, item)
    assert len(dead) - HEADER.size <= records.MAX_BODY  # the reason is cut to fit
    assert scan(dead)[0][0][6] == "r" * records.MAX_REASON_CHARS


def test_a_key_record_must_fit_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_BODY", 4096)
    assert records.key_fits("acme", "k", 100) and not records.key_fits("acme", "k", 400)


def test_id_lists_of_any_length_are_written_as_records_that_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "IDS_PER_RECORD", 3)
    for make, kind in [(records.done_record, records.DONE), (records.undead_record, records.UNDEAD)]:
        read, _ = scan(make(list(range(1, 11))))
        assert [r[0] for r in read] == [kind] * 4
        assert [n for r in read for n in r[1]] == list(range(1, 11))
