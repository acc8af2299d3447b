"""What a server answers: an explicit table from method names to typed handlers.

A service lists its methods once, with the ``Call``/``Stream`` objects of its
api module (``jobico.rpc.api``)::

    def methods(self) -> Methods:
        return (Methods()
                .call(repo_api.upload, self.upload)
                .stream(repo_api.changes, self.changes))

and ``serve`` looks each request up here. For a call the table runs
``handler(call.request(params))`` and sends ``reply.to_wire()``; for a stream it
sends each item's ``to_wire()``. A type checker sees that the handler takes the
call's request type and returns its reply type; a reader follows a method from
its api object to its handler with find-references. One name may be both a
call and a stream (ctl's ``catalog``). An unknown name is ``UnknownMethod``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from jobico.rpc.api import Call, Item, Rep, Req, Stream
from jobico.rpc.errors import UnknownMethod

Run = Callable[[Any], Awaitable[Any]]
"""A call as the shell runs it: wire params in, wire result out."""

Produce = Callable[[Any], AsyncGenerator[Any, None]]
"""A stream as the shell runs it: wire params in, wire items out."""


class Methods:
    """The calls and streams one server answers; built once, read on every request."""

    __slots__ = ("_calls", "_streams")

    def __init__(self) -> None:
        self._calls: dict[str, Run] = {}
        self._streams: dict[str, Produce] = {}

    def call(self, method: Call[Req, Rep], handler: Callable[[Req], Awaitable[Rep]]) -> Methods:
        """Answer ``method`` with ``handler``. **Errors:** ``ValueError`` if already answered."""
        read = method.request

        async def run(params: Any) -> Any:
            return (await handler(read(params))).to_wire()

        _add(self._calls, method.name, run)
        return self

    def stream(
        self, method: Stream[Req, Item], handler: Callable[[Req], AsyncGenerator[Item, None]]
    ) -> Methods:
        """Answer the stream ``method`` with the async generator ``handler``.

        Leaving early (the client cancels) closes ``handler``'s generator.
        **Errors:** ``ValueError`` if already answered.
        """
        read = method.request

        async def produce(params: Any) -> AsyncGenerator[Any, None]:
            async with aclosing(handler(read(params))) as items:
                async for item in items:
                    yield item.to_wire()

        _add(self._streams, method.name, produce)
        return self

    def include(self, other: Methods) -> Methods:
        """Also answer everything ``other`` answers. **Errors:** ``ValueError`` for a name in both."""
        for name, run in other._calls.items():
            _add(self._calls, name, run)
        for name, produce in other._streams.items():
            _add(self._streams, name, produce)
        return self

    def find_call(self, name: str) -> Run:
        """**Errors:** ``UnknownMethod`` when no call has that name."""
        run = self._calls.get(name)
        if run is None:
            raise UnknownMethod(f"no method named {name!r}")
        return run

    def find_stream(self, name: str) -> Produce:
        """**Errors:** ``UnknownMethod`` when no stream has that name."""
        produce = self._streams.get(name)
        if produce is None:
            raise UnknownMethod(f"no stream named {name!r}")
        return produce


def _add(table: dict[str, Any], name: str, handler: Any) -> None:
    if name in table:
        raise ValueError(f"{name!r} is answered twice")
    table[name] = handler
