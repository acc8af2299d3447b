/*
 * greet: a Jobico guest in C using the jobicolet ABI (SPEC section 4).
 *
 * Input item:  {"name": "Ada", "n": 10}
 * Result:      {"message":"Hello, Ada! Fibonacci number 10 is 55.","name":"Ada","n":10,"fib":55}
 *
 * The host calls, on a fresh instance: ver(), init(), malloc(len) for the
 * item, malloc(16) for the reply, then event(ret, item, len).  We answer by
 * writing two little-endian u64 at `ret`: the code (0 = ok) and
 * (result_ptr << 32 | result_len).  The host frees the result with free().
 *
 * Built with -nostartfiles and no entry point, so there is no _start: init()
 * runs the C constructors instead.  Only wasi-libc is used; JSON is read by
 * the small scanner below because the input shape is tiny and fixed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define MAX_NAME 256
#define MAX_N 93 /* fib(93) is the largest that fits in a u64 */

__attribute__((import_module("env"), import_name("log")))
extern void host_log(int32_t level, const char *ptr, int32_t len);
extern void __wasm_call_ctors(void);

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };
enum { CODE_OK = 0, CODE_BAD_INPUT = 1, CODE_NO_MEMORY = 2 };

/* ---- ABI exports ------------------------------------------------------ */

EXPORT("malloc") void *guest_malloc(int32_t size) { return malloc(size > 0 ? (size_t)size : 1); }

/* Two-argument free, announced by ver() != 0 as the original runtime expects. */
EXPORT("free") void guest_free(void *ptr, int32_t size) { (void)size; free(ptr); }

EXPORT("ver") int32_t guest_ver(void) { return 1; }

EXPORT("init") void guest_init(void) { __wasm_call_ctors(); }

/* ---- a minimal JSON scanner for one flat object ----------------------- */

typedef struct { const char *p, *end; } Cursor;

static void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int hex4(Cursor *c, uint32_t *out) {
    uint32_t v = 0;
    if (c->end - c->p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char h = *c->p++;
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (uint32_t)(h - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Append one code point as UTF-8; returns bytes written or -1 when it does not fit. */
static int put_utf8(char *out, size_t room, uint32_t cp) {
    char b[4];
    int n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    if ((size_t)n > room) return -1;
    if (out) memcpy(out, b, (size_t)n);
    return n;
}

/* Read a JSON string at the cursor, decoding escapes into out (NULL: just skip). */
static int read_string(Cursor *c, char *out, size_t cap, size_t *len) {
    size_t n = 0;
    if (c->p >= c->end || *c->p != '"') return -1;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        uint32_t cp = (unsigned char)*c->p++;
        if (cp == '\\') {
            if (c->p >= c->end) return -1;
            char e = *c->p++;
            switch (e) {
            case '"': case '\\': case '/': cp = (uint32_t)e; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(c, &cp)) return -1;
                if (cp >= 0xD800 && cp < 0xDC00) { /* surrogate pair */
                    uint32_t lo;
                    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u') return -1;
                    c->p += 2;
                    if (hex4(c, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -1;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                break;
            default: return -1;
            }
            int w = put_utf8(out ? out + n : NULL, cap - n, cp);
            if (w < 0) return -1;
            n += (size_t)w;
        } else {
            if (n >= cap) return -1;
            if (out) out[n] = (char)cp;
            n++;
        }
    }
    if (c->p >= c->end) return -1;
    c->p++;
    if (len) *len = n;
    return 0;
}

/* Skip any JSON value (nested up to `depth` levels). */
static int skip_value(Cursor *c, int depth) {
    skip_ws(c);
    if (c->p >= c->end || depth <= 0) return -1;
    char open = *c->p;
    if (open == '"') return read_string(c, NULL, SIZE_MAX, NULL);
    if (open != '{' && open != '[') {
        const char *start = c->p;
        while (c->p < c->end && strchr(",}] \t\r\n", *c->p) == NULL) c->p++;
        return c->p > start ? 0 : -1;
    }
    char close = open == '{' ? '}' : ']';
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) { c->p++; return 0; }
    for (;;) {
        if (open == '{') {
            skip_ws(c);
            if (read_string(c, NULL, SIZE_MAX, NULL)) return -1;
            skip_ws(c);
            if (c->p >= c->end || *c->p++ != ':') return -1;
        }
        if (skip_value(c, depth - 1)) return -1;
        skip_ws(c);
        if (c->p >= c->end) return -1;
        char sep = *c->p++;
        if (sep == close) return 0;
        if (sep != ',') return -1;
    }
}

/* A non-negative integer no larger than MAX_N. */
static int read_small_uint(Cursor *c, uint32_t *out) {
    uint32_t v = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (uint32_t)(*c->p++ - '0');
        if (v > MAX_N) return -1;
    }
    if (c->p == start || (c->p < c->end && strchr(".eE", *c->p))) return -1;
    *out = v;
    return 0;
}

/* ---- the job ---------------------------------------------------------- */

typedef struct { char name[MAX_NAME]; size_t name_len; uint32_t n; const char *error; } Request;

static void parse_request(const char *item, int32_t len, Request *rq) {
    Cursor c = { item, item + len };
    int have_name = 0, have_n = 0;
    rq->error = NULL;
    skip_ws(&c);
    if (c.p >= c.end || *c.p++ != '{') { rq->error = "the item must be a JSON object"; return; }
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') c.p++;
    else for (;;) {
        char key[8];
        size_t key_len;
        skip_ws(&c);
        Cursor at = c;
        if (read_string(&c, key, sizeof key, &key_len)) {
            /* A long key is not one of ours: rewind and skip it. */
            c = at;
            key_len = 0;
            if (read_string(&c, NULL, SIZE_MAX, NULL)) { rq->error = "the item is not valid JSON"; return; }
        }
        skip_ws(&c);
        if (c.p >= c.end || *c.p++ != ':') { rq->error = "the item is not valid JSON"; return; }
        skip_ws(&c);
        if (key_len == 4 && memcmp(key, "name", 4) == 0) {
            if (read_string(&c, rq->name, sizeof rq->name, &rq->name_len)) {
                rq->error = "field \"name\": must be a string of at most 256 bytes"; return;
            }
            have_name = 1;
        } else if (key_len == 1 && key[0] == 'n') {
            if (read_small_uint(&c, &rq->n)) {
                rq->error = "field \"n\": must be an integer from 0 to 93"; return;
            }
            have_n = 1;
        } else if (skip_value(&c, 32)) { rq->error = "the item is not valid JSON"; return; }
        skip_ws(&c);
        if (c.p >= c.end) { rq->error = "the item is not valid JSON"; return; }
        char sep = *c.p++;
        if (sep == '}') break;
        if (sep != ',') { rq->error = "the item is not valid JSON"; return; }
    }
    if (!have_name) rq->error = "field \"name\": required";
    else if (!have_n) rq->error = "field \"n\": required";
}

static uint64_t fibonacci(uint32_t n) {
    uint64_t a = 0, b = 1;
    for (uint32_t i = 0; i < n; i++) { uint64_t t = a + b; a = b; b = t; }
    return a;
}

/* Copy src as the inside of a JSON string; dst needs 6 bytes per input byte. */
static size_t escape_json(char *dst, const char *src, size_t n) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '"' || ch == '\\') { dst[w++] = '\\'; dst[w++] = (char)ch; }
        else if (ch == '\n') { dst[w++] = '\\'; dst[w++] = 'n'; }
        else if (ch < 0x20) w += (size_t)snprintf(dst + w, 7, "\\u%04x", ch);
        else dst[w++] = (char)ch;
    }
    return w;
}

static void reply(uint64_t *ret, uint64_t code, char *text, size_t len) {
    uint64_t words[2] = { code, ((uint64_t)(uintptr_t)text << 32) | (uint64_t)len };
    memcpy(ret, words, sizeof words); /* wasm32 is little-endian */
}

/* Out of memory (the job's memory_mb): no result text, just the code. */
static void reply_no_memory(uint64_t *ret) {
    static const char why[] = "out of memory";
    host_log(LOG_ERROR, why, (int32_t)sizeof why - 1);
    reply(ret, CODE_NO_MEMORY, NULL, 0);
}

EXPORT("event") void guest_event(uint64_t *ret, const char *item, int32_t len) {
    Request rq;
    char line[96];
    parse_request(item, len, &rq);
    if (rq.error) {
        size_t cap = strlen(rq.error) * 6 + 16;
        char *out = malloc(cap);
        size_t w = 0;
        if (!out) { reply_no_memory(ret); return; }
        memcpy(out, "{\"error\":\"", 10); w = 10;
        w += escape_json(out + w, rq.error, strlen(rq.error));
        memcpy(out + w, "\"}", 2); w += 2;
        host_log(LOG_WARN, rq.error, (int32_t)strlen(rq.error));
        reply(ret, CODE_BAD_INPUT, out, w);
        return;
    }
    uint64_t fib = fibonacci(rq.n);
    int ln = snprintf(line, sizeof line, "computing fib(%u) for a name of %zu bytes",
                      (unsigned)rq.n, rq.name_len);
    host_log(LOG_DEBUG, line, ln);

    char escaped[MAX_NAME * 6];
    size_t elen = escape_json(escaped, rq.name, rq.name_len);
    size_t cap = elen * 2 + 160;
    char *out = malloc(cap);
    if (!out) { reply_no_memory(ret); return; }
    int w = snprintf(out, cap,
                     "{\"message\":\"Hello, %.*s! Fibonacci number %u is %llu.\","
                     "\"name\":\"%.*s\",\"n\":%u,\"fib\":%llu}",
                     (int)elen, escaped, (unsigned)rq.n, (unsigned long long)fib,
                     (int)elen, escaped, (unsigned)rq.n, (unsigned long long)fib);
    ln = snprintf(line, sizeof line, "greeted with fib(%u) = %llu", (unsigned)rq.n,
                  (unsigned long long)fib);
    host_log(LOG_INFO, line, ln);
    reply(ret, CODE_OK, out, (size_t)w);
}
