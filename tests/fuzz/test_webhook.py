"""Hostile input at the real webhook: each case gets exactly its designed answer.

Random (hypothesis) and hand-made bodies, paths and headers go over raw sockets
to one hypercorn server holding the listener tests' catalog (``acme/signup``
with a schema and a 1 KiB limit, ``acme/any`` without a schema, ``signed/hook``
with a secret). Every case states the one status it must get (worked out by an
oracle for random input) and who answers it: the app, with the SPEC §3 JSON
document, or hypercorn's HTTP parser, with an empty body. So a malformed request
answered 202, or a 400 of the wrong author, fails.
"""

from __future__ import annotations

import json
import math
import re
import socket
import time
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobico.caps import DEFAULT_MAX_ITEMS
from jobico.listener.app import MAX_KEY_LEN
from jobico.listener.connections import ConnectionLimits
from tests.fuzz import cases
from tests.fuzz.server import Reply, Server, expect, read_reply, running
from tests.listener.conftest import SCHEMA

SIGNUP, ANY, SIGNED = "/events/acme/signup", "/events/acme/any", "/events/signed/hook"
LIMITS = {SIGNUP: 1024, ANY: 512 * 1024}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# h11's rule for a header value (RFC 9110 field-value), after it strips spaces and tabs.
FIELD_VALUE = re.compile(rb"([^\x00\s]+([ \t]+[^\x00\s]+)*)?")
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)


def calls(server: Server) -> int:
    return len(server.app.enqueuer.calls)  # type: ignore[attr-defined]


# -- the oracle ------------------------------------------------------------------------------

class NotAccepted(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise NotAccepted("duplicate key")
    return dict(pairs)


def _float(text: str) -> float:
    if math.isinf(value := float(text)):
        raise NotAccepted("out of range")
    return value


def _constant(name: str) -> Any:
    raise NotAccepted(name)


def items_of(body: bytes) -> list[Any]:
    """The items README's JSON rules make of ``body``; ``NotAccepted`` for a 400."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_pairs, parse_float=_float,
                           parse_constant=_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates do not encode
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise NotAccepted(str(exc)) from None
    if isinstance(value, dict) and list(value) == ["data"] and isinstance(value["data"], list):
        if not value["data"]:
            raise NotAccepted("empty batch")
        return value["data"]
    return [value]


def expected(target: str, body: bytes) -> tuple[int, int]:
    """The status a POST of ``body`` to ``target`` must get, and its number of items."""
    if len(body) > LIMITS[target]:
        return 413, 0
    try:
        items = items_of(body)
    except NotAccepted:
        return 400, 0
    if len(items) > DEFAULT_MAX_ITEMS:
        return 413, len(items)
    if target == SIGNUP and not all(VALIDATOR.is_valid(item) for item in items):
        return 422, len(items)
    return 202, len(items)


def check_post(server: Server, target: str, body: bytes) -> Reply:
    status, items = expected(target, body)
    before = calls(server)
    reply = expect(server.post(target, body), status, items=items)
    assert calls(server) == before + (status == 202)
    return reply


# -- bodies ---------------------------------------------------------------------------------

@FUZZ
@given(body=st.binary(max_size=2048), target=st.sampled_from([SIGNUP, ANY]))
def test_random_bytes_get_exactly_their_answer(server: Server, body: bytes, target: str) -> None:
    check_post(server, target, body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_is_queued_as_the_same_value(server: Server, value: object) -> None:
    reply = check_post(server, ANY, json.dumps(value).encode())
    if reply.status == 202:
        queued = [json.loads(item) for item in server.app.enqueuer.calls[-1][2]]  # type: ignore[attr-defined]
        assert queued == items_of(json.dumps(value).encode())
    else:
        assert value == {"data": []}


@FUZZ
@given(value=JSON_VALUES | st.fixed_dictionaries({"name": st.text(max_size=20)},
                                                  optional={"tags": st.lists(JSON_VALUES)}))
def test_schema_route_answers_each_json_value_exactly(server: Server, value: object) -> None:
    reply = check_post(server, SIGNUP, json.dumps(value).encode())
    if reply.status == 422:
        doc = reply.json()
        assert doc["detail"] and all(set(e) == {"item", "path", "message"} for e in doc["detail"])
        assert doc["more"] == 0


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
@pytest.mark.parametrize(("target", "status"), [(SIGNUP, 413), (ANY, 400)])
def test_deep_nesting_is_refused(server: Server, body: bytes, target: str, status: int) -> None:
    """Over 1 KiB at ``signup``; too deep for the parser (or unclosed) at ``any``."""
    before = calls(server)
    expect(server.post(target, body), status)
    assert calls(server) == before


@pytest.mark.parametrize("body,status", cases.BODIES, ids=[repr(b)[:40] for b, _ in cases.BODIES])
def test_numbers_encodings_and_duplicates(server: Server, body: bytes, status: int) -> None:
    assert expected(ANY, body)[0] == status  # the oracle agrees with the hand-made table
    check_post(server, ANY, body)


def test_body_over_the_limit_is_413_declared_or_not(server: Server) -> None:
    big = b'{"name":"' + b"x" * 4096 + b'"}'
    expect(server.post(SIGNUP, big), 413)
    chunked = (f"POST {SIGNUP} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               "transfer-encoding: chunked\r\nconnection: close\r\n\r\n").encode()
    chunks = b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    expect(server.send_raw(chunked + chunks), 413)


def test_more_items_than_max_items_is_413(server: Server) -> None:
    body = b'{"data":[' + b",".join([b"0"] * (DEFAULT_MAX_ITEMS + 1)) + b"]}"
    before = calls(server)
    expect(server.post(ANY, body), 413)
    assert calls(server) == before


# -- paths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", cases.PATH_TRICKS, ids=lambda t: repr(t)[:50])
def test_path_tricks_never_reach_an_event(server: Server, target: bytes) -> None:
    status, by = cases.path_status(target)
    before = calls(server)
    expect(server.post(target, b'{"name":"x"}'), status, by=by)
    assert calls(server) == before


@FUZZ
@given(tail=st.binary(min_size=1, max_size=80).filter(lambda b: b" " not in b and b"\r" not in b
                                                      and b"\n" not in b and b"?" not in b
                                                      and b"#" not in b))
def test_random_path_bytes_are_404_or_400(server: Server, tail: bytes) -> None:
    reply = server.post(b"/events/acme/" + tail, b'{"name":"x"}')
    if tail in (b"signup", b"any"):
        expect(reply, 202)
    else:
        status, by = cases.path_status(b"/events/acme/" + tail)
        expect(reply, status, by=by)


# -- headers --------------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "status", "by"), [
    ({"x-big": "a" * 1_000_000}, 431, "http"),
    ({f"x-h{i}": "v" * 100 for i in range(140)}, 202, "app"),
    ({f"x-h{i}": "v" * 100 for i in range(700)}, 431, "http"),
    ({"content-type": "application/json" + " " * 15_000}, 202, "app"),
    ({"idempotency-key": "k" * 10_000}, 400, "app"),
    ({"idempotency-key": "\x7f\x01"}, 400, "app"),
    ({"webhook-signature": "v1," + "A" * 15_000}, 202, "app"),
    ({f"x-h{i}": "v" * 100 for i in range(10_000)}, 431, "http"),
], ids=["one-1m", "140-headers", "700-headers", "padded-type", "long-key", "control-key",
        "long-signature", "10k-headers"])
def test_oversized_or_odd_headers_get_their_answer(server: Server, headers: dict[str, str],
                                                   status: int, by: str) -> None:
    """h11 refuses a head it cannot complete within 16 KiB (431) once it spans reads; the
    cases stay clear of the 16-64 KiB band where that depends on how the bytes arrive."""
    head = sum(len(k) + len(v) + 4 for k, v in headers.items())
    assert head < 15_500 or head > 66_000
    expect(server.post(SIGNUP, b'{"name":"x"}', headers), status, by=by)


def key_answer(key: str) -> tuple[int, str]:
    """h11 refuses a value outside RFC 9110's field-value; the app, one outside 1..255
    printable characters (after h11 strips the spaces around it)."""
    value = key.encode("latin-1").strip(b" \t")
    if not FIELD_VALUE.fullmatch(value):
        return 400, "http"
    text = value.decode("latin-1")
    return (202, "app") if 0 < len(text) <= MAX_KEY_LEN and text.isprintable() else (400, "app")


@FUZZ
@given(key=st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=300))
def test_random_idempotency_keys_get_their_answer(server: Server, key: str) -> None:
    status, by = key_answer(key)
    expect(server.post(ANY, b"{}", {"idempotency-key": key}), status, by=by)


@FUZZ
@given(msg_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
       stamp=st.integers(min_value=-(2**70), max_value=2**70).map(str)
       | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20),
       signature=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_forged_signatures_are_401(server: Server, msg_id: str, stamp: str, signature: str) -> None:
    headers = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    before = calls(server)
    expect(server.post(SIGNED, b'{"name":"x"}', headers), 401)
    assert calls(server) == before


# -- slow and broken connections --------------------------------------------------------------

def test_stalled_bodies_are_cut_off_and_do_not_block_others() -> None:
    limits = ConnectionLimits(request_timeout_s=2.0)
    with running(limits=limits) as server:
        stalled = []
        for _ in range(20):
            conn = server.connect()
            conn.sendall(f"POST {SIGNUP} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         "content-length: 100\r\n\r\n{\"na".encode())
            stalled.append(conn)
        expect(server.post(SIGNUP, b'{"name":"x"}'), 202)  # others are still served
        for conn in stalled:
            expect(read_reply(conn), 408)
            conn.close()
        assert server.alive()
        assert calls(server) == 1


def test_a_trickled_body_is_still_accepted_when_within_the_timeout(server: Server) -> None:
    with server.connect() as conn:
        body = b'{"name":"slow"}'
        conn.sendall(f"POST {SIGNUP} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode())
        for i in range(0, len(body), 4):
            conn.sendall(body[i:i + 4])
            time.sleep(0.05)
        expect(read_reply(conn), 202)


ANY_HEAD = b"POST /events/acme/any HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"


@pytest.mark.parametrize(("raw", "status", "by"), [
    (ANY_HEAD + b"content-length: 2\r\ncontent-length: 7\r\n\r\n{}", 400, "http"),
    (ANY_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "http"),
    (ANY_HEAD + b"content-length: -1\r\n\r\n{}", 400, "http"),
    (ANY_HEAD + b"content-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     400, "app"),
    (ANY_HEAD.replace(b"HTTP/1.1", b"HTTP/9.9") + b"content-length: 2\r\n\r\n{}", 505, "app"),
    (b"GARBAGE\r\n\r\n", 400, "http"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400, "http"),
], ids=["two-lengths", "bad-chunk", "negative-length", "length-and-chunked", "http-9", "garbage",
        "tls-hello"])
def test_broken_http_gets_its_refusal(server: Server, raw: bytes, status: int, by: str) -> None:
    before = calls(server)
    with server.connect() as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        expect(read_reply(conn), status, by=by)
    assert calls(server) == before


def test_identical_repeated_content_lengths_are_one_length(server: Server) -> None:
    """RFC 9110 §8.6 lets a recipient merge repeats of one value: not ambiguous, so served."""
    with server.connect() as conn:
        conn.sendall(ANY_HEAD + b"content-length: 2\r\ncontent-length: 2\r\n\r\n{}")
        expect(read_reply(conn), 202)


def test_client_disconnecting_mid_body_is_harmless(server: Server) -> None:
    before = calls(server)
    for _ in range(20):
        with server.connect() as conn:
            conn.sendall(f"POST {ANY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         "content-length: 1000\r\n\r\n[1,2,".encode())
    expect(server.post(ANY, b"[1]"), 202)
    assert calls(server) == before + 1
