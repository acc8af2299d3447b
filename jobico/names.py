"""Every id and name pattern of SPEC §1 and §3, defined once.

Components used to carry their own copies, and they drifted: ctl loaded event
names the webhook could never route. Anything that accepts, routes or stores a
tenant id, package id, event name or event id checks it here, so "loads" and
"can be posted to" are the same rule.
"""

from __future__ import annotations

import re

from jobico.errors import UserError

# SPEC §1: tenant ids and package ids (also folder and file stems).
ID_RE = r"[a-z0-9][a-z0-9_-]{0,62}"
# SPEC §1: event names (looser than ids, so original Jobico packages import unchanged).
EVENT_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
# Event ids: 16 lower-case hex digits, assigned by the queue (SPEC §3).
EVENT_ID_RE = r"[0-9a-f]{16}"

ID_PATTERN = re.compile(rf"^{ID_RE}$")
EVENT_PATTERN = re.compile(rf"^{EVENT_RE}$")
EVENT_ID_PATTERN = re.compile(rf"^{EVENT_ID_RE}$")
# The same rules over raw bytes, for the webhook's path check before any decoding.
ID_BYTES = re.compile(ID_RE.encode())
EVENT_BYTES = re.compile(EVENT_RE.encode())


def is_id(text: object) -> bool:
    """A valid tenant or package id."""
    return isinstance(text, str) and ID_PATTERN.fullmatch(text) is not None


def is_event(text: object) -> bool:
    """A valid event name."""
    return isinstance(text, str) and EVENT_PATTERN.fullmatch(text) is not None


def is_event_id(text: object) -> bool:
    """A valid event id."""
    return isinstance(text, str) and EVENT_ID_PATTERN.fullmatch(text) is not None


def check_id(text: object, what: str = "tenant") -> str:
    """``text`` if it is a valid id; otherwise a ``UserError`` naming ``what``."""
    if not is_id(text):
        raise UserError(f"{what} {text!r} is not a valid id ({ID_RE})")
    return text  # type: ignore[return-value]


def check_event(text: object) -> str:
    """``text`` if it is a valid event name; otherwise a ``UserError``."""
    if not is_event(text):
        raise UserError(f"event {text!r} is not a valid event name ({EVENT_RE})")
    return text  # type: ignore[return-value]


def check_event_id(text: object) -> str:
    """``text`` if it is a valid event id; otherwise a ``UserError``."""
    if not is_event_id(text):
        raise UserError(f"event id {text!r} is not 16 lower-case hex digits")
    return text  # type: ignore[return-value]
