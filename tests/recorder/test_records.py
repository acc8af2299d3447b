from __future__ import annotations

from typing import Any

import pytest

from jobico.errors import UserError
from jobico.recorder import api
from jobico.recorder.records import Filter, normalize, parse_time
from tests.recorder.conftest import T0, rec


def test_defaults_fill_every_spec_field() -> None:
    raw = {"event_id": "e1", "tenant": "acme", "event": "signup", "attempt": 2,
           "status": "timeout"}
    record, started = normalize(raw, 0, now=T0)
    assert started == T0
    assert record["id"] == "e1-2"
    assert record["reason"] == "timeout"
    assert record["started_at"] == "2023-11-14T22:13:20.000000Z"
    spec_fields = {"id", "event_id", "tenant", "package", "event", "attempt", "status",
                   "reason", "truncated", "code", "result", "logs", "started_at",
                   "accepted_at", "duration_ms", "module_sha256"}
    assert spec_fields <= record.keys()
    assert record["accepted_at"] is None  # an executor from before SPEC §5 named it


def test_ok_has_no_reason_and_given_values_are_kept() -> None:
    record, _ = normalize(rec(id="custom", worker="executor-2"), 0, now=0)
    assert (record["id"], record["reason"], record["worker"]) == ("custom", None, "executor-2")


@pytest.mark.parametrize(("change", "message"), [
    ({"tenant": ""}, "record 3: tenant: required"),
    ({"attempt": 0}, "record 3: attempt"),
    ({"attempt": True}, "record 3: attempt"),
    ({"status": "fine"}, "record 3: status: 'fine' is not one of"),
    ({"logs": [{"level": "loud", "message": "x"}]}, "record 3: logs[0]"),
    ({"duration_ms": -1}, "record 3: duration_ms"),
    ({"started_at": "yesterday"}, "record 3: started_at"),
    ({"started_at": "2023-13-14T22:13:20.123Z"}, "record 3: started_at"),
    ({"accepted_at": "yesterday"}, "record 3: accepted_at"),
    ({"accepted_at": "2023-13-14T22:13:20.123Z"}, "record 3: accepted_at"),
    ({"accepted_at": True}, "record 3: accepted_at"),
    ({"accepted_at": ["2023-11-14T22:13:20Z"]}, "record 3: accepted_at"),
    ({"package": None}, "record 3: package"),
    ({"reason": 5}, "record 3: reason"),
    ({"logs": [{"level": ["info"]}]}, "record 3: logs[0]"),
    ({"event": 7}, "record 3: event: required"),
    ({"result": b"bytes"}, "record 3: result: expected a string"),
    ({"module_sha256": None}, "record 3: module_sha256: expected a string"),
    ({"truncated": "no"}, "record 3: truncated: expected true or false"),
    ({"code": "1"}, "record 3: code: expected an integer or nil"),
    ({"logs": [{"level": "info", "message": 7}]}, "record 3: logs[0]"),
])
def test_bad_record_names_position_and_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        normalize(rec(**change), 3, now=T0)


@pytest.mark.parametrize(("given", "stored"), [
    ("2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.123000Z"),  # as the executor sends it
    ("2023-11-14T22:13:20.123456Z", "2023-11-14T22:13:20.123456Z"),
    ("2023-11-14T23:13:20.5+01:00", "2023-11-14T22:13:20.500000Z"),
    ("2023-11-14T22:13:20", "2023-11-14T22:13:20.000000Z"),
    (T0 + 0.25, "2023-11-14T22:13:20.250000Z"),
])
def test_times_are_stored_in_one_form(given: object, stored: str) -> None:
    record, started = normalize(rec(started_at=given, accepted_at=given), 0, now=0)
    assert record["started_at"] == record["accepted_at"] == stored
    assert started == parse_time(stored, "x")


def test_parse_time_forms() -> None:
    assert parse_time("2023-11-14T22:13:20Z", "x") == T0
    assert parse_time("2023-11-14T22:13:20", "x") == T0  # naive means UTC
    assert parse_time("2023-11-14T23:13:20+01:00", "x") == T0
    assert parse_time(T0, "x") == T0


def test_a_query_reads_its_filter() -> None:
    query = api.Query.from_wire({"tenant": "acme", "status": ["error", "trap"], "event": None,
                                 "since": "2023-11-14T22:13:20Z", "limit": 5})
    assert query == api.Query(Filter(tenant="acme", statuses=frozenset({"error", "trap"}), since=T0), 5)


@pytest.mark.parametrize(("params", "message"), [
    ({"tenat": "acme"}, "unknown filter tenat"),
    ({"status": "bad"}, "'status': 'bad'"),
    ({"until": "soon"}, "until"),
    ({"tenant": 3}, "'tenant' must be a string"),
])
def test_filter_errors_name_the_key(params: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        api.Query.from_wire(params)
