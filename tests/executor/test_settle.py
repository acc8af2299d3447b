from __future__ import annotations

import dataclasses
import json

from jobico.caps import MAX_RECORD_BYTES
from jobico.ctl.api import Job
from jobico.executor.limits import RunResult
from jobico.executor.settle import (
    chained,
    chunks,
    dead_letter,
    encoded_size,
    oversize,
    record,
    refused,
    settlement,
    wasi_env,
)
from jobico.queue.api import Delivery, Settlement

DELIVERY = Delivery("00aa", "acme", "signup", 1, b'{"a":1}', 1.5)
JOB = Job("acme", "pkg", "signup", module_sha256="f" * 64, max_attempts=3, on_ok="hi", on_error="oops")
OK = RunResult("ok", 0, "done", [], False, None, 1.5)
FAILED = RunResult("trap", -1, "", [], False, "wasm trap: unreachable", 1.0)


def test_settlement_acks_ok_retries_then_dead_letters() -> None:
    assert settlement(DELIVERY, JOB, OK) == Settlement("00aa", "ack", "", 0)
    retry = settlement(DELIVERY, JOB, FAILED)
    assert retry.outcome == "retry" and retry.reason == "wasm trap: unreachable"
    assert retry.delay_ms is not None and 750 <= retry.delay_ms <= 1250  # queue.policy's schedule
    later = settlement(dataclasses.replace(DELIVERY, attempt=2), JOB, FAILED)
    assert later.delay_ms is not None and 1500 <= later.delay_ms <= 2500
    last = settlement(dataclasses.replace(DELIVERY, attempt=3), JOB, FAILED)
    assert last == Settlement("00aa", "dead", "wasm trap: unreachable", 0)


def test_settlement_without_a_run() -> None:
    assert settlement(DELIVERY, JOB, None).outcome == "ack"  # already recorded ok
    assert settlement(DELIVERY, None, None, "no job").outcome == "retry"


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
    assert chained(DELIVERY, dataclasses.replace(JOB, on_ok=None), OK, "ack") is None
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
    assert dead_letter(DELIVERY, small["reason"]) == Settlement("00aa", "dead", small["reason"], 0)
