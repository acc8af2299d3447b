"""Error replies become exceptions a caller can catch by their Jobico type."""

from __future__ import annotations

import pytest

from jobico.errors import ConfigError, Conflict, JobicoError, NotFound, Unavailable, UserError
from jobico.rpc.errors import (
    CallTimeout,
    ConnectFailed,
    ConnectionLost,
    RemoteError,
    describe,
    remote_error,
)


@pytest.mark.parametrize("cls", [NotFound, UserError, ConfigError, Conflict, Unavailable])
def test_known_types_are_caught_by_their_own_class(cls: type[JobicoError]) -> None:
    error = remote_error(cls.__name__, "no tenant 'acme'")
    assert isinstance(error, cls)
    assert isinstance(error, RemoteError)
    assert error.type_name == cls.__name__
    assert str(error) == "no tenant 'acme'"


def test_an_unknown_type_falls_back_to_its_nearest_known_base() -> None:
    error = remote_error("QueueFull", "acme: queue full", ("Unavailable",))
    assert isinstance(error, Unavailable)
    assert error.type_name == "QueueFull"


def test_an_unknown_type_without_known_bases_is_a_plain_remote_error() -> None:
    error = remote_error("InternalError", "echo: RuntimeError: boom")
    assert type(error) is RemoteError
    assert not isinstance(error, UserError | Unavailable)


def test_describe_names_a_local_error_and_its_jobico_bases() -> None:
    class QueueFull(Unavailable):
        pass

    assert describe(QueueFull("full")) == ("QueueFull", ("Unavailable",))
    assert describe(NotFound("x")) == ("NotFound", ("UserError",))


def test_a_relayed_remote_error_keeps_its_original_name() -> None:
    relayed = remote_error("QueueFull", "full", ("Unavailable",))
    assert describe(relayed) == ("QueueFull", ("Unavailable",))


@pytest.mark.parametrize("cls", [CallTimeout, ConnectFailed, ConnectionLost])
def test_transport_failures_are_unavailable(cls: type[JobicoError]) -> None:
    assert issubclass(cls, Unavailable)
