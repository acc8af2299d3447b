"""The six messages of the RPC protocol, as small immutable values.

Each event is one msgpack array on the wire (docs/internals.md, "RPC API"):

| kind | shape                                          |
|------|------------------------------------------------|
| 0    | ``[0, id, method, params]`` (+ ``1`` = stream) |
| 1    | ``[1, id, result]``                            |
| 2    | ``[2, id, error_type, message]`` (+ bases)     |
| 3    | ``[3, id, item]``                              |
| 4    | ``[4, id]``                                    |
| 5    | ``[5, id]``                                    |

Two optional trailing elements extend the table without breaking it: a request
for a *stream* carries a fifth element ``1`` (one method name may be both a
call and a stream, as ctl's ``catalog`` is), and an error may carry the names
of its error type's bases so that a client can recognise a subclass it does
not know (a component's ``QueueFull(Unavailable)`` is still ``Unavailable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    """Client -> server: run ``method`` with ``params``; ``stream`` asks for a stream."""

    id: int
    method: str
    params: Any = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """Server -> client: the result of a call."""

    id: int
    result: Any = None


@dataclass(frozen=True, slots=True)
class Error:
    """Server -> client: the call or stream failed with an error named ``type_name``.

    ``bases`` names the error type's ancestors (most derived first), so a client
    can map an error type it does not know to the nearest one it does.
    """

    id: int
    type_name: str
    message: str
    bases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamItem:
    """Server -> client: one item of a stream."""

    id: int
    item: Any = None


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """Server -> client: the stream is over; nothing more comes for this id."""

    id: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """Client -> server: stop working on this request; its answer is no longer wanted."""

    id: int


Event = Request | Reply | Error | StreamItem | StreamEnd | Cancel
