// A tiny JSON reader for one flat object: it finds string and integer members
// by name and skips everything else. AssemblyScript has no exceptions to catch,
// so every failure is reported through `error` instead of aborting the guest.

export class FlatObject {
  error: string = "";
  private strings: Map<string, string> = new Map();
  private integers: Map<string, i64> = new Map();

  has(key: string): bool {
    return this.strings.has(key) || this.integers.has(key);
  }

  stringOr(key: string, fallback: string | null): string | null {
    return this.strings.has(key) ? this.strings.get(key) : fallback;
  }

  integerOr(key: string, fallback: i64): i64 {
    return this.integers.has(key) ? this.integers.get(key) : fallback;
  }

  setString(key: string, value: string): void { this.strings.set(key, value); }
  setInteger(key: string, value: i64): void { this.integers.set(key, value); }
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

class Scanner {
  i: i32 = 0;
  error: string = "";
  constructor(public s: string) {}

  fail(what: string): bool {
    if (this.error.length == 0) this.error = "invalid JSON at character " + this.i.toString() + ": " + what;
    return false;
  }

  peek(): i32 { return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1; }

  ws(): void {
    let c = this.peek();
    while (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) { this.i++; c = this.peek(); }
  }

  eat(c: i32): bool {
    this.ws();
    if (this.peek() != c) return false;
    this.i++;
    return true;
  }

  // The string at the cursor, decoded; "" and `error` set on failure.
  str(): string {
    if (this.peek() != 0x22) { this.fail("expected a string"); return ""; }
    this.i++;
    let parts = new Array<string>();
    let start = this.i;
    while (true) {
      let c = this.peek();
      if (c < 0) { this.fail("unterminated string"); return ""; }
      if (c == 0x22) break;
      if (c != 0x5c) { this.i++; continue; }
      parts.push(this.s.substring(start, this.i));
      this.i++;
      let e = this.peek();
      this.i++;
      if (e == 0x6e) parts.push("\n");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x22 || e == 0x5c || e == 0x2f) parts.push(String.fromCharCode(e));
      else if (e == 0x75) {
        // \uXXXX is one UTF-16 code unit; a surrogate pair is two escapes, as in JS.
        let code = 0;
        for (let k = 0; k < 4; k++) {
          let d = hexDigit(this.peek());
          if (d < 0) { this.fail("bad \\u escape"); return ""; }
          code = code * 16 + d;
          this.i++;
        }
        parts.push(String.fromCharCode(code));
      } else { this.fail("unknown escape"); return ""; }
      start = this.i;
    }
    parts.push(this.s.substring(start, this.i));
    this.i++;
    return parts.join("");
  }

  // Skip any value, nested at most `depth` deep.
  skip(depth: i32): bool {
    this.ws();
    if (depth <= 0) return this.fail("nested too deeply");
    let c = this.peek();
    if (c == 0x22) { this.str(); return this.error.length == 0; }
    if (c == 0x7b || c == 0x5b) {
      let close = c == 0x7b ? 0x7d : 0x5d;
      this.i++;
      if (this.eat(close)) return true;
      while (true) {
        if (c == 0x7b) {
          this.ws();
          this.str();
          if (this.error.length > 0) return false;
          if (!this.eat(0x3a)) return this.fail("expected ':'");
        }
        if (!this.skip(depth - 1)) return false;
        if (this.eat(close)) return true;
        if (!this.eat(0x2c)) return this.fail("expected ','");
      }
    }
    let start = this.i;
    while (this.i < this.s.length && ",}] \t\r\n".indexOf(this.s.charAt(this.i)) < 0) this.i++;
    return this.i > start || this.fail("expected a value");
  }
}

// Read a JSON object, keeping its string and integer members.
export function parseFlatObject(text: string): FlatObject {
  let out = new FlatObject();
  let sc = new Scanner(text);
  if (!sc.eat(0x7b)) { out.error = "the item must be a JSON object"; return out; }
  if (!sc.eat(0x7d)) {
    while (true) {
      sc.ws();
      let key = sc.str();
      if (sc.error.length > 0) break;
      if (!sc.eat(0x3a)) { sc.fail("expected ':'"); break; }
      sc.ws();
      let c = sc.peek();
      if (c == 0x22) {
        let value = sc.str();
        if (sc.error.length > 0) break;
        out.setString(key, value);
      } else {
        let start = sc.i;
        if (!sc.skip(32)) break;
        let raw = text.substring(start, sc.i);
        let n = I64.parseInt(raw, 10);
        if (raw.length > 0 && n.toString() == raw) out.setInteger(key, n);
      }
      if (sc.eat(0x7d)) break;
      if (!sc.eat(0x2c)) { sc.fail("expected ',' or '}'"); break; }
    }
  }
  sc.ws();
  if (sc.error.length == 0 && sc.i < text.length) sc.fail("trailing characters");
  out.error = sc.error;
  return out;
}

// `s` as a JSON string literal.
export function quote(s: string): string {
  let parts = new Array<string>();
  parts.push("\"");
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    parts.push(s.substring(start, i));
    if (c == 0x22) parts.push("\\\"");
    else if (c == 0x5c) parts.push("\\\\");
    else if (c == 0x0a) parts.push("\\n");
    else parts.push("\\u" + c.toString(16).padStart(4, "0"));
    start = i + 1;
  }
  parts.push(s.substring(start));
  parts.push("\"");
  return parts.join("");
}
