//! order: check an order against the shop's business rules and price it.
//!
//! Input:  {"order_id": "A-1001", "currency": "EUR", "coupon": "WELCOME10",
//!          "customer": {"id": "c-42", "email": "ada@example.com", "country": "DE"},
//!          "items": [{"sku": "BOOK-001", "qty": 2, "price_cents": 1250}]}
//! Output: {"order_id": ..., "status": "accepted", "lines": 1, "units": 2,
//!          "subtotal_cents": 2500, "discount_cents": 250, "shipping_cents": 490,
//!          "total_cents": 2740, "currency": "EUR", "total": "27.40 EUR"}
//! Exit 0 when accepted; 2 with {"status": "rejected", "violations": [...]} when a
//! rule fails (every failing rule is listed); 1 when the item cannot be read.
//! The package chains: on_ok -> "order-accepted", on_error -> "order-rejected".

use orders::json::{object, string, Value};
use orders::{fail_unreadable, finish, log, money, read_item};

const EXIT_REJECTED: i32 = 2;
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];
const SHIP_TO: [&str; 16] = [
    "AT", "BE", "CA", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "NL", "PL", "PT", "SE", "US",
];
const MAX_LINES: usize = 50;
const MAX_QTY: i64 = 100;
const MAX_PRICE_CENTS: i64 = 1_000_000;
/// Above this total an order needs a human: it is rejected here.
const REVIEW_LIMIT_CENTS: i64 = 1_000_000;
const FREE_SHIPPING_FROM_CENTS: i64 = 5_000;
const SHIPPING_CENTS: i64 = 490;

struct Coupon {
    code: &'static str,
    percent: i64,
    min_subtotal_cents: i64,
}

const COUPONS: [Coupon; 2] = [
    Coupon { code: "WELCOME10", percent: 10, min_subtotal_cents: 2_000 },
    Coupon { code: "BULK15", percent: 15, min_subtotal_cents: 20_000 },
];

struct Priced {
    lines: usize,
    units: i64,
    subtotal: i64,
}

fn check_customer(order: &Value, violations: &mut Vec<String>) {
    let Some(customer) = order.get("customer") else {
        violations.push("customer: required".into());
        return;
    };
    let email = customer.get("email").and_then(Value::as_str).unwrap_or("");
    let valid_email = match email.split_once('@') {
        Some((user, domain)) => !user.is_empty() && domain.contains('.') && !domain.ends_with('.'),
        None => false,
    };
    if !valid_email {
        violations.push(format!("customer.email: {email:?} is not an e-mail address"));
    }
    let country = customer.get("country").and_then(Value::as_str).unwrap_or("");
    if !SHIP_TO.contains(&country) {
        violations.push(format!("customer.country: we do not ship to {country:?}"));
    }
}

fn price_items(order: &Value, violations: &mut Vec<String>) -> Priced {
    let items = order.get("items").and_then(Value::as_array).unwrap_or(&[]);
    if items.is_empty() {
        violations.push("items: an order needs at least one item".into());
    }
    if items.len() > MAX_LINES {
        violations.push(format!("items: at most {MAX_LINES} lines, got {}", items.len()));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut priced = Priced { lines: items.len(), units: 0, subtotal: 0 };
    for (i, item) in items.iter().enumerate() {
        let sku = item.get("sku").and_then(Value::as_str).unwrap_or("");
        if sku.is_empty() {
            violations.push(format!("items/{i}/sku: required"));
        } else if seen.contains(&sku) {
            violations.push(format!("items/{i}/sku: {sku} appears twice; merge the lines"));
        }
        seen.push(sku);
        let qty = item.get("qty").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=MAX_QTY).contains(&qty) {
            violations.push(format!("items/{i}/qty: must be 1..{MAX_QTY}, got {qty}"));
        }
        let price = item.get("price_cents").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=MAX_PRICE_CENTS).contains(&price) {
            violations.push(format!("items/{i}/price_cents: must be 1..{MAX_PRICE_CENTS}"));
        }
        // Saturating: an absurd line is already a violation, and must not wrap around.
        priced.units = priced.units.saturating_add(qty.max(0));
        priced.subtotal = priced.subtotal.saturating_add(qty.max(0).saturating_mul(price.max(0)));
    }
    priced
}

fn discount(order: &Value, subtotal: i64, currency: &str, violations: &mut Vec<String>) -> i64 {
    let Some(code) = order.get("coupon").and_then(Value::as_str) else {
        return 0;
    };
    match COUPONS.iter().find(|c| c.code == code) {
        None => {
            violations.push(format!("coupon: {code:?} is not a valid coupon"));
            0
        }
        Some(c) if subtotal < c.min_subtotal_cents => {
            violations.push(format!(
                "coupon: {code} needs a subtotal of at least {}",
                money(c.min_subtotal_cents, currency)
            ));
            0
        }
        Some(c) => subtotal * c.percent / 100,
    }
}

fn main() {
    let order = read_item().unwrap_or_else(|e| fail_unreadable(&e));
    let Some(order_id) = order.get("order_id").and_then(Value::as_str) else {
        fail_unreadable("order_id: required, a string");
    };
    let mut violations = Vec::new();
    let currency = order.get("currency").and_then(Value::as_str).unwrap_or("");
    if !CURRENCIES.contains(&currency) {
        violations.push(format!("currency: must be one of {}", CURRENCIES.join(", ")));
    }
    check_customer(&order, &mut violations);
    let priced = price_items(&order, &mut violations);
    let discount = discount(&order, priced.subtotal, currency, &mut violations);
    let after_discount = priced.subtotal - discount;
    let shipping = if after_discount >= FREE_SHIPPING_FROM_CENTS { 0 } else { SHIPPING_CENTS };
    let total = after_discount + shipping;
    if total > REVIEW_LIMIT_CENTS {
        violations.push(format!(
            "total: {} is over the {} limit for automatic acceptance",
            money(total, currency),
            money(REVIEW_LIMIT_CENTS, currency)
        ));
    }

    if !violations.is_empty() {
        log(&format!("order {order_id} rejected: {} rule(s) failed", violations.len()));
        finish(
            EXIT_REJECTED,
            &object([
                ("order_id", string(order_id)),
                ("status", string("rejected")),
                ("violations", Value::Array(violations.into_iter().map(Value::String).collect())),
            ]),
        );
    }
    log(&format!("order {order_id} accepted: {}", money(total, currency)));
    let num = |n: i64| Value::Number(n as f64);
    finish(
        0,
        &object([
            ("order_id", string(order_id)),
            ("status", string("accepted")),
            ("lines", num(priced.lines as i64)),
            ("units", num(priced.units)),
            ("subtotal_cents", num(priced.subtotal)),
            ("discount_cents", num(discount)),
            ("shipping_cents", num(shipping)),
            ("total_cents", num(total)),
            ("currency", string(currency)),
            ("total", string(money(total, currency))),
        ]),
    );
}
