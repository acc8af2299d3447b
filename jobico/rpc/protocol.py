"""Sans-IO core of the RPC protocol: bytes in, events out; events in, bytes out.

Like h11's ``Connection``: no sockets, no trio, no asyncio. A shell feeds what it
reads to ``receive_data`` (``b""`` when the peer closed), drains ``next_event``
until it says ``NEED_DATA`` (or ``CLOSED``), and writes whatever ``send``
returns. Both shells (trio, asyncio) share this core, and it is tested
synchronously with two connections wired back to back.

The core keeps the per-request bookkeeping both sides need:

- the client side allocates request ids (``request``) and remembers which are
  open and whether they are streams; an answer for a request it gave up on
  (sent ``Cancel`` for, after a timeout or an early exit) is dropped here, an
  answer for an id never issued is a protocol error;
- the server side remembers open requests; a ``Cancel`` for one that already
  finished is dropped, and ``send`` of an answer to a cancelled request
  returns ``b""``.

A malformed frame puts the connection in an error state: every later
``next_event``/``send`` raises, so it is never half-usable.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from pathlib import Path
from typing import Any, NoReturn

import msgpack

from jobico.errors import UserError
from jobico.rpc.errors import LocalProtocolError, RemoteProtocolError
from jobico.rpc.events import Cancel, Error, Event, Reply, Request, StreamEnd, StreamItem

MAX_MESSAGE_SIZE = 64 * 2**20
"""Largest encoded message either side accepts (params or results of 64 MiB)."""

_MAX_SOCKET_PATH = 107
"""Longest AF_UNIX path Linux accepts (108 bytes with the terminating NUL)."""

_FEED_CHUNK = 2**20
"""Bytes handed to the unpacker at a time, so its buffer holds one message plus this."""

# Wire kinds, from docs/internals.md.
_REQUEST, _REPLY, _ERROR, _ITEM, _END, _CANCEL = range(6)


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class Signal(enum.Enum):
    """What ``next_event`` returns when it has no event."""

    NEED_DATA = "need data"  # feed more bytes
    CLOSED = "closed"  # the peer closed and every message was delivered


NEED_DATA = Signal.NEED_DATA
CLOSED = Signal.CLOSED


class Connection:
    """One side of an RPC connection; see the module docstring."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self._unpacker = msgpack.Unpacker(
            raw=False, strict_map_key=False, max_buffer_size=MAX_MESSAGE_SIZE + _FEED_CHUNK
        )
        self._packer = msgpack.Packer(use_bin_type=True)
        self._pending: deque[memoryview] = deque()
        self._peer_closed = False
        self._fed = 0  # bytes given to the unpacker, to spot a message cut short
        self._error: str | None = None
        self._next_id = 1
        self._open: dict[int, bool] = {}  # request id -> is a stream

    # --- receiving -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray) -> None:
        """Buffer bytes read from the peer; ``b""`` means the peer closed its end."""
        if not data:
            self._peer_closed = True
        else:
            self._pending.append(memoryview(data))

    def next_event(self) -> Event | Signal:
        """The next complete event, or ``NEED_DATA`` / ``CLOSED``.

        **Errors:** ``RemoteProtocolError`` for a malformed message or a peer that
        closed in the middle of one; from then on the connection stays broken.
        """
        self._check_usable(RemoteProtocolError)
        while True:
            try:
                message = next(self._unpacker)
            except StopIteration:
                if self._pending:
                    self._feed_some()
                    continue
                if self._peer_closed:
                    if self._unpacker.tell() != self._fed:
                        self._fail("peer closed the connection in the middle of a message")
                    return CLOSED
                return NEED_DATA
            except (ValueError, msgpack.UnpackException) as exc:
                self._fail(f"undecodable message: {exc}")
            event = self._decode(message)
            if event is not None:
                return event

    def _feed_some(self) -> None:
        chunk = self._pending.popleft()
        if len(chunk) > _FEED_CHUNK:
            self._pending.appendleft(chunk[_FEED_CHUNK:])
            chunk = chunk[:_FEED_CHUNK]
        try:
            self._unpacker.feed(chunk)
        except msgpack.BufferFull:
            self._fail(f"message larger than {MAX_MESSAGE_SIZE} bytes")
        self._fed += len(chunk)

    def _decode(self, message: Any) -> Event | None:
        """The event for one decoded array, or None when it answers a forgotten request."""
        if type(message) is not list or not message or type(message[0]) is not int:
            self._fail(f"expected an array starting with a message kind, got {message!r:.80}")
        kind, *fields = message
        try:
            event = _BUILDERS[kind](*fields)
        except (KeyError, TypeError, ValueError) as exc:
            self._fail(f"bad message {message!r:.80}: {exc}")
        if self.role is Role.SERVER:
            return self._server_received(event)
        return self._client_received(event)

    def _server_received(self, event: Event) -> Event | None:
        if isinstance(event, Request):
            if event.id in self._open:
                self._fail(f"request id {event.id} is already in use")
            self._open[event.id] = event.stream
            return event
        if isinstance(event, Cancel):
            return event if self._open.pop(event.id, None) is not None else None
        self._fail(f"a server cannot receive {type(event).__name__}")

    def _client_received(self, event: Event) -> Event | None:
        if isinstance(event, (Request, Cancel)):
            self._fail(f"a client cannot receive {type(event).__name__}")
        stream = self._open.get(event.id)
        if stream is None:
            if event.id >= self._next_id:
                self._fail(f"answer for request id {event.id}, which was never sent")
            return None  # we cancelled this request; its late answer is dropped
        if isinstance(event, (StreamItem, StreamEnd)) and not stream:
            self._fail(f"stream message for call {event.id}")
        if isinstance(event, Reply) and stream:
            self._fail(f"reply for stream {event.id}")
        if not isinstance(event, StreamItem):
            del self._open[event.id]
        return event

    # --- sending ---------------------------------------------------------------

    def request(self, method: str, params: Any = None, *, stream: bool = False) -> Request:
        """A new request with a fresh id (client side); pass it to ``send``."""
        if self.role is not Role.CLIENT:
            raise LocalProtocolError("only a client sends requests")
        request = Request(self._next_id, method, params, stream)
        self._next_id += 1
        return request

    def send(self, event: Event) -> bytes:
        """The bytes for ``event``; nothing changes if it cannot be encoded.

        **Errors:** ``LocalProtocolError`` for a value msgpack cannot encode, a
        message over ``MAX_MESSAGE_SIZE``, an event this side may not send, or a
        connection already broken.
        """
        self._check_usable(LocalProtocolError)
        if self.role is Role.CLIENT:
            if isinstance(event, Request):
                if event.id in self._open or event.id >= self._next_id:
                    raise LocalProtocolError(f"request id {event.id} did not come from request()")
                data = self._pack(event)
                self._open[event.id] = event.stream
                return data
            if isinstance(event, Cancel):
                return self._pack(event) if self._open.pop(event.id, None) is not None else b""
        elif not isinstance(event, (Request, Cancel)):
            stream = self._open.get(event.id)
            if stream is None:
                return b""  # the client cancelled this request: it wants no answer
            data = self._pack(event)
            if not isinstance(event, StreamItem):
                del self._open[event.id]
            return data
        raise LocalProtocolError(f"a {self.role.value} cannot send {type(event).__name__}")

    def _pack(self, event: Event) -> bytes:
        try:
            data: bytes = self._packer.pack(_to_wire(event))
        except (TypeError, ValueError, OverflowError) as exc:
            raise LocalProtocolError(f"cannot encode {type(event).__name__}: {exc}") from None
        if len(data) > MAX_MESSAGE_SIZE:
            raise LocalProtocolError(
                f"{type(event).__name__} of {len(data)} bytes is over {MAX_MESSAGE_SIZE} bytes"
            )
        return data

    def _check_usable(self, error: type[Exception]) -> None:
        if self._error is not None:
            raise error(f"connection is broken: {self._error}")

    def _fail(self, reason: str) -> NoReturn:
        self._error = reason
        raise RemoteProtocolError(reason)


def socket_address(path: str | Path) -> str:
    """``path`` as a socket address both shells can bind or connect to.

    **Errors:** ``UserError`` naming the path when it is too long for a Unix
    socket (a home buried deep in the file system), instead of the kernel's
    bare "AF_UNIX path too long".
    """
    address = os.fspath(path)
    size = len(os.fsencode(address))
    if size > _MAX_SOCKET_PATH:
        raise UserError(
            f"{address}: socket path is {size} bytes, over the {_MAX_SOCKET_PATH}-byte limit "
            "of Unix sockets; move the home to a shorter path"
        )
    return address


def _to_wire(event: Event) -> list[Any]:
    match event:
        case Request(id, method, params, stream):
            return [_REQUEST, id, method, params, 1] if stream else [_REQUEST, id, method, params]
        case Reply(id, result):
            return [_REPLY, id, result]
        case Error(id, type_name, message, bases):
            wire = [_ERROR, id, type_name, message]
            return [*wire, list(bases)] if bases else wire
        case StreamItem(id, item):
            return [_ITEM, id, item]
        case StreamEnd(id):
            return [_END, id]
        case Cancel(id):
            return [_CANCEL, id]


def _id(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"request id must be a non-negative integer, got {value!r:.40}")
    return value


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"expected a string, got {value!r:.40}")
    return value


def _request(id: Any, method: Any, params: Any, stream: Any = 0) -> Request:
    return Request(_id(id), _text(method), params, bool(stream))


def _error(id: Any, type_name: Any, message: Any, bases: Any = ()) -> Error:
    if not isinstance(bases, (list, tuple)):
        raise ValueError(f"error bases must be an array, got {bases!r:.40}")
    return Error(_id(id), _text(type_name), _text(message), tuple(_text(b) for b in bases))


_BUILDERS: dict[int, Any] = {
    _REQUEST: _request,
    _REPLY: lambda id, result: Reply(_id(id), result),
    _ERROR: _error,
    _ITEM: lambda id, item: StreamItem(_id(id), item),
    _END: lambda id: StreamEnd(_id(id)),
    _CANCEL: lambda id: Cancel(_id(id)),
}
