"""The sans-IO core, driven synchronously with two connections wired back to back."""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobico.errors import UserError
from jobico.rpc.errors import LocalProtocolError, RemoteProtocolError
from jobico.rpc.events import Cancel, Error, Event, Reply, Request, StreamEnd, StreamItem
from jobico.rpc.protocol import (
    CLOSED,
    MAX_MESSAGE_SIZE,
    NEED_DATA,
    Connection,
    Role,
    Signal,
    socket_address,
)


def drain(conn: Connection) -> list[Event | Signal]:
    """Every event ``conn`` can produce now, then the signal that stopped it."""
    events: list[Event | Signal] = []
    while True:
        event = conn.next_event()
        events.append(event)
        if event in (NEED_DATA, CLOSED):
            return events


def deliver(data: bytes, to: Connection) -> list[Event | Signal]:
    to.receive_data(data)
    return drain(to)


def pair() -> tuple[Connection, Connection]:
    return Connection(Role.CLIENT), Connection(Role.SERVER)


def test_call_round_trip_keeps_bytes_and_text_apart() -> None:
    client, server = pair()
    request = client.request("upload", {"path": "a.wasm", "data": b"\x00asm"})
    assert deliver(client.send(request), server) == [request, NEED_DATA]
    reply = Reply(request.id, {"sha256": "ab", "raw": b"\xff"})
    assert deliver(server.send(reply), client) == [reply, NEED_DATA]


def test_one_method_can_be_called_and_streamed() -> None:
    client, server = pair()
    call = client.request("catalog")
    stream = client.request("catalog", stream=True)
    events = deliver(client.send(call) + client.send(stream), server)
    assert [(e.method, e.stream) for e in events[:2]] == [("catalog", False), ("catalog", True)]


def test_stream_items_then_end() -> None:
    client, server = pair()
    request = client.request("follow", {"tenant": "acme"}, stream=True)
    deliver(client.send(request), server)
    answers = [StreamItem(request.id, i) for i in range(3)] + [StreamEnd(request.id)]
    data = b"".join(server.send(a) for a in answers)
    assert deliver(data, client) == [*answers, NEED_DATA]


def test_error_carries_type_and_bases() -> None:
    client, server = pair()
    request = client.request("enqueue")
    deliver(client.send(request), server)
    error = Error(request.id, "QueueFull", "acme: queue full", ("Unavailable",))
    assert deliver(server.send(error), client) == [error, NEED_DATA]


def test_many_messages_in_one_frame_are_all_delivered() -> None:
    client, server = pair()
    requests = [client.request("echo", i) for i in range(128)]
    events = deliver(b"".join(client.send(r) for r in requests), server)
    assert events == [*requests, NEED_DATA]


def test_ids_are_fresh_per_request() -> None:
    client, _ = pair()
    ids = {client.request("echo").id for _ in range(100)}
    assert len(ids) == 100


wire_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(params=st.lists(wire_values, min_size=1, max_size=8), cuts=st.lists(st.integers(0, 10_000)))
def test_any_chunking_gives_the_same_events(params: list[Any], cuts: list[int]) -> None:
    client, server = pair()
    requests = [client.request("echo", p) for p in params]
    data = b"".join(client.send(r) for r in requests)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    received: list[Event | Signal] = []
    for start, end in itertools.pairwise(bounds):
        received += [e for e in deliver(data[start:end], server) if e is not NEED_DATA]
    assert received == requests
    server.receive_data(b"")
    assert server.next_event() is CLOSED


def test_a_16_mib_message_arrives_whole_in_small_chunks() -> None:
    client, server = pair()
    blob = bytes(range(256)) * (16 * 2**20 // 256)
    request = client.request("upload", {"data": blob})
    data = client.send(request)
    events: list[Event | Signal] = []
    for start in range(0, len(data), 256 * 1024):
        events += deliver(data[start : start + 256 * 1024], server)
    assert events[-2:] == [request, NEED_DATA]


def test_a_64_mib_message_fits_and_a_larger_one_is_refused_before_sending() -> None:
    client, server = pair()
    fits = client.request("upload", b"x" * (MAX_MESSAGE_SIZE - 64))
    assert deliver(client.send(fits), server)[0] == fits
    too_big = client.request("upload", b"x" * MAX_MESSAGE_SIZE)
    with pytest.raises(LocalProtocolError, match="over"):
        client.send(too_big)


def test_unencodable_params_fail_locally_and_leave_the_connection_usable() -> None:
    client, server = pair()
    with pytest.raises(LocalProtocolError, match="cannot encode"):
        client.send(client.request("echo", {"when": object()}))
    request = client.request("echo", 1)
    assert deliver(client.send(request), server)[0] == request


@pytest.mark.parametrize(
    "raw",
    [
        msgpack.packb({"not": "an array"}),
        msgpack.packb([]),
        msgpack.packb([9, 1]),
        msgpack.packb([0, 1]),
        msgpack.packb([0, "one", "echo", None]),
        msgpack.packb([0, 1, 2, None]),
        msgpack.packb([1, 1, None]),
        b"\xc1",  # never used by msgpack
    ],
    ids=["map", "empty", "unknown-kind", "short", "text-id", "int-method", "reply-to-server", "c1"],
)
def test_a_malformed_frame_breaks_the_connection_for_good(raw: bytes) -> None:
    _, server = pair()
    server.receive_data(raw)
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    server.receive_data(msgpack.packb([0, 1, "echo", None]))
    with pytest.raises(RemoteProtocolError, match="broken"):
        server.next_event()
    with pytest.raises(LocalProtocolError, match="broken"):
        server.send(Reply(1, None))


def test_peer_closing_mid_message_is_a_protocol_error() -> None:
    client, server = pair()
    data = client.send(client.request("echo", "x" * 100))
    server.receive_data(data[:50])
    assert server.next_event() is NEED_DATA
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of a message"):
        server.next_event()


def test_late_answers_to_a_cancelled_request_are_dropped() -> None:
    client, server = pair()
    request = client.request("follow", stream=True)
    deliver(client.send(request), server)
    late = server.send(StreamItem(request.id, 1))
    cancel = client.send(Cancel(request.id))
    assert deliver(late, client) == [NEED_DATA]
    assert deliver(cancel, server) == [Cancel(request.id), NEED_DATA]
    assert server.send(StreamItem(request.id, 2)) == b""
    assert server.send(StreamEnd(request.id)) == b""


def test_cancel_after_the_answer_is_ignored_by_the_server() -> None:
    client, server = pair()
    request = client.request("echo")
    deliver(client.send(request), server)
    server.send(Reply(request.id, None))
    assert deliver(msgpack.packb([5, request.id]), server) == [NEED_DATA]


def test_an_answer_to_a_request_never_sent_is_a_protocol_error() -> None:
    client, _ = pair()
    client.receive_data(msgpack.packb([1, 42, None]))
    with pytest.raises(RemoteProtocolError, match="never sent"):
        client.next_event()


def test_a_reply_to_a_stream_is_a_protocol_error() -> None:
    client, server = pair()
    request = client.request("follow", stream=True)
    deliver(client.send(request), server)
    client.receive_data(msgpack.packb([1, request.id, None]))
    with pytest.raises(RemoteProtocolError, match="reply for stream"):
        client.next_event()


def test_a_request_id_reused_while_open_is_a_protocol_error() -> None:
    _, server = pair()
    server.receive_data(msgpack.packb([0, 1, "echo", None]) * 2)
    server.next_event()
    with pytest.raises(RemoteProtocolError, match="already in use"):
        server.next_event()


def test_each_side_sends_only_its_own_events() -> None:
    client, server = pair()
    with pytest.raises(LocalProtocolError):
        client.send(Reply(1, None))
    with pytest.raises(LocalProtocolError):
        server.send(Request(1, "echo"))
    with pytest.raises(LocalProtocolError):
        server.request("echo")


def test_socket_path_too_long_names_the_path() -> None:
    long_path = "/tmp/" + "d" * 120 + "/queue.sock"
    with pytest.raises(UserError, match=r"queue\.sock.*107"):
        socket_address(long_path)
