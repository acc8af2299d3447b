"""Execution records from executor-only nodes reach the main recorder through Redis.

An executor-only node has no recorder of its own. Its executors talk, as
everywhere, to a component named ``recorder``; on such a node that is the
``RecordRelay``, which answers the recorder's ``append`` and ``ok_ids``
(``jobico.recorder.api``): ``append`` adds each record to the stream ``P:records`` and
answers once Redis has it (the executor acks the event only after that, so a
record is never lost with its node). On the main node, the ``RecordInbox``
reads that stream with a consumer group, hands batches to the real recorder,
and acknowledges them only after the recorder stored them; a crash in between
hands the same records over again, which the recorder refuses as duplicates
((event id, attempt), and a second ``ok``).

Why Redis and not a TCP endpoint on the main node: every node already reaches
Redis (with its password and TLS, when set), so nothing new listens on the
network and no second credential is needed; and records written while the
main node is down wait in Redis instead of failing the executors.

``ok_ids`` on a relay answers from ``P:ok:<event id>`` keys the relays set for
each ``ok`` they forward (kept ``recorder.retention_days``): enough to skip
re-running an event another executor-only node finished. The main recorder
remains the judge: it never stores a second ``ok`` for an event.

A record that can never be stored must not stop the ones behind it. The
relay refuses it on its own, as the recorder does (malformed, or over
``caps.MAX_RECORD_BYTES`` encoded). The inbox, which reads entries anyone
with access to Redis may have written, moves an entry it cannot decode, or
that the recorder refuses, aside to ``P:records:aside`` with the reason, logs
it, and goes on; it never crashes on one (it would read it again on restart,
and crash again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import Any, NamedTuple

import msgpack
import trio
from coredis.exceptions import StreamDuplicateConsumerGroupError

from jobico.caps import MAX_RECORD_BYTES, MIB
from jobico.component import Context
from jobico.errors import Unavailable, UserError
from jobico.queue.redis_backend import DEFAULT_PREFIX, connect, session, translated
from jobico.recorder import api as recorder_api
from jobico.recorder.records import normalize
from jobico.rpc.dispatch import Methods
from jobico.rpc.peer import Peer

GROUP = "recorder"
CONSUMER = "inbox"
BATCH = 512
BLOCK_MS = 1000
MAX_APPEND_BYTES = 16 * MIB  # per append call, as the executor keeps its own (the RPC frame is 64 MiB)
ASIDE_KEEP = 10_000  # entries kept in P:records:aside (approximately: MAXLEN ~)

# ARGV: P, retention_s, then (event id, status, packed record) triples -> 1/0 per record (0: a second ok)
_APPEND = """
local out = {}
for j = 3, #ARGV, 3 do
  local fresh = 1
  if ARGV[j + 1] == 'ok' then
    fresh = redis.call('SET', ARGV[1] .. ':ok:' .. ARGV[j], '1', 'NX', 'EX', ARGV[2]) and 1 or 0
  end
  if fresh == 1 then redis.call('XADD', ARGV[1] .. ':records', '*', 'r', ARGV[j + 2]) end
  out[#out + 1] = fresh
end
return out
"""

# ARGV: stream, group, consumer, count -> XREADGROUP's reply for the consumer's pending entries, as Redis
# sent it: an entry deleted while pending has no fields (nil), which coredis 6.9's reply parser cannot take
_PENDING = """
return redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', ARGV[1], '0')
"""

# ARGV: stream, group, then (entry id, reason, packed record or '') triples: each entry is copied to
# <stream>:aside with its reason, then acknowledged and deleted, in one step
_SET_ASIDE = f"""
for j = 3, #ARGV, 3 do
  redis.call('XADD', ARGV[1] .. ':aside', 'MAXLEN', '~', {ASIDE_KEEP}, '*',
    'from', ARGV[j], 'why', ARGV[j + 1], 'r', ARGV[j + 2])
  redis.call('XACK', ARGV[1], ARGV[2], ARGV[j])
  redis.call('XDEL', ARGV[1], ARGV[j])
end
return 0
"""


class _Read(NamedTuple):
    """One entry of the records stream as the inbox read it."""

    ident: bytes
    raw: bytes  # the packed record ("" when missing or over the cap: not kept aside)
    record: dict[str, Any] | None  # None: not a record, see ``why``
    why: str = ""


def _client(ctx: Context, block_s: float = 0.0) -> Any:
    if not ctx.config.queue.url:
        raise UserError("records through Redis need queue.url = 'redis://HOST:PORT'")
    return connect(ctx.config.queue.url, block_s=block_s)


def packed(record: object, position: int) -> bytes:
    """``record`` as the relay forwards it.

    Errors: ``UserError`` naming why the recorder would refuse it whatever
    happens (its own checks, and ``MAX_RECORD_BYTES`` encoded).
    """
    normalize(record, position, time.time())
    try:
        data = msgpack.packb(record)
    except (TypeError, ValueError) as exc:  # msgpack: a value it cannot carry
        raise UserError(f"record {position}: {exc}") from None
    if len(data) > MAX_RECORD_BYTES:
        raise UserError(f"record {position}: {len(data)} bytes encoded, over the {MAX_RECORD_BYTES} "
                        "byte limit")
    return data


class RecordRelay:
    """The ``recorder`` of an executor-only node: forwards records into Redis."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._redis = _client(ctx)
        self._append = self._redis.register_script(_APPEND)
        self._retention_s = ctx.config.recorder.retention_days * 86400

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with session(self._redis):
            task_status.started()
            await trio.sleep_forever()

    def methods(self) -> Methods:
        """The recorder's ``append`` and ``ok_ids`` (``jobico.recorder.api``): all an executor asks."""
        return Methods().call(recorder_api.append, self.append).call(recorder_api.ok_ids, self.ok_ids)

    async def append(self, request: recorder_api.Append) -> recorder_api.Appended:
        """Forward records; ``stored`` is False for a second ``ok`` seen by the relays, and for a
        record refused on its own (listed in ``refused``; see ``packed``).

        Errors: ``Unavailable`` when Redis is down.
        """
        records = request.wire_records()
        refused: list[recorder_api.Refused] = []
        kept: list[tuple[int, Mapping[str, Any], bytes]] = []
        for i, record in enumerate(records):
            try:
                kept.append((i, record, packed(record, i)))
            except UserError as exc:
                refused.append(recorder_api.Refused(i, str(exc)))
        argv: list[object] = [DEFAULT_PREFIX, self._retention_s]
        for _, record, data in kept:
            argv += [str(record.get("event_id")), str(record.get("status")), data]
        stored = [False] * len(records)
        if kept:
            with translated(self._ctx.config.queue.url, "append"):
                fresh = await self._append(keys=[], args=argv)
            for (i, _, _), flag in zip(kept, fresh, strict=True):
                stored[i] = bool(flag)
        return recorder_api.Appended(tuple(stored), tuple(refused))

    async def ok_ids(self, request: recorder_api.EventIds) -> recorder_api.OkIds:
        ids = request.event_ids
        if not ids:
            return recorder_api.OkIds(())
        with translated(self._ctx.config.queue.url, "ok_ids"):
            found = await self._redis.mget([f"{DEFAULT_PREFIX}:ok:{i}" for i in ids])
        have = sorted(i for i, hit in zip(ids, found, strict=True) if hit is not None)
        return recorder_api.OkIds(tuple(have))


class RecordInbox:
    """On the main node: moves records from Redis into the recorder, at least once."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._url = ctx.config.queue.url
        self._redis = _client(ctx, block_s=BLOCK_MS / 1000)
        self._set_aside = self._redis.register_script(_SET_ASIDE)
        self._pending = self._redis.register_script(_PENDING)
        self._recorder = Peer("recorder", ctx.connect, ctx.log)
        self._stream = f"{DEFAULT_PREFIX}:records"
        self.moved = 0
        self.set_aside = 0

    async def status(self) -> dict[str, Any]:
        return {"moved": self.moved, "set_aside": self.set_aside}

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver what an earlier run left unacknowledged, then follow the stream.

        Cancellation: records read but not yet stored are read again next time.
        Errors: Redis being unreachable is logged and retried, never fatal.
        """
        async with session(self._redis):
            task_status.started()
            backlog = True
            while True:
                try:
                    if backlog:
                        await self._ensure_group()
                    backlog = await self._move(backlog)
                except Unavailable as exc:
                    self._ctx.log.warning("records inbox: %s; retrying", exc)
                    backlog = True
                    await trio.sleep(1)

    async def _ensure_group(self) -> None:
        """The group exists after this (coredis 6.9 names Redis's BUSYGROUP reply
        ``StreamDuplicateConsumerGroupError``, not a ``ResponseError``: catching that
        instead had a restarted inbox retry the creation forever and move nothing)."""
        with translated(self._url, "xgroup create"), suppress(StreamDuplicateConsumerGroupError):
            await self._redis.xgroup_create(self._stream, GROUP, "0", mkstream=True)

    async def _move(self, backlog: bool) -> bool:
        """One batch (what an earlier run left pending, else new entries); returns whether
        pending entries may remain."""
        with translated(self._url, "xreadgroup"):
            entries = await (self._read_pending() if backlog else self._read_new())
        if not entries:
            return False
        read = [_read(ident, raw) for ident, raw in entries]
        good = [r for r in read if r.record is not None]
        bad = [r for r in read if r.record is None]
        for chunk in _chunks(good):
            refused = await self._store([r.record for r in chunk if r.record is not None])
            bad += [chunk[i]._replace(why=why) for i, why in refused]
        await self._put_aside(bad)
        aside = {r.ident for r in bad}
        stored = [r.ident for r in good if r.ident not in aside]
        if stored:
            with translated(self._url, "xack"):
                await self._redis.xack(self._stream, GROUP, stored)
                await self._redis.xdel(self._stream, stored)
        self.moved += len(stored)
        return backlog

    async def _read_pending(self) -> list[tuple[bytes, bytes | None]]:
        reply = await self._pending(keys=[], args=[self._stream, GROUP, CONSUMER, BATCH])
        entries = reply[0][1] if reply else []
        return [(ident, dict(zip(flat[::2], flat[1::2], strict=True)).get(b"r") if flat else None)
                for ident, flat in entries]

    async def _read_new(self) -> list[tuple[bytes, bytes | None]]:
        """Blocks up to ``BLOCK_MS``; new entries always have their fields."""
        reply = await self._redis.xreadgroup(GROUP, CONSUMER, {self._stream: ">"}, count=BATCH,
                                             block=BLOCK_MS)
        entries = (reply or {}).get(self._stream.encode(), ())
        return [(e.identifier, e.field_values.get(b"r")) for e in entries]

    async def _store(self, records: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """Hand ``records`` to the recorder; the ones it refuses, by index, with its reason.

        A recorder that refuses a whole call for one bad record (``UserError``)
        is asked again one record at a time, so only that one is refused.
        """
        try:
            reply = await recorder_api.append(self._recorder.retrying, recorder_api.Append(records))
        except UserError as exc:
            if len(records) == 1:
                return [(0, str(exc))]
            refused = []
            for i, record in enumerate(records):
                refused += [(i, why) for _, why in await self._store([record])]
            return refused
        return [(r.index, r.reason) for r in reply.refused]

    async def _put_aside(self, bad: list[_Read]) -> None:
        if not bad:
            return
        argv: list[object] = [self._stream, GROUP]
        for r in bad:
            argv += [r.ident, r.why, r.raw]
            self._ctx.log.error("records inbox: entry %s set aside in %s:aside: %s",
                                r.ident.decode(errors="replace"), self._stream, r.why)
        with translated(self._url, "set aside"):
            await self._set_aside(keys=[], args=argv)
        self.set_aside += len(bad)


def _read(ident: bytes, raw: bytes | None) -> _Read:
    """The record packed in an entry's ``r``, or why it is not one."""
    if raw is None:
        return _Read(ident, b"", None, "field r (the packed record) is missing")
    if len(raw) > MAX_RECORD_BYTES:
        return _Read(ident, b"", None, f"{len(raw)} bytes, over the {MAX_RECORD_BYTES} byte record limit")
    try:
        record = msgpack.unpackb(raw)
    except ValueError as exc:  # msgpack's errors (and a bad UTF-8 string) all are
        return _Read(ident, raw, None, f"not msgpack ({type(exc).__name__}: {exc})")
    if not isinstance(record, dict):
        return _Read(ident, raw, None, f"not a record but a msgpack {type(record).__name__}")
    return _Read(ident, raw, record)


def _chunks(good: list[_Read]) -> Iterator[list[_Read]]:
    """``good`` in runs of at most ``MAX_APPEND_BYTES`` packed (each record is under the cap)."""
    chunk: list[_Read] = []
    size = 0
    for r in good:
        if chunk and size + len(r.raw) > MAX_APPEND_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(r)
        size += len(r.raw)
    if chunk:
        yield chunk
