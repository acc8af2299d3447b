"""Issue 4's promises, through the real webhook and the real queue: every status of SPEC §3.

One platform serves the module; each test posts to its own tenant.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest

from jobico.listener.signatures import sign
from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.executor.guests import ECHO

pytestmark = pytest.mark.e2e
KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
ORDER = {
    "type": "object",
    "required": ["sku", "qty"],
    "properties": {
        "sku": {"type": "string"},
        "qty": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
QUOTAS = """
[tenants.full]
max_queue_depth = 5
[tenants.limited]
rate = 0.1
burst = 3
"""
TENANTS = ("acme", "signed", "full", "limited", "keys", "bulk")


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(QUOTAS)
    p.write("acme/order.schema.json", json.dumps(ORDER))
    for tenant in TENANTS:
        p.write(f"{tenant}/echo.wasm", ECHO)
        job = {"event": "order", "schema": "order.schema.json"} if tenant == "acme" else {"event": "ping"}
        webhook = {"max_body_kb": 1} if tenant == "acme" else {"secret": SECRET} if tenant == "signed" else {}
        p.write(f"{tenant}/pkg.toml", package({**job, "wasm": "echo.wasm"}, webhook=webhook))
    p.write("deep/echo.wasm", ECHO)  # two packages, one of them at most 3 items deep over its two events
    jobs = [{"event": event, "wasm": "echo.wasm"} for event in ("ping", "pong")]
    p.write("deep/flow.toml", package(*jobs, limits={"max_queue_depth": 3}))
    p.write("deep/free.toml", package({"event": "other", "wasm": "echo.wasm"}))
    for tenant in TENANTS:
        p.wait_for_event(tenant, "order" if tenant == "acme" else "ping")
    for event in ("ping", "pong", "other"):
        p.wait_for_event("deep", event)
    return p


def depth(p: Platform, tenant: str) -> int:
    return p.rpc("queue", "stats").get(tenant, {}).get("depth", 0)


def ok_records(p: Platform, tenant: str) -> list[dict[str, Any]]:
    return p.query(tenant=tenant, status="ok")


def test_accepted_events_get_ids_that_increase_as_strings(home: Platform) -> None:
    ids: list[str] = []
    for n in range(3):
        status, reply = home.post("acme", "order", {"sku": "a", "qty": n + 1})
        assert status == 202
        ids += reply["ids"]
    status, reply = home.post("acme", "order", {"data": [{"sku": "b", "qty": q} for q in (1, 2, 3)]})
    assert status == 202 and len(reply["ids"]) == 3
    ids += reply["ids"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(isinstance(i, str) for i in ids)
    records = home.wait_records(len(ids), tenant="acme", status="ok")
    by_id = {r["event_id"]: json.loads(r["result"]) for r in records}
    assert [by_id[i]["qty"] for i in ids[3:]] == [1, 2, 3]  # a batch keeps its item order


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "error"),
    [
        ("/events/acme/order", b"{not json", "application/json", 400, "bad_request"),
        ("/events/acme/order", b"", "application/json", 400, "bad_request"),
        ("/events/acme/order", b'{"data": []}', "application/json", 400, "bad_request"),
        ("/events/nobody/order", b"{}", "application/json", 404, "not_found"),
        ("/events/acme/nothing", b"{}", "application/json", 404, "not_found"),
        ("/events/acme/order", b'{"sku": "a", "qty": 1}', "text/plain", 415, "unsupported_media_type"),
        ("/events/acme/order", json.dumps({"sku": "x" * 2000, "qty": 1}).encode(), "application/json",
         413, "too_large"),
    ],
    ids=["not-json", "empty", "empty-batch", "tenant", "event", "type", "too-large"],
)
def test_rejections_have_their_status_and_the_error_shape(
    home: Platform, path: str, body: bytes, content_type: str, status: int, error: str
) -> None:
    got, _, payload = home.request("POST", path, body, {"Content-Type": content_type})
    reply = json.loads(payload)
    assert (got, reply["error"]) == (status, error)
    assert reply["detail"]


def test_schema_errors_name_the_item_and_a_json_pointer(home: Platform) -> None:
    before = depth(home, "acme")
    good, bad = {"sku": "a", "qty": 1}, {"sku": "b", "qty": 0, "tags": ["t", 7]}
    status, reply = home.post("acme", "order", {"data": [good, good, bad]})
    assert status == 422 and reply["error"] == "schema"
    assert sorted((d["item"], d["path"]) for d in reply["detail"]) == [(2, "/qty"), (2, "/tags/1")]
    assert all(d["message"] for d in reply["detail"])
    status, reply = home.post("acme", "order", {"qty": 1})
    assert status == 422 and [(d["item"], d["path"]) for d in reply["detail"]] == [(0, "")]
    assert "sku" in reply["detail"][0]["message"]
    assert depth(home, "acme") <= before  # one bad item rejects the whole batch


def signed_headers(body: bytes, key: bytes = KEY, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    msg_id = f"msg_{uuid.uuid4().hex}"  # a webhook-id seen before is a replay (401)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(key, msg_id, stamp, body)}


def test_a_secret_requires_a_valid_standard_webhooks_signature(home: Platform) -> None:
    body = b'{"hello": "world"}'
    assert home.post("signed", "ping", None, raw=body)[0] == 401
    assert home.post("signed", "ping", None, raw=body, headers=signed_headers(body, b"wrong key"))[0] == 401
    stale = signed_headers(body, stamp=int(time.time()) - 600)
    status, reply = home.post("signed", "ping", None, raw=body, headers=stale)
    assert (status, reply["error"]) == (401, "signature")
    tampered = signed_headers(body)
    assert home.post("signed", "ping", None, raw=b'{"hello": "moon"}', headers=tampered)[0] == 401

    status, reply = home.post("signed", "ping", None, raw=body, headers=signed_headers(body))
    assert status == 202
    rotated = signed_headers(body)
    rotated["webhook-signature"] = f"v1,AAAA {rotated['webhook-signature']}"
    assert home.post("signed", "ping", None, raw=body, headers=rotated)[0] == 202
    record = home.wait_records(1, tenant="signed")[-1]
    assert json.loads(record["result"]) == {"hello": "world"}


def test_a_tenant_over_its_queue_depth_gets_503_with_retry_after(home: Platform) -> None:
    home.rpc("queue", "pause", {"tenant": "full"})
    try:
        status, _ = home.post("full", "ping", {"data": [{"n": n} for n in range(5)]})
        assert status == 202 and depth(home, "full") == 5
        status, headers, payload = home.request("POST", "/events/full/ping", b'{"n": 5}',
                                                {"Content-Type": "application/json"})
        assert status == 503 and json.loads(payload)["error"] == "unavailable"
        assert int(headers["retry-after"]) >= 1
        assert home.post("acme", "order", {"sku": "other tenant", "qty": 1})[0] == 202
    finally:
        home.rpc("queue", "resume", {"tenant": "full"})
    home.wait_records(5, tenant="full", status="ok")
    assert home.post("full", "ping", {"n": 6})[0] == 202


def test_a_package_over_its_queue_depth_gets_503_and_the_tenants_other_package_202(home: Platform) -> None:
    home.rpc("queue", "pause", {"tenant": "deep"})
    try:
        assert home.post("deep", "ping", {"data": [{"n": 1}, {"n": 2}]})[0] == 202
        assert home.post("deep", "pong", {"n": 3})[0] == 202
        for event in ("ping", "pong"):
            status, headers, payload = home.request("POST", f"/events/deep/{event}", b'{"n": 4}',
                                                    {"Content-Type": "application/json"})
            reply = json.loads(payload)
            assert (status, reply["error"]) == (503, "unavailable")
            assert "package flow queue is full: 3 of 3" in reply["detail"]
            assert int(headers["retry-after"]) >= 1
        assert home.post("deep", "other", {"data": [{"n": n} for n in range(5)]})[0] == 202
        assert depth(home, "deep") == 8
    finally:
        home.rpc("queue", "resume", {"tenant": "deep"})
    home.wait_records(8, tenant="deep", status="ok")
    assert home.post("deep", "ping", {"data": [{"n": 4}, {"n": 5}, {"n": 6}]})[0] == 202


def test_a_tenant_over_its_rate_gets_429_with_retry_after(home: Platform) -> None:
    # burst 3: wait_for_event's probe (a refused request) costs a token too (SPEC §3)
    assert home.post("limited", "ping", {"data": [{"n": 1}, {"n": 2}]})[0] == 202
    status, headers, payload = home.request("POST", "/events/limited/ping", b'{"n": 3}',
                                            {"Content-Type": "application/json"})
    assert status == 429 and json.loads(payload)["error"] == "rate_limited"
    assert int(headers["retry-after"]) >= 1
    assert home.post("acme", "order", {"sku": "not limited", "qty": 1})[0] == 202


def test_an_idempotency_key_repeat_enqueues_nothing_even_after_a_queue_restart(home: Platform) -> None:
    home.rpc("queue", "pause", {"tenant": "keys"})
    headers = {"Idempotency-Key": "order-77"}
    first = home.post("keys", "ping", {"data": [{"n": 1}, {"n": 2}]}, headers=headers)
    assert first[0] == 202 and depth(home, "keys") == 2
    assert home.post("keys", "ping", {"data": [{"n": 1}, {"n": 2}]}, headers=headers) == first
    assert depth(home, "keys") == 2
    home.kill("queue")
    body = {"data": [{"n": 1}, {"n": 2}]}
    again = wait_until(lambda: (r := home.post("keys", "ping", body, headers=headers))[0] != 503
                       and r, 30, "the webhook to reach the new queue")
    assert again == first
    status, reply = home.post("keys", "ping", {"n": 1}, headers=headers)  # the key is bound to its body
    assert (status, reply["error"]) == (409, "idempotency_conflict")
    assert depth(home, "keys") == 2
    home.rpc("queue", "resume", {"tenant": "keys"})
    records = home.wait_records(2, tenant="keys", status="ok")
    time.sleep(0.5)  # give a wrongly enqueued duplicate the time to show up
    assert sorted(r["event_id"] for r in home.records(tenant="keys")) == sorted(first[1]["ids"])
    assert len(records) == 2


def test_healthz_and_metrics(home: Platform) -> None:
    status, _, payload = home.request("GET", "/healthz")
    assert status == 200 and json.loads(payload)["status"] == "ok"
    assert home.post("acme", "order", {"sku": "m", "qty": 1})[0] == 202
    home.post("acme", "order", {"qty": 1})
    status, headers, payload = home.request("GET", "/metrics")
    text = payload.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    lines = text.splitlines()
    for family in ("jobico_items_accepted_total", "jobico_requests_total", "jobico_queue_depth",
                   "jobico_executions_total", "jobico_run_duration_seconds_bucket"):
        assert any(line.startswith(family + "{") and 'tenant="acme"' in line for line in lines), family


def test_kill_9_of_the_queue_right_after_many_202s_loses_nothing(home: Platform) -> None:
    ids: list[str] = []
    for start in range(0, 1000, 50):
        status, reply = home.post("bulk", "ping", {"data": [{"n": n} for n in range(start, start + 50)]})
        assert status == 202
        ids += reply["ids"]
    home.kill("queue")
    records = wait_until(lambda: len(r := ok_records(home, "bulk")) >= len(ids) and r, 90,
                         "an ok record for every accepted id")
    done = [r["event_id"] for r in records]
    assert sorted(done) == sorted(ids)  # every id, each recorded ok exactly once
