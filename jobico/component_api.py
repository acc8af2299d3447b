"""The RPC every component answers besides its own api: ``status``.

Served by the component shell (``jobico.component``) for every ``python -m
jobico.<name>``; asked by the supervisor (is it up, and is it this process?),
the CLI and the TUI. The pattern is ``jobico.rpc.api``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobico.rpc.api import Call, Empty, Fields


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """Who answers (``name``, ``pid``, since ``started_at``), and what the component adds.

    ``details`` holds the component's own figures (``in_flight``, ``urls``,
    ``catalog_version``...), flat beside these three on the wire, until each
    component's api types its own.
    """

    name: str
    pid: int
    started_at: float
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {**self.details, "name": self.name, "pid": self.pid, "started_at": self.started_at}

    @classmethod
    def from_wire(cls, data: object) -> ComponentStatus:
        f = Fields(data, "status")
        details = {k: v for k, v in data.items() if k not in _OWN} if isinstance(data, dict) else {}
        return cls(f.text("name"), f.integer("pid"), f.number("started_at"), details)


_OWN = frozenset({"name", "pid", "started_at"})

status = Call("status", Empty.from_wire, ComponentStatus.from_wire)
