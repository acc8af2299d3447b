"""The hostile inputs once more, through a real ``jobico up``: designed answers, no file touched.

Every request of ``cases`` goes to the real listener, and events carrying path
tricks run through a real queue and executor, next to a guest that tries to open
host files and read the environment (a secret is planted in ``jobico up``'s).
Afterwards nothing has changed outside ``tenants/`` and ``.jobico/`` of the home:

- in pytest's temporary folder for the whole session (the test's folder, which
  holds the home, and its parent, which holds every other test's), every entry,
  at any depth: an escape one or two ``..`` above the home shows there;
- in the temporary folder and the home folder ``jobico up`` is given (``TMPDIR``
  and ``HOME`` point inside the test's folder, so whatever the platform writes
  relative to them is seen, as above);
- at the top of the real ``/tmp`` and the user's home, every entry named after
  the platform or carrying this run's token (the test writes that token into every
  path it sends). Other programs create entries there at any time, so a new entry
  with another name cannot be told apart from theirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.executor.guests import ECHO, WASI_PROBE
from tests.fuzz import cases
from tests.fuzz.server import DESIGNED, post

pytestmark = pytest.mark.e2e
OWN = {"tenants", ".jobico", "console.log"}  # the platform's own, and the test's capture
TOKEN = f"jobico-escape-{uuid.uuid4().hex[:12]}"
SHARED = (Path("/tmp"), Path(tempfile.gettempdir()), Path.home())  # as this test process sees them


def snapshot(home: Path) -> dict[str, str]:
    """What may not change: path -> kind, mode, size and content (or mtime, beyond the test's folder)."""
    found: dict[str, str] = {}
    session = home.parent.parent
    for folder, dirs, files in os.walk(session):
        if Path(folder) == home:
            dirs[:] = [d for d in dirs if d not in OWN]
            files = [f for f in files if f not in OWN]
        for name in [*dirs, *files]:
            path = Path(folder, name)
            found[str(path)] = _state(path, content=path.is_relative_to(home.parent))
    for folder in SHARED:
        for entry in folder.iterdir():
            if "jobico" in entry.name.lower() or TOKEN in entry.name:
                found[str(entry)] = _state(entry, content=False)
    return found


def _state(path: Path, *, content: bool) -> str:
    info = path.lstat()
    kind = stat.S_IFMT(info.st_mode)
    described = f"{kind:o} {stat.S_IMODE(info.st_mode):o}"
    if stat.S_ISDIR(info.st_mode):
        return described  # its entries are listed themselves
    if stat.S_ISREG(info.st_mode) and content:
        return f"{described} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return f"{described} {info.st_size} {info.st_mtime_ns}"


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changed = [f"new {p}" for p in after.keys() - before.keys()]
    changed += [f"gone {p}" for p in before.keys() - after.keys()]
    changed += [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(changed)


def install(p: Platform) -> None:
    p.write("acme/echo.wasm", ECHO)
    p.write("acme/probe.wasm", WASI_PROBE)
    p.write("acme/pkg.toml", package(
        {"event": "any", "wasm": "echo.wasm", "max_attempts": 1},
        {"event": "probe", "wasm": "probe.wasm", "max_attempts": 1},
    ))
    p.wait_for_event("acme", "probe", timeout=30)


def test_hostile_requests_and_guests_touch_nothing_outside_the_home_state(
    platform_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JOBICO_PLANTED_SECRET", "hunter2")
    for variable, name in (("TMPDIR", "tmp"), ("HOME", "user")):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.setenv(variable, str(folder))
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
              {"name": "%2e%2e/%2e%2e"}, {"nul": "a\u0000b"}, {"out": f"../../../{TOKEN}"},
              {"tmp": f"/tmp/{TOKEN}"}, {"home": f"~/{TOKEN}"}]
    reply = post(p.port, "/events/acme/any", json.dumps({"data": tricky}).encode(),
                 {"idempotency-key": f"../../../../tmp/{TOKEN}"})
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
    assert diff(before, snapshot(p.root)) == []
    print(f"\nanswers through jobico up: {answers}; records {len(records)}")
