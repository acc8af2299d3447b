from __future__ import annotations

import pytest

from jobico.redact import MASK, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", f"redis://:{MASK}@host:6379/0"),
        ("redis://user:s3cret@host", f"redis://user:{MASK}@host"),
        ("rediss://s3cret@host", f"rediss://{MASK}@host"),
        ("redis://u:p%40ss@host", f"redis://u:{MASK}@host"),
        ("redis://host:6379", "redis://host:6379"),
        ("unix:///tmp/r.sock", "unix:///tmp/r.sock"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


@pytest.mark.parametrize("text", ["redis://[::1", "redis//:s3cret@host", "redis:/:s3cret@host"])
def test_unparsable_text_is_masked_whole(text: str) -> None:
    assert redact_url(text) == MASK


def test_secret_is_replaced_inside_text() -> None:
    url = "redis://:s3cret@host:6379"
    text = redact_text(f"cannot reach {url}: refused", url)
    assert "s3cret" not in text and "host:6379" in text
