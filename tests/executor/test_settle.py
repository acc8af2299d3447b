from __future__ import annotations

import json

from jobico.caps import MAX_RECORD_BYTES
from jobico.executor.limits import RunResult
from jobico.executor.settle import (
    chained,
    chunks,
    dead_letter,
    encoded_size,
    oversize,
    record,
    refused,
    retry_delay_ms,
    settlement,
    wasi_env,
)

DELIVERY = {"id": "00aa", "tenant": "acme", "event": "signup", "attempt": 1, "body": b'{"a":1}',
            "enqueued_at": 1.5}
JOB = {"package": "pkg", "module_sha256": "f" * 64, "max_attempts": 3, "on_ok": "hi", "on_error": "oops"}
OK = RunResult("ok", 0, "done", [], False, None, 1.5)
FAILED = RunResult("trap", -1, "", [], False, "wasm trap: unreachable", 1.0)


def test_retry_delay_starts_near_one_second_doubles_and_caps() -> None:
    assert retry_delay_ms(1, lambda: 0.5) == 1000
    assert retry_delay_ms(2, lambda: 0.5) == 2000
    assert retry_delay_ms(3, lambda: 0.0) == 3000  # -25 %
    assert retry_delay_ms(3, lambda: 1.0) == 5000  # +25 %
    assert retry_delay_ms(30, lambda: 1.0) == 60_000


def test_settlement_acks_ok_retries_then_dead_letters() -> None:
    assert settlement(DELIVERY, JOB, OK)["outcome"] == "ack"
    retry = settlement(DELIVERY, JOB, FAILED)
    assert retry["outcome"] == "retry" and retry["reason"] == "wasm trap: unreachable"
    last = settlement({**DELIVERY, "attempt": 3}, JOB, FAILED)
    assert last["outcome"] == "dead"


def test_settlement_without_a_run() -> None:
    assert settlement(DELIVERY, JOB, None)["outcome"] == "ack"  # already recorded ok
    assert settlement(DELIVERY, None, None, "no job")["outcome"] == "retry"


def test_record_has_the_spec_fields() -> None:
    entry = record(DELIVERY, JOB, OK, 2.0)
    assert entry["id"] == "00aa-1" and entry["started_at"] == "1970-01-01T00:00:02.000Z"
    assert entry["accepted_at"] == "1970-01-01T00:00:01.500Z"  # when the queue accepted the event
    assert set(entry) == {
        "id", "event_id", "tenant", "package", "event", "attempt", "status", "reason", "truncated",
        "code", "result", "logs", "accepted_at", "started_at", "duration_ms", "module_sha256",
    }  # fmt: skip


def test_on_ok_after_success_and_on_error_only_when_dead() -> None:
    follow = chained(DELIVERY, JOB, OK, "ack")
    assert follow is not None and (follow.event, follow.key) == ("hi", "00aa:on_ok")
    assert follow.item == {"event_id": "00aa", "code": 0, "result": "done", "input": {"a": 1}}
    assert chained(DELIVERY, JOB, FAILED, "retry") is None
    dead = chained(DELIVERY, JOB, FAILED, "dead")
    assert dead is not None and (dead.event, dead.key) == ("oops", "00aa:on_error")
    assert chained(DELIVERY, {**JOB, "on_ok": None}, OK, "ack") is None
    assert json.loads(json.dumps(dead.item))["code"] == -1


def test_wasi_env_names_only_the_event() -> None:
    assert wasi_env(DELIVERY) == {
        "JOBICO_TENANT": "acme",
        "JOBICO_EVENT": "signup",
        "JOBICO_EVENT_ID": "00aa",
        "JOBICO_ATTEMPT": "1",
    }


def test_appends_are_split_by_encoded_size() -> None:
    assert chunks([], 10) == []
    assert [list(r) for r in chunks([4, 4, 4, 9, 1], 10)] == [[0, 1], [2], [3, 4]]
    assert [list(r) for r in chunks([12, 1], 10)] == [[0], [1]]  # never an empty call


def test_a_record_over_the_cap_is_replaced_by_a_short_one() -> None:
    entry = record(DELIVERY, JOB, RunResult("ok", 0, "x" * 100, [{"level": "info", "message": "m"}],
                                            False, None, 1.0), 2.0)
    assert oversize(encoded_size(entry)) is None
    over = MAX_RECORD_BYTES + 1
    assert oversize(over) == f"{over} bytes encoded, over the {MAX_RECORD_BYTES}-byte cap"
    small = refused(entry, "too big")
    assert small == {**entry, "reason": "record refused by the recorder: too big", "result": "", "logs": [],
                     "truncated": True}
    assert dead_letter(DELIVERY, small["reason"]) == {"id": "00aa", "outcome": "dead",
                                                      "reason": small["reason"], "delay_ms": 0}
