/*
 * greet, as a WASI command: the C guest of examples/guests/c run the way most C
 * programs are, reading the item from stdin and writing the result to stdout, with
 * its log lines on stderr. perf/bench.py runs it to measure what a WASI guest costs
 * (wasi-libc's start-up, stdio, proc_exit) against the jobicolet path.
 *
 * The greeting itself is examples/guests/c/greet.c, included whole: its `event`
 * export is called from main(), and its `env.log` import is defined here to write
 * to stderr instead, so the module imports WASI only. Built with
 * -Dexport_name(x)=used, greet.c's jobicolet exports are left out: the module
 * exports `_start` and `memory`, as a C program does.
 *
 * Build (Debian `clang lld wasi-libc libclang-rt-dev-wasm32`), from this directory:
 *
 *     clang --target=wasm32-wasi -O2 -s '-Dexport_name(x)=used' -o greet_wasi.wasm greet_wasi.c
 *
 * The .wasm is committed, so the bench never needs the toolchain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define host_log stderr_log
#include "../../examples/guests/c/greet.c"
#undef host_log

static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

void stderr_log(int32_t level, const char *ptr, int32_t len) {
    fprintf(stderr, "[%s] %.*s\n", LEVELS[level & 3], (int)len, ptr);
}

int main(void) {
    size_t cap = 4096, len = 0, got;
    char *item = malloc(cap);
    while (item && (got = fread(item + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) item = realloc(item, cap *= 2);
    }
    if (!item) return 2;
    uint64_t words[2];
    guest_event(words, item, (int32_t)len);
    uint32_t text = (uint32_t)(words[1] >> 32), text_len = (uint32_t)words[1];
    if (text) fwrite((const char *)(uintptr_t)text, 1, text_len, stdout);
    exit((int)words[0]); /* exit() flushes stdout; returning from main does not here */
}
