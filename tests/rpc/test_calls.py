"""The client bookkeeping both shells share, driven synchronously against a server core."""

from __future__ import annotations

import pytest

from jobico.errors import NotFound
from jobico.rpc.calls import Calls
from jobico.rpc.errors import ConnectionLost
from jobico.rpc.events import Error, Reply, Request, StreamEnd, StreamItem
from jobico.rpc.protocol import NEED_DATA, Connection, Role
from jobico.rpc.waiters import NOTHING, CallWaiter, StreamWaiter


class Flag:
    """An event nobody waits on: counts how often the reader woke its waiter."""

    def __init__(self) -> None:
        self.sets = 0

    def set(self) -> None:
        self.sets += 1

    async def wait(self) -> None:
        raise AssertionError("nothing waits in these tests")


def call_waiter() -> CallWaiter:
    return CallWaiter(Flag)


def stream_waiter() -> StreamWaiter:
    return StreamWaiter(Flag)


def server_gets(server: Connection, data: bytes) -> list[object]:
    server.receive_data(data)
    events = []
    while (event := server.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def test_a_call_is_answered_to_its_waiter() -> None:
    calls, server, waiter = Calls("t.sock"), Connection(Role.SERVER), call_waiter()
    request_id, data = calls.open("echo", {"a": 1}, waiter)
    assert server_gets(server, data) == [Request(request_id, "echo", {"a": 1})]
    assert calls.received(server.send(Reply(request_id, {"a": 1})))
    assert waiter.answered and waiter.outcome() == {"a": 1}
    assert calls.abandon(request_id, waiter) == b""  # answered: nothing to cancel


def test_an_error_reply_raises_its_known_type() -> None:
    calls, server, waiter = Calls("t.sock"), Connection(Role.SERVER), call_waiter()
    request_id, data = calls.open("get", None, waiter)
    server_gets(server, data)
    calls.received(server.send(Error(request_id, "NotFound", "no such record", ("UserError",))))
    with pytest.raises(NotFound, match="no such record"):
        waiter.outcome()


def test_abandoning_an_open_request_sends_a_cancel_and_drops_its_late_answer() -> None:
    calls, server, waiter = Calls("t.sock"), Connection(Role.SERVER), call_waiter()
    request_id, data = calls.open("sleep", None, waiter)
    server_gets(server, data)
    late = server.send(Reply(request_id, "late"))  # already on its way when the Cancel leaves
    assert calls.abandon(request_id, waiter) != b""
    assert calls.received(late)
    assert not waiter.answered and waiter._flag.sets == 0  # type: ignore[attr-defined]


def test_stream_items_queue_until_taken_then_the_end() -> None:
    calls, server, items = Calls("t.sock"), Connection(Role.SERVER), stream_waiter()
    request_id, data = calls.open("count", 2, items, stream=True)
    assert server_gets(server, data) == [Request(request_id, "count", 2, stream=True)]
    assert items.take() is NOTHING
    calls.received(b"".join(server.send(e) for e in (StreamItem(request_id, 0), StreamItem(request_id, 1),
                                                        StreamEnd(request_id))))
    assert [items.take(), items.take()] == [0, 1]
    with pytest.raises(StopAsyncIteration):
        items.take()


def test_closing_fails_every_open_request_once_and_refuses_new_ones() -> None:
    calls, call, items = Calls("t.sock"), call_waiter(), stream_waiter()
    calls.open("sleep", None, call)
    calls.open("forever", None, items, stream=True)
    calls.close("server closed the connection")
    with pytest.raises(ConnectionLost, match=r"^t.sock: server closed the connection$"):
        call.outcome()
    with pytest.raises(ConnectionLost):
        items.take()
    with pytest.raises(ConnectionLost, match=r"^t.sock: server closed the connection$"):
        calls.open("echo", None, call_waiter())


def test_received_says_when_the_server_closed() -> None:
    calls = Calls("t.sock")
    assert calls.received(b"") is False


def test_timed_out_names_the_method_and_the_server() -> None:
    assert str(Calls("q.sock").timed_out("lease", 0.5)) == "'lease' on q.sock: no reply in 0.5 s"
