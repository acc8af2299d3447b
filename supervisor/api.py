"""The supervisor's RPC contract (``.jobico/run/supervisor.sock``): ``status``, ``down``, ``restart``.

Served by ``supervisor.runner``; asked by the CLI (``jobico up --detach``,
``down``, ``status``, ``restart``), the TUI and the listener's health probe.
The pattern is ``jobico.rpc.api``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobico.rpc.api import Call, Empty, Fields


@dataclass(frozen=True, slots=True)
class Component:
    """One supervised component. ``state``: starting | running | restarting | stopping | stopped."""

    name: str
    state: str
    pid: int | None
    restarts: int
    uptime_s: float
    last_exit: int | None

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "pid": self.pid, "restarts": self.restarts,
                "uptime_s": self.uptime_s, "last_exit": self.last_exit}

    @classmethod
    def from_wire(cls, data: object) -> Component:
        f = Fields(data, "component")
        return cls(f.text("name"), f.text("state"), f.integer_or_none("pid"), f.integer("restarts"),
                   f.number("uptime_s"), f.integer_or_none("last_exit"))


@dataclass(frozen=True, slots=True)
class SupervisorStatus:
    """The home, the supervisor (``state``: starting | running | stopping) and its components."""

    home: str
    pid: int
    state: str
    role: str
    uptime_s: float
    host: str
    port: int
    components: tuple[Component, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "pid": self.pid,
            "state": self.state,
            "role": self.role,
            "uptime_s": self.uptime_s,
            "listener": {"host": self.host, "port": self.port},
            "components": [c.to_wire() for c in self.components],
        }

    @classmethod
    def from_wire(cls, data: object) -> SupervisorStatus:
        f = Fields(data, "status")
        listener = f.map("listener")
        return cls(f.text("home"), f.integer("pid"), f.text("state"), f.text("role"), f.number("uptime_s"),
                   listener.text("host"), listener.integer("port"), f.each("components", Component.from_wire))


@dataclass(frozen=True, slots=True)
class Stopping:
    """``down``'s answer: the supervisor stops its components in order, then exits."""

    def to_wire(self) -> dict[str, Any]:
        return {"stopping": True}

    @classmethod
    def from_wire(cls, data: object) -> Stopping:
        Fields(data, "reply").flag("stopping")
        return cls()


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart one component by name (SIGTERM; the supervisor starts it again)."""

    name: str

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_wire(cls, data: object) -> Restart:
        return cls(Fields(data).text("name"))


@dataclass(frozen=True, slots=True)
class Restarting:
    name: str

    def to_wire(self) -> dict[str, Any]:
        return {"restarting": self.name}

    @classmethod
    def from_wire(cls, data: object) -> Restarting:
        return cls(Fields(data, "reply").text("restarting"))


status = Call("status", Empty.from_wire, SupervisorStatus.from_wire)

down = Call("down", Empty.from_wire, Stopping.from_wire)

restart = Call("restart", Restart.from_wire, Restarting.from_wire)
"""**Errors:** ``NotFound`` naming the known components when ``name`` is none of them."""
