/* test_md4_rc4.c: MD4 (RFC 1320 A.5 test suite) and RC4 (RFC 6229 subset,
 * plus the classic short vectors), and the EVP-backed MD5 / HMAC-MD5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transport/crypto/hmac_md5.h"
#include "transport/crypto/md4.h"
#include "transport/crypto/rc4.h"

static size_t unhex(const char *hex, unsigned char *out, size_t max)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

static void assert_hex(const unsigned char *got, const char *hex)
{
    unsigned char want[64];
    size_t n = unhex(hex, want, sizeof want);
    assert_memory_equal(got, want, n);
}

static void test_md4_rfc1320(void **state)
{
    (void)state;
    static const char *const suite[][2] = {
        {"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
        {"a", "bde52cb31de33e46245e05fbdbd6fb24"},
        {"abc", "a448017aaf21d8525fc10ae87aa6729d"},
        {"message digest", "d9130a8164549fe818874806e1c7014b"},
        {"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "043f8582f241db351ce627e153e7f0e4"},
        {"1234567890123456789012345678901234567890123456789012345678901234567890123456789"
         "0",
         "e33b4ddc9c38f2199c3e7b164fcc0536"},
    };
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
        unsigned char d[16];
        wr_md4(suite[i][0], strlen(suite[i][0]), d);
        assert_hex(d, suite[i][1]);
    }
}

/* Feeding the same input in pieces of every size gives the same digest
 * (block boundaries, the 55/56/64-byte padding edges). */
static void test_md4_incremental(void **state)
{
    (void)state;
    unsigned char msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof msg; len++) {
        unsigned char one[16], pieces[16];
        wr_md4(msg, len, one);
        for (size_t step = 1; step <= 65; step += 16) {
            wr_md4_ctx c;
            wr_md4_init(&c);
            for (size_t off = 0; off < len; off += step)
                wr_md4_update(&c, msg + off, len - off < step ? len - off : step);
            wr_md4_final(&c, pieces);
            assert_memory_equal(one, pieces, 16);
        }
    }
}

static void check_rc4_offsets(const char *keyhex, const size_t *offs, const char *const *ks,
                              size_t n)
{
    unsigned char key[32];
    size_t klen = unhex(keyhex, key, sizeof key);
    wr_rc4 st;
    wr_rc4_init(&st, key, klen);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        wr_rc4_skip(&st, offs[i] - pos);
        unsigned char zero[16] = {0}, out[16];
        wr_rc4_apply(&st, zero, out, 16);
        pos = offs[i] + 16;
        assert_hex(out, ks[i]);
    }
    wr_rc4_wipe(&st);
}

static void test_rc4_rfc6229(void **state)
{
    (void)state;
    /* RFC 6229 section 2, 40-bit key 0x0102030405. */
    static const size_t o40[] = {0, 16, 4096};
    static const char *const k40[] = {"b2396305f03dc027ccc3524a0a1118a8",
                                      "6982944f18fc82d589c403a47a0d0919",
                                      "ff25b58995996707e51fbdf08b34d875"};
    check_rc4_offsets("0102030405", o40, k40, 3);
    /* 128-bit key 0x0102...10. */
    static const size_t o128[] = {0, 16, 1520, 1536};
    static const char *const k128[] = {
        "9ac7cc9a609d1ef7b2932899cde41b97", "5248c4959014126a6e8a84f11d1a9e1c",
        "b40110c4190b5622a96116b0017ed297", "ffa0b514647ec04f6306b892ae661181"};
    check_rc4_offsets("0102030405060708090a0b0c0d0e0f10", o128, k128, 4);
}

static void test_rc4_stream_continues(void **state)
{
    (void)state;
    /* Classic vectors: key "Key" / "Plaintext", key "Secret" / "Attack at dawn". */
    unsigned char out[32];
    wr_rc4 st;
    wr_rc4_init(&st, (const unsigned char *)"Key", 3);
    wr_rc4_apply(&st, (const unsigned char *)"Plaintext", out, 9);
    assert_hex(out, "bbf316e8d940af0ad3");
    wr_rc4_init(&st, (const unsigned char *)"Secret", 6);
    /* In two calls, the second in place: the keystream carries on. */
    memcpy(out, "Attack at dawn", 14);
    wr_rc4_apply(&st, out, out, 5);
    wr_rc4_apply(&st, out + 5, out + 5, 9);
    assert_hex(out, "45a01f645fc35b383552544b9bf5");
    wr_rc4_wipe(&st);
}

static void test_md5_hmac(void **state)
{
    (void)state;
    unsigned char d[16];
    /* RFC 1321 A.5 and RFC 2104 / 2202 test case 2. */
    wr_iov abc = {"abc", 3};
    assert_int_equal(wr_md5(&abc, 1, d), 0);
    assert_hex(d, "900150983cd24fb0d6963f7d28e17f72");
    wr_iov parts[2] = {{"what do ya want ", 16}, {"for nothing?", 12}};
    assert_int_equal(wr_hmac_md5((const unsigned char *)"Jefe", 4, parts, 2, d), 0);
    assert_hex(d, "750c783e6ab0b503eaa86e310a5db738");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md4_rfc1320), cmocka_unit_test(test_md4_incremental),
        cmocka_unit_test(test_rc4_rfc6229), cmocka_unit_test(test_rc4_stream_continues),
        cmocka_unit_test(test_md5_hmac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
