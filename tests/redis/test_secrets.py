"""The Redis password (issue 13, item 19) on a real home: it reaches no HTTP body, no log
line and no component's command line, even while Redis is down and every error names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.platform import wait_until
from tests.redis.nodes import EVENT, TENANT, main_node, ok_counts, post_batch
from tests.redis.server import redis_process

pytestmark = pytest.mark.e2e
PASSWORD = "pw-E2e-7Hq-secret"


def command_lines(status: dict[str, object]) -> str:
    pids = [c["pid"] for c in status["components"] if c["pid"]]  # type: ignore[attr-defined,index]
    return "\n".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") for pid in pids)


def test_the_password_reaches_no_http_body_log_or_command_line_while_redis_is_down(tmp_path: Path) -> None:
    with redis_process(tmp_path / "redis", PASSWORD) as server:
        main = main_node(tmp_path / "main", server.url)
        try:
            accepted = post_batch(main, 3)
            wait_until(lambda: len(ok_counts(main)) == len(accepted), 60, "the first events recorded ok")
            assert PASSWORD not in command_lines(main.status())
            server.kill()
            status, body = main.post(TENANT, EVENT, {"n": 1})
            assert status == 503, body
            assert body["error"] == "unavailable", body
            assert "127.0.0.1" not in body["detail"], body  # where Redis is: the operator's to know
            assert PASSWORD not in json.dumps(body)
            server.start()
            wait_until(lambda: main.post(TENANT, EVENT, {"n": 2})[0] == 202, 60, "202 once Redis is back")
        finally:
            main.stop()
    logs = [p for p in (main.root / ".jobico").rglob("*.log*") if p.is_file()] + [main.console]
    assert logs
    for log in logs:
        assert PASSWORD not in log.read_text(errors="replace"), log
    listener = "".join(p.read_text(errors="replace")
                       for p in (main.root / ".jobico" / "logs").glob("listener*"))
    assert "redis at redis://:****@127.0.0.1:" in listener, "why the queue is away is in the listener's log"
