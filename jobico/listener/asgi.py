"""The small ASGI plumbing the webhook app needs: headers, JSON replies, bounded bodies.

No framework: the app reads and writes ASGI messages directly through these helpers,
so it runs unchanged under hypercorn's trio and asyncio workers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import sniffio
import trio

from jobico.names import EVENT_BYTES, ID_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = b"application/json"


class BodyTooLarge(Exception):
    """The body went past its limit; reading stopped there (HTTP 413)."""


class ClientGone(Exception):
    """The client disconnected before the body was complete: nobody to answer."""


class TooSlow(Exception):
    """The request did not arrive whole in time (raised by the server's ``receive``; HTTP 408)."""


def headers_of(scope: Scope, names: frozenset[bytes]) -> dict[str, str]:
    """The wanted request headers (lower-case names) as text; later repeats win."""
    return {name.decode(): value.decode("latin-1")
            for name, value in scope["headers"] if name in names}


def is_json_type(value: str | None) -> bool:
    """``application/json``, any case, with or without parameters (``; charset=utf-8``)."""
    if not value:
        return False
    return value.partition(";")[0].strip().lower().encode() == JSON_TYPE


def event_path(raw_path: bytes) -> tuple[str, str] | None:
    """``(tenant, event)`` for ``/events/{tenant}/{event}`` with a valid tenant id and
    event name (SPEC §1, ``jobico.names``: what ctl loads is what routes), else None.

    Works on the raw (undecoded) path, so ``%2e%2e``, ``%2F``, NUL and the like never
    match the patterns and cannot reach the catalog.
    """
    parts = raw_path.split(b"/")
    if len(parts) != 4 or parts[0] or parts[1] != b"events":
        return None
    tenant, event = parts[2], parts[3]
    if ID_BYTES.fullmatch(tenant) and EVENT_BYTES.fullmatch(event):
        return tenant.decode(), event.decode()
    return None


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The whole request body, refusing to read past ``limit`` bytes.

    A ``Content-Length`` over the limit is refused before reading anything.
    Errors: ``BodyTooLarge``; ``ClientGone`` on ``http.disconnect``; ``TooSlow`` from ``receive``.
    Cancellation: safe; nothing is held between messages.
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"Content-Length {declared} is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def reply(
    send: Send, status: int, body: bytes, content_type: bytes = JSON_TYPE,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status,
                "headers": headers + extra if extra else headers})
    await send({"type": "http.response.body", "body": body})


async def reply_json(send: Send, status: int, document: Any,
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    await reply(send, status, body, extra=extra)


async def reply_error(send: Send, status: int, error: str, detail: Any,
                      extra: list[tuple[bytes, bytes]] | None = None,
                      fields: dict[str, Any] | None = None) -> None:
    """Every error has the SPEC §3 shape ``{"error": ..., "detail": ...}`` (plus ``fields``,
    such as a 422's ``more``)."""
    await reply_json(send, status, {"error": error, "detail": detail, **(fields or {})}, extra)


async def pause() -> None:
    """Let the event loop serve other requests, under asyncio or trio, whichever runs the app."""
    if sniffio.current_async_library() == "trio":
        await trio.lowlevel.checkpoint()
    else:
        await asyncio.sleep(0)


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown; the app holds nothing to open or close."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
