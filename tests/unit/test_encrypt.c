/*
 * test_encrypt.c: the MS-WSMV 2.2.9.1 multipart/encrypted body.
 *
 * A fake mechanism stands in for NTLM/Kerberos/CredSSP: its "seal" is XOR
 * 0x5A, its signature a magic, a checksum and the length, so tampering is
 * caught by unwrap exactly where a real mechanism would catch it, and the
 * bytes of a built body can be written down by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/error.h"
#include "transport/encrypt.h"

/* ------------------------------------------------------------------ */
/* The fake mechanism                                                   */

static const wr_auth_mech fake_mech = {"Fake", "fake", 0, WR_AUTH_CAN_SEAL, NULL};

typedef struct {
    wr_auth_ctx base;
    size_t sig_size; /* 16 like NTLM, 60 like Kerberos AES */
    size_t pad;      /* bytes of padding appended to the sealed data */
    size_t record;   /* CredSSP-like: a record header of this many bytes */
    int wraps, unwraps;
} fake_ctx;

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t checksum(const unsigned char *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31u + p[i];
    return s;
}

/* Signature: "FAKE", checksum (LE), length (LE), then 0xA5 filler. */
static void fake_signature(const unsigned char *plain, size_t len, size_t size, unsigned char *out)
{
    memset(out, 0xA5, size);
    memcpy(out, "FAKE", 4);
    put32(out + 4, checksum(plain, len));
    put32(out + 8, (uint32_t)len);
}

static int fake_wrap(wr_auth_ctx *ctx, const unsigned char *plain, size_t len, wr_buf *sig,
                     wr_buf *sealed)
{
    fake_ctx *f = (fake_ctx *)ctx;
    f->wraps++;
    unsigned char s[64];
    fake_signature(plain, len, f->sig_size, s);
    if (wr_buf_append(sig, s, f->sig_size))
        return WINRSH_ENOMEM;
    for (size_t i = 0; i < f->record; i++)
        if (wr_buf_putc(sealed, 'R'))
            return WINRSH_ENOMEM;
    for (size_t i = 0; i < len; i++)
        if (wr_buf_putc(sealed, (unsigned char)(plain[i] ^ 0x5A)))
            return WINRSH_ENOMEM;
    for (size_t i = 0; i < f->pad; i++)
        if (wr_buf_putc(sealed, (unsigned char)f->pad))
            return WINRSH_ENOMEM;
    return 0;
}

static int fake_unwrap(wr_auth_ctx *ctx, const unsigned char *sig, size_t sig_len,
                       const unsigned char *sealed, size_t sealed_len, wr_buf *plain)
{
    fake_ctx *f = (fake_ctx *)ctx;
    f->unwraps++;
    if (sig_len != f->sig_size || memcmp(sig, "FAKE", 4) != 0)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH, "fake: bad signature");
    if (sealed_len < f->record)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH, "fake: short record");
    size_t n = sealed_len - f->record;
    unsigned char *tmp = malloc(n + 1);
    assert_non_null(tmp);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)(sealed[f->record + i] ^ 0x5A);
    int ok = get32(sig + 8) == n && get32(sig + 4) == checksum(tmp, n);
    int rc =
        ok ? wr_buf_append(plain, tmp, n)
           : wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH, "fake: signature does not verify");
    free(tmp);
    return rc;
}

static void fake_init(fake_ctx *f, size_t sig_size, size_t pad, size_t record)
{
    memset(f, 0, sizeof(*f));
    f->base.mech = &fake_mech;
    f->base.wrap = fake_wrap;
    f->base.unwrap = fake_unwrap;
    f->sig_size = sig_size;
    f->pad = pad;
    f->record = record;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

#define SPNEGO_CT                                                                                  \
    "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";"                  \
    "boundary=\"Encrypted Boundary\""
#define SOAP "<s:Envelope/>" /* 13 bytes */

static const char *last_message(void)
{
    return winrsh_error_last()->message;
}

/* memmem is not POSIX. */
static const unsigned char *find(const unsigned char *h, size_t hl, const void *n, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

/* Replace every `from` with `to` in b; returns how many were replaced. */
static int replace_all(wr_buf *b, const char *from, const char *to)
{
    int count = 0;
    wr_buf out = WR_BUF_INIT;
    size_t fl = strlen(from);
    size_t i = 0;
    while (i < b->len) {
        if (b->len - i >= fl && memcmp(b->data + i, from, fl) == 0) {
            assert_int_equal(wr_buf_puts(&out, to), 0);
            i += fl;
            count++;
        } else {
            assert_int_equal(wr_buf_putc(&out, b->data[i]), 0);
            i++;
        }
    }
    wr_buf_free(b);
    *b = out;
    return count;
}

/* Build SOAP with a 16-byte fake under SPNEGO. */
static void build(fake_ctx *f, const char *soap, wr_buf *body, wr_buf *ct)
{
    assert_int_equal(wr_encrypt_body(&f->base, WR_ENCRYPT_SPNEGO, (const unsigned char *)soap,
                                     strlen(soap), body, ct),
                     0);
}

/* Decrypting `body` must fail with `code` and a message containing `what`. */
static void expect_fail(const char *ct, const wr_buf *body, int code, const char *what)
{
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&out, "keep"), 0);
    int rc = wr_decrypt_body(&f.base, ct, body->data, body->len, &out);
    if (rc != code || !strstr(last_message(), what))
        fail_msg("rc %d (want %d), message '%s' (want '%s')", rc, code, last_message(), what);
    /* On error the output is left as it was. */
    assert_string_equal(wr_buf_cstr(&out), "keep");
    wr_buf_free(&out);
}

static void expect_ok(const char *ct, const wr_buf *body, const char *soap)
{
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf out = WR_BUF_INIT;
    int rc = wr_decrypt_body(&f.base, ct, body->data, body->len, &out);
    if (rc)
        fail_msg("decrypt failed: %s", last_message());
    assert_int_equal(out.len, strlen(soap));
    assert_memory_equal(out.data, soap, out.len);
    wr_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Building: exact bytes                                                */

static void test_build_exact_spnego(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    build(&f, SOAP, &body, &ct);
    assert_string_equal(wr_buf_cstr(&ct), SPNEGO_CT);

    wr_buf want = WR_BUF_INIT;
    assert_int_equal(
        wr_buf_puts(&want,
                    "--Encrypted Boundary\r\n"
                    "\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
                    "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=13\r\n"
                    "--Encrypted Boundary\r\n"
                    "\tContent-Type: application/octet-stream\r\n"),
        0);
    unsigned char le[4] = {16, 0, 0, 0}, sig[16], sealed[13];
    fake_signature((const unsigned char *)SOAP, 13, 16, sig);
    for (size_t i = 0; i < 13; i++)
        sealed[i] = (unsigned char)(SOAP[i] ^ 0x5A);
    assert_int_equal(wr_buf_append(&want, le, 4), 0);
    assert_int_equal(wr_buf_append(&want, sig, 16), 0);
    assert_int_equal(wr_buf_append(&want, sealed, 13), 0);
    assert_int_equal(wr_buf_puts(&want, "--Encrypted Boundary--\r\n"), 0);

    assert_int_equal(body.len, want.len);
    assert_memory_equal(body.data, want.data, want.len);
    assert_int_equal(f.wraps, 1);
    wr_buf_free(&want);
    wr_buf_free(&body);
    wr_buf_free(&ct);
}

static void test_build_exact_kerberos_60(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 60, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    assert_int_equal(
        wr_encrypt_body(&f.base, WR_ENCRYPT_KERBEROS, (const unsigned char *)SOAP, 13, &body, &ct),
        0);
    assert_string_equal(wr_buf_cstr(&ct),
                        "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-"
                        "encrypted\";boundary=\"Encrypted Boundary\"");
    static const char head[] =
        "--Encrypted Boundary\r\n"
        "\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
        "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=13\r\n"
        "--Encrypted Boundary\r\n"
        "\tContent-Type: application/octet-stream\r\n";
    size_t hl = sizeof(head) - 1;
    assert_int_equal(body.len, hl + 4 + 60 + 13 + strlen("--Encrypted Boundary--\r\n"));
    assert_memory_equal(body.data, head, hl);
    assert_int_equal(get32(body.data + hl), 60);
    assert_memory_equal(body.data + hl + 4, "FAKE", 4);
    assert_int_equal(body.data[hl + 4 + 60], SOAP[0] ^ 0x5A);
    assert_memory_equal(body.data + hl + 4 + 60 + 13, "--Encrypted Boundary--\r\n", 24);

    /* And it reads back. */
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_decrypt_body(&f.base, wr_buf_cstr(&ct), body.data, body.len, &out), 0);
    assert_string_equal(wr_buf_cstr(&out), SOAP);
    wr_buf_free(&out);
    wr_buf_free(&body);
    wr_buf_free(&ct);
}

/* Kerberos with PADDING (RC4-HMAC): the padding follows the sealed data and
 * Length counts it (PROTOCOL.md 3). */
static void test_build_kerberos_padding(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 60, 3, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    assert_int_equal(
        wr_encrypt_body(&f.base, WR_ENCRYPT_KERBEROS, (const unsigned char *)SOAP, 13, &body, &ct),
        0);
    assert_non_null(find(body.data, body.len, ";Length=16\r\n", 12));
    size_t end = body.len - 24;
    assert_memory_equal(body.data + end - 3, "\x03\x03\x03", 3);
    assert_int_equal(body.data[end - 4], SOAP[12] ^ 0x5A);
    wr_buf_free(&body);
    wr_buf_free(&ct);
}

static void test_build_protocol_from_ctx(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    /* No protocol and none from the context: refused. */
    assert_int_equal(wr_encrypt_body(&f.base, NULL, (const unsigned char *)SOAP, 13, &body, &ct),
                     WINRSH_EINVAL);
    assert_int_equal(body.len, 0);
    /* A protocol that would break the header. */
    assert_int_equal(
        wr_encrypt_body(&f.base, "bad\"proto", (const unsigned char *)SOAP, 13, &body, &ct),
        WINRSH_EINVAL);
    /* A mechanism that cannot seal. */
    f.base.wrap = NULL;
    assert_int_equal(
        wr_encrypt_body(&f.base, WR_ENCRYPT_SPNEGO, (const unsigned char *)SOAP, 13, &body, &ct),
        WINRSH_EINVAL);
    assert_non_null(strstr(last_message(), "fake mechanism cannot seal"));
    assert_int_equal(body.len, 0);
    assert_int_equal(ct.len, 0);
    wr_buf_free(&body);
    wr_buf_free(&ct);
}

static void test_empty_message(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT, out = WR_BUF_INIT;
    assert_int_equal(wr_encrypt_body(&f.base, WR_ENCRYPT_SPNEGO, NULL, 0, &body, &ct), 0);
    assert_non_null(find(body.data, body.len, ";Length=0\r\n", 11));
    assert_int_equal(wr_decrypt_body(&f.base, wr_buf_cstr(&ct), body.data, body.len, &out), 0);
    assert_int_equal(out.len, 0);
    wr_buf_free(&body);
    wr_buf_free(&ct);
    wr_buf_free(&out);
}

/* CredSSP over 16 KiB: one pair per 16384-byte chunk, each Length the
 * plaintext chunk length even though the sealed record is longer. */
static void test_credssp_multi_round_trip(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 5);
    size_t n = 40000;
    unsigned char *soap = malloc(n);
    assert_non_null(soap);
    for (size_t i = 0; i < n; i++)
        soap[i] = (unsigned char)('a' + i % 26);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT, out = WR_BUF_INIT;
    assert_int_equal(wr_encrypt_body(&f.base, WR_ENCRYPT_CREDSSP, soap, n, &body, &ct), 0);
    assert_string_equal(wr_buf_cstr(&ct),
                        "multipart/x-multi-encrypted;protocol=\"application/HTTP-CredSSP-session-"
                        "encrypted\";boundary=\"Encrypted Boundary\"");
    assert_int_equal(f.wraps, 3);
    /* The binary parts hold NULs: search with find(), not strstr(). */
    const unsigned char *a = find(body.data, body.len, ";Length=16384\r\n", 15);
    assert_non_null(a);
    const unsigned char *b =
        find(a + 1, body.len - (size_t)(a + 1 - body.data), ";Length=16384\r\n", 15);
    assert_non_null(b);
    assert_non_null(find(b + 1, body.len - (size_t)(b + 1 - body.data), ";Length=7232\r\n", 14));

    assert_int_equal(wr_decrypt_body(&f.base, wr_buf_cstr(&ct), body.data, body.len, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, soap, n);
    assert_int_equal(f.unwraps, 3);

    /* A CredSSP message of exactly 16 KiB is still one multipart/encrypted. */
    wr_buf body2 = WR_BUF_INIT, ct2 = WR_BUF_INIT;
    assert_int_equal(wr_encrypt_body(&f.base, WR_ENCRYPT_CREDSSP, soap, 16384, &body2, &ct2), 0);
    assert_int_equal(strncmp(wr_buf_cstr(&ct2), "multipart/encrypted;", 20), 0);
    free(soap);
    wr_buf_free(&body);
    wr_buf_free(&ct);
    wr_buf_free(&out);
    wr_buf_free(&body2);
    wr_buf_free(&ct2);
}

/* ------------------------------------------------------------------ */
/* Parsing what is built, and the variants servers send                 */

static void test_round_trip_spnego(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    build(&f, "<s:Envelope><s:Body>hello</s:Body></s:Envelope>", &body, &ct);
    expect_ok(wr_buf_cstr(&ct), &body, "<s:Envelope><s:Body>hello</s:Body></s:Envelope>");
    wr_buf_free(&body);
    wr_buf_free(&ct);
}

/* Sealed bytes that happen to spell a boundary line do not end the part. */
static void test_boundary_inside_sealed_data(void **state)
{
    (void)state;
    static const char inner[] = "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-"
                                "session-encrypted\r\n--Encrypted Boundary--\r\n";
    char soap[sizeof(inner) + 8];
    size_t n = 0;
    soap[n++] = 'x';
    for (size_t i = 0; i < sizeof(inner) - 1; i++)
        soap[n++] = (char)(inner[i] ^ 0x5A);
    soap[n++] = 'y';
    soap[n] = 0;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    build(&f, soap, &body, &ct);
    assert_non_null(find(body.data, body.len, inner, sizeof(inner) - 1));
    expect_ok(wr_buf_cstr(&ct), &body, soap);
    wr_buf_free(&body);
    wr_buf_free(&ct);
}

static void test_boundary_variants(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf body = WR_BUF_INIT, ct = WR_BUF_INIT;
    build(&f, SOAP, &body, &ct);

    /* The Content-Type written every way servers do. */
    expect_ok("multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";"
              "boundary=Encrypted Boundary",
              &body, SOAP);
    expect_ok("Multipart/Encrypted; Protocol=\"application/http-spnego-session-encrypted\"; "
              "BOUNDARY=\"Encrypted Boundary\";",
              &body, SOAP);
    expect_ok("multipart/encrypted;boundary=\"Encrypted Boundary\";protocol=application/"
              "HTTP-SPNEGO-session-encrypted;charset=UTF-8",
              &body, SOAP);

    /* Exchange: "-- Encrypted Boundary". */
    wr_buf ex = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&ex, body.data, body.len), 0);
    replace_all(&ex, "--Encrypted Boundary", "-- Encrypted Boundary");
    expect_ok(SPNEGO_CT, &ex, SOAP);
    wr_buf_free(&ex);

    /* No CRLF after the closing boundary. */
    wr_buf nocrlf = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&nocrlf, body.data, body.len - 2), 0);
    expect_ok(SPNEGO_CT, &nocrlf, SOAP);
    wr_buf_free(&nocrlf);

    /* Headers indented by spaces, or not at all. */
    wr_buf sp = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&sp, body.data, body.len), 0);
    replace_all(&sp, "\tContent-Type", "    Content-Type");
    replace_all(&sp, "\tOriginalContent", "OriginalContent");
    expect_ok(SPNEGO_CT, &sp, SOAP);
    wr_buf_free(&sp);

    /* The boundary comes from the Content-Type, not from a constant. */
    wr_buf other = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&other, body.data, body.len), 0);
    replace_all(&other, "Encrypted Boundary", "b0undary-42");
    expect_ok("multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";"
              "boundary=\"b0undary-42\"",
              &other, SOAP);
    expect_fail(SPNEGO_CT, &other, WINRSH_EPROTO, "does not end with '--Encrypted Boundary--'");
    wr_buf_free(&other);

    wr_buf_free(&body);
    wr_buf_free(&ct);
}

static void test_multi_encrypted_spnego(void **state)
{
    (void)state;
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf b1 = WR_BUF_INIT, b2 = WR_BUF_INIT, ct = WR_BUF_INIT;
    build(&f, "first-", &b1, &ct);
    build(&f, "second", &b2, &ct);
    /* pair 1 without its closing line, then pair 2 with it */
    wr_buf multi = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&multi, b1.data, b1.len - 24), 0);
    assert_int_equal(wr_buf_append(&multi, b2.data, b2.len), 0);
    expect_ok("multipart/x-multi-encrypted;protocol=\"application/HTTP-SPNEGO-session-"
              "encrypted\";boundary=\"Encrypted Boundary\"",
              &multi, "first-second");
    /* Plain multipart/encrypted holds one pair: its data runs to the
     * closing boundary, swallowing the second pair, and unwrap refuses. */
    expect_fail(SPNEGO_CT, &multi, WINRSH_EAUTH, "fake: signature does not verify");

    /* In the multi form a boundary line inside sealed data that is not
     * followed by a part header does not end the part. */
    static const char inner[] = "--Encrypted Boundary\r\n--Encrypted Boundary--\r\n";
    char soap[sizeof(inner)];
    for (size_t i = 0; i < sizeof(inner) - 1; i++)
        soap[i] = (char)(inner[i] ^ 0x5A);
    soap[sizeof(inner) - 1] = 0;
    wr_buf b3 = WR_BUF_INIT;
    build(&f, soap, &b3, &ct);
    wr_buf_clear(&multi);
    assert_int_equal(wr_buf_append(&multi, b3.data, b3.len - 24), 0);
    assert_int_equal(wr_buf_append(&multi, b2.data, b2.len), 0);
    wr_buf want = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&want, soap), 0);
    assert_int_equal(wr_buf_puts(&want, "second"), 0);
    expect_ok("multipart/x-multi-encrypted;protocol=\"application/HTTP-SPNEGO-session-"
              "encrypted\";boundary=\"Encrypted Boundary\"",
              &multi, wr_buf_cstr(&want));
    wr_buf_free(&want);
    wr_buf_free(&b3);
    wr_buf_free(&b1);
    wr_buf_free(&b2);
    wr_buf_free(&ct);
    wr_buf_free(&multi);
}

/* ------------------------------------------------------------------ */
/* Rejections                                                           */

/* A fresh SPNEGO body of SOAP to damage. */
static void fresh(wr_buf *body)
{
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    wr_buf ct = WR_BUF_INIT;
    wr_buf_free(body);
    build(&f, SOAP, body, &ct);
    wr_buf_free(&ct);
}

static size_t offset_of(const wr_buf *b, const char *s)
{
    const unsigned char *p = find(b->data, b->len, s, strlen(s));
    assert_non_null(p);
    return (size_t)(p - b->data);
}

static void test_tampered(void **state)
{
    (void)state;
    wr_buf body = WR_BUF_INIT;
    size_t data = 0;

    /* A flipped bit in the sealed data: the mechanism's error, prefixed. */
    fresh(&body);
    body.data[body.len - 24 - 1] ^= 1;
    expect_fail(SPNEGO_CT, &body, WINRSH_EAUTH, "encrypted body: fake: signature does not verify");

    /* ... and in the signature. */
    fresh(&body);
    data = offset_of(&body, "FAKE");
    body.data[data] = 'J';
    expect_fail(SPNEGO_CT, &body, WINRSH_EAUTH, "encrypted body: fake: bad signature");

    /* A signature length that would read past the part. */
    fresh(&body);
    data = offset_of(&body, "FAKE") - 4;
    put32(body.data + data, 0xFFFFFFFFu);
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO,
                "encrypted body: signature length 4294967295 exceeds the part (29 bytes)");
    put32(body.data + data, 30);
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "signature length 30 exceeds the part (29 bytes)");
    /* 29 fits (all signature, no sealed data): the mechanism decides. */
    put32(body.data + data, 29);
    expect_fail(SPNEGO_CT, &body, WINRSH_EAUTH, "fake: bad signature");

    /* Length that does not match what unwrap gave. */
    fresh(&body);
    replace_all(&body, "Length=13", "Length=14");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO,
                "decrypted length 13 does not match OriginalContent Length=14");
    fresh(&body);
    replace_all(&body, "Length=13", "Length=99999999999999999999999999");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "OriginalContent Length is too large");
    fresh(&body);
    replace_all(&body, "Length=13", "Length=1x");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "OriginalContent Length '1x' is not a number");
    fresh(&body);
    replace_all(&body, "Length=13", "Length=");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "OriginalContent Length is empty");
    fresh(&body);
    replace_all(&body, ";Length=13", "");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "OriginalContent has no Length");
    fresh(&body);
    replace_all(&body, ";Length=13", ";Length=13;Length=13");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "two Length parameters");
    wr_buf_free(&body);
}

static void test_truncated(void **state)
{
    (void)state;
    wr_buf body = WR_BUF_INIT;
    fresh(&body);
    size_t full = body.len;
    /* Every prefix is rejected, and none crashes or over-reads (ASan). */
    for (size_t cut = 0; cut < full - 2; cut++) {
        fake_ctx f;
        fake_init(&f, 16, 0, 0);
        wr_buf out = WR_BUF_INIT;
        unsigned char *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, body.data, cut);
        int rc = wr_decrypt_body(&f.base, SPNEGO_CT, copy, cut, &out);
        if (rc == 0)
            fail_msg("a body cut to %zu of %zu bytes was accepted", cut, full);
        assert_int_equal(out.len, 0);
        free(copy);
        wr_buf_free(&out);
    }
    wr_buf cut = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&cut, body.data, body.len - 10), 0);
    expect_fail(SPNEGO_CT, &cut, WINRSH_EPROTO,
                "the body does not end with '--Encrypted Boundary--' (truncated?)");
    wr_buf_free(&cut);

    wr_buf empty = WR_BUF_INIT;
    expect_fail(SPNEGO_CT, &empty, WINRSH_EPROTO, "encrypted body: the body is empty");

    /* Sealed data cut short, closing line intact. */
    wr_buf shortened = WR_BUF_INIT;
    assert_int_equal(wr_buf_append(&shortened, body.data, body.len - 24 - 5), 0);
    assert_int_equal(wr_buf_puts(&shortened, "--Encrypted Boundary--\r\n"), 0);
    expect_fail(SPNEGO_CT, &shortened, WINRSH_EAUTH, "fake: signature does not verify");
    wr_buf_free(&shortened);

    /* Data part shorter than the length field. */
    wr_buf tiny = WR_BUF_INIT;
    size_t data = offset_of(&body, "FAKE") - 4;
    assert_int_equal(wr_buf_append(&tiny, body.data, data + 2), 0);
    assert_int_equal(wr_buf_puts(&tiny, "--Encrypted Boundary--\r\n"), 0);
    expect_fail(SPNEGO_CT, &tiny, WINRSH_EPROTO, "is 2 bytes, too short for the signature length");
    wr_buf_free(&tiny);
    wr_buf_free(&body);
}

static void test_garbled_headers(void **state)
{
    (void)state;
    wr_buf body = WR_BUF_INIT;
    struct {
        const char *from, *to, *error;
    } cases[] = {
        /* header names are case-sensitive (MS-WSMV 2.2.9.1) */
        {"\tContent-Type: application/HTTP-SPNEGO", "\tcontent-type: application/HTTP-SPNEGO",
         "unexpected header 'content-type'"},
        {"\tOriginalContent:", "\tOriginalcontent:", "unexpected header 'Originalcontent'"},
        {"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=13\r\n", "",
         "encrypted part without OriginalContent"},
        {"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n", "",
         "encrypted part without Content-Type"},
        {"HTTP-SPNEGO-session-encrypted\r\n", "HTTP-Kerberos-session-encrypted\r\n",
         "part Content-Type 'application/HTTP-Kerberos-session-encrypted' does not match the "
         "protocol 'application/HTTP-SPNEGO-session-encrypted'"},
        {"type=application/soap+xml", "type=text/plain",
         "OriginalContent type 'text/plain' is not application/soap+xml"},
        {"type=application/soap+xml;", "", "OriginalContent has no type"},
        {"application/octet-stream", "application/x-binary",
         "is not Content-Type: application/octet-stream"},
        {"UTF-8;Length=13\r\n", "UTF-8;Length=13\n", "is not ended by CRLF"},
        {"\tOriginalContent: type", "\tOriginalContent type", "has no ':'"},
        {"encrypted\r\n\tOriginalContent", "encrypted\r\n\tX-Extra: 1\r\n\tOriginalContent",
         "unexpected header 'X-Extra'"},
        {"Length=13\r\n",
         "Length=13\r\n\tContent-Type: application/HTTP-SPNEGO-session-"
         "encrypted\r\n",
         "two Content-Type headers"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fresh(&body);
        if (replace_all(&body, cases[i].from, cases[i].to) == 0)
            fail_msg("case %zu: '%s' not in the body", i, cases[i].from);
        expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, cases[i].error);
    }

    /* Something before the first boundary. */
    fresh(&body);
    wr_buf pre = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&pre, "junk\r\n"), 0);
    assert_int_equal(wr_buf_append(&pre, body.data, body.len), 0);
    expect_fail(SPNEGO_CT, &pre, WINRSH_EPROTO,
                "expected the boundary '--Encrypted Boundary' at offset 0");
    wr_buf_free(&pre);

    /* The second boundary missing. */
    fresh(&body);
    replace_all(&body, "Length=13\r\n--Encrypted Boundary\r\n", "Length=13\r\n");
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "two Content-Type headers at offset 149");

    /* Garbage after the closing boundary. */
    fresh(&body);
    assert_int_equal(wr_buf_puts(&body, "trailing"), 0);
    expect_fail(SPNEGO_CT, &body, WINRSH_EPROTO, "does not end with");
    wr_buf_free(&body);
}

static void test_bad_content_type(void **state)
{
    (void)state;
    wr_buf body = WR_BUF_INIT;
    fresh(&body);
    expect_fail(NULL, &body, WINRSH_EPROTO, "the response has no Content-Type");
    expect_fail("application/soap+xml;charset=UTF-8", &body, WINRSH_EPROTO,
                "Content-Type 'application/soap+xml' is neither multipart/encrypted nor "
                "multipart/x-multi-encrypted");
    expect_fail("multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"", &body,
                WINRSH_EPROTO, "Content-Type has no boundary parameter");
    expect_fail("multipart/encrypted;boundary=\"Encrypted Boundary\"", &body, WINRSH_EPROTO,
                "Content-Type has no protocol parameter");
    expect_fail("multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";"
                "boundary=\"Encrypted Boundary",
                &body, WINRSH_EPROTO, "unterminated quoted string in Content-Type");
    expect_fail("multipart/encrypted;protocol=\"x\";boundary=\"\"", &body, WINRSH_EPROTO,
                "boundary of 0 characters (1 to 70 allowed)");
    expect_fail("multipart/encrypted;protocol=\"x\";boundary=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                &body, WINRSH_EPROTO, "boundary of 71 characters");
    expect_fail("multipart/encrypted;protocol=\"x\";boundary=a;boundary=b", &body, WINRSH_EPROTO,
                "two boundary parameters");
    expect_fail("multipart/encrypted;protocol", &body, WINRSH_EPROTO,
                "malformed Content-Type parameter");
    expect_fail("multipart/encrypted;protocol=\"a\"b;boundary=c", &body, WINRSH_EPROTO,
                "malformed Content-Type parameter");

    /* A mechanism that cannot unseal. */
    fake_ctx f;
    fake_init(&f, 16, 0, 0);
    f.base.unwrap = NULL;
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_decrypt_body(&f.base, SPNEGO_CT, body.data, body.len, &out), WINRSH_EINVAL);
    assert_int_equal(out.len, 0);
    wr_buf_free(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_exact_spnego),
        cmocka_unit_test(test_build_exact_kerberos_60),
        cmocka_unit_test(test_build_kerberos_padding),
        cmocka_unit_test(test_build_protocol_from_ctx),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_credssp_multi_round_trip),
        cmocka_unit_test(test_round_trip_spnego),
        cmocka_unit_test(test_boundary_inside_sealed_data),
        cmocka_unit_test(test_boundary_variants),
        cmocka_unit_test(test_multi_encrypted_spnego),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbled_headers),
        cmocka_unit_test(test_bad_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
