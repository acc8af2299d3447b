"""Where the running home's webhook listens, and signed POSTs to it: one implementation for
``jobico send`` and the dashboard's "send a test event".

A home started with ``jobico up --port 18080`` (or ``port = 0``, or a ``.env`` the shell
of ``send`` does not see) listens elsewhere than ``jobico.toml`` says, so the address is
asked of the running home, never read from the configuration: first the listeners' own
``status`` (the address each bound), else the ``listener`` host and port of the
supervisor's ``status`` (the configuration it was started with, flags included).

A package with a ``[webhook] secret`` only accepts signed requests: the secret is the
catalog's (ctl's ``catalog``, ``jobico.ctl.api``), and requests are signed as any Standard Webhooks
sender signs them (``jobico.listener.signatures.sign``).

Pure of RPC: each client asks the home in its own way (the CLI with trio, the TUI with
its asyncio client) and hands the answers here, so this module imports neither the CLI
app nor an event loop, and the dashboard may import it (as it does ``visible``).
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobico.ctl.api import Catalog
from jobico.errors import Unavailable, UserError
from jobico.listener.signatures import decode_secret, sign
from supervisor.api import SupervisorStatus

_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def listener_names(supervisor_status: SupervisorStatus) -> list[str]:
    """The home's listener components (``listener``, or ``listener-1..N``), as running."""
    return [c.name for c in supervisor_status.components
            if c.name == "listener" or c.name.startswith("listener-")]


def webhook_url(reported: Sequence[str], started_with: Mapping[str, Any] | None) -> str:
    """``http://host:port`` of the live webhook: the first URL a listener reports, else the
    host and port the supervisor was started with; a wildcard host becomes loopback.

    Errors: ``UserError`` when neither is known (a home running no listener).
    """
    if reported:
        parts = urlsplit(str(reported[0]))
        host, port = parts.hostname or "", parts.port
    elif started_with:
        host, port = str(started_with.get("host", "")), started_with.get("port")
    else:
        host, port = "", None
    if not port:
        raise UserError("this home runs no webhook (an executor-only node?); send to the main node")
    host = _LOOPBACK.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def live_webhook_url(where: Path, status: SupervisorStatus,
                     reports: Iterable[Sequence[str]]) -> str:
    """``http://host:port`` of the webhook of the home at ``where``, from its supervisor's
    ``status`` and the URLs each of its ``listener_names`` reports (in that order; taken
    lazily, so a caller may ask one listener at a time and stop at the first answer).

    Errors: ``UserError`` for an executor-only node, or a home running no listener.
    """
    if status.role != "all":
        raise UserError(f"{where} is an executor-only node: it runs no webhook; "
                        "send to the main node's home")
    reported = next((list(urls) for urls in reports if urls), [])
    return webhook_url(reported, {"host": status.host, "port": status.port})


def event_secret(catalog: Catalog, tenant: str, event: str) -> str | None:
    """The ``[webhook] secret`` of the package serving ``tenant``/``event`` in ctl's
    ``catalog`` (None: unsigned).

    An event the catalog does not know has no secret here; the webhook answers 404 for it.
    """
    job = catalog.job(tenant, event)
    return job.secret if job is not None and job.secret else None


class Webhook:
    """One keep-alive HTTP connection to the listener; signs each request when given a secret."""

    def __init__(self, url: str, secret: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        self._key = decode_secret(secret) if secret else None

    def post(self, tenant: str, event: str, body: bytes,
             idempotency_key: str | None = None) -> tuple[int, Any]:
        """``(status, decoded reply)``. Errors: ``Unavailable`` when the webhook is unreachable."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if self._key is not None:
            msg_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
            headers.update({"webhook-id": msg_id, "webhook-timestamp": str(stamp),
                            "webhook-signature": sign(self._key, msg_id, stamp, body)})
        try:
            self._conn.request("POST", f"/events/{tenant}/{event}", body=body, headers=headers)
            response = self._conn.getresponse()
            payload = response.read()
        except OSError as exc:
            raise Unavailable(f"cannot reach the webhook at {self.url} ({exc})") from None
        try:
            return response.status, json.loads(payload)
        except ValueError:
            return response.status, payload.decode("utf-8", "replace")

    def close(self) -> None:
        self._conn.close()
