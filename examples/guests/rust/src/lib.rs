//! Shared pieces of the order guests: JSON, and the wasi ABI's plumbing.
//!
//! Under the wasi ABI (SPEC section 4) the item arrives as JSON on stdin, the
//! result goes to stdout, log lines to stderr, and the exit code is the outcome
//! (0 = success, anything else = failure with that code).

pub mod json;

use std::io::{Read, Write};

use json::Value;

/// Exit code for an item that cannot be read at all.
pub const EXIT_UNREADABLE: i32 = 1;

/// Read the whole item from stdin and parse it.
pub fn read_item() -> Result<Value, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the item from stdin: {e}"))?;
    json::parse(&text)
}

/// One log line; the host records each stderr line at level `info`.
pub fn log(line: &str) {
    eprintln!("{line}");
}

/// Write `result` to stdout and end the run with `code`.
pub fn finish(code: i32, result: &Value) -> ! {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(result.to_json().as_bytes());
    let _ = out.flush();
    std::process::exit(code)
}

/// End the run because the item is unusable: `{"error": why}` and exit 1.
pub fn fail_unreadable(why: &str) -> ! {
    log(why);
    finish(EXIT_UNREADABLE, &json::object([("error", json::string(why))]))
}

/// "27.40 EUR" from 2740 cents.
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02} {currency}", cents.abs() / 100, cents.abs() % 100)
}
