"""RPC between Jobico components: a sans-IO core with trio and asyncio shells.

Import a shell by name (``from jobico.rpc import trio_shell``); the core's
names and the errors are re-exported here. The pattern of the components'
``api.py`` modules is ``jobico.rpc.api``; the server's table of methods is
``jobico.rpc.dispatch``.
"""

from jobico.rpc.errors import (
    BadReply,
    CallTimeout,
    ConnectFailed,
    ConnectionLost,
    LocalProtocolError,
    ProtocolError,
    RemoteError,
    RemoteProtocolError,
    RpcError,
    UnknownMethod,
)
from jobico.rpc.events import Cancel, Error, Event, Reply, Request, StreamEnd, StreamItem
from jobico.rpc.protocol import CLOSED, MAX_MESSAGE_SIZE, NEED_DATA, Connection, Role

__all__ = [
    "CLOSED",
    "MAX_MESSAGE_SIZE",
    "NEED_DATA",
    "BadReply",
    "CallTimeout",
    "Cancel",
    "ConnectFailed",
    "Connection",
    "ConnectionLost",
    "Error",
    "Event",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteError",
    "RemoteProtocolError",
    "Reply",
    "Request",
    "Role",
    "RpcError",
    "StreamEnd",
    "StreamItem",
    "UnknownMethod",
]
