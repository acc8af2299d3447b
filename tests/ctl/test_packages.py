from __future__ import annotations

import pytest

from jobico import caps, names
from jobico.ctl.packages import Job, Limits, Webhook, parse_package
from jobico.ctl.problems import ProblemsError

FILE = "tenants/acme/signup.toml"


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ProblemsError) as caught:
        parse_package(FILE, "signup", text)
    assert all(p.file == FILE for p in caught.value.problems)
    return [(p.line, p.message) for p in caught.value.problems]


def test_spec_example_with_defaults() -> None:
    pkg = parse_package(
        FILE,
        "signup",
        """# comment
name = "Sign-up flow"

[[jobs]]
event = "signup"
schema = "signup.schema.json"
wasm = "greet.wasm"
on_ok = "welcome"

[webhook]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
""",
    )
    assert pkg.id == "signup" and pkg.name == "Sign-up flow"
    assert pkg.jobs == (
        Job(
            event="signup",
            wasm="greet.wasm",
            schema="signup.schema.json",
            abi="auto",
            entry="event",
            timeout_ms=2000,
            memory_mb=64,
            max_attempts=3,
            on_ok="welcome",
        ),
    )
    assert pkg.webhook == Webhook(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", max_body_kb=256)
    assert pkg.limits == Limits()
    assert pkg.jobs[0].line_of("wasm") == 7


def test_unknown_key_names_file_and_line() -> None:
    text = '[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n\n[[jobs]]\nevent = "b"\nwasm = "g.wasm"\ntimout_ms = 5\n'
    [(line, message)] = problems(text)
    assert line == 8
    assert message.startswith("unknown key jobs[1].timout_ms")


def test_unknown_top_level_and_webhook_keys() -> None:
    text = 'nme = "x"\n[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n[webhook]\nsecrt = "x"\n'
    assert [(line, m.split(" (")[0]) for line, m in problems(text)] == [
        (1, "unknown key nme"),
        (6, "unknown key webhook.secrt"),
    ]


def test_bad_toml_reports_its_line() -> None:
    [(line, message)] = problems('[[jobs]]\nevent = "a"\nwasm = \n')
    assert line == 3 and message.startswith("invalid TOML")


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("timeout_ms = 0", "jobs[0].timeout_ms = 0 is out of range"),
        ("memory_mb = true", "jobs[0].memory_mb must be int, got True"),
        ('max_attempts = "3"', "jobs[0].max_attempts must be int"),
        ('abi = "native"', "jobs[0].abi = 'native' must be one of auto, jobicolet, wasi"),
        ('on_ok = "has space"', "jobs[0].on_ok = 'has space' must match"),
        ('schema = "../other/s.json"', "jobs[0].schema: invalid file path '../other/s.json'"),
        ('schema = "/etc/s.json"', "must be relative to the tenant folder"),
    ],
)
def test_type_and_range_checks(snippet: str, expected: str) -> None:
    [(line, message)] = problems(f'[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n{snippet}\n')
    assert line == 4
    assert expected in message


def test_missing_keys_and_duplicate_events_are_all_reported() -> None:
    text = '[[jobs]]\nevent = "a"\n[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n'
    assert problems(text) == [
        (1, "missing required key jobs[0].wasm"),
        (4, "event 'a' is defined twice"),
    ]


def test_a_package_needs_jobs() -> None:
    assert problems('name = "x"\n') == [(None, "a package needs at least one [[jobs]] table")]


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("MfKQ9r8GKYqrTwjU", "must start with 'whsec_'"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_", "empty key"),
    ],
)
def test_webhook_secret_format(secret: str, expected: str) -> None:
    text = f'[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n[webhook]\nsecret = "{secret}"\n'
    [(line, message)] = problems(text)
    assert line == 5 and expected in message


def test_limits_are_optional_and_checked() -> None:
    base = '[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n[limits]\n'
    pkg = parse_package(FILE, "signup", base + "rate = 5\nburst = 10\n")
    assert pkg.limits == Limits(rate=5.0, burst=10)
    assert problems(base + "burst = -1\n")[0][1].startswith("limits.burst = -1 is out of range")


def test_package_id_comes_from_the_file_name() -> None:
    with pytest.raises(ProblemsError, match="package id 'Sign Up'"):
        parse_package(FILE, "Sign Up", '[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n')


def test_tables_of_the_wrong_shape_are_problems_not_crashes() -> None:
    assert problems('jobs = [1, {wasm = "g.wasm"}]\nwebhook = 3\n') == [
        (1, "jobs[0] must be a table"),
        (1, "missing required key jobs[1].event"),
        (2, "webhook must be a table"),
    ]


def test_webhook_max_items_defaults_and_is_checked() -> None:
    base = '[[jobs]]\nevent = "a"\nwasm = "g.wasm"\n[webhook]\n'
    assert parse_package(FILE, "signup", base).webhook.max_items == caps.DEFAULT_MAX_ITEMS == 10_000
    assert parse_package(FILE, "signup", base + "max_items = 1000000\n").webhook.max_items == 1_000_000
    for bad in ("0", "1000001", '"5"', "1.5"):
        [(line, message)] = problems(base + f"max_items = {bad}\n")
        assert line == 5 and message.startswith("webhook.max_items"), message


@pytest.mark.parametrize("event", ["Order.Created", "a" * 128, "v1.order-created_x"])
def test_event_names_follow_the_one_shared_rule(event: str) -> None:
    assert names.is_event(event)
    pkg = parse_package(FILE, "signup", f'[[jobs]]\nevent = "{event}"\nwasm = "g.wasm"\n')
    assert pkg.jobs[0].event == event


@pytest.mark.parametrize("event", ["a" * 129, ".hidden", "has/slash", "sp ace", "é"])
def test_event_names_the_webhook_cannot_route_do_not_load(event: str) -> None:
    assert not names.is_event(event)
    [(_, message)] = problems(f'[[jobs]]\nevent = "{event}"\nwasm = "g.wasm"\n')
    assert message.startswith("jobs[0].event") and names.EVENT_RE in message
