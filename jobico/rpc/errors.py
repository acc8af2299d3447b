"""Errors of the RPC layer, rooted in ``jobico.errors.JobicoError``.

Split as h11 and trio split theirs: ``LocalProtocolError`` is "we did it" (a
value that cannot be encoded, a message over the size limit),
``RemoteProtocolError`` is "the peer did it" (a malformed frame). Transport
failures become ``ConnectFailed`` / ``ConnectionLost`` / ``CallTimeout``, which are
``Unavailable``: the same call may succeed once the peer is back.

An error reply becomes a ``RemoteError``; when its type (or one of the bases
the server sent along) is a known ``jobico.errors`` type, the exception is also
an instance of that type, so ``except NotFound:`` works across the wire.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobico.errors import ConfigError, Conflict, JobicoError, NotFound, QueueFull, Unavailable, UserError


class RpcError(JobicoError):
    """Root of every error raised by ``jobico.rpc``."""


class ProtocolError(RpcError):
    """The byte stream broke the protocol; the connection cannot be used any more."""


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol cannot carry (unencodable, too large)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid message."""


class ConnectFailed(RpcError, Unavailable):
    """Nothing listens at the socket path (missing, refused or not answering)."""


class ConnectionLost(RpcError, Unavailable):
    """The connection ended while calls or streams were open; all of them fail at once."""


class CallTimeout(RpcError, Unavailable):
    """No reply came within the call's timeout; the request was cancelled on the server."""


class RemoteError(RpcError):
    """The server answered with an error; ``type_name`` is its error type's name.

    ``str(error)`` is the server's message alone, so a CLI can print it as is.
    """

    def __init__(self, type_name: str, message: str, bases: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.bases = tuple(bases)


class RemoteUserError(RemoteError, UserError):
    """A remote ``UserError``."""


class RemoteNotFound(RemoteError, NotFound):
    """A remote ``NotFound``."""


class RemoteConfigError(RemoteError, ConfigError):
    """A remote ``ConfigError``."""


class RemoteConflict(RemoteError, Conflict):
    """A remote ``Conflict``."""


class RemoteQueueFull(RemoteError, QueueFull):
    """A remote ``QueueFull``."""


class RemoteUnavailable(RemoteError, Unavailable):
    """A remote ``Unavailable`` (including the peer's own lost connections and timeouts)."""


_KNOWN: dict[str, type[RemoteError]] = {
    "NotFound": RemoteNotFound,
    "ConfigError": RemoteConfigError,
    "Conflict": RemoteConflict,
    "QueueFull": RemoteQueueFull,
    "UserError": RemoteUserError,
    "Unavailable": RemoteUnavailable,
}


def remote_error(type_name: str, message: str, bases: Sequence[str] = ()) -> RemoteError:
    """The exception for an error reply: the first known name of ``type_name, *bases``."""
    for name in (type_name, *bases):
        cls = _KNOWN.get(name)
        if cls is not None:
            return cls(type_name, message, bases)
    return RemoteError(type_name, message, bases)


def describe(error: JobicoError) -> tuple[str, tuple[str, ...]]:
    """The ``(type_name, bases)`` a server sends for ``error``.

    A ``RemoteError`` passing through a server (a component relaying another's
    answer) keeps its original type name instead of becoming "RemoteNotFound".
    """
    if isinstance(error, RemoteError):
        return error.type_name, error.bases
    ancestors = type(error).__mro__[1:]
    names = tuple(c.__name__ for c in ancestors if issubclass(c, JobicoError) and c is not JobicoError)
    return type(error).__name__, names


class BadReply(RpcError):
    """The server's answer does not match the method's contract (its api module).

    The connection stays usable: the bytes were a valid message, their content was not.
    """


class UnknownMethod(RpcError, UserError):
    """The server has no such method (or no stream of that name); sent as "UnknownMethod"."""
