"""Execution records from executor-only nodes reach the main recorder through Redis.

An executor-only node has no recorder of its own. Its executors talk, as
everywhere, to a component named ``recorder``; on such a node that is the
``RecordRelay``: ``append`` adds each record to the stream ``P:records`` and
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
"""

from __future__ import annotations

from typing import Any

import coredis
import msgpack
import trio

from jobico.component import Context
from jobico.errors import Unavailable, UserError
from jobico.executor.peer import Peer
from jobico.queue.redis_backend import DEFAULT_PREFIX

GROUP = "recorder"
CONSUMER = "inbox"
BATCH = 512
BLOCK_MS = 1000

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


def _client(ctx: Context) -> Any:
    if not ctx.config.queue.url:
        raise UserError("records through Redis need queue.url = 'redis://HOST:PORT'")
    return coredis.Redis.from_url(ctx.config.queue.url, decode_responses=False)


class RecordRelay:
    """The ``recorder`` of an executor-only node: forwards records into Redis."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._redis = _client(ctx)
        self._append = self._redis.register_script(_APPEND)
        self._retention_s = ctx.config.recorder.retention_days * 86400

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with self._redis:
            task_status.started()
            await trio.sleep_forever()

    async def rpc_append(self, params: Any) -> dict[str, list[bool]]:
        """Forward records; ``stored`` is False for a second ``ok`` seen by the relays.

        Errors: ``UserError`` for a malformed list; ``Unavailable`` when Redis is down.
        """
        records = (params or {}).get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise UserError("records: required, a list of execution records")
        argv: list[object] = [DEFAULT_PREFIX, self._retention_s]
        for record in records:
            argv += [str(record.get("event_id")), str(record.get("status")), msgpack.packb(record)]
        try:
            stored = await self._append(keys=[], args=argv)
        except coredis.exceptions.RedisError as exc:
            raise Unavailable(f"redis at {self._ctx.config.queue.url}: {exc}") from exc
        return {"stored": [bool(s) for s in stored]}

    async def rpc_ok_ids(self, params: Any) -> list[str]:
        ids = (params or {}).get("event_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise UserError("event_ids: required, a list of event id strings")
        if not ids:
            return []
        try:
            found = await self._redis.mget([f"{DEFAULT_PREFIX}:ok:{i}" for i in ids])
        except coredis.exceptions.RedisError as exc:
            raise Unavailable(f"redis at {self._ctx.config.queue.url}: {exc}") from exc
        return sorted(i for i, hit in zip(ids, found, strict=True) if hit is not None)


class RecordInbox:
    """On the main node: moves records from Redis into the recorder, at least once."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._redis = _client(ctx)
        self._recorder = Peer("recorder", ctx.connect, ctx.log)
        self._stream = f"{DEFAULT_PREFIX}:records"
        self.moved = 0

    async def status(self) -> dict[str, Any]:
        return {"moved": self.moved}

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver what an earlier run left unacknowledged, then follow the stream.

        Cancellation: records read but not yet stored are read again next time.
        Errors: Redis being unreachable is logged and retried, never fatal.
        """
        async with self._redis:
            task_status.started()
            backlog = True
            while True:
                try:
                    if backlog:
                        await self._ensure_group()
                    backlog = await self._move("0" if backlog else ">")
                except (coredis.exceptions.RedisError, Unavailable) as exc:
                    self._ctx.log.warning("records inbox: %s; retrying", exc)
                    backlog = True
                    await trio.sleep(1)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, "0", mkstream=True)
        except coredis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _move(self, start: str) -> bool:
        """One batch; returns whether pending (unacknowledged) records may remain."""
        reply = await self._redis.xreadgroup(
            GROUP, CONSUMER, {self._stream: start}, count=BATCH, block=None if start == "0" else BLOCK_MS
        )
        entries = (reply or {}).get(self._stream.encode(), ())
        if not entries:
            return False
        records = [msgpack.unpackb(e.field_values[b"r"]) for e in entries]
        await self._recorder.call_until_done("append", {"records": records})
        ids = [e.identifier for e in entries]
        await self._redis.xack(self._stream, GROUP, ids)
        await self._redis.xdel(self._stream, ids)
        self.moved += len(records)
        return start == "0"
