/*
 * test_wipe.c: secrets are overwritten before their memory is freed.
 *
 * Who wipes what (ARCHITECTURE.md 2: "Secrets are wiped before they are
 * freed"):
 *
 * | secret                           | held in                    | wiped by             |
 * |----------------------------------|----------------------------|----------------------|
 * | session password (WS-Man; the    | wr_http.password, and the  | wr_http_free:        |
 * |   session keeps no copy itself)  |   side connection's clone  |   wr_free_secret     |
 * | session password (out-of-process)| winrsh_session.password    | winrsh_session_free  |
 * | Basic "user:password"            | basic_ctx.credentials      | basic_free:          |
 * |                                  |                            |   wr_buf_wipe_free   |
 * | Authorization line, tokens       | http.c handshake(),        | sensitive wr_bufs    |
 * |                                  |   send_request() buffers   |   (WR_BUF_SECRET_INIT)|
 * | curl's copy of that line         | the curl_slist of          | http.c free_headers: |
 * |                                  |   post_once()              |   wiped, then freed  |
 * | the password in UTF-16LE         | ntlm_core.c ntowfv1        | sensitive wr_buf     |
 * | NTLM NT hash, session keys       | ntlm_ctx                   | ntlm_free: wr_wipe,  |
 * |                                  |                            |   session_wipe       |
 * | decrypted bodies on failure      | encrypt.c, http.c          | wr_buf_wipe_free     |
 * | the password in the program      | client/main.c password[]   | cli_wipe after       |
 * |                                  |                            |   session_open       |
 *
 * A sensitive wr_buf (common/buf.h) is wiped on free and on growth: it
 * grows by allocate-copy-wipe-free instead of realloc(), which would free
 * the old block as it is.
 *
 * Not wiped, because libcurl and OpenSSL own the memory: while a request
 * is sent, curl assembles the header block (Authorization line included) in
 * an internal buffer freed unwiped after the send, and over HTTPS OpenSSL's
 * record buffers held the same bytes (see http.c free_headers). Nor is
 * WINRSH_PASSWORD in the program's own environment.
 *
 * wr_wipe and the buffer rules are tested directly. That freed memory no
 * longer holds the secret is tested with glibc's habit of handing a freed
 * block straight back to the next malloc of its size (tcache/fastbins):
 * after the free, allocate blocks of that size and look for the secret's
 * bytes past the allocator's 16 bytes of bookkeeping. A control (the same
 * secret freed without wiping) must be found first; where it is not (ASan
 * and valgrind quarantine freed blocks, MALLOC_PERTURB_ overwrites them)
 * those tests are skipped as inconclusive, saying so.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "common/buf.h"
#include "common/mem.h"
#include "transport/auth/auth.h"
#include "transport/http.h"
#include "winrsh/errors.h"
#include "winrsh/session.h"
#include "winrsh/winrsh.h"

/* 47 characters: strdup'ed it is a 48-byte request, a size class of its
 * own among what the tests free. */
static const char SECRET[] = "Wipe-Me-7f3a9c21b4e8d0f6a5c3e1b9d7f2a4c6e8b0d2";
#define SECRET_LEN (sizeof(SECRET) - 1)
/* Bytes past the allocator's bookkeeping (tcache next + key: 16 bytes). */
#define TAIL_OFF 16

/* ---- wr_wipe and the buffer ---------------------------------------------- */

static void test_wipe_zeroes_exactly_the_range(void **state)
{
    (void)state;
    unsigned char b[64];
    memset(b, 0xA5, sizeof b);
    wr_wipe(b + 8, 32);
    for (size_t i = 0; i < sizeof b; i++)
        assert_int_equal(b[i], i >= 8 && i < 40 ? 0 : 0xA5);
    wr_wipe(NULL, 10); /* NULL and 0 are no-ops */
    wr_wipe(b, 0);
    assert_int_equal(b[0], 0xA5);
}

static void test_free_functions_null_safe(void **state)
{
    (void)state;
    wr_free_secret(NULL);
    wr_buf empty = WR_BUF_INIT;
    wr_buf_wipe_free(&empty);
    assert_null(empty.data);
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&b, SECRET), 0);
    wr_buf_wipe_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

/* ---- the freed-block probe ------------------------------------------------- */

#define PROBE_BLOCKS 64

/* Allocate PROBE_BLOCKS blocks of `size` and look for needle[TAIL_OFF..] at
 * or after TAIL_OFF in each; 1 if found. */
static int probe(size_t size, const char *needle, size_t needle_len)
{
    void *blocks[PROBE_BLOCKS];
    int found = 0;
    const char *tail = needle + TAIL_OFF;
    size_t tail_len = needle_len - TAIL_OFF;
    for (int i = 0; i < PROBE_BLOCKS; i++) {
        blocks[i] = malloc(size);
        assert_non_null(blocks[i]);
        if (!found && memmem((char *)blocks[i] + TAIL_OFF, size - TAIL_OFF, tail, tail_len))
            found = 1;
    }
    /* Leave nothing behind for the next probe to find. */
    for (int i = 0; i < PROBE_BLOCKS; i++) {
        memset(blocks[i], 0, size);
        free(blocks[i]);
    }
    return found;
}

/* Skip (inconclusive) unless a secret freed without wiping can be found. */
static void require_visible_control(size_t size)
{
    if (RUNNING_ON_VALGRIND) {
        /* memmem over fresh blocks is an uninitialised read to memcheck. */
        print_message("inconclusive under valgrind: freed blocks are quarantined\n");
        skip();
    }
    char *c = malloc(size);
    assert_non_null(c);
    memset(c, 0, size);
    memcpy(c, SECRET, SECRET_LEN < size ? SECRET_LEN : size - 1);
    free(c);
    if (!probe(size, SECRET, SECRET_LEN)) {
        print_message("inconclusive: a block freed unwiped was not handed back "
                      "(sanitizer quarantine or MALLOC_PERTURB_)\n");
        skip();
    }
}

static void test_buf_wipe_free_leaves_no_copy(void **state)
{
    (void)state;
    require_visible_control(SECRET_LEN + 1);
    /* A wr_buf starts at 64 bytes: probe that size class. */
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&b, SECRET), 0);
    size_t cap = b.cap;
    wr_buf_free(&b); /* control on the buffer path itself */
    assert_true(probe(cap, SECRET, SECRET_LEN));
    assert_int_equal(wr_buf_puts(&b, SECRET), 0);
    wr_buf_wipe_free(&b);
    assert_false(probe(cap, SECRET, SECRET_LEN));
}

/* Fill b past its first block so that it has to move: a block of the same
 * size allocated right after the buffer's keeps realloc() from growing it in
 * place. Returns the size of the first block. */
static size_t grow_past_first_block(wr_buf *b)
{
    assert_int_equal(wr_buf_puts(b, SECRET), 0);
    size_t cap = b->cap;
    unsigned char *first = b->data;
    void *fence = malloc(cap);
    assert_non_null(fence);
    char filler[512];
    memset(filler, 'f', sizeof filler);
    assert_int_equal(wr_buf_append(b, filler, sizeof filler), 0);
    free(fence);
    assert_true(b->data != first); /* it moved */
    assert_memory_equal(b->data, SECRET, SECRET_LEN);
    return cap;
}

static void test_sensitive_buf_growth_leaves_no_copy(void **state)
{
    (void)state;
    require_visible_control(64);
    /* Control: an ordinary buffer leaves its first block unwiped when it
     * grows (realloc), as it did for the Authorization line before. */
    wr_buf plain = WR_BUF_INIT;
    size_t cap = grow_past_first_block(&plain);
    int left_behind = probe(cap, SECRET, SECRET_LEN);
    wr_buf_wipe_free(&plain);
    if (!left_behind) {
        print_message("inconclusive: realloc's old block was not handed back\n");
        skip();
    }
    /* A sensitive buffer wipes the block it leaves. */
    wr_buf b = WR_BUF_SECRET_INIT;
    assert_int_equal(grow_past_first_block(&b), cap);
    assert_false(probe(cap, SECRET, SECRET_LEN));
    size_t big = b.cap;
    wr_buf_free(&b); /* plain free of a sensitive buffer wipes too */
    assert_false(probe(big, SECRET, SECRET_LEN));
    assert_int_equal(b.sensitive, 1); /* still sensitive if reused */
}

static void test_sensitive_buf_drops_are_wiped(void **state)
{
    (void)state;
    wr_buf b = WR_BUF_SECRET_INIT;
    assert_int_equal(wr_buf_puts(&b, "0123456789"), 0);
    wr_buf_consume(&b, 4);
    assert_int_equal(b.len, 6);
    assert_string_equal(wr_buf_cstr(&b), "456789");
    for (size_t i = b.len; i < 11; i++) /* the moved tail is gone */
        assert_int_equal(b.data[i], 0);
    wr_buf_clear(&b);
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(b.data[i], 0);
    wr_buf_free(&b);
    /* An ordinary buffer keeps its old behaviour (no cost). */
    wr_buf o = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&o, "0123456789"), 0);
    wr_buf_consume(&o, 4);
    assert_memory_equal(o.data + 7, "789", 3);
    wr_buf_free(&o);
    /* wr_buf_set_sensitive on a plain buffer */
    wr_buf l = WR_BUF_INIT;
    wr_buf_set_sensitive(&l);
    assert_int_equal(l.sensitive, 1);
    wr_buf_free(&l);
}

static void test_free_secret_leaves_no_copy(void **state)
{
    (void)state;
    require_visible_control(SECRET_LEN + 1);
    char *s = strdup(SECRET);
    assert_non_null(s);
    wr_free_secret(s);
    assert_false(probe(SECRET_LEN + 1, SECRET, SECRET_LEN));
}

static void test_http_password_wiped(void **state)
{
    (void)state;
    require_visible_control(SECRET_LEN + 1);
    wr_http_options o = {0};
    o.url = "http://127.0.0.1:1/wsman";
    o.user = "alice";
    o.password = SECRET;
    o.auth = WINRSH_AUTH_BASIC;
    wr_http *h = NULL;
    assert_int_equal(wr_http_open(&h, &o), 0);
    wr_http *clone = NULL;
    assert_int_equal(wr_http_clone(h, &clone), 0);
    wr_http_free(clone);
    wr_http_free(h);
    assert_false(probe(SECRET_LEN + 1, SECRET, SECRET_LEN));
}

static void test_session_password_wiped(void **state)
{
    (void)state;
    require_visible_control(SECRET_LEN + 1);
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.user = "alice";
    so.password = SECRET;
    so.auth = WINRSH_AUTH_BASIC;
    so.allow_unencrypted = 1;
    /* A WS-Man session (the copy lives in its transport) and an
     * out-of-process one (the session keeps it); neither connects here. */
    const char *urls[] = {"http://127.0.0.1:1/wsman", "process:///bin/false"};
    for (size_t i = 0; i < 2; i++) {
        winrsh_session *s = NULL;
        assert_int_equal(winrsh_session_open(&s, urls[i], &so), 0);
        winrsh_session_free(s);
        assert_false(probe(SECRET_LEN + 1, SECRET, SECRET_LEN));
    }
}

static void test_basic_credentials_wiped(void **state)
{
    (void)state;
    /* "alice:" + SECRET lives in a 64-byte wr_buf. */
    require_visible_control(64);
    wr_auth_params p = {0};
    p.user = "alice";
    p.password = SECRET;
    wr_auth_ctx *ctx = NULL;
    assert_int_equal(wr_auth_basic.create(&ctx, &p), 0);
    wr_buf tok = WR_BUF_INIT;
    assert_int_equal(ctx->step(ctx, NULL, 0, &tok), WR_AUTH_STEP_DONE);
    assert_int_equal(tok.len, 6 + SECRET_LEN);
    assert_memory_equal(tok.data + 6, SECRET, SECRET_LEN);
    wr_buf_wipe_free(&tok); /* the caller's copy: http.c wipes it too */
    ctx->free(ctx);
    assert_false(probe(64, SECRET, SECRET_LEN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wipe_zeroes_exactly_the_range),
        cmocka_unit_test(test_free_functions_null_safe),
        cmocka_unit_test(test_buf_wipe_free_leaves_no_copy),
        cmocka_unit_test(test_sensitive_buf_growth_leaves_no_copy),
        cmocka_unit_test(test_sensitive_buf_drops_are_wiped),
        cmocka_unit_test(test_free_secret_leaves_no_copy),
        cmocka_unit_test(test_http_password_wiped),
        cmocka_unit_test(test_session_password_wiped),
        cmocka_unit_test(test_basic_credentials_wiped),
    };
    if (winrsh_global_init() < 0)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    winrsh_global_shutdown();
    return failed;
}
