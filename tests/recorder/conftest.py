"""Records as an executor would send them, and a store on a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobico.recorder.store import Store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def rec(event_id: str = "0000000000000001", attempt: int = 1, status: str = "ok",
        tenant: str = "acme", event: str = "signup", at: float = T0, **extra: Any
        ) -> dict[str, Any]:
    """One execution record; ``at`` is its started_at in epoch seconds."""
    return {"event_id": event_id, "attempt": attempt, "status": status, "tenant": tenant,
            "package": "pkg", "event": event, "started_at": at, "duration_ms": 3.5,
            "result": f"result of {event_id}", "code": 0 if status == "ok" else 1,
            "logs": [{"level": "info", "message": "hi"}], "module_sha256": "ab" * 32,
            **extra}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "recorder")
    yield s
    s.close()
