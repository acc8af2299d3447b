"""Every SPEC §3 status through the real hypercorn server on a real socket."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import h11
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from jobico.config import Config, TenantQuota
from jobico.errors import QueueFull, Unavailable
from jobico.listener.catalog import EMPTY, Catalog

from .conftest import job, make_app, post, request, serving

SIGNUP = "/events/acme/signup"


@pytest.mark.trio
async def test_single_item_is_accepted_and_queued_as_compact_json() -> None:
    app = make_app()
    with trio.fail_after(10):
        async with serving(app) as port:
            r = await post(port, SIGNUP, b'{ "name" : "\xc3\xa9mile",\n "tags": ["a"] }')
    assert r.status == 202
    assert r.json() == {"ids": ["0000000000000001"]}
    assert app.enqueuer.calls == [("acme", "signup", ['{"name":"émile","tags":["a"]}'.encode()],
                                   None, None)]


@pytest.mark.trio
async def test_batch_form_gives_ids_in_item_order() -> None:
    app = make_app()
    with trio.fail_after(10):
        async with serving(app) as port:
            r = await post(port, SIGNUP, {"data": [{"name": "a"}, {"name": "b"}]},
                           content_type="Application/JSON; charset=utf-8")
    assert r.status == 202
    ids = r.json()["ids"]
    assert ids == sorted(ids) and len(ids) == 2
    assert app.enqueuer.calls[0][2] == [b'{"name":"a"}', b'{"name":"b"}']


@pytest.mark.trio
@pytest.mark.parametrize("body", [
    b"", b"{", b"\xff\xfe{}", b'{"name": "a", "name": "b"}', b"NaN", b"[1e400]",
    b"9" * 5000, b"[" * 50_000 + b"]" * 50_000, b'{"data": []}', b'"\\ud800"',
    b"\xef\xbb\xbf{}",
], ids=["empty", "truncated", "utf16", "dup-key", "nan", "inf", "huge-int", "deep", "no-items",
        "surrogate", "bom"])
async def test_bad_json_is_400_never_5xx(body: bytes) -> None:
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            r = await post(port, "/events/acme/any", body)
    assert r.status == 400, r.body
    assert r.json()["error"] == "bad_request" and r.json()["detail"]


@pytest.mark.trio
async def test_schema_errors_name_item_and_pointer() -> None:
    app = make_app()
    batch = {"data": [{"name": "ok"}, {"name": 1, "tags": ["x", 2]}, {}]}
    with trio.fail_after(10):
        async with serving(app) as port:
            r = await post(port, SIGNUP, batch)
    assert r.status == 422
    body = r.json()
    assert body["error"] == "schema"
    found = {(e["item"], e["path"]) for e in body["detail"]}
    assert found == {(1, "/name"), (1, "/tags/1"), (2, "")}
    assert all(e["message"] for e in body["detail"])
    assert app.enqueuer.calls == []


@pytest.mark.trio
@pytest.mark.parametrize("target", [
    "/events/acme/nope", "/events/nobody/signup", "/events/acme/%2e%2e", "/events/ACME/signup",
    "/events/acme%2Fsignup/x", "/events/acme/signup/", "/events/acme/" + "a" * 64,
    "/events/../events/acme/signup", "//events/acme/signup", "/events/acme", "/",
    "/events/acme/sign%00up", "/events/-acme/signup",
])
async def test_path_tricks_are_404_json(target: str) -> None:
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            r = await post(port, target, {"name": "x"})
    assert r.status == 404
    assert r.json()["error"] == "not_found"


@pytest.mark.trio
async def test_nul_and_raw_bytes_in_path_are_404() -> None:
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(b"POST /events/acme/sign\xc3\xa9up HTTP/1.1\r\nhost: x\r\n"
                                      b"content-type: application/json\r\ncontent-length: 2\r\n"
                                      b"\r\n{}")
                reply = await stream.receive_some(4096)
    assert reply.startswith((b"HTTP/1.1 404", b"HTTP/1.1 400"))


@pytest.mark.trio
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/jsonx",
                                          "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_415(content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            r = await request(port, "POST", SIGNUP, b'{"name":"a"}', headers)
    assert r.status == 415 and r.json()["error"] == "unsupported_media_type"


@pytest.mark.trio
async def test_declared_oversized_body_is_413() -> None:
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            r = await post(port, SIGNUP, {"name": "x" * 2000})
    assert r.status == 413 and r.json()["error"] == "too_large"


@pytest.mark.trio
async def test_streamed_oversized_body_is_413_before_the_client_finishes() -> None:
    """Chunked upload past max_body_kb (1 KiB here): refused while more is still to come."""
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                conn = h11.Connection(h11.CLIENT)
                head = h11.Request(method="POST", target=SIGNUP, headers=[
                    ("host", "x"), ("content-type", "application/json"),
                    ("transfer-encoding", "chunked")])
                await stream.send_all(conn.send(head) + conn.send(h11.Data(data=b" " * 1500)))
                event = None
                while not isinstance(event, h11.Response):
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(4096))
    assert event.status_code == 413


@pytest.mark.trio
async def test_idempotency_key_is_passed_and_a_repeat_gets_the_same_ids() -> None:
    app = make_app()
    with trio.fail_after(10):
        async with serving(app) as port:
            first = await post(port, SIGNUP, {"name": "a"}, idempotency_key="k-1")
            again = await post(port, SIGNUP, {"name": "a"}, idempotency_key="k-1")
    assert first.status == again.status == 202
    assert first.json() == again.json()
    assert [c[3] for c in app.enqueuer.calls] == ["k-1"]


@pytest.mark.trio
async def test_an_idempotency_key_is_bound_to_its_body_and_scoped_to_its_event() -> None:
    """Issue 13 item 10: a key was per tenant and not bound to the body, so an unsigned
    event's sender could pre-claim a signed event's keys."""
    app = make_app()
    raw = b'{"name":"a"}'
    with trio.fail_after(10):
        async with serving(app) as port:
            first = await post(port, SIGNUP, raw, idempotency_key="k-1")
            again = await post(port, SIGNUP, raw, idempotency_key="k-1")
            other = await post(port, SIGNUP, b'{"name":"b"}', idempotency_key="k-1")
            spaced = await post(port, SIGNUP, b'{"name": "a"}', idempotency_key="k-1")
            elsewhere = await post(port, "/events/acme/any", raw, idempotency_key="k-1")
    assert first.status == again.status == elsewhere.status == 202
    assert again.json() == first.json() != elsewhere.json()
    for conflict in (other, spaced):  # the raw bytes are what the key is bound to
        assert conflict.status == 409, conflict.body
        assert conflict.json()["error"] == "idempotency_conflict" and conflict.json()["detail"]
    digest = hashlib.sha256(raw).hexdigest()
    assert [(c[1], c[3], c[4]) for c in app.enqueuer.calls] == [("signup", "k-1", digest),
                                                                ("any", "k-1", digest)]


@pytest.mark.trio
async def test_every_event_name_spec_1_allows_is_routable() -> None:
    """Issue 13 item 9: ctl loads ``Order.Created`` and 128-character names; the webhook
    routed only ``[a-z0-9][a-z0-9_-]{0,62}`` and answered 404."""
    names = ["Order.Created", "E" * 128, "E" * 129]
    document = {"version": 1, "tenants": {"acme": {"events": {
        name: job("acme", name, schema=None, schema_sha256=None) for name in names}}}}
    app = make_app(catalog=Catalog(document))
    with trio.fail_after(10):
        async with serving(app) as port:
            replies = [await post(port, f"/events/acme/{name}", {"n": 1}) for name in names]
    assert [r.status for r in replies] == [202, 202, 404]
    assert [call[1] for call in app.enqueuer.calls] == names[:2]


@pytest.mark.trio
async def test_queue_unavailable_is_503_with_retry_after() -> None:
    app = make_app()
    app.enqueuer.down = True
    with trio.fail_after(10):
        async with serving(app) as port:
            r = await post(port, SIGNUP, {"name": "a"})
    assert r.status == 503 and r.json()["error"] == "unavailable"
    assert int(r.headers["retry-after"]) >= 1


@pytest.mark.trio
async def test_why_the_queue_is_away_is_logged_for_the_operator_not_told_to_the_sender(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()

    async def away(*args: object) -> list[str]:
        raise Unavailable("redis at redis://:****@10.0.0.7:6379 is unreachable (lease): refused")

    async def full(*args: object) -> list[str]:
        raise QueueFull("tenant acme queue is full: 5 of 5 items queued")

    with trio.fail_after(10):
        async with serving(app) as port:
            app.enqueuer.enqueue = away  # type: ignore[method-assign]
            hidden = [await post(port, SIGNUP, {"name": "a"}) for _ in range(20)]
            app.enqueuer.enqueue = full  # type: ignore[method-assign]
            told = await post(port, SIGNUP, {"name": "a"})
    assert {r.status for r in hidden} == {503}
    assert all("10.0.0.7" not in r.body.decode() for r in hidden), "the backend's address stays inside"
    assert told.status == 503 and "queue is full: 5 of 5" in told.json()["detail"], "a tenant's own figures"
    said = [r.getMessage() for r in caplog.records if "queue unavailable" in r.getMessage()]
    assert len(said) == 1 and "10.0.0.7" in said[0], "logged once, not at every request"


@pytest.mark.trio
async def test_no_catalog_yet_is_503_not_404() -> None:
    app = make_app(catalog=EMPTY)
    with trio.fail_after(10):
        async with serving(app) as port:
            r = await post(port, SIGNUP, {"name": "a"})
    assert r.status == 503 and "retry-after" in r.headers


@pytest.mark.trio
async def test_rate_quota_gives_429_with_retry_after_per_tenant() -> None:
    config = dataclasses.replace(Config(), tenants={"acme": TenantQuota(rate=0.5, burst=2)})
    app = make_app(config, clock=lambda: 100.0)
    with trio.fail_after(10):
        async with serving(app) as port:
            statuses = [(await post(port, SIGNUP, {"name": "a"})).status for _ in range(2)]
            limited = await post(port, SIGNUP, {"name": "a"})
            other = await post(port, "/events/signed/hook", {"name": "a"})
    assert statuses == [202, 202]
    assert limited.status == 429 and limited.json()["error"] == "rate_limited"
    assert limited.headers["retry-after"] == "4"  # its own token (SPEC §3) then one to pass
    assert other.status == 401  # another tenant's bucket is untouched


@pytest.mark.trio
async def test_healthz_follows_the_probe() -> None:
    async def down() -> tuple[bool, dict[str, object]]:
        return False, {"components": {"queue": "restarting"}}

    with trio.fail_after(10):
        async with serving(make_app()) as port:
            ok = await request(port, "GET", "/healthz")
        async with serving(make_app(health=down)) as port:
            bad = await request(port, "GET", "/healthz")
    assert ok.status == 200 and ok.json()["status"] == "ok"
    assert bad.status == 503 and bad.json()["detail"]["components"]["queue"] == "restarting"


@pytest.mark.trio
async def test_metrics_count_requests_by_tenant_and_code_and_items_accepted() -> None:
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            await post(port, SIGNUP, {"data": [{"name": "a"}, {"name": "b"}]})
            await post(port, SIGNUP, {"name": 1})
            await post(port, "/events/nobody/x", {})
            r = await request(port, "GET", "/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(r.body.decode()) for s in family.samples}
    assert samples["jobico_items_accepted_total", (("tenant", "acme"),)] == 2
    assert samples["jobico_requests_total", (("code", "202"), ("tenant", "acme"))] == 1
    assert samples["jobico_requests_total", (("code", "422"), ("tenant", "acme"))] == 1
    assert samples["jobico_requests_total", (("code", "404"), ("tenant", ""))] == 1
    assert samples["jobico_component_up", (("component", "recorder"),)] == 0


@pytest.mark.trio
async def test_wrong_method_is_405_and_unknown_route_404() -> None:
    with trio.fail_after(10):
        async with serving(make_app()) as port:
            get = await request(port, "GET", SIGNUP)
            missing = await request(port, "GET", "/nothing")
    assert get.status == 405 and get.headers["allow"] == "POST"
    assert missing.status == 404 and json.loads(missing.body)["error"] == "not_found"
