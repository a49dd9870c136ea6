/*
 * test_securestring.c: psrp/securestring.c (the CryptoAPI blob layouts, the
 * session key exchange, <SS> encryption) and its use by the engine
 * (runspace.c, host.c): a fake server that does what PowerShell's server
 * does with OpenSSL directly (its own parse of our PUBLICKEYBLOB, its own
 * SIMPLEBLOB, its own AES), so the two sides are checked against each
 * other rather than against themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/trace.h"
#include "psrp/binding.h"
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "psrp/runspace.h"
#include "psrp/securestring.h"
#include "winrsh/winrsh.h"

/* ---- the server's side, written independently --------------------------- */

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A PUBLICKEYBLOB read as the server reads it: an RSA public key. */
static EVP_PKEY *server_read_public_key(const unsigned char *blob, size_t len)
{
    assert_int_equal(len, 276);
    unsigned char be[256];
    for (int i = 0; i < 256; i++)
        be[i] = blob[20 + 255 - i];
    BIGNUM *n = BN_bin2bn(be, 256, NULL);
    BIGNUM *e = BN_new();
    assert_non_null(n);
    assert_non_null(e);
    assert_int_equal(BN_set_word(e, le32(blob + 16)), 1);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pk = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pk;
}

/* The SIMPLEBLOB the server sends: key wrapped with PKCS#1 v1.5, reversed. */
static void server_wrap_key(EVP_PKEY *pub, const unsigned char key[32], unsigned char out[268])
{
    static const unsigned char header[12] = {0x01, 0x02, 0x00, 0x00, 0x10, 0x66,
                                             0x00, 0x00, 0x00, 0xA4, 0x00, 0x00};
    memcpy(out, header, 12);
    unsigned char ct[256];
    size_t ctlen = sizeof ct;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
    assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ctlen, key, 32), 1);
    EVP_PKEY_CTX_free(ctx);
    assert_int_equal(ctlen, 256);
    for (int i = 0; i < 256; i++)
        out[12 + i] = ct[255 - i];
}

/* The server decrypting an <SS> value: the UTF-16LE bytes. */
static size_t server_decrypt(const unsigned char key[32], const char *b64, unsigned char *out,
                             size_t cap)
{
    wr_buf ct = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&ct, b64, strlen(b64)), 0);
    assert_true(ct.len + 16 <= cap);
    static const unsigned char iv[16];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv), 1);
    assert_int_equal(EVP_DecryptUpdate(c, out, &n1, ct.data, (int)ct.len), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, out + n1, &n2), 1);
    EVP_CIPHER_CTX_free(c);
    wr_buf_free(&ct);
    return (size_t)(n1 + n2);
}

/* ---- blob layouts ------------------------------------------------------------ */

static void test_public_key_blob_layout(void **state)
{
    (void)state;
    wr_ss_session s;
    memset(&s, 0, sizeof s);
    wr_buf blob = WR_BUF_INIT;
    assert_int_equal(wr_ss_public_key_blob(&s, &blob), 0);
    assert_int_equal(blob.len, WR_SS_PUBLICKEYBLOB_LEN);
    static const unsigned char head[16] = {0x06, 0x02, 0x00, 0x00, 0x00, 0xA4, 0x00, 0x00,
                                           'R',  'S',  'A',  '1',  0x00, 0x08, 0x00, 0x00};
    assert_memory_equal(blob.data, head, 16);
    assert_int_equal(le32(blob.data + 16), 65537);
    /* The modulus is little-endian: compare with the key's own n. */
    BIGNUM *n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(s.rsa, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    unsigned char be[256];
    assert_int_equal(BN_bn2binpad(n, be, 256), 256);
    for (int i = 0; i < 256; i++)
        assert_int_equal(blob.data[20 + i], be[255 - i]);
    assert_true(blob.data[20 + 255] & 0x80); /* a full 2048-bit modulus */
    BN_free(n);
    /* A second blob is the same key. */
    wr_buf again = WR_BUF_INIT;
    assert_int_equal(wr_ss_public_key_blob(&s, &again), 0);
    assert_memory_equal(again.data, blob.data, blob.len);
    wr_buf_free(&again);
    wr_buf_free(&blob);
    wr_ss_session_clear(&s);
}

static void test_session_key_round_trip(void **state)
{
    (void)state;
    wr_ss_session s;
    memset(&s, 0, sizeof s);
    wr_buf blob = WR_BUF_INIT;
    assert_int_equal(wr_ss_public_key_blob(&s, &blob), 0);
    EVP_PKEY *pub = server_read_public_key(blob.data, blob.len);
    unsigned char key[32], wrapped[268];
    assert_int_equal(RAND_bytes(key, sizeof key), 1);
    server_wrap_key(pub, key, wrapped);

    /* Through base64, as the EncryptedSessionKey property carries it. */
    wr_buf b64 = WR_BUF_INIT;
    assert_int_equal(wr_base64_encode(&b64, wrapped, sizeof wrapped), 0);
    assert_int_equal(wr_ss_import_session_key_b64(&s, (const char *)b64.data, b64.len), 0);
    assert_true(s.have_key);
    assert_memory_equal(s.key, key, 32);

    /* Encrypt as the client, decrypt as the server. */
    const char *secret = "Pa55-w\xC3\xB6rd \xE2\x82\xAC \xF0\x9D\x84\x9E"; /* ö € 𝄞 */
    wr_buf ss = WR_BUF_INIT;
    assert_int_equal(wr_ss_encrypt(s.key, secret, strlen(secret), &ss), 0);
    unsigned char plain[256];
    size_t n = server_decrypt(key, (const char *)ss.data, plain, sizeof plain);
    size_t units = wr_ss_utf16_units(secret, strlen(secret));
    assert_int_equal(units, 14);
    assert_int_equal(n, units * 2);
    unsigned char want[64];
    wr_ss_to_utf16le(secret, strlen(secret), want);
    assert_memory_equal(plain, want, n);
    /* ... and back. */
    char *back = NULL;
    size_t blen = 0;
    assert_int_equal(wr_ss_decrypt(s.key, (const char *)ss.data, ss.len, &back, &blen), 0);
    assert_int_equal(blen, strlen(secret));
    assert_string_equal(back, secret);
    wr_ss_free_plain(back, blen);

    wr_buf_free(&ss);
    wr_buf_free(&b64);
    wr_buf_free(&blob);
    EVP_PKEY_free(pub);
    wr_ss_session_clear(&s);
    assert_false(s.have_key);
}

static void test_bad_session_keys(void **state)
{
    (void)state;
    wr_ss_session s;
    memset(&s, 0, sizeof s);
    unsigned char wrapped[268];
    memset(wrapped, 0, sizeof wrapped);
    /* No key pair yet: nobody asked. */
    assert_int_equal(wr_ss_import_session_key(&s, wrapped, sizeof wrapped), WINRSH_EPROTO);

    wr_buf blob = WR_BUF_INIT;
    assert_int_equal(wr_ss_public_key_blob(&s, &blob), 0);
    EVP_PKEY *pub = server_read_public_key(blob.data, blob.len);
    unsigned char key[32];
    memset(key, 0x5A, sizeof key);
    server_wrap_key(pub, key, wrapped);

    unsigned char bad[268];
    memcpy(bad, wrapped, sizeof bad);
    bad[0] = 0x06; /* not a SIMPLEBLOB */
    assert_int_equal(wr_ss_import_session_key(&s, bad, sizeof bad), WINRSH_EPROTO);
    memcpy(bad, wrapped, sizeof bad);
    bad[4] = 0x0E; /* CALG_AES_128 */
    assert_int_equal(wr_ss_import_session_key(&s, bad, sizeof bad), WINRSH_EPROTO);
    memcpy(bad, wrapped, sizeof bad);
    bad[9] = 0x66; /* not wrapped with CALG_RSA_KEYX */
    assert_int_equal(wr_ss_import_session_key(&s, bad, sizeof bad), WINRSH_EPROTO);
    assert_int_equal(wr_ss_import_session_key(&s, wrapped, 267), WINRSH_EPROTO);
    memcpy(bad, wrapped, sizeof bad);
    bad[100] ^= 0x40; /* the ciphertext no longer unwraps to 32 bytes */
    assert_int_equal(wr_ss_import_session_key(&s, bad, sizeof bad), WINRSH_EPROTO);
    assert_false(s.have_key);
    assert_int_equal(wr_ss_import_session_key_b64(&s, "not base64!", 11), WINRSH_EPROTO);
    /* A 16-byte key wrapped correctly is still refused. */
    {
        unsigned char ct[256], blob16[268];
        size_t ctlen = sizeof ct;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
        assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ctlen, key, 16), 1);
        EVP_PKEY_CTX_free(ctx);
        memcpy(blob16, wrapped, 12);
        for (int i = 0; i < 256; i++)
            blob16[12 + i] = ct[255 - i];
        assert_int_equal(wr_ss_import_session_key(&s, blob16, sizeof blob16), WINRSH_EPROTO);
    }
    assert_int_equal(wr_ss_import_session_key(&s, wrapped, sizeof wrapped), 0);
    assert_memory_equal(s.key, key, 32);
    EVP_PKEY_free(pub);
    wr_buf_free(&blob);
    wr_ss_session_clear(&s);
}

/* Known answers from `openssl enc -aes-256-cbc -K 0001..1f -iv 0` over the
 * UTF-16LE text (iconv -t utf-16le). */
static void test_encrypt_known_answers(void **state)
{
    (void)state;
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i;
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_ss_encrypt(key, "Pa55w0rd!", 9, &b), 0);
    assert_string_equal(wr_buf_cstr(&b), "ojRWazhY3Ra4P88pRcRpzdaYrMI9F+5KSJcaNabm22g=");
    wr_buf_clear(&b);
    assert_int_equal(wr_ss_encrypt(key, "", 0, &b), 0); /* one block of padding */
    assert_string_equal(wr_buf_cstr(&b), "nzt1BJJvi9NuMRjpA6TNSg==");
    char *plain = NULL;
    size_t len = 99;
    assert_int_equal(
        wr_ss_decrypt(key, "ojRWazhY3Ra4P88pRcRpzdaYrMI9F+5KSJcaNabm22g=", 44, &plain, &len), 0);
    assert_int_equal(len, 9);
    assert_string_equal(plain, "Pa55w0rd!");
    wr_ss_free_plain(plain, len);
    assert_int_equal(wr_ss_decrypt(key, "nzt1BJJvi9NuMRjpA6TNSg==", 24, &plain, &len), 0);
    assert_int_equal(len, 0);
    wr_ss_free_plain(plain, len);
    /* Wrong key: bad padding (almost always); not base64; not whole blocks. */
    key[0] ^= 1;
    assert_int_not_equal(
        wr_ss_decrypt(key, "ojRWazhY3Ra4P88pRcRpzdaYrMI9F+5KSJcaNabm22g=", 44, &plain, &len), 0);
    assert_null(plain);
    assert_int_equal(wr_ss_decrypt(key, "@@@@", 4, &plain, &len), WINRSH_EPROTO);
    assert_int_equal(wr_ss_decrypt(key, "AAAA", 4, &plain, &len), WINRSH_EPROTO);
    wr_buf_free(&b);
}

static void test_utf16(void **state)
{
    (void)state;
    const char *s = "a\xE2\x82\xAC\xF0\x9D\x84\x9E"; /* a € 𝄞 */
    assert_int_equal(wr_ss_utf16_units(s, strlen(s)), 4);
    unsigned char out[8];
    wr_ss_to_utf16le(s, strlen(s), out);
    static const unsigned char want[8] = {0x61, 0x00, 0xAC, 0x20, 0x34, 0xD8, 0x1E, 0xDD};
    assert_memory_equal(out, want, 8);
    /* Invalid UTF-8 (a lone continuation byte, an overlong, a surrogate)
     * becomes U+FFFD. */
    const char *bad = "\x80\xC0\xAF\xED\xA0\x80";
    size_t n = wr_ss_utf16_units(bad, strlen(bad));
    unsigned char o2[16];
    wr_ss_to_utf16le(bad, strlen(bad), o2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(o2[2 * i], 0xFD);
        assert_int_equal(o2[2 * i + 1], 0xFF);
    }
}

/* ---- the engine: a fake server that runs the exchange ------------------------ */

/* Over WS-Man pool and pipeline messages come on separate Receives (two
 * queues); out of process on one stream (`single`: one queue, the header's
 * PID says which pipeline). */
typedef struct fs_queue_t {
    wr_buf to_deliver[16]; /* fragments, one receive each */
    size_t n, next;
} fs_queue_t;

typedef struct fake_server {
    wr_psrp_binding base;
    fs_queue_t pool, pipe;
    int single;
    wr_guid pid;       /* the pipeline's, for headers */
    wr_buf pr_sent;    /* host responses */
    int public_keys;   /* PUBLIC_KEY messages seen */
    int pool_receives; /* receives with no pipeline */
    int answer_key;    /* answer PUBLIC_KEY with ENCRYPTED_SESSION_KEY */
    unsigned char key[32];
    wr_psrp_defrag defrag;
    uint64_t oid;
} fake_server;

static void fs_queue(fake_server *fs, uint32_t type, const char *xml)
{
    wr_buf msg = WR_BUF_INIT;
    wr_guid zero = {{0}};
    int for_pipe = (type & 0x00FF0000u) == 0x00040000u;
    assert_int_equal(wr_psrp_message_write(&msg, WR_PSRP_DEST_CLIENT, type, &zero,
                                           for_pipe ? &fs->pid : NULL, xml, strlen(xml)),
                     0);
    fs_queue_t *q = fs->single || !for_pipe ? &fs->pool : &fs->pipe;
    wr_psrp_fragmenter fr = {++fs->oid};
    assert_true(q->n < 16);
    memset(&q->to_deliver[q->n], 0, sizeof(wr_buf));
    assert_int_equal(
        wr_psrp_fragment_message(&fr, msg.data, msg.len, 100000, &q->to_deliver[q->n], NULL), 0);
    q->n++;
    wr_buf_free(&msg);
}

static size_t fs_max_blob(wr_psrp_binding *b)
{
    (void)b;
    return 32768;
}

static int fs_open_pool(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *f, size_t l)
{
    (void)b;
    (void)rpid;
    (void)f;
    (void)l;
    return 0;
}

static int fs_create(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *f, size_t l)
{
    (void)b;
    (void)pid;
    (void)f;
    (void)l;
    return 0;
}

/* A message we sent, as the server sees it. */
static int fs_on_message(void *payload, uint64_t oid, const unsigned char *msg, size_t len)
{
    (void)oid;
    fake_server *fs = payload;
    wr_psrp_message m;
    assert_int_equal(wr_psrp_message_parse(&m, msg, len), 0);
    if (m.type != WR_PSRP_PUBLIC_KEY)
        return 0;
    fs->public_keys++;
    assert_int_equal(m.destination, WR_PSRP_DEST_SERVER);
    winrsh_psobject *o = NULL;
    assert_int_equal(winrsh_psobject_from_clixml(&o, m.data, m.len), 0);
    size_t b64len = 0;
    const char *b64 = winrsh_psobject_text(winrsh_psobject_prop(o, "PublicKey"), &b64len);
    assert_non_null(b64);
    wr_buf blob = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&blob, b64, b64len), 0);
    winrsh_psobject_free(o);
    if (fs->answer_key) {
        EVP_PKEY *pub = server_read_public_key(blob.data, blob.len);
        unsigned char wrapped[268];
        server_wrap_key(pub, fs->key, wrapped);
        EVP_PKEY_free(pub);
        wr_buf b = WR_BUF_INIT, xml = WR_BUF_INIT;
        assert_int_equal(wr_base64_encode(&b, wrapped, sizeof wrapped), 0);
        wr_buf_printf(&xml, "<Obj RefId=\"0\"><MS><S N=\"EncryptedSessionKey\">%s</S></MS></Obj>",
                      wr_buf_cstr(&b));
        fs_queue(fs, WR_PSRP_ENCRYPTED_SESSION_KEY, wr_buf_cstr(&xml));
        wr_buf_free(&b);
        wr_buf_free(&xml);
    }
    wr_buf_free(&blob);
    return 0;
}

static int fs_send(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *f, size_t l, int pr)
{
    (void)pid;
    fake_server *fs = (fake_server *)b;
    if (pr)
        wr_buf_append(&fs->pr_sent, f, l);
    return wr_psrp_defrag_feed(&fs->defrag, f, l, fs_on_message, fs);
}

static int fs_receive(wr_psrp_binding *b, const wr_guid *pid, long timeout_ms, wr_psrp_data_cb cb,
                      void *payload, int *timed_out)
{
    (void)timeout_ms;
    fake_server *fs = (fake_server *)b;
    *timed_out = 0;
    if (!pid)
        fs->pool_receives++;
    fs_queue_t *q = fs->single || !pid ? &fs->pool : &fs->pipe;
    if (q->next >= q->n) {
        *timed_out = 1;
        return 0;
    }
    wr_buf *d = &q->to_deliver[q->next++];
    return cb(fs->single ? NULL : pid, d->data, d->len, payload);
}

static int fs_nop(wr_psrp_binding *b, const wr_guid *pid)
{
    (void)b;
    (void)pid;
    return 0;
}

static int fs_close_pool(wr_psrp_binding *b)
{
    (void)b;
    return 0;
}

static void fs_free(wr_psrp_binding *b)
{
    (void)b;
}

static const wr_psrp_binding_ops FS_OPS = {
    .name = "fake",
    .max_blob = fs_max_blob,
    .open_pool = fs_open_pool,
    .create_pipeline = fs_create,
    .send = fs_send,
    .receive = fs_receive,
    .stop = fs_nop,
    .close_pipeline = fs_nop,
    .close_pool = fs_close_pool,
    .interrupt = NULL,
    .free = fs_free,
};

static void fs_release(fake_server *fs)
{
    for (size_t i = 0; i < fs->pool.n; i++)
        wr_buf_free(&fs->pool.to_deliver[i]);
    for (size_t i = 0; i < fs->pipe.n; i++)
        wr_buf_free(&fs->pipe.to_deliver[i]);
    wr_buf_free(&fs->pr_sent);
    wr_psrp_defrag_free(&fs->defrag);
}

#define OPENED "<Obj RefId=\"0\"><MS><I32 N=\"RunspaceState\">2</I32></MS></Obj>"
#define COMPLETED "<Obj RefId=\"0\"><MS><I32 N=\"PipelineState\">4</I32></MS></Obj>"
#define HOST_CALL(ci, mi, name, mp)                                                                \
    "<Obj RefId=\"0\"><MS><I64 N=\"ci\">" ci "</I64><Obj N=\"mi\" RefId=\"1\"><TN RefId=\"0\">"    \
    "<T>System.Management.Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T>"            \
    "<T>System.ValueType</T><T>System.Object</T></TN><ToString>" name "</ToString><I32>" mi        \
    "</I32></Obj><Obj N=\"mp\" RefId=\"2\"><TN RefId=\"1\"><T>System.Collections.ArrayList</T>"    \
    "<T>System.Object</T></TN><LST>" mp "</LST></Obj></MS></Obj>"
#define SECRET "hunter2 \xC3\xA4\xF0\x9D\x84\x9E"

typedef struct typed {
    int lines, secrets;
    wr_buf shown;
    char *last_secret_buf; /* the buffer we filled: wiped afterwards? */
} typed;

static int t_read_line(char *buf, size_t size, void *payload)
{
    typed *t = payload;
    t->lines++;
    snprintf(buf, size, "DOM\\bob");
    return 0;
}

static int t_read_secret(char *buf, size_t size, void *payload)
{
    typed *t = payload;
    t->secrets++;
    snprintf(buf, size, "%s", SECRET);
    t->last_secret_buf = buf;
    return 0;
}

static int t_write(winrsh_host_stream s, const char *text, size_t len, int nl, void *payload)
{
    (void)s;
    typed *t = payload;
    wr_buf_append(&t->shown, text, len);
    if (nl)
        wr_buf_putc(&t->shown, '\n');
    return 0;
}

static wr_buf trace_text;

static void on_trace(winrsh_trace_kind kind, const char *text, size_t len, void *payload)
{
    (void)kind;
    (void)payload;
    wr_buf_append(&trace_text, text, len);
    wr_buf_putc(&trace_text, '\n');
}

/* The decrypted value of an <SS> response value, as the server sees it. */
static void check_secret(const fake_server *fs, const winrsh_psobject *ss)
{
    assert_int_equal(winrsh_psobject_get_kind(ss), WINRSH_PSOBJ_SECURESTRING);
    const char *b64 = winrsh_psobject_text(ss, NULL);
    assert_non_null(b64);
    assert_null(strstr(b64, "hunter2"));
    unsigned char plain[256], want[256];
    size_t n = server_decrypt(fs->key, b64, plain, sizeof plain);
    size_t units = wr_ss_utf16_units(SECRET, strlen(SECRET));
    assert_int_equal(n, units * 2);
    wr_ss_to_utf16le(SECRET, strlen(SECRET), want);
    assert_memory_equal(plain, want, n);
}

static void test_engine_exchange(void **state)
{
    (void)state;
    fake_server fs;
    memset(&fs, 0, sizeof fs);
    fs.base.ops = &FS_OPS;
    fs.answer_key = 1;
    wr_psrp_defrag_init(&fs.defrag, 0, 0);
    assert_int_equal(RAND_bytes(fs.key, sizeof fs.key), 1);
    fs_queue(&fs, WR_PSRP_RUNSPACEPOOL_STATE, OPENED);

    typed t;
    memset(&t, 0, sizeof t);
    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro.host_write = t_write;
    ro.host_read_line = t_read_line;
    ro.host_read_secret = t_read_secret;
    ro.host_payload = &t;
    winrsh_runspace *rs = NULL;
    assert_int_equal(wr_runspace_open_binding(&rs, &fs.base, NULL, &ro, NULL), 0);
    wr_tracer tracer = {on_trace, NULL, 2};
    rs->tracer = &tracer;

    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "Read-Host -AsSecureString; Get-Credential"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    fs.pid = p->pid;
    fs_queue(&fs, WR_PSRP_PIPELINE_HOST_CALL, HOST_CALL("1", "12", "ReadLineAsSecureString", ""));
    fs_queue(&fs, WR_PSRP_PIPELINE_HOST_CALL,
             HOST_CALL("2", "24", "PromptForCredential1",
                       "<S>PowerShell credential request</S><S>Enter your credentials.</S>"
                       "<Nil /><S></S>"));
    fs_queue(&fs, WR_PSRP_PIPELINE_HOST_CALL,
             HOST_CALL("3", "23", "Prompt",
                       "<S></S><S></S><Obj RefId=\"3\"><LST><Obj RefId=\"4\"><MS>"
                       "<S N=\"name\">Pw</S><S N=\"label\"></S>"
                       "<S N=\"parameterTypeFullName\">System.Security.SecureString</S>"
                       "</MS></Obj></LST></Obj>"));
    fs_queue(&fs, WR_PSRP_PIPELINE_STATE, COMPLETED);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    /* One exchange, done on the pool, before the first answer. */
    assert_int_equal(fs.public_keys, 1);
    assert_true(fs.pool_receives >= 1);
    assert_int_equal(t.secrets, 3);
    assert_int_equal(t.lines, 1);
    assert_string_equal(wr_buf_cstr(&t.shown), "PowerShell credential request\n"
                                               "Enter your credentials.\n"
                                               "User: Password for user DOM\\bob: Pw: ");

    /* The answers, decrypted as the server would. */
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    size_t off = 0, n = 0;
    while (off < fs.pr_sent.len) {
        wr_psrp_fragment f;
        size_t used;
        assert_int_equal(
            wr_psrp_fragment_read(&f, fs.pr_sent.data + off, fs.pr_sent.len - off, &used), 0);
        wr_psrp_message m;
        assert_int_equal(wr_psrp_message_parse(&m, f.blob, f.blob_len), 0);
        assert_int_equal(m.type, WR_PSRP_PIPELINE_HOST_RESPONSE);
        winrsh_psobject *o = NULL;
        assert_int_equal(winrsh_psobject_from_clixml(&o, m.data, m.len), 0);
        assert_null(winrsh_psobject_prop(o, "me"));
        const winrsh_psobject *mr = winrsh_psobject_prop(o, "mr");
        assert_non_null(mr);
        if (n == 0) {
            check_secret(&fs, mr);
        } else if (n == 1) {
            assert_true(winrsh_psobject_is_type(mr, "System.Management.Automation.PSCredential"));
            assert_string_equal(winrsh_psobject_text(winrsh_psobject_prop(mr, "UserName"), NULL),
                                "DOM\\bob");
            check_secret(&fs, winrsh_psobject_prop(mr, "Password"));
        } else {
            check_secret(&fs, winrsh_psobject_dict_get(mr, "Pw"));
        }
        winrsh_psobject_free(o);
        off += used;
        n++;
    }
    assert_int_equal(n, 3);
    wr_psrp_defrag_free(&d);

    /* The secret is in no trace line; the exchange is. */
    assert_null(strstr(wr_buf_cstr(&trace_text), "hunter2"));
    assert_non_null(strstr(wr_buf_cstr(&trace_text), "PUBLIC_KEY"));

    /* A second secret needs no second exchange. */
    winrsh_pipeline *p2 = NULL;
    assert_int_equal(winrsh_pipeline_new(&p2, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p2, "Read-Host -AsSecureString"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p2), 0);
    fs.pid = p2->pid;
    fs_queue(&fs, WR_PSRP_PIPELINE_HOST_CALL, HOST_CALL("4", "12", "ReadLineAsSecureString", ""));
    fs_queue(&fs, WR_PSRP_PIPELINE_STATE, COMPLETED);
    assert_int_equal(winrsh_pipeline_wait(p2), 0);
    assert_int_equal(fs.public_keys, 1);

    winrsh_pipeline_free(p2);
    winrsh_pipeline_free(p);
    winrsh_runspace_free(rs);
    fs_release(&fs);
    wr_buf_free(&t.shown);
    wr_buf_free(&trace_text);
}

/* PUBLIC_KEY_REQUEST from the server is answered with PUBLIC_KEY; a server
 * that never sends the session key gets error answers, not a hang. */
static void test_engine_request_and_no_key(void **state)
{
    (void)state;
    fake_server fs;
    memset(&fs, 0, sizeof fs);
    fs.base.ops = &FS_OPS;
    fs.answer_key = 0;
    fs.single = 1; /* out of process: the key request comes with the pipeline's data */
    wr_psrp_defrag_init(&fs.defrag, 0, 0);
    fs_queue(&fs, WR_PSRP_RUNSPACEPOOL_STATE, OPENED);
    typed t;
    memset(&t, 0, sizeof t);
    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro.host_read_secret = t_read_secret;
    ro.host_payload = &t;
    winrsh_runspace *rs = NULL;
    assert_int_equal(wr_runspace_open_binding(&rs, &fs.base, NULL, &ro, NULL), 0);
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "x"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    fs.pid = p->pid;
    fs_queue(&fs, WR_PSRP_PUBLIC_KEY_REQUEST, "<S></S>");
    fs_queue(&fs, WR_PSRP_PIPELINE_STATE, COMPLETED);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(fs.public_keys, 1);
    winrsh_pipeline_free(p);

    /* Now a secret with no key coming (the wait for it is bounded): here
     * the pool breaks while we wait; the call is answered with an error. */
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "Read-Host -AsSecureString"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    fs.pid = p->pid;
    fs_queue(&fs, WR_PSRP_PIPELINE_HOST_CALL, HOST_CALL("1", "12", "ReadLineAsSecureString", ""));
    /* The pool receive gets a Broken pool state: the exchange fails. */
    fs_queue(&fs, WR_PSRP_RUNSPACEPOOL_STATE,
             "<Obj RefId=\"0\"><MS><I32 N=\"RunspaceState\">5</I32></MS></Obj>");
    int rc = winrsh_pipeline_wait(p);
    assert_int_not_equal(rc, 0);
    assert_int_equal(t.secrets, 0); /* never asked without a key */
    /* The call was still answered, with an error. */
    assert_true(fs.pr_sent.len > 0);
    wr_psrp_fragment f;
    size_t used;
    assert_int_equal(wr_psrp_fragment_read(&f, fs.pr_sent.data, fs.pr_sent.len, &used), 0);
    wr_psrp_message m;
    assert_int_equal(wr_psrp_message_parse(&m, f.blob, f.blob_len), 0);
    winrsh_psobject *o = NULL;
    assert_int_equal(winrsh_psobject_from_clixml(&o, m.data, m.len), 0);
    assert_non_null(winrsh_psobject_prop(o, "me"));
    winrsh_psobject_free(o);
    winrsh_pipeline_free(p);
    winrsh_runspace_free(rs);
    fs_release(&fs);
}

/* A version 1 options struct (an older caller) still opens a runspace. */
static void test_options_v1(void **state)
{
    (void)state;
    winrsh_runspace_options ro;
    memset(&ro, 0xAB, sizeof ro);
    assert_int_equal(winrsh_runspace_options_init(&ro, 1), 0);
    assert_int_equal(ro.version, 1);
    assert_null(ro.host_call);
    /* The version 2 fields were not touched (an old struct ends earlier). */
    unsigned char tail[sizeof(winrsh_host_read_secret_cb)];
    memset(tail, 0xAB, sizeof tail);
    assert_memory_equal(&ro.host_read_secret, tail, sizeof tail);
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION + 1),
                     WINRSH_EINVAL);
    /* Version 2 clears its own fields and leaves the version 3 ones. */
    memset(&ro, 0xAB, sizeof ro);
    assert_int_equal(winrsh_runspace_options_init(&ro, 2), 0);
    assert_null(ro.host_read_secret);
    assert_null(ro.host_credential);
    unsigned char tail3[sizeof ro.application_arguments];
    memset(tail3, 0xAB, sizeof tail3);
    assert_memory_equal(&ro.application_arguments, tail3, sizeof tail3);
    assert_int_equal(winrsh_runspace_options_init(&ro, 3), 0);
    assert_null(ro.application_arguments);
    assert_int_equal(ro.no_profile, 0);
    assert_int_equal(ro.max_runspaces, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_key_blob_layout),
        cmocka_unit_test(test_session_key_round_trip),
        cmocka_unit_test(test_bad_session_keys),
        cmocka_unit_test(test_encrypt_known_answers),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_engine_exchange),
        cmocka_unit_test(test_engine_request_and_no_key),
        cmocka_unit_test(test_options_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
