/* test_base64.c: common/base64.c, whole-buffer and streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/buf.h"
#include "winrsh/errors.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain, *b64;
} VECTORS[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(VECTORS) / sizeof(VECTORS[0]); i++) {
        wr_buf enc = WR_BUF_INIT, dec = WR_BUF_INIT;
        assert_int_equal(wr_base64_encode(&enc, VECTORS[i].plain, strlen(VECTORS[i].plain)), 0);
        assert_string_equal(wr_buf_cstr(&enc), VECTORS[i].b64);
        assert_int_equal(wr_base64_decode(&dec, VECTORS[i].b64, strlen(VECTORS[i].b64)), 0);
        assert_int_equal(dec.len, strlen(VECTORS[i].plain));
        assert_memory_equal(wr_buf_cstr(&dec), VECTORS[i].plain, dec.len);
        wr_buf_free(&enc);
        wr_buf_free(&dec);
    }
}

/* Every byte value, every length up to 300: encode, then decode in pieces
 * of every size from 1 to 7 (a Receive's text can be split anywhere). */
static void test_streaming_odd_pieces(void **state)
{
    (void)state;
    unsigned char plain[300];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(plain); len += (len < 10 ? 1 : 37)) {
        wr_buf enc = WR_BUF_INIT;
        assert_int_equal(wr_base64_encode(&enc, plain, len), 0);
        for (size_t piece = 1; piece <= 7; piece++) {
            wr_base64_decoder d;
            wr_base64_decoder_init(&d);
            wr_buf out = WR_BUF_INIT;
            for (size_t off = 0; off < enc.len; off += piece) {
                size_t n = enc.len - off < piece ? enc.len - off : piece;
                assert_int_equal(wr_base64_decoder_feed(&d, &out, (const char *)enc.data + off, n),
                                 0);
            }
            assert_int_equal(wr_base64_decoder_finish(&d), 0);
            assert_int_equal(out.len, len);
            if (len)
                assert_memory_equal(out.data, plain, len);
            wr_buf_free(&out);
        }
        wr_buf_free(&enc);
    }
}

/* Recorded Receive payloads, split as XML might split text nodes. */
static void test_streaming_recorded(void **state)
{
    (void)state;
    const char *pieces[] = {"b3V0", "cHV0", "IDE", "=", ""};
    wr_base64_decoder d;
    wr_base64_decoder_init(&d);
    wr_buf out = WR_BUF_INIT;
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(wr_base64_decoder_feed(&d, &out, pieces[i], strlen(pieces[i])), 0);
    assert_int_equal(wr_base64_decoder_finish(&d), 0);
    assert_string_equal(wr_buf_cstr(&out), "output 1");
    wr_buf_free(&out);
}

static void test_whitespace_skipped(void **state)
{
    (void)state;
    wr_buf out = WR_BUF_INIT;
    const char *t = "  aGkN\r\n  Cg==\n\t";
    assert_int_equal(wr_base64_decode(&out, t, strlen(t)), 0);
    assert_string_equal(wr_buf_cstr(&out), "hi\r\n");
    wr_buf_free(&out);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg=a",     /* data after padding */
        "Z",        /* a lone symbol is not a quantum */
        "Zm9v!",    /* not in the alphabet */
        "=Zg",      /* padding first */
        "Zh==",     /* non-zero bits in the padding */
        "Zg===",    /* too much padding */
        "Zm9vY",    /* truncated quantum */
        "Zg==Zg==", /* data after the end */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wr_buf out = WR_BUF_INIT;
        int rc = wr_base64_decode(&out, bad[i], strlen(bad[i]));
        if (rc != WINRSH_EPROTO)
            fail_msg("'%s' decoded (rc %d)", bad[i], rc);
        wr_buf_free(&out);
    }
}

static void test_bad_input_streaming(void **state)
{
    (void)state;
    wr_base64_decoder d;
    wr_base64_decoder_init(&d);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_base64_decoder_feed(&d, &out, "Zm", 2), 0);
    assert_int_equal(wr_base64_decoder_feed(&d, &out, "9", 1), 0);
    /* A control byte in the middle of a stream is rejected at once. */
    assert_int_equal(wr_base64_decoder_feed(&d, &out, "\x01", 1), WINRSH_EPROTO);
    wr_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),    cmocka_unit_test(test_streaming_odd_pieces),
        cmocka_unit_test(test_streaming_recorded), cmocka_unit_test(test_whitespace_skipped),
        cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_bad_input_streaming),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
