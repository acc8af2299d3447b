"""What the executor reports after a run: the record, the queue outcome, chained events.

Pure functions of a delivery, its job and the run's result (plus a random
number for jitter), so the rules of SPEC §4-5 test without sockets or wasm.

A record is never over ``caps.MAX_RECORD_BYTES`` encoded, and an ``append`` to
the recorder never carries more than ``MAX_APPEND_BYTES`` of records
(CONTRACTS, recorder RPC). A record over the cap, or one the recorder refuses,
is replaced by a small one saying why (``refused``), and its event is
dead-lettered with that reason: a run whose record cannot be stored is never
retried into the same wall.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack

from jobico.caps import MAX_RECORD_BYTES, MIB
from jobico.ctl.api import DEFAULT_MAX_ATTEMPTS, Job
from jobico.executor.limits import RunResult
from jobico.queue.api import Delivery, Settlement
from jobico.queue.policy import retry_delay

MAX_APPEND_BYTES = 16 * MIB
REFUSED = "record refused by the recorder: "

_JITTER = random.Random()  # the retry delays' jitter; only ever drawn on the trio loop


def settlement(delivery: Delivery, job: Job | None, result: RunResult | None, reason: str = "") -> Settlement:
    """The ``settle`` entry for one delivery: ack on ok, retry, or dead after the last try.

    ``result`` None with no ``reason`` means "already ok": acknowledge without running.
    A retry names its delay, SPEC §4's schedule (``jobico.queue.policy.retry_delay``).
    """
    ran_ok = result is not None and result.ok
    already_ok = result is None and not reason
    if ran_ok or already_ok:
        return Settlement(delivery.id, "ack", "", 0)
    attempt = delivery.attempt
    why = reason or (result.reason if result else "") or "failed"
    max_attempts = job.max_attempts if job is not None else DEFAULT_MAX_ATTEMPTS
    if attempt < max_attempts:
        return Settlement(delivery.id, "retry", why, int(retry_delay(attempt, _JITTER) * 1000))
    return Settlement(delivery.id, "dead", why, 0)


def dead_letter(delivery: Delivery, reason: str) -> Settlement:
    """The ``settle`` entry that dead-letters a delivery at once, whatever its attempt."""
    return Settlement(delivery.id, "dead", reason, 0)


def record(delivery: Delivery, job: Job, result: RunResult, started_at: float) -> dict[str, Any]:
    """The execution record of SPEC §5 for one run, as its wire map (``recorder_api.Append``
    takes it as is: the recorder checks each record once, as it stores it)."""
    event_id = delivery.id
    return {
        "id": f"{event_id}-{delivery.attempt}",
        "event_id": event_id,
        "tenant": delivery.tenant,
        "package": job.package,
        "event": delivery.event,
        "attempt": delivery.attempt,
        "status": result.status,
        "reason": result.reason,
        "truncated": result.truncated,
        "code": result.code,
        "result": result.result,
        "logs": result.logs,
        "accepted_at": iso_utc(delivery.enqueued_at),
        "started_at": iso_utc(started_at),
        "duration_ms": result.duration_ms,
        "module_sha256": job.module_sha256,
    }


def encoded_size(entry: Mapping[str, Any]) -> int:
    """Bytes of ``entry`` as msgpack, as the recorder counts them against its cap."""
    return len(msgpack.packb(entry, use_bin_type=True))


def oversize(size: int) -> str | None:
    """Why a record of ``size`` encoded bytes cannot be stored, if it cannot."""
    return f"{size} bytes encoded, over the {MAX_RECORD_BYTES}-byte cap" if size > MAX_RECORD_BYTES else None


def refused(entry: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The small record that stands for one the recorder would not store: the run's own
    status and timing, ``reason`` saying why, the result and logs dropped."""
    return {**entry, "reason": REFUSED + reason, "result": "", "logs": [], "truncated": True}


def chunks(sizes: list[int], limit: int) -> list[range]:
    """Split records of these encoded sizes, in order, into runs whose sizes add up to at
    most ``limit`` (a record alone is never over it: ``oversize`` caught it first)."""
    out: list[range] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and total + size > limit:
            out.append(range(start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


def iso_utc(timestamp: float) -> str:
    """``timestamp`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ``, as ``datetime`` writes it (microseconds
    rounded half to even, then cut to milliseconds). Two per record, so the formatted second
    is kept: a quarter of the cost of ``datetime.fromtimestamp(...).isoformat(...)``."""
    fraction, whole = math.modf(timestamp)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return f"{_second(int(whole))}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=64)
def _second(whole: int) -> str:
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def wasi_env(delivery: Delivery) -> dict[str, str]:
    """The environment a wasi guest sees (SPEC §4), and nothing else."""
    return {
        "JOBICO_TENANT": delivery.tenant,
        "JOBICO_EVENT": delivery.event,
        "JOBICO_EVENT_ID": delivery.id,
        "JOBICO_ATTEMPT": str(delivery.attempt),
    }


@dataclass(frozen=True, slots=True)
class Chained:
    """An ``on_ok`` / ``on_error`` event to publish before the delivery is settled."""

    tenant: str
    event: str
    item: dict[str, Any]
    key: str


def chained(delivery: Delivery, job: Job, result: RunResult, outcome: str) -> Chained | None:
    """The follow-up event: ``on_ok`` after an ok run, ``on_error`` once dead-lettered."""
    if result.ok:
        which, target = "on_ok", job.on_ok
    elif outcome == "dead":
        which, target = "on_error", job.on_error
    else:
        return None
    if not target:
        return None
    body = delivery.body
    try:
        original: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        original = body.decode("utf-8", errors="replace")
    item = {"event_id": delivery.id, "code": result.code, "result": result.result, "input": original}
    return Chained(delivery.tenant, target, item, f"{delivery.id}:{which}")
