"""Where the CLI (and the TUI) find the live webhook: what the running home reports, not the config."""

from __future__ import annotations

import pytest

from jobico.cli.webhook import listener_names, webhook_url
from jobico.errors import UserError


def test_the_listeners_bound_address_wins() -> None:
    assert webhook_url(["http://127.0.0.1:18080"], {"host": "127.0.0.1", "port": 8080}) \
        == "http://127.0.0.1:18080"


def test_else_the_address_the_supervisor_was_started_with() -> None:
    assert webhook_url([], {"host": "127.0.0.1", "port": 18080}) == "http://127.0.0.1:18080"


@pytest.mark.parametrize(
    ("reported", "url"),
    [
        (["http://0.0.0.0:9000"], "http://127.0.0.1:9000"),
        (["http://[::]:9000"], "http://[::1]:9000"),
        (["http://[::1]:9000"], "http://[::1]:9000"),
        (["http://192.0.2.7:9000", "http://127.0.0.1:9001"], "http://192.0.2.7:9000"),
    ],
)
def test_wildcard_hosts_become_loopback(reported: list[str], url: str) -> None:
    assert webhook_url(reported, None) == url


def test_no_listener_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="runs no webhook"):
        webhook_url([], None)


def test_listener_names_one_or_several() -> None:
    status = {"components": [{"name": n} for n in ("ctl", "listener-1", "listener-2", "queue",
                                                   "executor-1", "listenerx")]}
    assert listener_names(status) == ["listener-1", "listener-2"]
    assert listener_names({"components": [{"name": "listener"}]}) == ["listener"]
