from __future__ import annotations

import wasmtime

from jobico.caps import MAX_LOG_LINES
from jobico.executor.limits import (
    MAX_REASON_BYTES,
    MIB,
    LogSink,
    StoreLimits,
    level_name,
    near_memory_cap,
    store_limits,
    text_within,
    ticks_for,
)
from jobico.executor.outcome import Outcome, classify


def test_log_levels_follow_zerolog_and_clamp_above_six() -> None:
    names = [level_name(n) for n in range(8)]
    assert names == ["debug", "info", "warn", "error", "fatal", "panic", "none", "none"]
    assert level_name(2**31) == "none"
    assert level_name(-1) == "debug"


def test_log_sink_keeps_exactly_the_cap_and_flags_the_rest() -> None:
    sink = LogSink(max_bytes=10)
    sink.add("info", b"123456")
    sink.add("info", b"7890ab")
    sink.add("info", b"more")
    assert [line["message"] for line in sink.lines] == ["123456", "7890"]
    assert sink.truncated


def test_log_sink_under_the_cap_is_not_truncated() -> None:
    sink = LogSink(max_bytes=100)
    sink.add_stream(b"one\n\ntwo\r\n", cut=False)
    assert sink.lines == [{"level": "info", "message": "one"}, {"level": "info", "message": "two"}]
    assert not sink.truncated


def test_a_cut_capture_marks_the_logs_truncated() -> None:
    sink = LogSink(max_bytes=100)
    sink.add_stream(b"partial", cut=True)
    assert sink.truncated


def test_log_sink_keeps_at_most_max_lines_lines() -> None:
    sink = LogSink()
    for _ in range(MAX_LOG_LINES + 5):
        sink.add("info", b"")
    assert len(sink.lines) == MAX_LOG_LINES == 10_000 and sink.truncated
    streamed = LogSink(max_lines=3)
    streamed.add_stream(b"a\nb\nc\nd\n", cut=False)
    assert [line["message"] for line in streamed.lines] == ["a", "b", "c"] and streamed.truncated


def test_log_sink_counts_the_bytes_of_the_text_it_keeps() -> None:
    sink = LogSink(max_bytes=10)
    sink.add("info", b"\xff\xff")  # two U+FFFD: 6 bytes of text
    sink.add("info", b"\xff\xff")  # 4 bytes of room left: one U+FFFD
    sink.add("info", b"\xff")
    assert [line["message"] for line in sink.lines] == ["\ufffd" * 2, "\ufffd"]
    assert sink.full and sink.truncated


def test_text_within_cuts_the_encoded_text_at_the_limit() -> None:
    assert text_within(b"abcdef", 4) == ("abcd", True)
    assert text_within(b"abcd", 4) == ("abcd", False)
    assert text_within("é".encode() * 3, 5) == ("éé", True)  # never half a character
    text, cut = text_within(b"\xff" * 100, 100)
    assert cut and len(text.encode()) <= 100 and text == "\ufffd" * 33


def test_store_limits_share_the_cap_between_memory_and_tables() -> None:
    assert store_limits(4, ()) == StoreLimits(4 * MIB, 0, 0)
    one = store_limits(64, (10,))
    assert one == StoreLimits(63 * MIB, 131072, 1)  # tables get 1/64 of the cap
    big = store_limits(1, (200_000,))  # a declared table larger than the share counts whole
    assert big.table_elements == 131072 and big.memory_bytes == 0  # and never more than the cap
    for memory_mb, tables in ((64, (10,)), (1, (200_000,)), (1, (5, 5, 5)), (4, ())):
        limits = store_limits(memory_mb, tables)
        assert limits.memory_bytes + limits.tables * limits.table_elements * 8 == memory_mb * MIB


def test_a_long_reason_is_cut() -> None:
    outcome = Outcome(failure=wasmtime.WasmtimeError("x" * 100_000))
    result = classify(outcome, "wasi", LogSink(), (b"", False), (b"", False),
                      timeout_ms=1, memory_mb=1, duration_ms=1.0, max_result=10)
    assert result.status == "trap" and len((result.reason or "").encode()) <= MAX_REASON_BYTES


def test_deadline_ticks_never_stop_a_guest_early() -> None:
    assert ticks_for(2000, 10) == 201
    assert ticks_for(5, 10) == 2
    assert ticks_for(0, 10) == 2


def test_memory_cap_heuristic() -> None:
    assert near_memory_cap(63 * MIB, 64 * MIB)
    assert not near_memory_cap(10 * MIB, 64 * MIB)
    assert near_memory_cap(int(3.5 * MIB), 4 * MIB)
