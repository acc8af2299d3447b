"""The listener's catalog view: routes, shared validators, guarded bad entries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jobico.ctl.api import DEFAULT_MAX_BODY_KB
from jobico.listener.catalog import Catalog, ValidatorCache

from .conftest import CATALOG, SECRET, job


def document(**events: dict[str, Any]) -> dict[str, Any]:
    return {"version": 2, "tenants": {"acme": {"events": events}}}


def test_routes_carry_limits_keys_and_validators() -> None:
    catalog = Catalog(CATALOG)
    signed = catalog.route("signed", "hook")
    assert signed is not None and signed.key and signed.max_body == 1024
    assert catalog.route("acme", "any").validator is None  # type: ignore[union-attr]
    assert catalog.route("acme", "hook") is None
    assert Catalog(document(e=job("acme", "e", max_body_kb=None))).route(
        "acme", "e").max_body == DEFAULT_MAX_BODY_KB * 1024  # type: ignore[union-attr]


def test_validators_are_shared_across_versions_by_schema_hash() -> None:
    cache = ValidatorCache()
    first = Catalog(document(a=job("acme", "a")), cache).route("acme", "a")
    second = Catalog(document(a=job("acme", "a"), b=job("acme", "b")), cache)
    assert first is not None
    assert second.route("acme", "b").validator is first.validator  # type: ignore[union-attr]


def test_a_schema_that_does_not_compile_leaves_only_that_event_out() -> None:
    catalog = Catalog(document(bad=job("acme", "bad", schema={"type": 12}, schema_sha256="x"),
                               good=job("acme", "good")))
    assert catalog.route("acme", "bad") is None
    assert catalog.route("acme", "good") is not None
    assert catalog.errors and catalog.errors[0].startswith("acme/bad")


def test_an_undecodable_secret_refuses_every_request_instead_of_none() -> None:
    route = Catalog(document(e=job("acme", "e", secret="whsec_???"))).route("acme", "e")
    assert route is not None and route.key is None and route.key_error
    assert Catalog(document(e=job("acme", "e", secret=SECRET))).route("acme", "e").key_error is None  # type: ignore[union-attr]


@contextmanager
def schema_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server serving a valid schema at any path; the paths it was asked for."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_remote_and_file_refs_are_never_fetched(tmp_path: Path) -> None:
    """Issue 13 item 17: compiled online, a tenant's ``$ref`` made the listener fetch
    ``http://`` URLs and read ``file://`` paths of the host."""
    local = tmp_path / "string.json"
    local.write_text(json.dumps({"type": "string"}))
    with schema_server() as (url, hits):
        catalog = Catalog(document(
            web=job("acme", "web", schema={"$ref": f"{url}/s.json"}, schema_sha256="web"),
            disk=job("acme", "disk", schema={"$ref": local.as_uri()}, schema_sha256="disk"),
            fine=job("acme", "fine")))
    assert hits == []
    assert catalog.route("acme", "web") is None and catalog.route("acme", "disk") is None
    assert catalog.route("acme", "fine") is not None
    assert sorted(e.split(":")[0] for e in catalog.errors) == ["acme/disk", "acme/web"]
    assert all("\n" not in e and "etriev" in e for e in catalog.errors), catalog.errors
