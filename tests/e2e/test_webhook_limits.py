"""Issue 13's webhook items through a real `jobico up`: names, item caps, replays.

(The listener tests prove each limit on a real hypercorn socket against fakes; here
ctl, the listener, the queue, the executor and the recorder are the real ones.)
"""

from __future__ import annotations

import base64
import json
import socket
import time
from typing import Any

import pytest

from jobico.caps import DEFAULT_MAX_ITEMS, MAX_SCHEMA_ERRORS
from jobico.listener.signatures import sign
from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package
from tests.executor.guests import ECHO

pytestmark = pytest.mark.e2e
KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
TWENTY = {"type": "object", "required": [f"f{i}" for i in range(20)],
          "properties": {f"f{i}": {"type": "string"} for i in range(20)}}
LONG = "E" * 128


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory()
    for tenant in ("acme", "signed", "quiet"):
        p.write(f"{tenant}/echo.wasm", ECHO)
    p.write("acme/twenty.schema.json", json.dumps(TWENTY))
    p.write("acme/pkg.toml", package(
        {"event": "Order.Created", "wasm": "echo.wasm"},
        {"event": LONG, "wasm": "echo.wasm"},
        {"event": "twenty", "wasm": "echo.wasm", "schema": "twenty.schema.json"}))
    p.write("signed/pkg.toml", package({"event": "hook", "wasm": "echo.wasm"},
                                       webhook={"secret": SECRET}))
    p.write("quiet/pkg.toml", package({"event": "ping", "wasm": "echo.wasm"}))
    for tenant, event in (("acme", "twenty"), ("signed", "hook"), ("quiet", "ping")):
        p.wait_for_event(tenant, event, timeout=30)
    return p


def batch(count: int) -> bytes:
    return b'{"data":[' + b",".join([b"{}"] * count) + b"]}"


def test_every_event_name_ctl_loads_is_posted_to_and_run(home: Platform) -> None:
    ids = []
    for event in ("Order.Created", LONG):
        status, reply = home.post("acme", event, {"event": event})
        assert status == 202, (event, reply)
        ids += reply["ids"]
    assert home.post("acme", LONG + "E", {})[0] == 404
    records = home.wait_records(2, tenant="acme", status="ok")
    assert {json.loads(r["result"])["event"] for r in records if r["event_id"] in ids} == {
        "Order.Created", LONG}


def test_the_85k_item_body_is_413_and_a_10k_one_gets_a_capped_422(home: Platform) -> None:
    before = home.rpc("queue", "stats").get("acme", {}).get("depth", 0)
    status, reply = home.post("acme", "twenty", None, raw=batch(85_000))
    assert status == 413 and reply["error"] == "too_large"
    status, _, payload = home.request("POST", "/events/acme/twenty", batch(DEFAULT_MAX_ITEMS),
                                      {"Content-Type": "application/json"})
    doc = json.loads(payload)
    assert status == 422 and len(doc["detail"]) == MAX_SCHEMA_ERRORS
    assert doc["more"] == DEFAULT_MAX_ITEMS - 5 and len(payload) < 20_000
    assert home.post("quiet", "ping", {"n": 1})[0] == 202
    assert home.rpc("queue", "stats").get("acme", {}).get("depth", 0) == before


def signed(body: bytes, msg_id: str) -> dict[str, str]:
    stamp = int(time.time())
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(KEY, msg_id, stamp, body)}


def test_a_replayed_signed_request_is_401(home: Platform) -> None:
    body = b'{"n": 1}'
    headers = signed(body, "msg_e2e_1")
    first: tuple[int, Any] = home.post("signed", "hook", None, raw=body, headers=headers)
    assert first[0] == 202
    status, reply = home.post("signed", "hook", None, raw=body, headers=headers)
    assert (status, reply["error"]) == (401, "signature") and "replay" in reply["detail"]
    assert home.post("signed", "hook", None, raw=body, headers=signed(body, "msg_e2e_2"))[0] == 202


def test_a_connection_dripping_its_body_is_cut_off_and_others_are_served(home: Platform) -> None:
    """The default ``listener.request_timeout_s`` (20 s): cut within it, not held forever."""
    with socket.create_connection(("127.0.0.1", home.port), timeout=60) as conn:
        conn.sendall(b"POST /events/quiet/ping HTTP/1.1\r\nhost: x\r\n"
                     b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n")
        started, reply = time.monotonic(), b""
        conn.settimeout(1.0)
        while time.monotonic() - started < 40:
            try:
                conn.sendall(b" ")
                reply = conn.recv(65536)
                break
            except TimeoutError:
                assert home.post("quiet", "ping", {"n": 2})[0] == 202
            except OSError:
                break
        took = time.monotonic() - started
    assert took <= 20 + 2, took
    assert reply == b"" or reply.startswith(b"HTTP/1.1 408 "), reply[:200]
