"""Issue 13 item 11 / SPEC §3: a ``webhook-id`` already accepted within the window is 401."""

from __future__ import annotations

import pytest
import trio

from jobico.listener.catalog import Catalog
from jobico.listener.replays import SeenIds, TooManyIds
from jobico.listener.signatures import TOLERANCE_S, decode_secret, sign

from .conftest import CATALOG, SECRET, job, make_app, post, serving

NOW = 1_700_000_000
KEY = decode_secret(SECRET)


def test_an_id_is_a_replay_until_its_timestamp_leaves_the_window() -> None:
    seen = SeenIds()
    assert seen.claim("t", "pkg", "msg_1", NOW, NOW) is True
    assert seen.claim("t", "pkg", "msg_1", NOW, NOW + TOLERANCE_S) is False
    assert seen.claim("t", "pkg", "msg_1", NOW, NOW + TOLERANCE_S + 1) is True  # stale: the
    # timestamp check refuses such a request before it gets here


def test_ids_are_scoped_per_tenant_and_package_and_released_on_refusal() -> None:
    seen = SeenIds()
    assert seen.claim("t", "pkg", "msg_1", NOW, NOW)
    assert seen.claim("t", "other", "msg_1", NOW, NOW)
    assert seen.claim("u", "pkg", "msg_1", NOW, NOW)
    seen.release("t", "pkg", "msg_1")
    assert seen.claim("t", "pkg", "msg_1", NOW, NOW)


def test_a_full_tenant_waits_for_expiry_and_others_are_untouched() -> None:
    seen = SeenIds(per_tenant=3)
    for n in range(3):
        assert seen.claim("t", "pkg", f"m{n}", NOW + n, NOW)
    with pytest.raises(TooManyIds):
        seen.claim("t", "pkg", "m3", NOW, NOW)
    assert seen.claim("u", "pkg", "m3", NOW, NOW)  # another tenant
    with pytest.raises(TooManyIds):  # swept at most once a second: still full
        seen.claim("t", "pkg", "m3", NOW, NOW + 0.5)
    assert seen.claim("t", "pkg", "m3", NOW, NOW + TOLERANCE_S + 0.5)  # m0 expired: room


def signed(body: bytes, msg_id: str, stamp: int) -> dict[str, str]:
    return {"webhook_id": msg_id, "webhook_timestamp": str(stamp),
            "webhook_signature": sign(KEY, msg_id, stamp, body)}


@pytest.mark.trio
async def test_a_replayed_signed_request_is_401_at_the_webhook() -> None:
    document = {**CATALOG, "tenants": {**CATALOG["tenants"], "signed": {"events": {
        "hook": job("signed", "hook", secret=SECRET),
        "other": job("signed", "other", secret=SECRET)}}}}
    app = make_app(catalog=Catalog(document), wall_clock=lambda: float(NOW))
    good, bad = b'{"name":"a"}', b'{"name":1}'
    with trio.fail_after(10):
        async with serving(app) as port:
            first = await post(port, "/events/signed/hook", good, **signed(good, "msg_1", NOW))
            replay = await post(port, "/events/signed/hook", good, **signed(good, "msg_1", NOW))
            elsewhere = await post(port, "/events/signed/other", good, **signed(good, "msg_1", NOW))
            fresh = await post(port, "/events/signed/hook", good, **signed(good, "msg_2", NOW))
            refused = await post(port, "/events/signed/hook", bad, **signed(bad, "msg_3", NOW))
            retried = await post(port, "/events/signed/hook", good, **signed(good, "msg_3", NOW))
    assert first.status == fresh.status == retried.status == 202
    for again in (replay, elsewhere):  # the signature does not cover the path
        assert again.status == 401, again.body
        assert again.json()["error"] == "signature" and "replay" in again.json()["detail"]
    assert refused.status == 422  # a refused request's id stays usable for its retry
    assert len(app.enqueuer.calls) == 3  # type: ignore[attr-defined]
