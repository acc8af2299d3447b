"""The listener's catalog view: routes, shared validators, guarded bad entries."""

from __future__ import annotations

from typing import Any

from jobico.listener.catalog import DEFAULT_MAX_BODY_KB, Catalog, ValidatorCache

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
