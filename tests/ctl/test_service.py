"""ctl against a real repo, the real watcher and real files: what hot reload promises."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico import caps
from jobico.ctl import blobs
from jobico.ctl.service import CtlService, DiskFiles
from jobico.repo.files import UnusableFile, sha256_bytes
from jobico.rpc import trio_shell
from tests.ctl import guests
from tests.ctl.guests import SCHEMA, package, write_tenant
from tests.repo import hostile
from tests.repo.helpers import make_ctx, running, running_repo
from tests.repo.hostile import fifos_released, plant

Doc = dict[str, Any]


async def until(items: AsyncIterator[Doc], check: Callable[[Doc], bool]) -> Doc:
    async for doc in items:
        if check(doc):
            return doc
    raise AssertionError("catalog stream ended")


def events(doc: Doc, tenant: str = "acme") -> dict[str, Doc]:
    return doc["tenants"].get(tenant, {}).get("events", {})


def replace(path: Path, data: bytes | str) -> None:
    """Write the way editors and `jobico upload` do: temp file, then rename."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(temp, path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_tenant(
        tmp_path / "tenants/acme",
        {
            "g.wasm": guests.jobicolet(),
            "s.json": SCHEMA,
            "signup.toml": package("signup"),
        },
    )
    return tmp_path


@pytest.mark.trio
async def test_hot_reload_end_to_end(home: Path) -> None:
    acme = home / "tenants/acme"
    ctx = make_ctx(home, "ctl")
    with trio.fail_after(20):
        async with (
            running_repo(home),
            running(ctx, CtlService(ctx)),
            await trio_shell.connect(home / ".jobico/run/ctl.sock") as client,
            client.stream("catalog", {}) as stream,
        ):
            items = aiter(stream)
            first = await anext(items)
            assert list(events(first)) == ["signup"]
            sha = events(first)["signup"]["module_sha256"]
            assert (home / f".jobico/blobs/{sha}.wasm").read_bytes() == guests.jobicolet()

            # a new package, dropped in place
            (acme / "welcome.toml").write_text(package("welcome", wasm="w.wasm", schema=None))
            (acme / "w.wasm").write_bytes(guests.wasi())
            doc = await until(items, lambda d: "welcome" in events(d))
            assert events(doc)["welcome"]["abi"] == "wasi" and doc["version"] > first["version"]

            # a broken wasm: reported, last good kept, no new version
            replace(acme / "w.wasm", b"\0asm\x01\0\0\0garbage")
            await until_error(client, "welcome", "wasm does not compile")
            assert events(await client.call("catalog", {}))["welcome"]["abi"] == "wasi"

            # fixed by an atomic replace: live again, now jobicolet
            replace(acme / "w.wasm", guests.jobicolet())
            doc = await until(items, lambda d: events(d)["welcome"]["abi"] == "jobicolet")
            assert await client.call("packages", {"tenant": "acme"}) == [
                pkg_doc("signup", 1, [("g.wasm", guests.jobicolet()), ("s.json", SCHEMA)], acme),
                pkg_doc("welcome", 2, [("w.wasm", guests.jobicolet())], acme),
            ]

            # a broken schema and bad TOML: errors against the files, catalog untouched
            replace(acme / "s.json", b'{"type": 12}')
            await until_error(client, "signup", "schema does not compile")
            replace(acme / "welcome.toml", "[[jobs]\n")
            await until_error(client, "welcome", "invalid TOML")
            assert set(events(await client.call("catalog", {}))) == {"signup", "welcome"}

            # a new tenant folder using the same event name is its own namespace
            write_tenant(
                home / "tenants/beta",
                {"p.toml": package("signup"), "g.wasm": guests.wasi(), "s.json": SCHEMA},
            )
            doc = await until(items, lambda d: "signup" in events(d, "beta"))
            assert events(doc, "beta")["signup"]["tenant"] == "beta"

            # deleting a package file removes its events
            (acme / "welcome.toml").unlink()
            await until(items, lambda d: "welcome" not in events(d))


async def until_error(client: trio_shell.Client, package: str, text: str) -> None:
    while True:
        docs = {d["package"]: d for d in await client.call("packages", {})}
        errors = docs.get(package, {}).get("errors", [])
        if any(text in e["message"] for e in errors):
            assert docs[package]["state"] == "stale"
            return
        await trio.sleep(0.02)


def pkg_doc(name: str, version: int, files: list[tuple[str, bytes]], folder: Path) -> Doc:
    toml = (folder / f"{name}.toml").read_bytes()
    listed = sorted([(f"{name}.toml", toml), *files])
    return {
        "tenant": "acme",
        "package": name,
        "file": f"tenants/acme/{name}.toml",
        "name": None,
        "version": version,
        "state": "ok",
        "events": [name],
        "errors": [],
        "files": [{"path": p, "sha256": sha256_bytes(data)} for p, data in listed],
    }


@pytest.mark.trio
async def test_ctl_serves_from_disk_first_and_follows_repo_when_it_comes(home: Path) -> None:
    ctx = make_ctx(home, "ctl")
    with trio.fail_after(20):
        async with (
            running(ctx, CtlService(ctx)),
            await trio_shell.connect(home / ".jobico/run/ctl.sock") as client,
            client.stream("catalog", {}) as stream,
        ):
            items = aiter(stream)
            assert list(events(await anext(items))) == ["signup"]
            async with running_repo(home):
                (home / "tenants/acme/more.toml").write_text(package("more"))
                await until(items, lambda d: "more" in events(d))
            async with running_repo(home):  # repo restarted: ctl reconnects
                (home / "tenants/acme/more.toml").unlink()
                await until(items, lambda d: "more" not in events(d))


@pytest.mark.trio
async def test_slow_in_place_writes_end_on_the_final_version(home: Path) -> None:
    acme = home / "tenants/acme"
    ctx = make_ctx(home, "ctl")
    final = guests.wasi()
    with trio.fail_after(20):
        async with (
            running_repo(home),
            running(ctx, CtlService(ctx)),
            await trio_shell.connect(home / ".jobico/run/ctl.sock") as client,
            client.stream("catalog", {}) as stream,
        ):
            items = aiter(stream)
            await anext(items)
            for name, data in (("g.wasm", final), ("signup.toml", package("signup", "late"))):
                raw = data.encode() if isinstance(data, str) else data
                async with await trio.open_file(acme / name, "wb") as out:
                    for i in range(0, len(raw), 16):
                        await out.write(raw[i : i + 16])
                        await out.flush()
                        await trio.sleep(0.01)
            doc = await until(items, lambda d: "late" in events(d))
            assert events(doc)["signup"]["module_sha256"] == sha256_bytes(final)
            [signup] = await client.call("packages", {"tenant": "acme"})
            assert signup["errors"] == [] and signup["state"] == "ok"


def test_escaping_symlinks_are_unusable_and_deleted_files_absent(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "secret.json").write_text("{}")
    (tmp_path / "acme" / "s.json").symlink_to(tmp_path / "secret.json")
    files = DiskFiles(tmp_path, "acme", ["s.json", "gone.json"])
    assert sorted(files) == ["gone.json", "s.json"]
    with pytest.raises(UnusableFile, match="escapes the tenant folder"):
        files.read("s.json", 100)
    for path in ("gone.json", "unlisted.json"):
        with pytest.raises(KeyError):
            files.read(path, 100)


def sparse(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        out.truncate(size)


async def until_packages(client: trio_shell.Client, check: Callable[[dict[str, Doc]], bool]) -> Doc:
    """The package documents of tenant evil, by package, once ``check`` holds for them."""
    while True:
        docs = {d["package"]: d for d in await client.call("packages", {"tenant": "evil"})}
        if check(docs):
            return docs
        await trio.sleep(0.02)


@pytest.mark.trio
async def test_hostile_files_are_load_errors_of_their_own_package_only(home: Path) -> None:
    evil = home / "tenants/evil"
    plant(evil)
    sparse(evil / "big.json", caps.MAX_SCHEMA_BYTES + 1)  # under repo's cap, over a schema's
    sparse(evil / "bloat.toml", caps.MAX_PACKAGE_BYTES + 1)
    os.mkfifo(evil / "pipe.toml")
    write_tenant(evil, {
        "g.wasm": guests.jobicolet(), "s.json": SCHEMA, "w.wasm": guests.wasi(),
        "ok.toml": package("ok"), "was.toml": package("was", wasm="w.wasm", schema=None),
        "loop.toml": package("loop", wasm="loop.wasm"), "fifo.toml": package("fifo", wasm="fifo.wasm"),
        "huge.toml": package("huge", wasm="huge.wasm"), "schema.toml": package("schema", schema="big.json"),
    })
    expected = {  # package -> (file named, reason)
        "loop": ("loop.wasm", "is a symlink loop (used by event 'loop' at tenants/evil/loop.toml:3)"),
        "fifo": ("fifo.wasm", "is a FIFO, not a regular file (used by event 'fifo'"),
        "huge": ("huge.wasm", f"is {hostile.HUGE} bytes (20.0 GiB), over the limit of 67108864 bytes"),
        "schema": ("big.json", f"is {caps.MAX_SCHEMA_BYTES + 1} bytes (4.0 MiB), over the limit of "
                               f"{caps.MAX_SCHEMA_BYTES} bytes (4.0 MiB) (used by event 'schema'"),
        "bloat": ("bloat.toml", f"is {caps.MAX_PACKAGE_BYTES + 1} bytes (1.0 MiB), over the limit of "
                                f"{caps.MAX_PACKAGE_BYTES} bytes"),
        "pipe": ("pipe.toml", "is a FIFO, not a regular file"),
    }
    ctx = make_ctx(home, "ctl")
    with fifos_released(evil), trio.fail_after(20):
        async with (
            running_repo(home),
            running(ctx, CtlService(ctx)),
            await trio_shell.connect(home / ".jobico/run/ctl.sock") as client,
            client.stream("catalog", {}) as stream,
        ):
            items = aiter(stream)
            first = await anext(items)
            assert sorted(events(first, "evil")) == ["ok", "was"] and list(events(first)) == ["signup"]
            docs = await until_packages(client, lambda d: "pipe" in d)
            for name, (file, reason) in expected.items():
                [error] = docs[name]["errors"]
                assert (error["file"], docs[name]["state"]) == (f"tenants/evil/{file}", "error"), name
                assert reason in error["message"], (name, error["message"])

            # a live package's module turned into a FIFO: its last good version keeps serving
            (evil / "w.wasm").unlink()
            os.mkfifo(evil / "w.wasm")
            docs = await until_packages(client, lambda d: d["was"]["errors"] != [])
            assert docs["was"]["state"] == "stale" and "is a FIFO" in docs["was"]["errors"][0]["message"]
            assert events(await client.call("catalog", {}), "evil")["was"]["abi"] == "wasi"

            # hot reload goes on, for the other tenant and for this one's other packages
            (home / "tenants/acme/more.toml").write_text(package("more"))
            await until(items, lambda d: "more" in events(d))
            (evil / "ok.toml").write_text(package("ok", "ok2"))
            await until(items, lambda d: "ok2" in events(d, "evil"))
            replace(evil / "loop.toml", package("loop", wasm="g.wasm"))
            await until(items, lambda d: "loop" in events(d, "evil"))


@pytest.mark.trio
async def test_cycling_versions_keeps_blobs_bounded_and_the_live_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs, "GRACE_S", 0.3)
    folder = home / ".jobico/blobs"
    ctx = make_ctx(home, "ctl")
    with trio.fail_after(60):
        async with (
            running_repo(home),
            running(ctx, CtlService(ctx)),
            await trio_shell.connect(home / ".jobico/run/ctl.sock") as client,
            client.stream("catalog", {}) as stream,
        ):
            items = aiter(stream)
            await anext(items)
            most = 0
            for i in range(30):
                module = guests.wasi(f"v{i}")
                replace(home / "tenants/acme/g.wasm", module)
                sha = sha256_bytes(module)
                await until(items, lambda d, sha=sha: events(d)["signup"]["module_sha256"] == sha)
                assert (folder / f"{sha}.wasm").read_bytes() == module  # the live one is there
                most = max(most, len(os.listdir(folder)))
            while len(os.listdir(folder)) > blobs.KEEP_VERSIONS + 1:  # noqa: ASYNC110 - polling files
                await trio.sleep(0.05)  # until the grace passes and the builder collects
            assert f"{sha}.wasm" in os.listdir(folder)
    print(f"30 versions: at most {most} blobs at once, {len(os.listdir(folder))} at the end")
    assert most < 30
