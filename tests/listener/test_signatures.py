"""Standard Webhooks verification, and the 401s it gives through the server."""

from __future__ import annotations

import base64

import pytest
import trio

from jobico.errors import UserError
from jobico.listener.signatures import SignatureError, decode_secret, sign, verify

from .conftest import SECRET, make_app, post, serving

KEY = decode_secret(SECRET)
BODY = b'{"name":"a"}'
NOW = 1_700_000_000


def headers(signature: str, stamp: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_reference_vector_from_the_standard_webhooks_spec() -> None:
    key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    verify(key, headers(expected, 1614265330, "msg_p5jXN8AQM9LWM0D4loKWxJek"), body, 1614265330)


def test_one_matching_signature_among_several_is_enough() -> None:
    good = sign(KEY, "msg_1", NOW, BODY)
    other = sign(b"another key", "msg_1", NOW, BODY)
    verify(KEY, headers(f"v1a,xyz {other} {good}"), BODY, NOW + 299)


@pytest.mark.parametrize("case", ["wrong-key", "tampered-body", "expired", "future", "no-v1"])
def test_bad_signatures_are_refused(case: str) -> None:
    stamp = {"expired": NOW - 301, "future": NOW + 301}.get(case, NOW)
    key = b"wrong" if case == "wrong-key" else KEY
    signature = sign(key, "msg_1", stamp, BODY)
    if case == "no-v1":
        signature = signature.replace("v1,", "v2,")
    body = BODY + b" " if case == "tampered-body" else BODY
    with pytest.raises(SignatureError):
        verify(KEY, headers(signature, stamp), body, NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_named(missing: str) -> None:
    sent = headers(sign(KEY, "msg_1", NOW, BODY))
    del sent[missing]
    with pytest.raises(SignatureError, match=missing):
        verify(KEY, sent, BODY, NOW)


def test_non_numeric_timestamp_is_refused() -> None:
    with pytest.raises(SignatureError, match="webhook-timestamp"):
        verify(KEY, headers(sign(KEY, "msg_1", NOW, BODY), stamp=0) | {
            "webhook-timestamp": "1e9"}, BODY, NOW)


def test_secret_must_be_base64() -> None:
    assert decode_secret("whsec_" + base64.b64encode(b"k").decode()) == b"k"
    with pytest.raises(UserError, match="secret"):
        decode_secret("whsec_not base64!")


@pytest.mark.trio
async def test_server_checks_signatures_when_the_package_has_a_secret() -> None:
    app = make_app(wall_clock=lambda: float(NOW))
    good = headers(sign(KEY, "msg_1", NOW, BODY))
    with trio.fail_after(10):
        async with serving(app) as port:
            ok = await post(port, "/events/signed/hook", BODY, **good)
            bad = await post(port, "/events/signed/hook", BODY, **headers("v1,AAAA"))
            unsigned = await post(port, "/events/signed/hook", BODY)
    assert ok.status == 202
    assert bad.status == unsigned.status == 401
    assert bad.json()["error"] == "signature" and "webhook-id" in unsigned.json()["detail"]
