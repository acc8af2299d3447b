"""A ``Methods`` table served for real: typed calls and streams, checked params, unknown names."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest
import trio

from jobico.errors import UserError
from jobico.rpc import asyncio_shell, trio_shell
from jobico.rpc.api import EMPTY, Call, Empty, Stream
from jobico.rpc.dispatch import Methods
from jobico.rpc.errors import UnknownMethod
from tests.rpc.handlers import ServerThread
from tests.rpc.test_api import Point

GUARD = 15

move = Call("move", Point.from_wire, Point.from_wire)
line = Stream("line", Point.from_wire, Point.from_wire)
catalog_call = Call("catalog", Empty.from_wire, Point.from_wire)
catalog_stream = Stream("catalog", Empty.from_wire, Point.from_wire)


class Plane:
    """A service with an api: moves points, and streams points along a line."""

    def __init__(self) -> None:
        self.moved: list[Point] = []
        self.lines_closed = 0

    def methods(self) -> Methods:
        return (Methods()
                .call(move, self.move)
                .stream(line, self.line)
                .call(catalog_call, self.one)
                .stream(catalog_stream, self.two))

    async def move(self, request: Point) -> Point:
        self.moved.append(request)
        return Point(request.x + 1, request.label)

    async def line(self, request: Point) -> AsyncGenerator[Point, None]:
        try:
            for x in range(request.x, request.x + 1000):
                yield Point(x, request.label)
        finally:
            self.lines_closed += 1

    async def one(self, request: Empty) -> Point:
        return Point(1, "call")

    async def two(self, request: Empty) -> AsyncGenerator[Point, None]:
        yield Point(2, "stream")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Path, Plane]]:
    plane, sock = Plane(), tmp_path / "plane.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(trio_shell.serve, sock, plane.methods())
        yield sock, plane
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_typed_call_reaches_its_handler_with_a_typed_request(served: tuple[Path, Plane]) -> None:
    sock, plane = served
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(sock) as client:
            assert await move(client, Point(1, "a")) == Point(2, "a")
            assert await client.call("move", {"x": 5, "label": None}) == {"x": 6, "label": None}
    assert plane.moved == [Point(1, "a"), Point(5, None)]


@pytest.mark.trio
async def test_params_off_contract_are_refused_before_the_handler_runs(served: tuple[Path, Plane]) -> None:
    sock, plane = served
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(sock) as client:
            with pytest.raises(UserError, match=r"^point 'x' must be an integer, got str$"):
                await client.call("move", {"x": "1"})
            with pytest.raises(UserError, match=r"^point must be a map, got list$"):
                async with client.stream("line", [1]) as items:
                    await anext(aiter(items))
    assert plane.moved == []


@pytest.mark.trio
async def test_a_typed_stream_and_leaving_it_early_closes_the_handler(served: tuple[Path, Plane]) -> None:
    sock, plane = served
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(sock) as client:
            async with line(client, Point(10, "l")) as points:
                assert [await anext(points) for _ in range(3)] == [Point(x, "l") for x in (10, 11, 12)]
            while plane.lines_closed == 0:  # noqa: ASYNC110 - the Cancel reaches the server later
                await trio.sleep(0.01)


@pytest.mark.trio
async def test_one_name_may_be_a_call_and_a_stream(served: tuple[Path, Plane]) -> None:
    sock, _ = served
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(sock) as client:
            assert await catalog_call(client, EMPTY) == Point(1, "call")
            async with catalog_stream(client, EMPTY) as items:
                assert [item async for item in items] == [Point(2, "stream")]


@pytest.mark.trio
async def test_unknown_names_are_unknown_methods(served: tuple[Path, Plane]) -> None:
    sock, _ = served
    with trio.fail_after(GUARD):
        async with await trio_shell.connect(sock) as client:
            with pytest.raises(UserError, match="no method named 'line'"):
                await client.call("line")
            with pytest.raises(UserError, match="no stream named 'move'"):
                async with client.stream("move") as items:
                    await anext(aiter(items))


@pytest.mark.asyncio
async def test_the_asyncio_shell_makes_the_same_typed_calls(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "a.sock", Plane().methods()) as server:
        async with await asyncio_shell.connect(server.path) as client:
            assert await move(client, Point(1, None)) == Point(2, None)
            async with line(client, Point(0, None)) as points:
                assert await anext(points) == Point(0, None)


def test_a_name_answered_twice_is_refused_when_the_table_is_built() -> None:
    plane = Plane()
    with pytest.raises(ValueError, match="'move' is answered twice"):
        plane.methods().call(move, plane.move)
    with pytest.raises(ValueError, match="'line' is answered twice"):
        Methods().stream(line, plane.line).include(plane.methods())


def test_an_unknown_name_is_unknown_method() -> None:
    methods = Plane().methods()
    assert methods.find_call("move") is not None
    with pytest.raises(UnknownMethod, match="no method named 'nope'"):
        methods.find_call("nope")
    with pytest.raises(UnknownMethod, match="no stream named 'nope'"):
        Methods().find_stream("nope")
