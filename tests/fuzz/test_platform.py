"""The hostile inputs once more, through a real ``jobico up``: designed answers, no file touched.

Every request of ``cases`` goes to the real listener, and events carrying path
tricks run through a real queue and executor, next to a guest that tries to open
host files and read the environment (a secret is planted in ``jobico up``'s).
Afterwards nothing outside ``tenants/`` and ``.jobico/`` of the home, nor
beside it, has changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.executor.guests import ECHO, WASI_PROBE
from tests.fuzz import cases
from tests.fuzz.server import DESIGNED, post

pytestmark = pytest.mark.e2e
OWN = {"tenants", ".jobico", "console.log"}  # the platform's own, and the test's capture


def snapshot(home: Path) -> dict[str, str]:
    """Every file beside the home and inside it (but for its own folders): path -> digest."""
    found: dict[str, str] = {}
    for path in sorted(home.parent.rglob("*")):
        inside = path.relative_to(home.parent).parts
        if inside[0] == home.name and len(inside) > 1 and inside[1] in OWN:
            continue
        if path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "dir"
    return found


def install(p: Platform) -> None:
    p.write("acme/echo.wasm", ECHO)
    p.write("acme/probe.wasm", WASI_PROBE)
    p.write("acme/pkg.toml", package(
        {"event": "any", "wasm": "echo.wasm", "max_attempts": 1},
        {"event": "probe", "wasm": "probe.wasm", "max_attempts": 1},
    ))
    p.wait_for_event("acme", "probe", timeout=30)


def test_hostile_requests_and_guests_touch_nothing_outside_the_home_state(
    platform_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBICO_PLANTED_SECRET", "hunter2")
    p = platform_factory()
    install(p)
    before = snapshot(p.root)
    answers: dict[int, int] = {}
    for target in cases.PATH_TRICKS:
        reply = post(p.port, target, b'{"name":"x"}')
        answers[reply.status] = answers.get(reply.status, 0) + 1
        assert reply.status in (400, 404), (target, reply)
    for body, status in cases.BODIES:
        reply = post(p.port, "/events/acme/any", body)
        answers[reply.status] = answers.get(reply.status, 0) + 1
        assert reply.status == status, (body[:40], reply)
    tricky = [{"path": "../../../../etc/passwd"}, {"file": "/etc/shadow"}, {"x": "\\..\\..\\boot.ini"},
              {"name": "%2e%2e/%2e%2e"}, {"nul": "a\u0000b"}]
    reply = post(p.port, "/events/acme/any", json.dumps({"data": tricky}).encode(),
                 {"idempotency-key": "../../../../tmp/jobico-key"})
    assert reply.status == 202, reply
    probe = post(p.port, "/events/acme/probe", b"{}")
    assert probe.status == 202, probe
    (probe_id,) = probe.json()["ids"]
    expected = len(reply.json()["ids"]) + sum(1 for _, s in cases.BODIES if s == 202) + 1
    records = wait_until(lambda: (r := p.records(tenant="acme")) and len(r) >= expected and r, 60,
                         f"{expected} records")
    assert all(r["status"] == "ok" for r in records), [r for r in records if r["status"] != "ok"]
    (probed,) = [r for r in records if r["event_id"] == probe_id]
    env = sorted(probed["result"].split("\0")[:-1])  # exit 0: it could not open a host file
    assert [e.split("=")[0] for e in env] == ["JOBICO_ATTEMPT", "JOBICO_EVENT", "JOBICO_EVENT_ID",
                                               "JOBICO_TENANT"], env
    assert "hunter2" not in probed["result"]
    assert all(status in DESIGNED for status in answers), answers
    assert snapshot(p.root) == before
    print(f"\nanswers through jobico up: {answers}; records {len(records)}")
