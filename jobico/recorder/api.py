"""recorder's RPC contract: execution records appended, queried, fetched, followed; the counters.

The service (``jobico.recorder.service``), the Redis relay that stands in for it
on an executor-only node (``append``, ``ok_ids``: ``jobico.recorder.redis_records``),
the CLI (``jobico executions``/``show``), the TUI and the listener's ``/metrics``
import this module (the executor's ``append`` and ``ok_ids`` send these same wire
shapes); the pattern is ``jobico.rpc.api``'s.

``Record`` is the execution record of SPEC §5 itself. Its rules live once, in
``records.checked``: ``Record.from_wire`` runs it, and so does the store on
every record appended (``Append`` leaves records unread for that reason, so a
bad one is refused alone and each is checked once). What the recorder answers
it stored already checked, so it is sent back with ``Record.of``, unchecked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

from jobico.errors import UserError
from jobico.recorder.records import STATUSES, checked, parse_time
from jobico.recorder.records import Filter as Filter  # a query's filter: part of this contract
from jobico.rpc.api import Call, Empty, Fields, Stream, by_name, each_of, flag, integer, kind, number, string

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
"""The most records one ``query`` answers, or one ``follow`` replays (its ``backlog``)."""
EVERY = Filter()
"""The filter of a query or a follow that wants every record."""


class LogMap(TypedDict):
    level: str
    message: str


class RecordMap(TypedDict):
    """An execution record as it crosses the wire and lies in the store, as ``records.checked``
    leaves it: every SPEC §5 field (fields it does not know are kept, untyped here)."""

    package: str
    truncated: bool
    code: int | None
    result: str
    module_sha256: str
    accepted_at: NotRequired[str | None]  # missing in records stored before SPEC §5 named it
    id: str
    event_id: str
    tenant: str
    event: str
    attempt: int
    status: str
    reason: str | None
    logs: list[LogMap]
    started_at: str
    duration_ms: float


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line a run logged; ``level`` is one of ``records.LOG_LEVELS``."""

    level: str
    message: str


@dataclass(frozen=True, slots=True)
class Record:
    """One run (SPEC §5), as the recorder keeps it: checked, every field there, times in
    the one ISO 8601 UTC form (microseconds and ``Z``); ``reason`` is None for ``ok``,
    ``accepted_at`` None for a record stored before SPEC §5 named it.

    It holds its wire map, checked once, and reads its fields from it: answering a
    query or a follow with what the store holds then costs ~0.2 µs per record, where
    copying 16 fields into a frozen dataclass (and back) cost ~4 µs of the recorder's
    CPU per followed record (``perf/recorder_bench.py``). ``to_wire`` is that map, key
    order and fields this version does not know included: do not change it. Build one
    with ``from_wire`` (checks), or ``of`` for a map that was checked already.
    """

    wire: RecordMap

    @property
    def id(self) -> str:
        return self.wire["id"]

    @property
    def event_id(self) -> str:
        return self.wire["event_id"]

    @property
    def tenant(self) -> str:
        return self.wire["tenant"]

    @property
    def package(self) -> str:
        return self.wire["package"]

    @property
    def event(self) -> str:
        return self.wire["event"]

    @property
    def attempt(self) -> int:
        return self.wire["attempt"]

    @property
    def status(self) -> str:
        return self.wire["status"]

    @property
    def reason(self) -> str | None:
        return self.wire["reason"]

    @property
    def truncated(self) -> bool:
        return self.wire["truncated"]

    @property
    def code(self) -> int | None:
        return self.wire["code"]

    @property
    def result(self) -> str:
        return self.wire["result"]

    @property
    def logs(self) -> tuple[LogLine, ...]:
        return tuple(LogLine(line["level"], line["message"]) for line in self.wire["logs"])

    @property
    def accepted_at(self) -> str | None:
        return self.wire.get("accepted_at")

    @property
    def started_at(self) -> str:
        return self.wire["started_at"]

    @property
    def duration_ms(self) -> float:
        return self.wire["duration_ms"]

    @property
    def module_sha256(self) -> str:
        return self.wire["module_sha256"]

    def to_wire(self) -> RecordMap:
        return self.wire

    @classmethod
    def from_wire(cls, data: object) -> Record:
        """Checked and completed by ``records.checked`` (defaults filled, times in one form).

        **Errors:** ``UserError`` naming the field.
        """
        return cls(cast(RecordMap, checked(data, time.time())[0]))

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Record:
        """The record in a map already checked (by ``records.checked``, or read back from
        the store, which stores only those): it is not checked again."""
        return cls(cast(RecordMap, record))


@dataclass(frozen=True, slots=True)
class Records:
    """Records (an array on the wire): ``query``'s newest first, ``attempts``' by attempt."""

    items: tuple[Record, ...]

    def to_wire(self) -> list[RecordMap]:
        return [record.wire for record in self.items]

    @classmethod
    def from_wire(cls, data: object) -> Records:
        return cls(each_of(data, Record.from_wire, "records"))


@dataclass(frozen=True, slots=True)
class Append:
    """Store runs; answered once they are durable.

    Each record is a ``Record`` or its wire map (``Record.to_wire()``, or as a relay
    received it). ``from_wire`` leaves them as they came: the store reads each on its
    own as it writes it (``records.normalize``, the rules of ``Record.from_wire``), so
    a bad record is refused alone (``Appended.refused``), never the call, and no record
    is checked twice on this hot path.
    """

    records: Sequence[Record | Mapping[str, Any]]

    def wire_records(self) -> list[Mapping[str, Any]]:
        return [r.wire if isinstance(r, Record) else r for r in self.records]

    def to_wire(self) -> dict[str, Any]:
        return {"records": self.wire_records()}

    @classmethod
    def from_wire(cls, data: object) -> Append:
        return cls(Fields(data).each("records", _as_sent))


def _as_sent(record: object) -> Mapping[str, Any]:
    """A record left as it came, whatever it is: the store refuses it alone if it is no
    record at all (see ``Append``)."""
    return cast("Mapping[str, Any]", record)


@dataclass(frozen=True, slots=True)
class Refused:
    """A record the recorder would not store whatever happens: malformed, or over
    ``caps.MAX_RECORD_BYTES`` encoded (``[index, reason]`` on the wire)."""

    index: int
    reason: str

    def to_wire(self) -> list[Any]:
        return [self.index, self.reason]

    @classmethod
    def from_wire(cls, data: object) -> Refused:
        if type(data) is list and len(data) == 2 and type(data[0]) is int and type(data[1]) is str:
            return cls(data[0], data[1])
        raise UserError(f"a refusal must be [index, reason], got {kind(data)}")


@dataclass(frozen=True, slots=True)
class Appended:
    """Per record, whether it is stored now: False for a duplicate run (its id, or its
    (event id, attempt), or a second ``ok`` of its event, is stored already) and for a
    refused one, which is also listed in ``refused``."""

    stored: tuple[bool, ...]
    refused: tuple[Refused, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"stored": list(self.stored), "refused": [r.to_wire() for r in self.refused]}

    @classmethod
    def from_wire(cls, data: object) -> Appended:
        f = Fields(data, "reply")
        return cls(f.each("stored", flag), f.each("refused", Refused.from_wire))


@dataclass(frozen=True, slots=True)
class Query:
    """Up to ``limit`` records matching ``where``, newest ``started_at`` first; with
    ``before`` (an execution id), only those after that record in this order, so the
    last id of a page continues it exactly (SPEC §5 ``--before``)."""

    where: Filter = EVERY
    limit: int = DEFAULT_LIMIT
    before: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire = _filter_wire(self.where)
        wire["limit"] = self.limit
        if self.before is not None:
            wire["before"] = self.before
        return wire

    @classmethod
    def from_wire(cls, data: object) -> Query:
        where, f = _read_filter(data, ("limit", "before"))
        before = f.text_or_none("before")
        return cls(where, _count(f, "limit", DEFAULT_LIMIT),
                   None if before is None else _execution_id(before, "before"))


@dataclass(frozen=True, slots=True)
class Follow:
    """The newest ``backlog`` records matching ``where`` (sent oldest first), then every
    matching record as it becomes durable. No ``before``: what is followed is newer
    than any record."""

    where: Filter = EVERY
    backlog: int = 0

    def to_wire(self) -> dict[str, Any]:
        wire = _filter_wire(self.where)
        if self.backlog:
            wire["backlog"] = self.backlog
        return wire

    @classmethod
    def from_wire(cls, data: object) -> Follow:
        where, f = _read_filter(data, ("backlog",))
        return cls(where, _count(f, "backlog", 0))


@dataclass(frozen=True, slots=True)
class Get:
    """One record by its execution id."""

    id: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id}

    @classmethod
    def from_wire(cls, data: object) -> Get:
        return cls(_execution_id(Fields(data).text("id"), "id"))


@dataclass(frozen=True, slots=True)
class Attempts:
    """Every stored run of one event, by attempt (none for an unknown event)."""

    event_id: str

    def to_wire(self) -> dict[str, Any]:
        return {"event_id": self.event_id}

    @classmethod
    def from_wire(cls, data: object) -> Attempts:
        return cls(_execution_id(Fields(data).text("event_id"), "event_id"))


@dataclass(frozen=True, slots=True)
class EventIds:
    """Which of these events already ran ``ok`` (an executor skips running them again)."""

    event_ids: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"event_ids": list(self.event_ids)}

    @classmethod
    def from_wire(cls, data: object) -> EventIds:
        return cls(Fields(data).each("event_ids", string))


@dataclass(frozen=True, slots=True)
class OkIds:
    """The event ids asked about that have an ``ok`` record, sorted (an array on the wire)."""

    ids: tuple[str, ...]

    def to_wire(self) -> list[str]:
        return list(self.ids)

    @classmethod
    def from_wire(cls, data: object) -> OkIds:
        return cls(each_of(data, string, "ok ids"))


@dataclass(frozen=True, slots=True)
class Histogram:
    """Observations in ms: cumulative counts per bucket bound (the ``+Inf`` bucket is
    ``count``) and their sum."""

    buckets: tuple[int, ...]
    sum: float
    count: int

    def to_wire(self) -> dict[str, Any]:
        return {"buckets": list(self.buckets), "sum": self.sum, "count": self.count}

    @classmethod
    def from_wire(cls, data: object) -> Histogram:
        f = Fields(data, "histogram")
        return cls(f.each("buckets", integer), f.number("sum"), f.integer("count"))


@dataclass(frozen=True, slots=True)
class TenantStats:
    """One tenant's runs since the home was created (``stats.py``): ``counts`` by status,
    ``retries`` (attempt > 1), run time, queue wait and end-to-end latency."""

    counts: Mapping[str, int]
    retries: int
    duration_ms: Histogram
    wait_ms: Histogram
    latency_ms: Histogram

    def to_wire(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "retries": self.retries,
                "duration_ms": self.duration_ms.to_wire(), "wait_ms": self.wait_ms.to_wire(),
                "latency_ms": self.latency_ms.to_wire()}

    @classmethod
    def from_wire(cls, data: object) -> TenantStats:
        f = Fields(data, "tenant")
        return cls(by_name(_get(data, "counts"), integer, "tenant.counts"), f.integer("retries"),
                   Histogram.from_wire(_get(data, "duration_ms")), Histogram.from_wire(_get(data, "wait_ms")),
                   Histogram.from_wire(_get(data, "latency_ms")))


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """The store's size (records, segments, bytes; records skipped as damaged on open) and
    the metrics counters per tenant: ``duration_ms`` over ``buckets_ms``, the two others
    over ``latency_buckets_ms``. Counters only grow: retention does not count down."""

    records: int
    segments: int
    bytes: int
    damaged: int
    damaged_bytes: int
    buckets_ms: tuple[float, ...]
    latency_buckets_ms: tuple[float, ...]
    tenants: Mapping[str, TenantStats]

    def to_wire(self) -> dict[str, Any]:
        return {"records": self.records, "segments": self.segments, "bytes": self.bytes,
                "damaged": self.damaged, "damaged_bytes": self.damaged_bytes,
                "buckets_ms": list(self.buckets_ms), "latency_buckets_ms": list(self.latency_buckets_ms),
                "tenants": {name: per.to_wire() for name, per in self.tenants.items()}}

    @classmethod
    def from_wire(cls, data: object) -> RecorderStats:
        f = Fields(data, "stats")
        return cls(f.integer("records"), f.integer("segments"), f.integer("bytes"), f.integer("damaged"),
                   f.integer("damaged_bytes"), f.each("buckets_ms", number),
                   f.each("latency_buckets_ms", number),
                   by_name(_get(data, "tenants"), TenantStats.from_wire, "stats.tenants"))


append = Call("append", Append.from_wire, Appended.from_wire)
"""Answered once every stored record is durable. **Errors:** ``UserError`` when ``records``
is not an array; ``Unavailable`` when the disk failed (nothing of the call is stored: send
it again)."""

query = Call("query", Query.from_wire, Records.from_wire)
"""Stops early past 32 MiB of records (always answering at least one), so a reply fits a
message. **Errors:** ``UserError`` for a bad filter or count; ``NotFound`` naming ``before``
when no stored record has that id (never stored, or dropped by retention)."""

get = Call("get", Get.from_wire, Record.from_wire)
"""**Errors:** ``NotFound`` naming the id."""

attempts = Call("attempts", Attempts.from_wire, Records.from_wire)

ok_ids = Call("ok_ids", EventIds.from_wire, OkIds.from_wire)
"""Counts records written but not yet durable too, so a run is not started twice."""

stats = Call("stats", Empty.from_wire, RecorderStats.from_wire)

follow = Stream("follow", Follow.from_wire, Record.from_wire)
"""**Errors:** ``UserError`` for a bad filter or ``backlog``; ``Unavailable`` once the
follower fell too far behind (10,000 records): it was dropped, and follows again."""


_FILTER_KEYS = ("tenant", "event", "status", "since", "until", "text")


def _filter_wire(where: Filter) -> dict[str, Any]:
    """The params a filter is sent as: only what it names; one status as a string."""
    wire: dict[str, Any] = {}
    if where.tenant is not None:
        wire["tenant"] = where.tenant
    if where.event is not None:
        wire["event"] = where.event
    if where.statuses is not None:
        wire["status"] = (next(iter(where.statuses)) if len(where.statuses) == 1
                          else sorted(where.statuses))
    if where.since is not None:
        wire["since"] = where.since
    if where.until is not None:
        wire["until"] = where.until
    if where.text is not None:
        wire["text"] = where.text
    return wire


def _read_filter(data: object, own: tuple[str, ...]) -> tuple[Filter, Fields]:
    """The filter in params, and the params for the request's ``own`` keys.

    A key that is neither is an error, not ignored: a misspelt filter would match
    every record. ``status`` is one or a list; ``since`` and ``until`` an ISO 8601
    time or epoch seconds. **Errors:** ``UserError`` naming the key.
    """
    f = Fields(data)
    given: dict[Any, Any] = data if isinstance(data, dict) else {}
    unknown = sorted(str(key)[:40] for key in given if key not in _FILTER_KEYS and key not in own)
    if unknown:
        raise UserError(f"params: unknown filter {', '.join(unknown[:5])}; "
                        f"known: {', '.join(_FILTER_KEYS + own)}")
    return Filter(tenant=f.text_or_none("tenant"), event=f.text_or_none("event"),
                  statuses=_statuses(given.get("status")), since=_time(given.get("since"), "since"),
                  until=_time(given.get("until"), "until"), text=f.text_or_none("text")), f


def _statuses(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    wanted = [value] if type(value) is str else value
    if type(wanted) is not list or not wanted:
        raise UserError(f"params 'status' must be a status or a non-empty array of them, "
                        f"got {kind(value)}")
    for status in wanted:
        if status not in STATUSES:
            shown = f"{status!r:.40}" if type(status) is str else kind(status)
            raise UserError(f"params 'status': {shown} is not one of {', '.join(STATUSES)}")
    return frozenset(wanted)


def _time(value: object, key: str) -> float | None:
    return None if value is None else parse_time(value, f"params {key!r}")


def _count(f: Fields, key: str, default: int) -> int:
    value = f.integer_or_none(key)
    if value is None:
        return default
    if not 0 <= value <= MAX_LIMIT:
        raise UserError(f"params {key!r} must be from 0 to {MAX_LIMIT}, got {value}")
    return value


def _execution_id(value: str, key: str) -> str:
    """An id as records carry them: not matched against a pattern, as the recorder
    stores what executors send (an unknown id is simply not found)."""
    if not value:
        raise UserError(f"params {key!r} must be a non-empty string")
    return value


def _get(data: object, key: str) -> object:
    """``data[key]`` once ``Fields`` has checked that ``data`` is a map (None when absent)."""
    return data.get(key) if isinstance(data, dict) else None
