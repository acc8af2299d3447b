"""Hostile input at the real webhook: never a 5xx, never a crash, only the designed answers.

Random (hypothesis) and hand-made bodies, paths and headers go over raw sockets
to one hypercorn server holding the listener tests' catalog (``acme/signup``
with a schema and a 1 KiB limit, ``acme/any`` without a schema, ``signed/hook``
with a secret). Whatever comes in, the answer is one of ``DESIGNED`` and, when
the app answered it, the SPEC §3 JSON error shape.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobico.listener import server as listener_server
from tests.fuzz import cases
from tests.fuzz.server import DESIGNED, Reply, Server, read_reply, running

SIGNUP, ANY, SIGNED = "/events/acme/signup", "/events/acme/any", "/events/signed/hook"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(reply: Reply, allowed: frozenset[int] = DESIGNED) -> Reply:
    """The reply is designed; the app's own answers carry the SPEC's JSON shape."""
    assert reply.status in allowed, (reply.status, reply.body[:300])
    if reply.status == 202:
        assert isinstance(reply.json()["ids"], list)
    elif reply.body.startswith(b"{"):
        doc = reply.json()
        assert doc["error"] and "detail" in doc
    return reply


# -- bodies ---------------------------------------------------------------------------------

@FUZZ
@given(body=st.binary(max_size=2048), target=st.sampled_from([SIGNUP, ANY]))
def test_random_bytes_are_refused_cleanly(server: Server, body: bytes, target: str) -> None:
    check(server.post(target, body), frozenset({202, 400, 413, 422}))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_is_queued_as_the_same_value(server: Server, value: object) -> None:
    body = json.dumps(value).encode()
    reply = check(server.post(ANY, body), frozenset({202, 400}))
    if reply.status == 202:
        items = server.app.enqueuer.calls[-1][2]  # type: ignore[attr-defined]
        queued = [json.loads(item) for item in items]
        batch = isinstance(value, dict) and list(value) == ["data"] and isinstance(value["data"], list)
        expected = value["data"] if batch else [value]  # type: ignore[index]
        assert queued == expected
    else:  # only an empty batch may be refused
        assert value == {"data": []}


@FUZZ
@given(value=JSON_VALUES)
def test_schema_route_answers_202_or_422_for_any_json(server: Server, value: object) -> None:
    reply = check(server.post(SIGNUP, json.dumps(value).encode()), frozenset({202, 400, 413, 422}))
    if reply.status == 422:
        assert all({"item", "path", "message"} <= set(e) for e in reply.json()["detail"])


def nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return (open_ * depth + close * depth).encode()


@pytest.mark.parametrize("body", [
    nested(10_000),
    nested(10_000, '{"a":', "}").replace(b"}", b"", 1) + b"1}",
    b'{"name":"x","tags":' + nested(990) + b"}",
    b'{"data":[' + nested(995) + b"]}",
    b"[" * 10_000,
    b'{"name":"x","deep":' + nested(10_000, '{"a":', "}").replace(b"}", b"", 1) + b"0}}",
], ids=["arrays-10k", "objects-10k", "tags-990", "batch-995", "unclosed-10k", "mixed-10k"])
@pytest.mark.parametrize("target", [SIGNUP, ANY])
def test_deep_nesting_is_a_4xx(server: Server, body: bytes, target: str) -> None:
    reply = server.post(target, body)
    check(reply, frozenset({400, 413, 422}))


@pytest.mark.parametrize("body,status", cases.BODIES, ids=[repr(b)[:40] for b, _ in cases.BODIES])
def test_numbers_encodings_and_duplicates(server: Server, body: bytes, status: int) -> None:
    reply = check(server.post(ANY, body))
    assert reply.status == status, reply.body[:300]


def test_body_over_the_limit_is_413_declared_or_not(server: Server) -> None:
    big = b'{"name":"' + b"x" * 4096 + b'"}'
    check(server.post(SIGNUP, big), frozenset({413}))
    chunked = (f"POST {SIGNUP} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               "transfer-encoding: chunked\r\nconnection: close\r\n\r\n").encode()
    chunks = b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    check(server.send_raw(chunked + chunks), frozenset({413}))


# -- paths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", cases.PATH_TRICKS, ids=lambda t: repr(t)[:50])
def test_path_tricks_never_reach_an_event(server: Server, target: bytes) -> None:
    before = len(server.app.enqueuer.calls)  # type: ignore[attr-defined]
    check(server.post(target, b'{"name":"x"}'), frozenset({400, 404}))
    assert len(server.app.enqueuer.calls) == before  # type: ignore[attr-defined]


@FUZZ
@given(tail=st.binary(min_size=1, max_size=80).filter(lambda b: b" " not in b and b"\r" not in b
                                                      and b"\n" not in b and b"?" not in b
                                                      and b"#" not in b))
def test_random_path_bytes_are_404_or_400(server: Server, tail: bytes) -> None:
    reply = server.post(b"/events/acme/" + tail, b'{"name":"x"}')
    if tail in (b"signup", b"any"):
        check(reply, frozenset({202}))
    else:
        check(reply, frozenset({400, 404}))


# -- headers --------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"x-big": "a" * 1_000_000},
    {f"x-h{i}": "v" * 100 for i in range(400)},
    {"content-type": "application/json" + " " * 20_000},
    {"idempotency-key": "k" * 10_000},
    {"idempotency-key": "\x7f\x01"},
    {"webhook-signature": "v1," + "A" * 15_000},
    {f"x-h{i}": "v" * 100 for i in range(10_000)},
], ids=["one-1m", "400-headers", "padded-type", "long-key", "control-key", "long-signature", "10k-headers"])
def test_oversized_or_odd_headers_are_designed_answers(server: Server, headers: dict[str, str]) -> None:
    """hypercorn (h11) refuses a head over 16 KiB once it spans reads; a smaller one is served."""
    reply = check(server.post(SIGNUP, b'{"name":"x"}', headers))
    if len(str(headers)) > 100_000:
        assert reply.status in (400, 431)


@FUZZ
@given(key=st.text(max_size=300))
def test_random_idempotency_keys_are_202_or_400(server: Server, key: str) -> None:
    try:
        key.encode("latin-1")
    except UnicodeEncodeError:
        return  # not sendable as an HTTP/1.1 header value
    if any(c in key for c in "\r\n"):
        return
    check(server.post(ANY, b"{}", {"idempotency-key": key}), frozenset({202, 400}))


@FUZZ
@given(msg_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
       stamp=st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.text(max_size=20),
       signature=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_forged_signatures_are_401(server: Server, msg_id: str, stamp: str, signature: str) -> None:
    if any(c in stamp for c in "\r\n") or not stamp.isprintable() or not stamp.isascii():
        return
    headers = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    check(server.post(SIGNED, b'{"name":"x"}', headers), frozenset({400, 401}))


# -- slow and broken connections --------------------------------------------------------------

def test_a_stalled_body_is_cut_off_and_does_not_block_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener_server, "READ_TIMEOUT_S", 1)
    with running() as server:
        stalled = []
        for _ in range(20):
            conn = server.connect()
            conn.sendall(f"POST {SIGNUP} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         "content-length: 100\r\n\r\n{\"na".encode())
            stalled.append(conn)
        check(server.post(SIGNUP, b'{"name":"x"}'), frozenset({202}))  # others are still served
        deadline = time.monotonic() + 15
        for conn in stalled:
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = conn.recv(65536)  # b"" (closed) or a 4xx: either way not held open
            except ConnectionResetError:
                data = b""
            assert not data or data.startswith((b"HTTP/1.1 4",)), data[:100]
            conn.close()
        assert server.alive()
        assert len(server.app.enqueuer.calls) == 1  # type: ignore[attr-defined]


def test_a_trickled_body_is_still_accepted_when_within_the_timeout(server: Server) -> None:
    with server.connect() as conn:
        body = b'{"name":"slow"}'
        conn.sendall(f"POST {SIGNUP} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode())
        for i in range(0, len(body), 4):
            conn.sendall(body[i:i + 4])
            time.sleep(0.05)
        check(read_reply(conn), frozenset({202}))


@pytest.mark.parametrize("raw", [
    b"POST /events/acme/any HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"content-length: 5\r\ncontent-length: 7\r\n\r\n{}",
    b"POST /events/acme/any HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /events/acme/any HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"content-length: -1\r\n\r\n{}",
    b"POST /events/acme/any HTTP/9.9\r\nhost: x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
], ids=["two-lengths", "bad-chunk", "negative-length", "http-9", "garbage", "tls-hello"])
def test_broken_http_is_400_or_a_closed_connection(server: Server, raw: bytes) -> None:
    with server.connect() as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        try:
            reply = read_reply(conn)
        except (AssertionError, ConnectionResetError):
            return  # closed without an answer: acceptable for bytes that are not HTTP
    check(reply, DESIGNED | {505})


def test_client_disconnecting_mid_body_is_harmless(server: Server) -> None:
    for _ in range(20):
        with server.connect() as conn:
            conn.sendall(f"POST {ANY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         "content-length: 1000\r\n\r\n[1,2,".encode())
    check(server.post(ANY, b"[1]"), frozenset({202}))
