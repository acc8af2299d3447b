"""The webhook as a plain ASGI app: every status of SPEC §3, nothing else.

Everything it talks to is injected, so tests and the benchmark run it against an
in-memory catalog and enqueuer, and the server wires the real ones:

- ``catalog``: a ``Catalog`` view, replaced whole (``app.catalog = new``) by the follower;
- ``enqueuer``: anything with ``async enqueue(tenant, event, items, key, digest) -> ids``
  that returns only once the items are durable, raises ``Conflict`` when ``key`` was
  used for another body (``digest``), and ``Unavailable`` when the queue is down or
  the tenant is over its depth limit;
- ``health``: ``async () -> (ok, detail)``; ``stats``: ``async () -> metrics.Sources``,
  what ``/metrics`` shows (without it, this app's own counters).

Bad input of any kind is a 4xx with a JSON body; a 500 means a bug here. Every
answer to a known tenant costs it rate tokens (SPEC §3): an accepted request one
per item; a refused one one per item once its body was parsed, else one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jobico.errors import Conflict, QueueFull, Unavailable
from jobico.listener import asgi, body
from jobico.listener.asgi import Receive, Scope, Send
from jobico.listener.catalog import EMPTY, Catalog, Route
from jobico.listener.metrics import CONTENT_TYPE, Sources, render
from jobico.listener.quotas import Quotas, retry_after_header
from jobico.listener.replays import SeenIds
from jobico.listener.signatures import SignatureError, verify
from jobico.listener.tally import Counters
from jobico.listener.validation import SchemaCheck
from jobico.logfiles import Throttle

HealthProbe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
StatsSource = Callable[[], Awaitable[Sources]]

log = logging.getLogger("jobico.listener")
QUEUE_AWAY = "the queue is unavailable; retry after Retry-After seconds"

WANTED = frozenset({b"content-type", b"content-length", b"transfer-encoding", b"idempotency-key",
                    b"webhook-id", b"webhook-timestamp", b"webhook-signature"})
# h11 parses any "HTTP/d.d"; the webhook answers only the versions that exist.
HTTP_VERSIONS = frozenset({"1.0", "1.1", "2"})
MAX_KEY_LEN = 255
# Schema validation gives the loop back to other requests this often.
SLICE_S = 0.01


class Enqueuer(Protocol):
    async def enqueue(
        self, tenant: str, event: str, items: list[bytes], key: str | None,
        digest: str | None = None,
    ) -> list[str]: ...


class Rejected(Exception):
    """An answer other than 202, raised from deep in the request and sent once.

    ``fields``: more top-level fields of the error document (a 422's ``more``).
    """

    def __init__(self, status: int, error: str, detail: Any, retry_after: str | None = None,
                 fields: dict[str, Any] | None = None):
        super().__init__(status, error, detail)
        self.status, self.error, self.detail, self.retry_after = status, error, detail, retry_after
        self.fields = fields


@dataclass(slots=True)
class _Request:
    """What a request has cost and claimed so far, settled if it is refused."""

    tokens: int = 1  # what a refusal costs: one, or one per item once the body is parsed
    paid: bool = False  # its tokens are spent (a 429 spends them itself, or they passed the check)
    claimed: str | None = None  # the webhook-id taken for this request


class ListenerApp:
    def __init__(
        self,
        enqueuer: Enqueuer,
        health: HealthProbe,
        quotas: Quotas,
        *,
        catalog: Catalog = EMPTY,
        stats: StatsSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        seen: SeenIds | None = None,
    ) -> None:
        self.catalog = catalog
        self.enqueuer = enqueuer
        self.health = health
        self.quotas = quotas
        self.stats = stats
        self.seen = seen if seen is not None else SeenIds()
        self.counters = Counters()
        self._backend_trouble = Throttle()
        self._clock = clock
        self._wall_clock = wall_clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await asgi.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        method: str = scope["method"]
        try:
            if scope.get("http_version") not in HTTP_VERSIONS:
                raise Rejected(505, "http_version_not_supported",
                               f"HTTP/{str(scope.get('http_version'))[:8]} is not supported")
            if raw_path.startswith(b"/events/"):
                await self._event(scope, receive, send, raw_path)
            elif raw_path == b"/healthz":
                self._only(method, "GET")
                await self._healthz(send)
            elif raw_path == b"/metrics":
                self._only(method, "GET")
                await self._metrics(send)
            else:
                raise Rejected(404, "not_found", f"no route for {raw_path[:200].decode('latin-1')}")
        except Rejected as no:
            extra = [(b"retry-after", no.retry_after.encode())] if no.retry_after else None
            if no.status == 405:
                extra = [(b"allow", str(no.detail["allow"]).encode())]
            await asgi.reply_error(send, no.status, no.error, no.detail, extra, no.fields)
        except asgi.ClientGone:
            return
        except Exception:
            # a bug, not bad input: log it and still answer in the SPEC's error shape
            log.exception("listener: unexpected error on %s %r", method, raw_path[:200])
            await asgi.reply_error(send, 500, "internal", "unexpected error; see the listener log")

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            raise Rejected(405, "method_not_allowed", {"allow": allowed})

    async def _event(self, scope: Scope, receive: Receive, send: Send, raw_path: bytes) -> None:
        catalog = self.catalog
        if catalog is EMPTY:
            raise Rejected(503, "unavailable", "the catalog is not loaded yet", "1")
        ids = asgi.event_path(raw_path)
        route = catalog.route(*ids) if ids else None
        if route is None:
            what = "/".join(ids) if ids else raw_path[:200].decode("latin-1")
            tenant = ids[0] if ids and ids[0] in catalog.tenants else ""
            if tenant:
                self.quotas.charge(tenant, 1, self._clock())
            self.counters.answered(tenant, 404)
            raise Rejected(404, "not_found", f"no event {what}")
        request = _Request()
        try:
            ids_out = await self._accept(route, scope, receive, request)
        except Rejected as no:
            if request.claimed is not None:
                self.seen.release(route.tenant, route.package, request.claimed)
            if not request.paid:
                self.quotas.charge(route.tenant, request.tokens, self._clock())
            self.counters.answered(route.tenant, no.status)
            raise
        except asgi.ClientGone:
            raise
        except Exception:
            self.counters.answered(route.tenant, 500)
            raise
        self.counters.answered(route.tenant, 202, len(ids_out))
        await asgi.reply_json(send, 202, {"ids": ids_out})

    async def _accept(self, route: Route, scope: Scope, receive: Receive,
                      request: _Request) -> list[str]:
        """Check, parse, validate and enqueue one request; the ids, or ``Rejected``."""
        self._only(scope["method"], "POST")
        headers = asgi.headers_of(scope, WANTED)
        if "transfer-encoding" in headers and "content-length" in headers:
            # RFC 9112 §6.3: a request smuggling vector behind a proxy that reads the other one
            raise Rejected(400, "bad_request", "both Transfer-Encoding and Content-Length")
        if not asgi.is_json_type(headers.get("content-type")):
            raise Rejected(415, "unsupported_media_type",
                           f"Content-Type must be application/json, "
                           f"got {headers.get('content-type', 'none')!r}")
        key = headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= MAX_KEY_LEN and key.isprintable()):
            raise Rejected(400, "bad_request", f"Idempotency-Key: 1..{MAX_KEY_LEN} printable chars")
        self._check_rate(route, 1, request, spend=False)  # refused before reading and validating
        try:
            data = await asgi.read_body(receive, route.max_body, headers.get("content-length"))
        except asgi.BodyTooLarge as exc:
            raise Rejected(413, "too_large", str(exc)) from None
        except asgi.TooSlow as exc:
            raise Rejected(408, "timeout", str(exc)) from None
        self._check_signature(route, headers, data, request)
        encoded = await self._items(route, data, request)
        self._check_rate(route, len(encoded), request)
        digest = hashlib.sha256(data).hexdigest() if key is not None else None
        try:
            ids = await self.enqueuer.enqueue(route.tenant, route.event, encoded, key, digest)
        except Conflict as exc:
            raise Rejected(409, "idempotency_conflict", str(exc)) from None
        except QueueFull as exc:  # the tenant's own figures: its sender may know them
            raise Rejected(503, "unavailable", str(exc), retry_after_header(1)) from None
        except Unavailable as exc:
            # why the queue is away (a disk, a Redis address) is the operator's, not the sender's
            self._backend_trouble.say(log, "queue unavailable for %s/%s: %s", route.tenant, route.event, exc)
            raise Rejected(503, "unavailable", QUEUE_AWAY, retry_after_header(1)) from None
        return ids

    async def _items(self, route: Route, data: bytes, request: _Request) -> list[bytes]:
        """The body's items, each re-encoded for the queue, once all pass the schema.

        Errors: ``Rejected`` 400 (not JSON), 413 (over ``max_items``), 422 (schema).
        """
        try:
            items = body.parse_items(data)
            request.tokens = len(items)
            if len(items) > route.max_items:
                raise Rejected(413, "too_large", f"{len(items)} items: over the limit of "
                               f"{route.max_items} items per request ([webhook] max_items)")
            encoded = [body.encode(item) for item in items]
            if route.validator is not None:
                check = SchemaCheck(route.validator, route.schema_weight, items,
                                    [len(item) for item in encoded])
                while not check.run(SLICE_S):
                    await asgi.pause()
                if check.failed:
                    raise Rejected(422, "schema", check.errors, fields={"more": check.more})
        except body.BadBody as exc:
            raise Rejected(400, "bad_request", str(exc)) from None
        return encoded

    def _check_rate(self, route: Route, cost: int, request: _Request, spend: bool = True) -> None:
        """Refuse (429) unless the tenant and the package have ``cost`` tokens now.

        A refusal pays the request's own cost first, so ``Retry-After`` is when a retry
        of it passes.
        """
        now = self._clock()
        refused = self.quotas.refusal(route.tenant, cost, now, route.rate, spend)
        if refused is None:
            request.paid = request.paid or spend  # spent: a later refusal (409, 503) costs no more
            return
        self.quotas.charge(route.tenant, request.tokens, now)
        request.paid = True
        wait, why = self.quotas.refusal(route.tenant, cost, now, route.rate, spend=False) or refused
        raise Rejected(429, "rate_limited", why, retry_after_header(wait))

    def _check_signature(self, route: Route, headers: dict[str, str], data: bytes,
                         request: _Request) -> None:
        """401 unless the signature matches and its ``webhook-id`` is new (then claimed)."""
        if route.key_error:
            raise Rejected(401, "signature", f"package {route.package}: {route.key_error}")
        if route.key is None:
            return
        now = self._wall_clock()
        try:
            msg_id, timestamp = verify(route.key, headers, data, now)
        except SignatureError as exc:
            raise Rejected(401, "signature", str(exc)) from None
        try:
            fresh = self.seen.claim(route.tenant, route.package, msg_id, timestamp, now)
        except Unavailable as exc:
            raise Rejected(503, "unavailable", str(exc), "1") from None
        if not fresh:
            raise Rejected(401, "signature", f"webhook-id {msg_id[:64]!r} was already "
                           "accepted: a replay")
        request.claimed = msg_id

    async def _healthz(self, send: Send) -> None:
        ok, detail = await self.health()
        if ok:
            await asgi.reply_json(send, 200, {"status": "ok", **detail})
        else:
            await asgi.reply_json(send, 503, {"status": "unavailable", "error": "unavailable",
                                              "detail": detail}, [(b"retry-after", b"1")])

    async def _metrics(self, send: Send) -> None:
        sources = await self.stats() if self.stats else Sources(self.counters.snapshot())
        await asgi.reply(send, 200, render(sources), CONTENT_TYPE.encode())
