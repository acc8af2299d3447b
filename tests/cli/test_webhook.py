"""Where the CLI (and the TUI) find the live webhook: what the running home reports, not the config."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobico.cli.webhook import event_secret, listener_names, live_webhook_url, webhook_url
from jobico.ctl.api import EMPTY_CATALOG, Catalog, Job, TenantCatalog
from jobico.errors import UserError
from supervisor.api import Component, SupervisorStatus


def supervisor_status(*names: str, role: str = "all", host: str = "127.0.0.1",
                      port: int = 8080) -> SupervisorStatus:
    """The supervisor's ``status`` of a home running ``names``."""
    return SupervisorStatus("/home", 1, "running", role, 1.0, host, port,
                            tuple(Component(n, "running", 2, 0, 1.0, None) for n in names))


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
    status = supervisor_status("ctl", "listener-1", "listener-2", "queue", "executor-1", "listenerx")
    assert listener_names(status) == ["listener-1", "listener-2"]
    assert listener_names(supervisor_status("listener")) == ["listener"]


def test_the_first_listener_that_answers_wins_and_is_asked_no_further(tmp_path: Path) -> None:
    status = supervisor_status("listener-1", "listener-2", host="127.0.0.1", port=8080)
    asked: list[int] = []

    def reports() -> Iterator[list[str]]:
        for n, urls in enumerate(([], ["http://0.0.0.0:18080"], ["http://127.0.0.1:1"])):
            asked.append(n)
            yield urls

    assert live_webhook_url(tmp_path, status, reports()) == "http://127.0.0.1:18080"
    assert asked == [0, 1]
    assert live_webhook_url(tmp_path, status, iter([[], []])) == "http://127.0.0.1:8080"


def test_an_executor_only_node_names_its_home(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=rf"{tmp_path} is an executor-only node"):
        live_webhook_url(tmp_path, supervisor_status(role="executor"), [])


def test_the_secret_is_the_catalogs_for_that_event() -> None:
    catalog = Catalog(1, {"acme": TenantCatalog({"signup": Job("acme", "p", "signup", secret="whsec_abc"),
                                                 "open": Job("acme", "p", "open")}, {})})
    assert event_secret(catalog, "acme", "signup") == "whsec_abc"
    assert event_secret(catalog, "acme", "open") is None
    assert event_secret(catalog, "acme", "nope") is None and event_secret(EMPTY_CATALOG, "x", "y") is None


def test_the_dashboard_finds_and_signs_with_this_module_and_no_cli_machinery() -> None:
    """The TUI imports jobico.cli.webhook (one implementation), which must stay free of the
    typer app and of trio: the dashboard runs on asyncio."""
    code = ("import sys, tui.app, tui.client; "
            "print(sorted(m for m in ('typer', 'trio', 'jobico.cli.app') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "[]"
