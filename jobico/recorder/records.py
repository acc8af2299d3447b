"""Execution records (SPEC §5): validation, defaults, and the filter queries use.

Pure: no I/O, no clock (callers pass ``now``). Records come from executors over
RPC; a malformed one is a bug in the caller, so the error names the record's
position in the batch and the field. Every stored record carries every SPEC §5
field, so readers (CLI, TUI, metrics) never test for absent keys. ``checked`` is
the one copy of these rules: the store runs it on every record appended, the Redis
relay before forwarding one, and ``api.Record.from_wire`` on every record read.
How a filter crosses the wire is ``api.py``'s; what it matches is ``Filter``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from jobico.errors import UserError

if TYPE_CHECKING:
    from jobico.recorder.index import Entry

STATUSES = ("ok", "error", "timeout", "trap", "limit")
LOG_LEVELS = frozenset({"debug", "info", "warn", "error", "fatal", "panic", "none"})

_TEXT_FIELDS = ("event_id", "tenant", "event")
_STRING_FIELDS = ("package", "result", "module_sha256")
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


def _is_integer(value: object) -> TypeGuard[int]:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: object) -> TypeGuard[float]:
    return type(value) is float or (isinstance(value, int | float) and not isinstance(value, bool))


def normalize(raw: object, position: int, now: float) -> tuple[dict[str, Any], float]:
    """``checked`` for the record at ``position`` of a batch: its errors say which one.

    Errors: ``UserError`` "record <position>: <field>: ...".
    """
    try:
        return checked(raw, now)
    except UserError as exc:
        raise UserError(f"record {position}: {exc}") from None


def checked(raw: object, now: float) -> tuple[dict[str, Any], float]:
    """A complete, checked copy of one record, and its start time in epoch seconds: the
    rules of an execution record (SPEC §5), here once (``api.Record.from_wire`` is this).

    Missing optional fields get their defaults (``id`` is ``<event_id>-<attempt>``,
    ``started_at`` is ``now``, ``accepted_at`` None, ``reason`` is the status for a
    failure); unknown fields are kept. Errors: ``UserError`` "<field>: ...".
    It runs for every record appended, so each field is checked once, without loops
    over field names.
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise UserError(f"expected a map, got {type(raw).__name__}")
    record = {**_DEFAULTS, **raw}
    get = record.get
    event_id, tenant, event = get("event_id"), get("tenant"), get("event")
    if not (type(event_id) is type(tenant) is type(event) is str and event_id and tenant and event):
        for field in _TEXT_FIELDS:  # str subclasses are fine too; name the first bad field
            if not _is_text(get(field)):
                raise UserError(f"{field}: required, a non-empty string")
    attempt, status = get("attempt"), get("status")
    if not _is_integer(attempt) or attempt < 1:
        raise UserError(f"attempt: required, an integer >= 1, got {attempt!r}")
    if type(status) is not str or status not in STATUSES:
        raise UserError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    if not type(get("package")) is type(get("result")) is type(get("module_sha256")) is str:
        for field in _STRING_FIELDS:  # str subclasses are fine too
            if not isinstance(get(field), str):
                raise UserError(f"{field}: expected a string, got {type(get(field)).__name__}")
    code = get("code")
    if code is not None and not _is_integer(code):
        raise UserError(f"code: expected an integer or nil, got {type(code).__name__}")
    if type(get("truncated")) is not bool:
        raise UserError(f"truncated: expected true or false, got {type(get('truncated')).__name__}")
    rid = record.setdefault("id", f"{event_id}-{attempt}")
    if not _is_text(rid):
        raise UserError(f"id: expected a non-empty string, got {rid!r}")
    reason = get("reason")
    if not reason:
        record["reason"] = None if status == "ok" else status
    elif not isinstance(reason, str):
        raise UserError(f"reason: expected a string, got {reason!r}")
    duration = record.setdefault("duration_ms", 0)
    if not _is_number(duration) or duration < 0:
        raise UserError(f"duration_ms: expected a number >= 0, got {duration!r}")
    if "logs" in record:
        _check_logs(record["logs"])
    else:
        record["logs"] = []
    record["started_at"], started = record_time(get("started_at", now), "started_at")
    accepted = get("accepted_at")
    if accepted is not None:
        record["accepted_at"] = record_time(accepted, "accepted_at")[0]
    return record, started


def _check_logs(logs: object) -> None:
    if not isinstance(logs, list):
        raise UserError("logs: expected a list of {level, message}")
    for i, line in enumerate(logs):
        level, message = (line.get("level"), line.get("message")) if (
            type(line) is dict or isinstance(line, Mapping)) else (None, None)
        if type(level) is not str or level not in LOG_LEVELS or not isinstance(message, str):
            raise UserError(f"logs[{i}]: expected {{level, message}}: a text message, level "
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

