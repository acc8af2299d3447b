"""Each demo event, run through the executor's own sandbox: what a user gets back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from jobico.executor.limits import RunResult
from jobico.executor.sandbox import Sandbox
from tests.guests.demo import DEMO, EXAMPLES, jobs

JOBS = {job["event"]: job for _, job in jobs(DEMO)}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def run(sandbox: Sandbox, event: str, item: Any) -> RunResult:
    """Run ``item`` as the demo tenant's ``event`` would be run, with its package's limits."""
    job = JOBS[event]
    data = (DEMO / job["wasm"]).read_bytes()
    module = sandbox.load(data, hashlib.sha256(data).hexdigest(), abi=job["abi"])
    env = {"JOBICO_TENANT": "demo", "JOBICO_EVENT": event, "JOBICO_EVENT_ID": "00000000000000aa",
           "JOBICO_ATTEMPT": "1"}  # fmt: skip
    body = json.dumps(item).encode()
    return sandbox.run(module, body, timeout_ms=job["timeout_ms"], memory_mb=job["memory_mb"], env=env)


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def chained(event_id: str, result: RunResult, order: Any) -> dict[str, Any]:
    """The item ``on_ok``/``on_error`` publish (SPEC §2), checked against its event's schema."""
    item = {"event_id": event_id, "code": result.code, "result": result.result, "input": order}
    schema = json.loads((DEMO / JOBS["order-accepted"]["schema"]).read_text(encoding="utf-8"))
    assert jsonschema_rs.validator_for(schema).is_valid(item)
    return item


def test_greet_jobicolet_returns_greeting_and_logs_at_levels(sandbox: Sandbox) -> None:
    out = run(sandbox, "greet", example("c/greet.json"))
    assert out.status == "ok"
    assert json.loads(out.result) == {
        "message": "Hello, Ada! Fibonacci number 10 is 55.", "name": "Ada", "n": 10, "fib": 55,
    }  # fmt: skip
    assert [line["level"] for line in out.logs] == ["debug", "info"]


def test_greet_escapes_the_name_and_reaches_fib_93(sandbox: Sandbox) -> None:
    out = run(sandbox, "greet", {"name": 'Zoë "Z"\n😀', "n": 93})
    assert json.loads(out.result)["name"] == 'Zoë "Z"\n😀'
    assert json.loads(out.result)["fib"] == 12200160415121876738


def test_greet_refuses_a_bad_item_with_code_1(sandbox: Sandbox) -> None:
    out = run(sandbox, "greet", {"name": "Ada", "n": 94})
    assert (out.status, out.code) == ("error", 1)
    assert json.loads(out.result) == {"error": 'field "n": must be an integer from 0 to 93'}


def test_order_accepted_chains_to_a_confirmation(sandbox: Sandbox) -> None:
    order = example("rust/order.json")
    verdict = run(sandbox, "order", order)
    assert verdict.status == "ok"
    priced = json.loads(verdict.result)
    assert (priced["status"], priced["total_cents"], priced["total"]) == ("accepted", 2740, "27.40 EUR")

    notice = run(sandbox, JOBS["order"]["on_ok"], chained("00000000000000aa", verdict, order))
    assert notice.status == "ok"
    mail = json.loads(notice.result)
    assert (mail["to"], mail["subject"]) == ("ada@example.com", "Order A-1001 confirmed")
    assert "total 27.40 EUR" in mail["body"]


def test_order_rejected_lists_every_rule_and_chains_to_a_notice(sandbox: Sandbox) -> None:
    order = example("rust/order-rejected.json")
    verdict = run(sandbox, "order", order)
    assert (verdict.status, verdict.code) == ("error", 2)
    violations = json.loads(verdict.result)["violations"]
    fields = [v.split(":")[0] for v in violations]
    assert fields == ["currency", "customer.country", "items/0/qty", "items/1/sku", "coupon"]
    assert verdict.logs == [{"level": "info", "message": "order A-1002 rejected: 5 rule(s) failed"}]

    notice = run(sandbox, JOBS["order"]["on_error"], chained("00000000000000ab", verdict, order))
    assert notice.status == "ok"
    mail = json.loads(notice.result)
    assert (mail["to"], mail["subject"]) == ("bob@example.com", "Order A-1002 needs your attention")
    assert mail["body"].count("\n- ") == 5


def test_order_notice_is_skipped_without_an_address(sandbox: Sandbox) -> None:
    order = example("rust/order.json")
    order["customer"]["email"] = "nobody"
    verdict = run(sandbox, "order", order)
    assert json.loads(verdict.result)["violations"] == ['customer.email: "nobody" is not an e-mail address']
    notice = run(sandbox, "order-rejected", chained("00000000000000ac", verdict, order))
    assert notice.status == "ok"
    assert json.loads(notice.result) == {"event_id": "00000000000000ac", "skipped": "no e-mail address"}


def test_order_over_the_review_limit_is_rejected(sandbox: Sandbox) -> None:
    order = example("rust/order.json")
    del order["coupon"]
    order["items"] = [{"sku": "CAR-1", "qty": 2, "price_cents": 600_000}]
    out = run(sandbox, "order", order)
    assert out.code == 2
    assert json.loads(out.result)["violations"] == [
        "total: 12000.00 EUR is over the 10000.00 EUR limit for automatic acceptance"
    ]


def test_order_that_is_not_json_fails_with_code_1(sandbox: Sandbox) -> None:
    out = run(sandbox, "order", "just text")
    assert (out.status, out.code) == ("error", 1)
    assert "order_id" in json.loads(out.result)["error"]


def test_text_stats_counts_words_sentences_and_top_words(sandbox: Sandbox) -> None:
    out = run(sandbox, "text-stats", example("assemblyscript/text.json"))
    assert out.status == "ok"
    stats = json.loads(out.result)
    assert {k: stats[k] for k in ("words", "unique_words", "lines", "sentences")} == {
        "words": 15, "unique_words": 12, "lines": 2, "sentences": 3,
    }  # fmt: skip
    assert stats["top_words"][:2] == [{"word": "the", "count": 3}, {"word": "cat", "count": 2}]
    assert out.logs == [{"level": "info", "message": "event 00000000000000aa: 15 words, 3 sentences"}]


def test_text_stats_handles_unicode_words(sandbox: Sandbox) -> None:
    out = run(sandbox, "text-stats", {"text": "Naïve café — “Zoë” 😀 café.", "top": 1})
    stats = json.loads(out.result)
    assert (stats["words"], stats["chars"]) == (4, 26)  # 😀 is one character
    assert stats["top_words"] == [{"word": "café", "count": 2}]


def test_text_stats_without_text_fails_with_code_1(sandbox: Sandbox) -> None:
    out = run(sandbox, "text-stats", {"top": 3})
    assert (out.status, out.code) == ("error", 1)
