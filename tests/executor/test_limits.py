from __future__ import annotations

from jobico.executor.limits import MIB, LogSink, cap, level_name, near_memory_cap, ticks_for


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


def test_cap() -> None:
    assert cap(b"abcdef", 4) == (b"abcd", True)
    assert cap(b"abcd", 4) == (b"abcd", False)


def test_deadline_ticks_never_stop_a_guest_early() -> None:
    assert ticks_for(2000, 10) == 201
    assert ticks_for(5, 10) == 2
    assert ticks_for(0, 10) == 2


def test_memory_cap_heuristic() -> None:
    assert near_memory_cap(63 * MIB, 64 * MIB)
    assert not near_memory_cap(10 * MIB, 64 * MIB)
    assert near_memory_cap(int(3.5 * MIB), 4 * MIB)
