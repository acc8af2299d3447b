"""jobico/cli/visible.py: every control character becomes an escape; printable text is untouched."""

from __future__ import annotations

import pytest

from jobico.cli.visible import visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI: some terminals act on it alone
        ("a\x00b\x7fc", "a\\x00b\\x7fc"),
        ("over\rwrite", "over\\rwrite"),
        ("admin\u202egnp.exe", "admin\\u202egnp.exe"),  # right-to-left override
        ("one\u2028two", "one\\u2028two"),
        ("[/] [bold]x :smile: café ✓", "[/] [bold]x :smile: café ✓"),  # markup is Rich's business
    ],
)
def test_controls_are_escaped(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert visible(text, multiline=True) == shown


def test_one_line_fields_escape_newlines_and_tabs_multiline_fields_keep_them() -> None:
    assert visible("a\nb\tc") == "a\\nb\\tc"  # a log line cannot pass for two
    assert visible("a\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"


def test_every_c0_and_c1_character_is_escaped() -> None:
    for code in (*range(0x20), *range(0x7F, 0xA0)):
        assert visible(chr(code)).startswith("\\"), hex(code)
    assert all(visible(chr(code)) == chr(code) for code in range(0x20, 0x7F))
