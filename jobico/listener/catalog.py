"""The listener's view of ctl's catalog: ``(tenant, event)`` -> what it takes to accept an item.

Built once per catalog version and swapped atomically by the follower; requests
hold the view they started with. Compiled validators are shared across versions,
keyed by ``schema_sha256``, so a new version recompiles only the schemas it changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from jobico.caps import DEFAULT_MAX_ITEMS
from jobico.ctl import api as ctl_api
from jobico.errors import UserError
from jobico.listener.quotas import PackageRate
from jobico.listener.signatures import decode_secret
from jobico.listener.validation import weight
from jobico.schemas import compile_offline


@dataclass(frozen=True, slots=True)
class Route:
    """One accepting event: its validator (None = any JSON) and that schema's ``weight``,
    HMAC key, body and item limits, package rate."""

    tenant: str
    event: str
    package: str
    validator: Any
    key: bytes | None
    key_error: str | None
    max_body: int
    rate: PackageRate | None = None
    max_items: int = DEFAULT_MAX_ITEMS
    schema_weight: int = 1


class ValidatorCache:
    """Compiled jsonschema-rs validators by schema hash; dropped when no version uses them.

    Compiled offline: a ``$ref`` to ``http://`` or ``file://`` is a compile error, never a
    fetch (a tenant's schema must not make the listener read host files or call out).
    """

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[Any, int]] = {}

    def get(self, sha256: str, schema: Mapping[str, Any] | bool) -> tuple[Any, int]:
        """The validator and the schema's ``weight``.

        Errors: ``UserError`` naming the hash when the schema does not compile.
        """
        found = self._compiled.get(sha256)
        if found is None:
            try:
                validator = compile_offline(schema)
            except (ValueError, jsonschema_rs.ReferencingError) as exc:
                first_line = str(exc).partition("\n")[0]
                raise UserError(f"schema {sha256[:12]}: {first_line}") from None
            found = self._compiled[sha256] = validator, weight(schema)
        return found

    def keep_only(self, hashes: set[str]) -> None:
        for sha in set(self._compiled) - hashes:
            del self._compiled[sha]


class Catalog:
    """The routes of one catalog version (``jobico.ctl.api.Catalog``).

    A job whose schema does not compile is left out (404) and listed in ``errors``;
    ctl should never publish one, so this is a guard, not a feature. The catalog
    may also be given as its wire document (as tests and benchmarks write it).
    Errors: ``UserError`` for a document off the contract.
    """

    def __init__(self, catalog: ctl_api.Catalog | dict[str, Any],
                 cache: ValidatorCache | None = None) -> None:
        if not isinstance(catalog, ctl_api.Catalog):
            catalog = ctl_api.Catalog.from_wire(catalog)
        self.version: int = catalog.version
        self.errors: list[str] = []
        self._routes: dict[tuple[str, str], Route] = {}
        cache = cache if cache is not None else ValidatorCache()
        used: set[str] = set()
        for tenant, entry in catalog.tenants.items():
            for event, job in entry.events.items():
                summary = entry.packages.get(job.package)
                limits = summary.limits if summary is not None else ctl_api.Limits()
                try:
                    self._routes[tenant, event] = self._route(job, limits, cache, used)
                except UserError as exc:
                    self.errors.append(f"{tenant}/{event}: {exc}")
        cache.keep_only(used)
        self.tenants: frozenset[str] = frozenset(catalog.tenants)

    @staticmethod
    def _route(job: ctl_api.Job, limits: ctl_api.Limits, cache: ValidatorCache, used: set[str]) -> Route:
        validator, schema_weight = None, 1
        if job.schema is not None:
            sha = job.schema_sha256 or json.dumps(job.schema, sort_keys=True)
            validator, schema_weight = cache.get(sha, job.schema)
            used.add(sha)
        key, key_error = None, None
        if job.secret:
            try:
                key = decode_secret(job.secret)
            except UserError as exc:
                key_error = str(exc)
        rate = None
        if limits.rate:  # the package's own [limits]; its depth and concurrency are not enforced
            rate = PackageRate(job.package, float(limits.rate), limits.burst or 0)
        return Route(job.tenant, job.event, job.package, validator, key, key_error, job.max_body_kb * 1024,
                     rate, job.max_items, schema_weight)

    def route(self, tenant: str, event: str) -> Route | None:
        return self._routes.get((tenant, event))

    def __len__(self) -> int:
        return len(self._routes)


EMPTY = Catalog(ctl_api.EMPTY_CATALOG)
