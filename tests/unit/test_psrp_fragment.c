/* test_psrp_fragment.c: PSRP fragments (MS-PSRP 2.2.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "psrp/fragment.h"
#include "winrsh/errors.h"

typedef struct got {
    int n;
    uint64_t ids[16];
    wr_buf msgs[16];
} got;

static int collect(void *payload, uint64_t object_id, const unsigned char *msg, size_t len)
{
    got *g = payload;
    assert_true(g->n < 16);
    g->ids[g->n] = object_id;
    memset(&g->msgs[g->n], 0, sizeof g->msgs[g->n]);
    assert_int_equal(wr_buf_append(&g->msgs[g->n], msg, len), 0);
    g->n++;
    return 0;
}

static void got_free(got *g)
{
    for (int i = 0; i < g->n; i++)
        wr_buf_free(&g->msgs[i]);
    g->n = 0;
}

static void test_layout(void **state)
{
    (void)state;
    wr_psrp_fragmenter f;
    wr_psrp_fragmenter_init(&f);
    wr_buf out = WR_BUF_INIT;
    uint64_t oid = 0;
    assert_int_equal(wr_psrp_fragment_message(&f, "abc", 3, 100, &out, &oid), 0);
    assert_int_equal(oid, 1);
    static const unsigned char one[] = {0,    0,   0,  0, 0, 0, 0, 1, /* ObjectId 1 */
                                        0,    0,   0,  0, 0, 0, 0, 0, /* FragmentId 0 */
                                        0x03,                         /* Start | End */
                                        0,    0,   0,  3,             /* BlobLength */
                                        'a',  'b', 'c'};
    assert_int_equal(out.len, sizeof one);
    assert_memory_equal(out.data, one, sizeof one);

    /* Ten bytes cut at four: 4 + 4 + 2, ObjectId 2, FragmentIds 0..2. */
    wr_buf_clear(&out);
    assert_int_equal(wr_psrp_fragment_message(&f, "0123456789", 10, 4, &out, &oid), 0);
    assert_int_equal(oid, 2);
    assert_int_equal(out.len, 3 * 21 + 10);
    static const unsigned char frag_hdr[3][21] = {
        {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 4},
        {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0, 0, 0, 4},
        {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 2},
    };
    assert_memory_equal(out.data, frag_hdr[0], 21);
    assert_memory_equal(out.data + 21, "0123", 4);
    assert_memory_equal(out.data + 25, frag_hdr[1], 21);
    assert_memory_equal(out.data + 46, "4567", 4);
    assert_memory_equal(out.data + 50, frag_hdr[2], 21);
    assert_memory_equal(out.data + 71, "89", 2);

    /* An empty message is one Start|End fragment with no blob. */
    wr_buf_clear(&out);
    assert_int_equal(wr_psrp_fragment_message(&f, "", 0, 4, &out, &oid), 0);
    assert_int_equal(oid, 3);
    assert_int_equal(out.len, 21);
    assert_int_equal(out.data[16], 3);
    assert_int_equal(wr_psrp_fragment_message(&f, "x", 1, 0, &out, NULL), WINRSH_EINVAL);

    /* Read back a recorded fragment header (test_client_execute_ps.yml,
     * the start of creationXml): object 1, fragment 0, S|E, 199 bytes. */
    wr_buf bin = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&bin, "AAAAAAAAAAEAAAAAAAAAAAMAAADH", 28), 0);
    wr_psrp_fragment fr;
    size_t used;
    assert_int_equal(wr_psrp_fragment_read(&fr, bin.data, bin.len, &used), WINRSH_EPROTO);
    unsigned char big[21 + 199];
    memset(big, 'x', sizeof big);
    memcpy(big, bin.data, 21);
    assert_int_equal(wr_psrp_fragment_read(&fr, big, sizeof big, &used), 0);
    assert_int_equal(fr.object_id, 1);
    assert_int_equal(fr.fragment_id, 0);
    assert_int_equal(fr.flags, 3);
    assert_int_equal(fr.blob_len, 199);
    assert_int_equal(used, sizeof big);
    wr_buf_free(&bin);
    wr_buf_free(&out);

    /* The largest blob for an envelope: floor((153600 - 1000) * 3 / 4) - 21. */
    assert_int_equal(wr_psrp_max_blob(153600, 1000), (153600 - 1000) / 4 * 3 - 21);
    assert_int_equal(wr_psrp_max_blob(100, 200), 0);
    assert_int_equal(wr_psrp_max_blob(40, 0), 9);
}

static void test_roundtrip_interleaved(void **state)
{
    (void)state;
    unsigned char m1[1000], m2[777];
    for (size_t i = 0; i < sizeof m1; i++)
        m1[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < sizeof m2; i++)
        m2[i] = (unsigned char)(i * 13 + 1);
    wr_psrp_fragmenter f;
    wr_psrp_fragmenter_init(&f);
    wr_buf a = WR_BUF_INIT, b = WR_BUF_INIT;
    assert_int_equal(wr_psrp_fragment_message(&f, m1, sizeof m1, 100, &a, NULL), 0);
    assert_int_equal(wr_psrp_fragment_message(&f, m2, sizeof m2, 64, &b, NULL), 0);

    /* Interleave the fragments one by one, each fed separately. */
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    got g;
    memset(&g, 0, sizeof g);
    size_t oa = 0, ob = 0;
    while (oa < a.len || ob < b.len) {
        wr_psrp_fragment fr;
        size_t used;
        if (oa < a.len) {
            assert_int_equal(wr_psrp_fragment_read(&fr, a.data + oa, a.len - oa, &used), 0);
            assert_int_equal(wr_psrp_defrag_feed(&d, a.data + oa, used, collect, &g), 0);
            oa += used;
        }
        if (ob < b.len) {
            assert_int_equal(wr_psrp_fragment_read(&fr, b.data + ob, b.len - ob, &used), 0);
            assert_int_equal(wr_psrp_defrag_feed(&d, b.data + ob, used, collect, &g), 0);
            ob += used;
        }
    }
    assert_int_equal(g.n, 2);
    /* m1 has 10 fragments and m2 13, so m1 ends first. */
    assert_int_equal(g.ids[0], 1);
    assert_int_equal(g.msgs[0].len, sizeof m1);
    assert_memory_equal(g.msgs[0].data, m1, sizeof m1);
    assert_int_equal(g.ids[1], 2);
    assert_memory_equal(g.msgs[1].data, m2, sizeof m2);
    assert_int_equal(wr_psrp_defrag_pending(&d), 0);
    got_free(&g);

    /* Several whole fragments in one feed. */
    wr_buf both = WR_BUF_INIT;
    wr_buf_append(&both, a.data, a.len);
    wr_buf_append(&both, b.data, b.len);
    assert_int_equal(wr_psrp_defrag_feed(&d, both.data, both.len, collect, &g), 0);
    assert_int_equal(g.n, 2);
    got_free(&g);
    wr_buf_free(&both);
    wr_psrp_defrag_free(&d);
    wr_buf_free(&a);
    wr_buf_free(&b);
}

static void frag(wr_buf *out, uint64_t oid, uint64_t fid, unsigned flags, const char *blob)
{
    assert_int_equal(wr_psrp_fragment_write(out, oid, fid, flags, blob, strlen(blob)), 0);
}

static int feed_expect(wr_buf *in, size_t max_message, size_t max_pending)
{
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, max_message, max_pending);
    got g;
    memset(&g, 0, sizeof g);
    int rc = wr_psrp_defrag_feed(&d, in->data, in->len, collect, &g);
    got_free(&g);
    wr_psrp_defrag_free(&d);
    wr_buf_clear(in);
    return rc;
}

static void test_malformed(void **state)
{
    (void)state;
    wr_buf in = WR_BUF_INIT;
    /* Truncated header. */
    wr_buf_append(&in, "\0\0\0\0\0\0\0\1", 8);
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Blob longer than the data. */
    frag(&in, 1, 0, 3, "abcd");
    in.len -= 1;
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Unknown flag bits. */
    wr_buf_append(&in, "\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\x07\0\0\0\0", 21);
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* A middle fragment with no start. */
    frag(&in, 1, 1, 0, "x");
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* An end with no start. */
    frag(&in, 1, 1, 2, "x");
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Out of order. */
    frag(&in, 1, 0, 1, "a");
    frag(&in, 1, 2, 2, "c");
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Repeated fragment. */
    frag(&in, 1, 0, 1, "a");
    frag(&in, 1, 1, 0, "b");
    frag(&in, 1, 1, 2, "b");
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Started twice. */
    frag(&in, 1, 0, 1, "a");
    frag(&in, 1, 0, 1, "a");
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Start with a non-zero FragmentId. */
    frag(&in, 1, 5, 3, "a");
    assert_int_equal(feed_expect(&in, 0, 0), WINRSH_EPROTO);
    /* Over the size bound, in one fragment and across fragments. */
    frag(&in, 1, 0, 3, "0123456789");
    assert_int_equal(feed_expect(&in, 8, 0), WINRSH_EPROTO);
    frag(&in, 1, 0, 1, "01234");
    frag(&in, 1, 1, 2, "56789");
    assert_int_equal(feed_expect(&in, 8, 0), WINRSH_EPROTO);
    frag(&in, 1, 0, 1, "0123");
    frag(&in, 1, 1, 2, "4567");
    assert_int_equal(feed_expect(&in, 8, 0), 0);
    /* Too many objects in flight. */
    frag(&in, 1, 0, 1, "a");
    frag(&in, 2, 0, 1, "a");
    frag(&in, 3, 0, 1, "a");
    assert_int_equal(feed_expect(&in, 0, 2), WINRSH_EPROTO);
    /* Zero-length middle fragments are fine. */
    frag(&in, 9, 0, 1, "a");
    frag(&in, 9, 1, 0, "");
    frag(&in, 9, 2, 2, "b");
    assert_int_equal(feed_expect(&in, 0, 0), 0);
    wr_buf_free(&in);

    /* Pending objects are freed by reset/free (checked under valgrind). */
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    frag(&in, 4, 0, 1, "partial");
    assert_int_equal(wr_psrp_defrag_feed(&d, in.data, in.len, NULL, NULL), 0);
    assert_int_equal(wr_psrp_defrag_pending(&d), 1);
    wr_psrp_defrag_free(&d);
    wr_buf_free(&in);
}

static int stop_cb(void *payload, uint64_t object_id, const unsigned char *msg, size_t len)
{
    (void)payload;
    (void)object_id;
    (void)msg;
    (void)len;
    return WINRSH_EUSER;
}

static void test_callback_stops(void **state)
{
    (void)state;
    wr_buf in = WR_BUF_INIT;
    frag(&in, 1, 0, 1, "a");
    frag(&in, 1, 1, 2, "b");
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    assert_int_equal(wr_psrp_defrag_feed(&d, in.data, in.len, stop_cb, NULL), WINRSH_EUSER);
    assert_int_equal(wr_psrp_defrag_pending(&d), 0);
    wr_psrp_defrag_free(&d);
    wr_buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_roundtrip_interleaved),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
