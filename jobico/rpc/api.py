"""The pattern every component's ``api.py`` follows: typed messages, and methods both ends share.

A component's ``api.py`` is its RPC contract in code. Each request and reply is a
frozen, slotted dataclass with

- ``to_wire()``: the msgpack value that crosses the socket (a map, a list, bytes);
- ``from_wire(data)``, a classmethod: the one place where what arrives is checked,
  raising ``UserError`` naming the field (``params 'tenant' must be a string, got int``).
  ``Fields`` reads a map that way.

Each method is a module-level ``Call`` (or ``Stream``): the wire name and the
``from_wire`` of its request and of its reply (or items). That one object is

- the typed client function, for any client with ``call``/``stream`` (a trio or
  asyncio shell ``Client``, a ``Peer``): ``reply = await repo_api.upload(client, Upload(...))``;
- the server's registration (``jobico.rpc.dispatch``):
  ``Methods().call(repo_api.upload, self.upload)``,

so find-references on ``repo_api.upload`` (or on ``Upload``) leads from every
caller to the handler, and a type checker sees both ends. A request that fails
``from_wire`` on the server is answered with that ``UserError``; a reply that fails
it on the client raises ``BadReply``: the server, not the caller, broke the contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from jobico.errors import UserError
from jobico.rpc.errors import BadReply


class Message(Protocol):
    """A request, reply or stream item: what it is on the wire."""

    def to_wire(self) -> Any: ...


Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
Item = TypeVar("Item", bound=Message)
T = TypeVar("T")


class Caller(Protocol):
    """Anything that makes calls: ``trio_shell.Client``, ``asyncio_shell.Client``, ``Peer``."""

    async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any: ...


class Streamer(Protocol):
    """Anything that opens streams: ``trio_shell.Client``, ``asyncio_shell.Client``."""

    def stream(self, method: str, params: Any = None) -> AbstractAsyncContextManager[AsyncIterator[Any]]: ...


@dataclass(frozen=True, slots=True)
class Call(Generic[Req, Rep]):
    """A method: ``name`` on the wire, and how to read its request and its reply."""

    name: str
    request: Callable[[object], Req]
    reply: Callable[[object], Rep]

    async def __call__(self, client: Caller, request: Req, *, timeout: float | None = 10.0) -> Rep:
        """Call it and return the typed reply.

        **Errors:** those of ``client.call`` (``RemoteError``, ``Unavailable``...);
        ``BadReply`` when the answer does not match the contract.
        """
        return self.decode(await client.call(self.name, request.to_wire(), timeout=timeout))

    def decode(self, wire: object) -> Rep:
        """The reply read from ``wire``. **Errors:** ``BadReply`` naming the method and field."""
        try:
            return self.reply(wire)
        except UserError as exc:
            raise BadReply(f"{self.name!r} answered off contract: {exc}") from None


@dataclass(frozen=True, slots=True)
class Stream(Generic[Req, Item]):
    """A stream method: ``name`` on the wire, and how to read its request and its items."""

    name: str
    request: Callable[[object], Req]
    item: Callable[[object], Item]

    @asynccontextmanager
    async def __call__(self, client: Streamer, request: Req) -> AsyncIterator[AsyncIterator[Item]]:
        """Open it; the block receives its typed items (as ``client.stream`` does).

        **Cancellation:** leaving the block cancels the stream on the server.
        **Errors:** those of ``client.stream``; iterating raises ``BadReply`` for an
        item that does not match the contract.
        """
        async with client.stream(self.name, request.to_wire()) as items:
            yield _Decoded(items, self.decode)

    def decode(self, wire: object) -> Item:
        """One item read from ``wire``. **Errors:** ``BadReply`` naming the stream and field."""
        try:
            return self.item(wire)
        except UserError as exc:
            raise BadReply(f"stream {self.name!r} sent an item off contract: {exc}") from None


class _Decoded(Generic[T]):
    """The items of a stream, each read as it is taken (no generator to finalise)."""

    __slots__ = ("_decode", "_items")

    def __init__(self, items: AsyncIterator[Any], decode: Callable[[object], T]) -> None:
        self._items = items
        self._decode = decode

    def __aiter__(self) -> _Decoded[T]:
        return self

    async def __anext__(self) -> T:
        return self._decode(await self._items.__anext__())


@dataclass(frozen=True, slots=True)
class Empty:
    """No params, or nothing to answer: ``{}`` on the wire; whatever arrives is ignored."""

    def to_wire(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_wire(cls, data: object) -> Empty:
        return EMPTY


EMPTY = Empty()


class Fields:
    """A map from the wire, read field by field; each error names the field and what it got.

    ``None`` reads as an empty map (a client that sends no params). Keys nobody
    reads are ignored, so a newer peer may add fields. The value itself is never
    echoed (it may be hostile, or huge): only its type.
    """

    __slots__ = ("_data", "_where")

    def __init__(self, data: object, where: str = "params") -> None:
        if data is None:
            data = {}
        elif type(data) is not dict:
            raise UserError(f"{where} must be a map, got {kind(data)}")
        self._data: dict[Any, Any] = data
        self._where = where

    def text(self, key: str) -> str:
        value = self._data.get(key)
        if type(value) is str:
            return value
        raise self._bad(key, "a string")

    def text_or_none(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is None or type(value) is str:
            return value
        raise self._bad(key, "a string or nil")

    def blob(self, key: str) -> bytes:
        value = self._data.get(key)
        if type(value) is bytes:
            return value
        raise self._bad(key, "bytes")

    def integer(self, key: str) -> int:
        value = self._data.get(key)
        if type(value) is int:
            return value
        raise self._bad(key, "an integer")

    def integer_or_none(self, key: str) -> int | None:
        value = self._data.get(key)
        if value is None or type(value) is int:
            return value
        raise self._bad(key, "an integer or nil")

    def number(self, key: str) -> float:
        """An int or a float, kept as sent (an int stays an int on the way back out)."""
        value = self._data.get(key)
        if type(value) is float or type(value) is int:
            return value
        raise self._bad(key, "a number")

    def flag(self, key: str) -> bool:
        value = self._data.get(key)
        if type(value) is bool:
            return value
        raise self._bad(key, "true or false")

    def map(self, key: str) -> Fields:
        value = self._data.get(key)
        if type(value) is not dict:
            raise self._bad(key, "a map")
        return Fields(value, f"{self._where}.{key}")

    def each(self, key: str, read: Callable[[object], T]) -> tuple[T, ...]:
        """The array at ``key``, each element read by ``read`` (a ``from_wire``)."""
        value = self._data.get(key)
        if type(value) is not list:
            raise self._bad(key, "an array")
        return each_of(value, read, f"{self._where}.{key}")

    def _bad(self, key: str, expected: str) -> UserError:
        got = f"got {kind(self._data[key])}" if key in self._data else "is missing"
        return UserError(f"{self._where} {key!r} must be {expected}, {got}")


def each_of(data: object, read: Callable[[object], T], where: str) -> tuple[T, ...]:
    """Every element of the array ``data`` read by ``read``; an error names its index.

    The index is only worked out on failure, so a long array costs one ``read`` per element.
    """
    if type(data) is not list:
        raise UserError(f"{where} must be an array, got {kind(data)}")
    try:
        return tuple(map(read, data))
    except UserError:
        _raise_at(data, read, where)
        raise


def _raise_at(data: Iterable[object], read: Callable[[object], object], where: str) -> None:
    for index, element in enumerate(data):
        try:
            read(element)
        except UserError as exc:
            raise UserError(f"{where}[{index}]: {exc}") from None


def by_name(data: object, read: Callable[[object], T], where: str) -> dict[str, T]:
    """A map from names to values, each read by ``read``; an error names the key."""
    if type(data) is not dict:
        raise UserError(f"{where} must be a map, got {kind(data)}")
    out: dict[str, T] = {}
    for name, value in data.items():
        if type(name) is not str:
            raise UserError(f"{where} keys must be strings, got {kind(name)}")
        try:
            out[name] = read(value)
        except UserError as exc:
            raise UserError(f"{where}[{name!r:.40}]: {exc}") from None
    return out


# Element readers, for the values of an array (``Fields.each``, ``each_of``) or a map
# (``by_name``): the error says what the element is; the caller adds where it was.


def string(value: object) -> str:
    if type(value) is str:
        return value
    raise UserError(f"must be a string, got {kind(value)}")


def flag(value: object) -> bool:
    if type(value) is bool:
        return value
    raise UserError(f"must be true or false, got {kind(value)}")


def integer(value: object) -> int:
    if type(value) is int:
        return value
    raise UserError(f"must be an integer, got {kind(value)}")


def number(value: object) -> float:
    """An int or a float, kept as sent (an int stays an int on the way back out)."""
    if type(value) is float or type(value) is int:
        return value
    raise UserError(f"must be a number, got {kind(value)}")


def kind(value: object) -> str:
    """What an error says a value is: its type, never the value (it may be hostile, or huge)."""
    return "nil" if value is None else type(value).__name__
