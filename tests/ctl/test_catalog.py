from __future__ import annotations

import pytest

from jobico.ctl.catalog import TenantState, build_tenant
from jobico.ctl.documents import catalog_of, package_list
from jobico.ctl.validate import Checker
from jobico.repo.files import sha256_bytes
from tests.ctl import guests
from tests.ctl.guests import SCHEMA, package


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def files(**extra: bytes | str) -> dict[str, bytes]:
    base: dict[str, bytes | str] = {"g.wasm": guests.jobicolet(), "s.json": SCHEMA, **extra}
    return {
        k.replace("__", "/").replace("_toml", ".toml"): v if isinstance(v, bytes) else v.encode()
        for k, v in base.items()
    }


def build(checker: Checker, fs: dict[str, bytes], previous: TenantState | None = None):
    return build_tenant("acme", fs, previous or TenantState(), checker)


def errors(state: TenantState, name: str) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.line, p.message) for p in state.problems.get(name, ())]


def test_a_good_package_becomes_jobs_with_hashes(checker: Checker) -> None:
    state, modules = build(checker, files(signup_toml=package("signup")))
    job = state.events()["signup"]
    assert job.abi == "jobicolet" and job.package == "signup" and job.tenant == "acme"
    assert job.module_sha256 == sha256_bytes(guests.jobicolet())
    assert job.schema == {"type": "object", "required": ["name"]}
    assert job.schema_sha256 == sha256_bytes(SCHEMA)
    assert (job.timeout_ms, job.memory_mb, job.max_attempts, job.max_body_kb) == (
        2000,
        64,
        3,
        256,
    )
    assert job.max_items == 10_000
    assert modules == {job.module_sha256: guests.jobicolet()}
    assert state.versions() == {"signup": 1}


def test_unchanged_input_keeps_the_version_and_a_change_bumps_it(checker: Checker) -> None:
    fs = files(signup_toml=package("signup"))
    first, _ = build(checker, fs)
    again, _ = build(checker, fs, first)
    assert again.packages["signup"] is first.packages["signup"]
    fs["g.wasm"] = guests.wasi()
    changed, modules = build(checker, fs, again)
    assert changed.versions() == {"signup": 2}
    assert changed.events()["signup"].abi == "wasi"
    assert list(modules) == [sha256_bytes(guests.wasi())]


@pytest.mark.parametrize(
    ("change", "file", "message"),
    [
        ({"g.wasm": b"\0asm broken"}, "tenants/acme/g.wasm", "wasm does not compile"),
        ({"g.wasm": guests.neither()}, "tenants/acme/g.wasm", "abi auto: the module exports"),
        ({"s.json": b'{"type": 5}'}, "tenants/acme/s.json", "schema does not compile"),
        ({"signup.toml": "[[jobs]\n"}, "tenants/acme/signup.toml", "invalid TOML"),
    ],
)
def test_a_broken_file_keeps_the_last_good_version(
    checker: Checker, change: dict[str, bytes | str], file: str, message: str
) -> None:
    fs = files(signup_toml=package("signup"), other_toml=package("other"))
    good, _ = build(checker, fs)
    fs.update({k: v.encode() if isinstance(v, str) else v for k, v in change.items()})
    fs["other.toml"] = package("other", "other2").encode()
    after, _ = build(checker, fs, good)
    assert after.packages["signup"] is good.packages["signup"]
    [(got_file, _line, got)] = errors(after, "signup")
    assert got_file == file and message in got
    assert after.versions()["other"] == 2 or "other" in after.problems


def test_missing_reference_names_package_file_and_line(checker: Checker) -> None:
    state, _ = build(checker, files(signup_toml=package("signup", schema="nope.json")))
    assert state.packages == {}
    assert errors(state, "signup") == [
        ("tenants/acme/signup.toml", 4, "jobs.schema: file 'nope.json' not found in tenant 'acme'")
    ]
    docs = package_list({"acme": state}).packages
    assert [(d.package, d.version, d.state) for d in docs] == [("signup", None, "error")]


def test_event_clash_is_an_error_of_the_later_package(checker: Checker) -> None:
    state, _ = build(checker, files(a_toml=package("x", "y"), b_toml=package("z", "y")))
    assert sorted(state.packages) == ["a"]
    assert errors(state, "b") == [("tenants/acme/b.toml", 6, "event 'y' is already defined by package 'a'")]


def test_clash_with_a_new_package_keeps_the_last_good_one(checker: Checker) -> None:
    fs = files(b_toml=package("y"))
    good, _ = build(checker, fs)
    fs["a.toml"] = package("y").encode()
    after, _ = build(checker, fs, good)
    # a sorts first, so its new event wins; b had y live but now clashes: dropped, reported.
    assert sorted(after.packages) == ["a"]
    assert errors(after, "b")[0][2] == "event 'y' is already defined by package 'a'"


def test_on_ok_must_name_an_event_of_the_tenant(checker: Checker) -> None:
    bad = package("signup").replace('wasm = "g.wasm"', 'wasm = "g.wasm"\non_ok = "welcome"')
    state, _ = build(checker, files(signup_toml=bad))
    assert state.packages == {}
    assert "on_ok target 'welcome' is not an event" in errors(state, "signup")[0][2]
    state, _ = build(checker, files(signup_toml=bad, welcome_toml=package("welcome")), state)
    assert sorted(state.events()) == ["signup", "welcome"]
    assert state.problems == {}


def test_removing_a_package_file_removes_its_events(checker: Checker) -> None:
    fs = files(a_toml=package("x"), b_toml=package("y"))
    good, _ = build(checker, fs)
    del fs["b.toml"]
    after, _ = build(checker, fs, good)
    assert sorted(after.events()) == ["x"]


def test_same_event_name_in_two_tenants_is_fine(checker: Checker) -> None:
    fs = files(p_toml=package("signup"))
    acme, _ = build_tenant("acme", fs, TenantState(), checker)
    beta, _ = build_tenant("beta", fs, TenantState(), checker)
    catalog = catalog_of(3, {"acme": acme, "beta": beta, "empty": TenantState()})
    assert catalog.version == 3
    assert sorted(catalog.tenants) == ["acme", "beta"]
    assert catalog.job("beta", "signup").tenant == "beta"  # type: ignore[union-attr]
    assert catalog.tenants["acme"].packages["p"].version == 1


def test_toml_in_sub_folders_is_not_a_package(checker: Checker) -> None:
    state, _ = build(checker, files(sub__p_toml=package("x")))
    assert state.package_files == {}


def test_removing_an_event_others_chain_to_reports_them(checker: Checker) -> None:
    chained = package("signup").replace('wasm = "g.wasm"', 'wasm = "g.wasm"\non_error = "welcome"')
    fs = files(a_toml=package("welcome"), b_toml=chained)
    good, _ = build(checker, fs)
    assert sorted(good.events()) == ["signup", "welcome"]
    fs["a.toml"] = package("hello").encode()
    after, _ = build(checker, fs, good)
    assert sorted(after.events()) == ["hello"]
    assert errors(after, "b") == [
        ("tenants/acme/b.toml", 2, "event 'signup': on_error target 'welcome' is not an event of this tenant")
    ]


def test_webhook_max_items_reaches_the_job_document(checker: Checker) -> None:
    state, _ = build(checker, files(signup_toml="[webhook]\nmax_items = 50\n" + package("signup")))
    assert state.events()["signup"].max_items == 50
