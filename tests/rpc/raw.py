"""Messages taken as they come, for fakes and shell tests that must send anything at all.

A shell test echoes any msgpack value, and a fake ctl must be able to send a
catalog off the contract; ``Raw`` lets them do it through a ``Methods`` table
(``jobico.rpc.dispatch``), the one way a server answers. Real services never
use it: their messages are the typed ones of their api module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobico.rpc.api import Call, Stream


@dataclass(frozen=True, slots=True)
class Raw:
    """A wire value, unchecked both ways."""

    value: Any = None

    def to_wire(self) -> Any:
        return self.value

    @classmethod
    def from_wire(cls, data: object) -> Raw:
        return cls(data)


def raw_call(name: str) -> Call[Raw, Raw]:
    """The call ``name`` with anything as its params and its reply."""
    return Call(name, Raw.from_wire, Raw.from_wire)


def raw_stream(name: str) -> Stream[Raw, Raw]:
    """The stream ``name`` with anything as its params and its items."""
    return Stream(name, Raw.from_wire, Raw.from_wire)
