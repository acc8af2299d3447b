"""Text that guests, senders or tenants wrote, made safe to put in front of a terminal.

A record's result, its log lines and reasons, a dead letter's reason, a package file
name: all of them are written by someone other than the person at the terminal.
Printed raw, ESC and other control characters drive the terminal (clear the screen,
set its title, fake or hide lines, right-to-left overrides reorder what is read), so
they are shown as escapes instead (``\\x1b``, ``\\x9b``, ``\\u202e``). Rich markup is
a separate hazard, handled where Rich renders: cells become ``rich.text.Text``,
which is never parsed as markup. ``--json`` output needs neither: JSON escapes
control characters itself.
"""

from __future__ import annotations

# C0 and DEL, C1, and the Unicode controls that reorder or break lines on display.
_CONTROLS = (*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x200E, 0x2010),
             *range(0x2028, 0x202F), *range(0x2066, 0x206A))
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_ONE_LINE = {code: _escape(code) for code in _CONTROLS}
_MULTI_LINE = {code: text for code, text in _ONE_LINE.items() if chr(code) not in "\n\t"}


def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control character written as an escape.

    ``multiline`` keeps newlines and tabs, for a field printed on lines of its own
    (a result); anything shown on one line (a log line, a table cell, a reason)
    escapes them too, so it cannot pass for another line.
    """
    return text.translate(_MULTI_LINE if multiline else _ONE_LINE)
