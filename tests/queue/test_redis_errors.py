"""Redis failing under the queue: every failure is ``Unavailable`` (callers retry, nothing is
dropped), a frozen Redis times out instead of hanging, and the URL's password shows nowhere.

Against a real redis-server with a password, killed (``kill -9``) or frozen (SIGSTOP) mid-use.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import coredis
import pytest
import trio

from jobico.errors import Unavailable, UserError
from jobico.queue.api import Settlement
from jobico.queue.backend import Packages
from jobico.queue.redis_backend import RedisBackend
from tests.redis.server import RedisProcess, redis_process

PASSWORD = "pw-Zq81xK-secret"
CALL_BOUND_S = 60  # a generous guard: without a client timeout a frozen Redis holds a call forever


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisProcess]:
    with redis_process(tmp_path / "redis", PASSWORD) as process:
        yield process


def backend(url: str, **options: Any) -> RedisBackend:
    return RedisBackend(url, prefix=f"t{secrets.token_hex(4)}", node="n1", **options)


def every_call(q: RedisBackend, eid: str) -> dict[str, Callable[[], Awaitable[object]]]:
    """One call of each kind the queue service makes (each reaches Redis in its own way)."""
    return {
        "enqueue": lambda: q.enqueue("acme", "e", [b"2"], "k"),
        "lease": lambda: q.lease("executor-1", 10, 30_000),
        "renew": lambda: q.renew("executor-1", [eid], 30_000),
        "settle": lambda: q.settle("executor-1", [Settlement(eid, "ack")]),
        "settle retry": lambda: q.settle("executor-1", [Settlement(eid, "retry")]),  # reads the attempt first
        "set packages": lambda: q.set_packages(Packages()),
        "expire": q.expire,
        "release": lambda: q.release("executor-1"),
        "dead": lambda: q.dead(None),
        "dead of a tenant": lambda: q.dead("acme"),
        "replay": lambda: q.replay([eid], None),
        "purge": lambda: q.purge(None, "acme"),
        "stats": q.stats,
        "pause": lambda: q.pause("acme"),
        "resume": lambda: q.resume("acme"),
    }


def chain(exc: BaseException | None) -> str:
    """``exc`` and everything it was raised from, as a log's traceback would show them."""
    texts = []
    while exc is not None:
        texts += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


async def assert_unavailable(name: str, call: Callable[[], Awaitable[object]]) -> Unavailable:
    try:
        with trio.fail_after(CALL_BOUND_S):
            await call()
    except Unavailable as exc:
        assert PASSWORD not in chain(exc), name
        assert "redis at redis://:****@127.0.0.1:" in str(exc), name
        return exc
    raise AssertionError(f"{name} did not raise Unavailable")


@pytest.mark.trio
async def test_a_killed_redis_makes_every_call_unavailable_then_the_queue_recovers(
    server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    q = backend(server.url)
    async with q.open():
        [eid] = (await q.enqueue("acme", "e", [b"1"], None)).ids
        server.kill()
        for name, call in every_call(q, eid).items():
            exc = await assert_unavailable(name, call)  # AttributeError before the fix
            assert "unreachable" in str(exc), name
        server.start()  # same port, same append-only file
        assert (await q.stats())["acme"].depth == 1, "the pool reconnects and nothing was lost"
        [delivery] = await q.lease("executor-1", 10, 30_000)
        assert delivery.id == eid
    assert PASSWORD not in caplog.text


@pytest.mark.trio
async def test_a_frozen_redis_times_out_as_unavailable(
    server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    q = backend(server.url, timeout_s=0.5)
    async with q.open():
        [eid] = (await q.enqueue("acme", "e", [b"1"], None)).ids
        server.freeze()
        try:
            for name in ("lease", "enqueue", "stats", "dead"):
                exc = await assert_unavailable(name, every_call(q, eid)[name])
                assert "timed out" in str(exc), name
            with pytest.raises(Unavailable, match="timed out"):  # a new node cannot even start
                with trio.fail_after(CALL_BOUND_S):
                    async with backend(server.url, timeout_s=0.5).open():
                        pass
        finally:
            server.thaw()
        again = await q.enqueue("acme", "e", [b"2"], "k")  # the timed-out one may have run: its key
        assert (await q.stats())["acme"].depth == 2, again  # makes the resend safe
    assert PASSWORD not in caplog.text


@pytest.mark.trio
async def test_a_wrong_password_or_no_server_is_unavailable_without_the_password(
    server: RedisProcess,
) -> None:
    wrong = server.url.replace(PASSWORD, PASSWORD + "-wrong")
    with pytest.raises(Unavailable) as refused:
        async with backend(wrong).open():
            pass
    assert PASSWORD not in chain(refused.value)
    server.kill()
    with pytest.raises(Unavailable, match="unreachable") as down:
        async with backend(server.url).open():
            pass
    assert PASSWORD not in chain(down.value)


@pytest.mark.parametrize("url", [f"redis//:{PASSWORD}@host:6379", f"http://:{PASSWORD}@host", PASSWORD])
def test_a_malformed_url_is_a_user_error_that_does_not_echo_the_password(url: str) -> None:
    with pytest.raises(UserError, match=r"queue\.url is not a redis://") as info:
        RedisBackend(url)
    assert PASSWORD not in str(info.value)


@pytest.mark.trio
async def test_the_appendonly_warning_masks_the_password(
    server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    async with coredis.Redis.from_url(server.url) as admin:
        await admin.config_set({"appendonly": "no"})
    caplog.set_level(logging.WARNING)
    async with backend(server.url).open():
        pass
    assert "has appendonly off" in caplog.text
    assert "redis://:****@127.0.0.1:" in caplog.text
    assert PASSWORD not in caplog.text
