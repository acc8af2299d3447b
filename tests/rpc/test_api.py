"""The api pattern's pieces without sockets: reading fields, arrays, and off-contract replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from jobico.errors import UserError
from jobico.rpc.api import EMPTY, Call, Empty, Fields, Stream, by_name, each_of, flag, integer, number, string
from jobico.rpc.errors import BadReply


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    label: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"x": self.x, "label": self.label}

    @classmethod
    def from_wire(cls, data: object) -> Point:
        f = Fields(data, "point")
        return cls(f.integer("x"), f.text_or_none("label"))


def test_fields_read_each_kind_and_ignore_unknown_keys() -> None:
    f = Fields({"s": "a", "b": b"\x00", "i": 3, "n": 2.5, "t": True, "m": {"k": "v"}, "extra": 1})
    read = (f.text("s"), f.blob("b"), f.integer("i"), f.number("n"), f.flag("t"))
    assert read == ("a", b"\x00", 3, 2.5, True)
    assert f.map("m").text("k") == "v"
    assert f.text_or_none("missing") is None and f.integer_or_none("missing") is None
    assert type(Fields({"n": 7}).number("n")) is int  # kept as sent: an int goes back out as an int


def test_no_params_read_as_an_empty_map() -> None:
    assert Fields(None).text_or_none("tenant") is None


@pytest.mark.parametrize(
    ("data", "read", "message"),
    [
        ([1], lambda f: f, "params must be a map, got list"),
        ({"tenant": 5}, lambda f: f.text("tenant"), "params 'tenant' must be a string, got int"),
        ({}, lambda f: f.text("tenant"), "params 'tenant' must be a string, is missing"),
        ({"data": "text"}, lambda f: f.blob("data"), "params 'data' must be bytes, got str"),
        ({"max": True}, lambda f: f.integer("max"), "params 'max' must be an integer, got bool"),
        ({"at": "now"}, lambda f: f.number("at"), "params 'at' must be a number, got str"),
        ({"on": 1}, lambda f: f.flag("on"), "params 'on' must be true or false, got int"),
        ({"m": {"k": 1}}, lambda f: f.map("m").text("k"), "params.m 'k' must be a string, got int"),
        ({"ps": [{"x": 1}, {"x": "2"}]}, lambda f: f.each("ps", Point.from_wire),
         r"params.ps\[1\]: point 'x' must be an integer, got str"),
    ],
)
def test_errors_name_the_field_and_the_type_never_the_value(data: object, read: Any, message: str) -> None:
    with pytest.raises(UserError, match=f"^{message}$"):
        read(Fields(data))


def test_a_hostile_value_is_not_echoed() -> None:
    with pytest.raises(UserError) as caught:
        Fields({"tenant": ["\x1b[2J" * 1000]}).text("tenant")
    assert "\x1b" not in str(caught.value) and len(str(caught.value)) < 80


def test_each_of_reads_every_element_and_names_the_bad_one() -> None:
    wire = [{"x": i, "label": None} for i in range(3)]
    assert each_of(wire, Point.from_wire, "points") == tuple(Point(i, None) for i in range(3))
    with pytest.raises(UserError, match=r"^points\[2\]: point 'x'"):
        each_of([*wire[:2], {"x": None}], Point.from_wire, "points")
    with pytest.raises(UserError, match=r"^points must be an array, got dict"):
        each_of({}, Point.from_wire, "points")


def test_element_readers_take_their_kind_and_say_what_else_came() -> None:
    assert (string("a"), flag(False), integer(3), number(2.5), type(number(2))) == ("a", False, 3, 2.5, int)
    for read, wrong, message in ((string, None, "must be a string, got nil"),
                                 (flag, 0, "must be true or false, got int"),
                                 (integer, True, "must be an integer, got bool"),
                                 (number, "1", "must be a number, got str")):
        with pytest.raises(UserError, match=f"^{message}$"):
            read(wrong)


def test_by_name_reads_each_value_and_names_the_bad_key() -> None:
    assert by_name({"acme": 1, "globex": 2}, integer, "counts") == {"acme": 1, "globex": 2}
    with pytest.raises(UserError, match=r"^counts\['globex'\]: must be an integer, got str$"):
        by_name({"acme": 1, "globex": "2"}, integer, "counts")
    with pytest.raises(UserError, match=r"^counts keys must be strings, got int$"):
        by_name({1: 1}, integer, "counts")
    with pytest.raises(UserError, match=r"^counts must be a map, got list$"):
        by_name([], integer, "counts")


def test_empty_is_an_empty_map_and_accepts_anything() -> None:
    assert Empty.from_wire({"whatever": 1}) is EMPTY and Empty.from_wire(None) is EMPTY
    assert EMPTY.to_wire() == {}


class Answers:
    """A client whose ``call`` answers with a fixed value and records what it was asked."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.asked: list[tuple[str, object, float | None]] = []

    async def call(self, method: str, params: Any = None, *, timeout: float | None = 10.0) -> Any:
        self.asked.append((method, params, timeout))
        return self.answer


point = Call("point", Empty.from_wire, Point.from_wire)


@pytest.mark.trio
async def test_a_call_sends_the_request_on_the_wire_and_reads_the_reply() -> None:
    client = Answers({"x": 1, "label": "a"})
    assert await point(client, EMPTY, timeout=3) == Point(1, "a")
    assert client.asked == [("point", {}, 3)]


@pytest.mark.trio
async def test_a_reply_off_contract_is_a_bad_reply_not_a_user_error() -> None:
    off_contract = r"^'point' answered off contract: point 'x' must be an integer"
    with pytest.raises(BadReply, match=off_contract) as caught:
        await point(Answers({"x": "1"}), EMPTY)
    assert not isinstance(caught.value, UserError)  # the server broke the contract, not the caller


def test_a_stream_item_off_contract_is_a_bad_reply() -> None:
    points = Stream("points", Empty.from_wire, Point.from_wire)
    assert points.decode({"x": 1, "label": None}) == Point(1, None)
    with pytest.raises(BadReply, match=r"^stream 'points' sent an item off contract: point must be a map"):
        points.decode([1])
