//! order-notice: write the customer's e-mail about an order the validator judged.
//!
//! It handles the events the `order` job publishes through `on_ok` and `on_error`
//! (SPEC section 2), whose item is {"event_id", "code", "result", "input"}: `input`
//! is the original order, `result` the validator's output as text (JSON here).
//! Output: {"event_id": ..., "to": "ada@example.com", "subject": ..., "body": ...}.
//! Exit 0, or 1 when the item is not such an envelope. An order without a
//! usable e-mail address is skipped (exit 0, {"skipped": why}): there is no one
//! to write to, and retrying would not change that.

use orders::json::{self, object, string, Value};
use orders::{fail_unreadable, finish, log, money, read_item};

fn accepted(order_id: &str, verdict: &Value) -> (String, String) {
    let currency = verdict.get("currency").and_then(Value::as_str).unwrap_or("");
    let amount = |key: &str| verdict.get(key).and_then(Value::as_i64).unwrap_or(0);
    let mut body = format!(
        "Thank you for your order {order_id}: {} item(s), total {}.",
        amount("units"),
        money(amount("total_cents"), currency)
    );
    if amount("discount_cents") > 0 {
        body.push_str(&format!(" Your coupon saved {}.", money(amount("discount_cents"), currency)));
    }
    if amount("shipping_cents") == 0 {
        body.push_str(" Shipping is on us.");
    }
    (format!("Order {order_id} confirmed"), body)
}

fn rejected(order_id: &str, verdict: Option<&Value>) -> (String, String) {
    let reasons: Vec<&str> = verdict
        .and_then(|v| v.get("violations"))
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let body = if reasons.is_empty() {
        format!("We could not process your order {order_id}. Please contact us.")
    } else {
        format!("We could not accept your order {order_id}:\n- {}", reasons.join("\n- "))
    };
    (format!("Order {order_id} needs your attention"), body)
}

fn main() {
    let envelope = read_item().unwrap_or_else(|e| fail_unreadable(&e));
    let (Some(event_id), Some(code), Some(result), Some(order)) = (
        envelope.get("event_id").and_then(Value::as_str),
        envelope.get("code").and_then(Value::as_i64),
        envelope.get("result").and_then(Value::as_str),
        envelope.get("input"),
    ) else {
        fail_unreadable("expected {\"event_id\", \"code\", \"result\", \"input\"} from on_ok/on_error");
    };
    let order_id = order.get("order_id").and_then(Value::as_str).unwrap_or("(no id)");
    let email = order.get("customer").and_then(|c| c.get("email")).and_then(Value::as_str);
    let Some(to) = email.filter(|e| e.contains('@')) else {
        log(&format!("order {order_id}: no e-mail address, notice skipped"));
        finish(0, &object([("event_id", string(event_id)), ("skipped", string("no e-mail address"))]));
    };
    let verdict = json::parse(result).ok();
    let (subject, body) = match (&verdict, code) {
        (Some(v), 0) => accepted(order_id, v),
        _ => rejected(order_id, verdict.as_ref()),
    };
    log(&format!("notice for order {order_id} (validator code {code}) to {to}"));
    finish(
        0,
        &object([
            ("event_id", string(event_id)),
            ("to", string(to)),
            ("subject", string(subject)),
            ("body", string(body)),
        ]),
    );
}
