"""Hand-made hostile inputs, shared by the in-process fuzz tests and the ``jobico up`` pass."""

from __future__ import annotations

# (body, the status it must get at an event without a schema)
BODIES: list[tuple[bytes, int]] = [
    (b"1" + b"0" * 5000, 400),  # beyond Python's int digit limit
    (b"-" + b"9" * 4300, 202),  # exactly at it
    (b"1e400", 400), (b"-1e400", 400), (b"1e-400", 202), (b"-0.0", 202),
    (b'{"data":[1e308, 1.7976931348623157e308]}', 202),
    (b"123456789012345678901234567890", 202),
    (b'"\\ud800"', 400), (b'"\\udc00\\ud800"', 400), (b'"\\ud83d\\ude00"', 202),
    (b'"\xc0\xaf"', 400), (b'"\xed\xa0\x80"', 400), (b'"\xf4\x90\x80\x80"', 400), (b'"\xe2\x82"', 400),
    (b"\xef\xbb\xbf1", 400), (b"\x00", 400), (b'"a\x00b"', 400), (b'"a\\u0000b"', 202),
    (b'{"a":1,"a":1}', 400), (b'{"x":{"y":[{"k":1,"k":2}]}}', 400), (b'{"data":[{"a":1,"a":2}]}', 400),
    (b"NaN", 400), (b"[Infinity]", 400), (b"01", 400), (b"1 2", 400), (b"", 400),
    (b'{"data": []}', 400), (b'{"data": [], "x": 1}', 202), (b'{"data": 1}', 202),
]

PATH_TRICKS: list[bytes] = [
    b"/events/acme/%2e%2e", b"/events/%2e%2e/%2e%2e", b"/events/acme/..%2f..%2fetc%2fpasswd",
    b"/events/acme%2fsignup/x", b"/events/acme/signup%2f", b"/events/acme/sign%00up",
    b"/events/acme/sign\x00up", b"/events/ACME/signup", b"/events/acme/SIGNUP", b"/Events/acme/signup",
    b"/events/acme/" + b"a" * 64, b"/events/" + b"a" * 5000 + b"/signup", b"/events/acme/./signup",
    b"/events/acme/../acme/signup", b"/events//acme/signup", b"/events/acme/signup/",
    b"/events/acme/sign\\up", b"/events/acme/sign%5cup", b"/events/acme/%73ignup",
    b"/events/acme/sign\xc3\xa9up", b"/events/acme/signup;x=1", b"/events/-acme/signup",
    b"http://evil/events/acme/nope", b"*", b"/events/acme/%", b"/events/acme/%zz",
]


def path_status(target: bytes) -> tuple[int, str]:
    """What a POST to ``target`` (none of which routes) gets: h11 refuses a request line
    with bytes outside ``\\x21-\\x7e`` (400, by "http"); the app answers 404 for the rest."""
    if any(byte < 0x21 or byte > 0x7E for byte in target):
        return 400, "http"
    return 404, "app"
