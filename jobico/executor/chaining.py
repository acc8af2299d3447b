"""Chained events: publish a run's ``on_ok``/``on_error`` event, checked against its schema.

The follow-up event is checked as a sender's would be (SPEC §3): against the
target's schema, compiled offline (a ``$ref`` to a file or URL is never fetched)
and kept by schema hash, the least recently used dropped past ``VALIDATORS``.
``jsonschema_rs`` is imported on the first schema only: an executor whose jobs
never chain does not carry it (~6 MB of RSS).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from jobico.ctl.api import Catalog
from jobico.errors import JobicoError
from jobico.executor.lru import LRU
from jobico.executor.settle import Chained
from jobico.queue import api as queue_api
from jobico.rpc.peer import Peer

if TYPE_CHECKING:
    from jobico.schemas import Validator

VALIDATORS = 256  # chained events' schema validators kept


class Chaining:
    """Publishes follow-up events to the queue; keeps their schemas' validators."""

    def __init__(self, queue: Peer) -> None:
        self._queue = queue
        self.validators: LRU[str, Validator] = LRU(VALIDATORS)

    async def publish(self, follow: Chained, catalog: Catalog) -> str | None:
        """Enqueue ``follow`` as the catalog its run was leased under defines it; return
        why it was not published, if so (the run's record says it)."""
        target = catalog.job(follow.tenant, follow.event)
        if target is None:
            return (f"follow-up event {follow.event!r} is not defined for tenant {follow.tenant!r}: "
                    "not published")
        if target.schema is not None:
            from jobico.schemas import compile_offline, problems  # lazily: see the module's docstring

            key = target.schema_sha256 or repr(target.schema)
            validator = self.validators.get(key)
            if validator is None:
                try:
                    validator = self.validators.put(key, compile_offline(target.schema))
                except ValueError as exc:
                    first = str(exc).splitlines()[0]
                    return f"follow-up event {follow.event!r}: its schema does not compile offline: {first}"
            errors = problems(validator, follow.item, 5)
            if errors:
                return f"follow-up event {follow.event!r} fails its schema: {'; '.join(errors)}"
        # "platform" scope: "<event id>:on_ok" can never collide with a sender's key
        request = queue_api.Enqueue(follow.tenant, follow.event, (json.dumps(follow.item).encode(),),
                                    follow.key, None, "platform")
        try:
            await queue_api.enqueue(self._queue.retrying, request)
        except JobicoError as exc:
            return f"follow-up event {follow.event!r} refused by the queue: {exc}"
        return None
