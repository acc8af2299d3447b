"""A full disk under the queue: ingest answers 503, recovers when space returns, loses nothing acked.

The queue folder is a small tmpfs (``mount`` needs root; the test is skipped
without it), filled to the last byte by a filler file while events are posted.
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import load
from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def queue_on_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """``<home>/.jobico/queue`` as a 4 MiB tmpfs, unmounted at the end."""
    folder = tmp_path / "home" / ".jobico" / "queue"
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write until the file system is full; the filler's path."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with open(filler, "ab", buffering=0) as f:  # the last partial block too
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
    return filler


def post(p: Platform, n: int) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"data": [{"n": n + i} for i in range(5)]}).encode()
    return p.request("POST", f"/events/{load.TENANT}/{load.EVENT}", body,
                     {"Content-Type": "application/json"})


def test_full_disk_is_503_then_recovers_without_losing_acked_events(
    platform_factory: Factory, queue_on_tmpfs: Path
) -> None:
    p = platform_factory(load.CONFIG)
    acked: list[str] = []
    answers: list[int] = []

    def send() -> int:
        """Post one batch; only 202 and the designed 503 (with Retry-After) may come back."""
        code, headers, body = post(p, len(answers) * 5)
        answers.append(code)
        if code == 202:
            acked.extend(json.loads(body)["ids"])
        else:
            assert code == 503, f"unexpected {code}: {body[:200]!r}"
            assert headers.get("retry-after", "").isdigit() and json.loads(body)["error"], headers
        return code

    try:
        load.install(p)
        assert [send() for _ in range(10)] == [202] * 10
        filler = fill(queue_on_tmpfs)
        wait_until(lambda: send() == 503, 30, "a 503 once the disk is full")
        assert [send() for _ in range(10)] == [503] * 10
        filler.unlink()
        wait_until(lambda: send() == 202, 30, "a 202 once space returns")
        assert [send() for _ in range(10)] == [202] * 10
        result = load.audit(p, acked)
        print(f"\ndisk full: answers {dict(Counter(answers))}\n{result.summary()}")
        load.assert_promises_kept(result)
    finally:
        p.stop()
