"""Execution records (SPEC §5): validation, defaults, and the filter queries use.

Pure: no I/O, no clock (callers pass ``now``). Records come from executors over
RPC; a malformed one is a bug in the caller, so the error names the record's
position in the batch and the field. Every stored record carries every SPEC §5
field, so readers (CLI, TUI, metrics) never test for absent keys.
"""

from __future__ import annotations

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
_DEFAULTS: dict[str, Any] = {
    "package": "",
    "truncated": False,
    "code": None,
    "result": "",
    "module_sha256": "",
}


def record_id(event_id: str, attempt: int) -> str:
    """The default record id: one record per (event, attempt), readable by a human."""
    return f"{event_id}-{attempt}"


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


def normalize(raw: object, position: int, now: float) -> tuple[dict[str, Any], float]:
    """A complete, checked copy of one incoming record, and its start time in epoch seconds.

    Missing optional fields get their defaults (``id`` is ``<event_id>-<attempt>``,
    ``started_at`` is ``now``, ``reason`` is the status for a failure); unknown
    fields are kept. Errors: ``UserError`` "record <position>: <field>: ...".
    """
    where = f"record {position}"
    if not isinstance(raw, Mapping):
        raise UserError(f"{where}: expected a map, got {type(raw).__name__}")
    record = dict(raw)
    for field in _TEXT_FIELDS:
        if not isinstance(record.get(field), str) or not record[field]:
            raise UserError(f"{where}: {field}: required, a non-empty string")
    attempt = record.get("attempt")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise UserError(f"{where}: attempt: required, an integer >= 1, got {attempt!r}")
    status = record.get("status")
    if status not in STATUSES:
        raise UserError(f"{where}: status: {status!r} is not one of {', '.join(STATUSES)}")
    for field, default in _DEFAULTS.items():
        record.setdefault(field, default)
    record.setdefault("id", record_id(record["event_id"], attempt))
    if not isinstance(record["id"], str) or not record["id"]:
        raise UserError(f"{where}: id: expected a non-empty string, got {record['id']!r}")
    if not record.get("reason"):
        record["reason"] = None if status == "ok" else status
    duration = record.setdefault("duration_ms", 0)
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
        raise UserError(f"{where}: duration_ms: expected a number >= 0, got {duration!r}")
    record["logs"] = _check_logs(record.get("logs", []), where)
    started = parse_time(record.get("started_at", now), f"{where}: started_at")
    record["started_at"] = iso_utc(started)
    return record, started


def _check_logs(logs: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(logs, list):
        raise UserError(f"{where}: logs: expected a list of {{level, message}}")
    for i, line in enumerate(logs):
        if not isinstance(line, Mapping) or line.get("level") not in LOG_LEVELS:
            raise UserError(f"{where}: logs[{i}]: expected {{level, message}} with level "
                            f"one of {', '.join(sorted(LOG_LEVELS))}")
    return logs


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
