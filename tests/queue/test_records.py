from __future__ import annotations

import os

from jobico.queue import records


def sample() -> bytes:
    return (
        records.mark_record(7)
        + records.items_record(
            records.ItemsBatch("acme", "signup", 1, 1.5, 1.5, "k", [(8, b"{}"), (9, b"[]")])
        )
        + records.done_record([8])
    )


def test_scan_reads_back_what_was_framed() -> None:
    found = records.scan(sample())
    assert found.error is None and found.valid_end == len(sample())
    assert found.records == [
        [records.MARK, 7],
        [records.ITEMS, "acme", "signup", 1, 1.5, 1.5, "k", [[8, b"{}"], [9, b"[]"]]],
        [records.DONE, [8]],
    ]


def test_a_record_cut_anywhere_is_a_torn_tail_and_earlier_records_survive() -> None:
    data = sample()
    last = len(data) - len(records.done_record([8]))
    for cut in range(last + 1, len(data)):
        found = records.scan(data[:cut])
        assert len(found.records) == 2 and found.valid_end == last
        assert "torn" in (found.error or "")


def test_a_flipped_bit_fails_the_crc() -> None:
    data = bytearray(sample())
    data[-1] ^= 0x01
    found = records.scan(bytes(data))
    assert len(found.records) == 2 and "CRC" in (found.error or "")


def test_garbage_yields_no_records_and_a_reason() -> None:
    garbage = os.urandom(4096)
    found = records.scan(garbage)
    assert found.records == [] and found.valid_end == 0 and found.error


def test_a_valid_frame_of_an_unknown_shape_is_rejected() -> None:
    found = records.scan(records.frame([99, "x"]) + records.frame(["not", "a", "kind"]))
    assert found.records == [] and "undecodable" in (found.error or "")
