"""Execution records (SPEC §5): validation, defaults, and the filter queries use.

Pure: no I/O, no clock (callers pass ``now``). Records come from executors over
RPC; a malformed one is a bug in the caller, so the error names the record's
position in the batch and the field. Every stored record carries every SPEC §5
field, so readers (CLI, TUI, metrics) never test for absent keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jobico.errors import UserError

if TYPE_CHECKING:
    from jobico.recorder.index import Entry

STATUSES = ("ok", "error", "timeout", "trap", "limit")
LOG_LEVELS = frozenset({"debug", "info", "warn", "error", "fatal", "panic", "none"})
FILTER_KEYS = ("tenant", "event", "status", "since", "until", "text")

_TEXT_FIELDS = ("event_id", "tenant", "event")
_UTC_FRACTION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{3}|\d{6})Z", re.ASCII)
_MICROS_FORM_LENGTH = len("2000-01-01T00:00:00.000000Z")
_DEFAULTS: dict[str, Any] = {
    "package": "",
    "truncated": False,
    "code": None,
    "result": "",
    "module_sha256": "",
    "accepted_at": None,  # unknown: an executor from before SPEC §5 named it
}


def iso_utc(ts: float) -> str:
    """ISO 8601 UTC with microseconds and a ``Z``, the one form records carry."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def parse_time(value: object, field: str) -> float:
    """Seconds since the epoch from an ISO 8601 string (naive means UTC) or a number.

    Errors: ``UserError`` naming ``field`` when the value is neither.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp()
    raise UserError(f"{field}: expected an ISO 8601 time or epoch seconds, got {value!r}")


def record_time(value: object, field: str) -> tuple[str, float]:
    """A time (``started_at``, ``accepted_at``) in the one form records carry, and as epoch
    seconds.

    Errors: ``UserError`` naming ``field`` (see ``parse_time``). Runs for every record
    appended and loaded: a time already in that form (as stored), or with milliseconds
    (as the executor sends it), is padded as text rather than formatted through
    ``datetime`` (``iso_utc`` costs more than the parse).
    """
    seconds = parse_time(value, field)
    if type(value) is str and _UTC_FRACTION.fullmatch(value):
        return (value if len(value) == _MICROS_FORM_LENGTH else f"{value[:-1]}000Z"), seconds
    return iso_utc(seconds), seconds


def _is_text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _is_integer(value: object) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: object) -> bool:
    return type(value) is float or (isinstance(value, int | float) and not isinstance(value, bool))


def normalize(raw: object, position: int, now: float) -> tuple[dict[str, Any], float]:
    """A complete, checked copy of one incoming record, and its start time in epoch seconds.

    Missing optional fields get their defaults (``id`` is ``<event_id>-<attempt>``,
    ``started_at`` is ``now``, ``accepted_at`` None, ``reason`` is the status for a
    failure); unknown fields are kept. Errors: ``UserError`` "record <position>: <field>: ...".
    It runs for every record appended, so each field is checked once, without loops
    over field names.
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise UserError(f"record {position}: expected a map, got {type(raw).__name__}")
    record = {**_DEFAULTS, **raw}
    get = record.get
    event_id, tenant, event = get("event_id"), get("tenant"), get("event")
    if not (type(event_id) is type(tenant) is type(event) is str and event_id and tenant and event):
        for field in _TEXT_FIELDS:  # str subclasses are fine too; name the first bad field
            if not _is_text(get(field)):
                raise UserError(f"record {position}: {field}: required, a non-empty string")
    attempt, status = get("attempt"), get("status")
    if not _is_integer(attempt) or attempt < 1:
        raise UserError(f"record {position}: attempt: required, an integer >= 1, got {attempt!r}")
    if type(status) is not str or status not in STATUSES:
        raise UserError(f"record {position}: status: {status!r} is not one of {', '.join(STATUSES)}")
    if not isinstance(get("package"), str):
        raise UserError(f"record {position}: package: expected a string, got {get('package')!r}")
    rid = record.setdefault("id", f"{event_id}-{attempt}")
    if not _is_text(rid):
        raise UserError(f"record {position}: id: expected a non-empty string, got {rid!r}")
    reason = get("reason")
    if not reason:
        record["reason"] = None if status == "ok" else status
    elif not isinstance(reason, str):
        raise UserError(f"record {position}: reason: expected a string, got {reason!r}")
    duration = record.setdefault("duration_ms", 0)
    if not _is_number(duration) or duration < 0:
        raise UserError(f"record {position}: duration_ms: expected a number >= 0, got {duration!r}")
    if "logs" in record:
        _check_logs(record["logs"], position)
    else:
        record["logs"] = []
    record["started_at"], started = record_time(get("started_at", now),
                                                f"record {position}: started_at")
    accepted = get("accepted_at")
    if accepted is not None:
        record["accepted_at"] = record_time(accepted, f"record {position}: accepted_at")[0]
    return record, started


def _check_logs(logs: object, position: int) -> None:
    if not isinstance(logs, list):
        raise UserError(f"record {position}: logs: expected a list of {{level, message}}")
    for i, line in enumerate(logs):
        level = line.get("level") if type(line) is dict or isinstance(line, Mapping) else None
        if type(level) is not str or level not in LOG_LEVELS:
            raise UserError(f"record {position}: logs[{i}]: expected {{level, message}} with level "
                            f"one of {', '.join(sorted(LOG_LEVELS))}")


@dataclass(frozen=True, slots=True)
class Filter:
    """Which records a query or a follow stream wants; ``None`` means any.

    ``since`` is inclusive and ``until`` exclusive (epoch seconds of ``started_at``);
    ``text`` is a case-insensitive substring of id, event id, tenant, package,
    event, status or reason.
    """

    tenant: str | None = None
    event: str | None = None
    statuses: frozenset[str] | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.text is not None:
            object.__setattr__(self, "text", self.text.lower() or None)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], counts: tuple[str, ...] = ()) -> Filter:
        """Parse RPC params; ``None`` values mean "no filter", ``counts`` are keys read elsewhere.

        Errors: ``UserError`` naming an unknown key or a bad value.
        """
        unknown = set(params) - set(FILTER_KEYS) - set(counts)
        if unknown:
            raise UserError(f"unknown filter {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(FILTER_KEYS + counts)}")
        get = {key: params.get(key) for key in FILTER_KEYS}
        for key in ("tenant", "event", "text"):
            if get[key] is not None and not isinstance(get[key], str):
                raise UserError(f"{key}: expected a string, got {get[key]!r}")
        return cls(
            tenant=get["tenant"],
            event=get["event"],
            statuses=_statuses(get["status"]),
            since=None if get["since"] is None else parse_time(get["since"], "since"),
            until=None if get["until"] is None else parse_time(get["until"], "until"),
            text=get["text"],
        )

    def matches(self, entry: Entry) -> bool:
        if self.tenant is not None and entry.tenant != self.tenant:
            return False
        if self.event is not None and entry.event != self.event:
            return False
        if self.statuses is not None and entry.status not in self.statuses:
            return False
        if self.since is not None and entry.started < self.since:
            return False
        if self.until is not None and entry.started >= self.until:
            return False
        return self.text is None or self.text in entry.searchable()


def _statuses(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    wanted = [value] if isinstance(value, str) else value
    if not isinstance(wanted, list | tuple) or not wanted:
        raise UserError(f"status: expected a status or a list of them, got {value!r}")
    bad = [s for s in wanted if s not in STATUSES]
    if bad:
        raise UserError(f"status: {bad[0]!r} is not one of {', '.join(STATUSES)}")
    return frozenset(wanted)


def count_param(params: Mapping[str, Any], key: str, default: int, maximum: int) -> int:
    """An integer count such as ``limit``; Errors: ``UserError`` naming ``key``."""
    value = params.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise UserError(f"{key}: expected an integer from 0 to {maximum}, got {value!r}")
    return value
