/*
 * test_ntlm.c: NTLM (transport/auth/ntlm_core.c, ntlm.c) against the
 * MS-NLMP 4.2 example values (tests/fixtures/ntlm-ms-nlmp-4.2, read from the
 * JSON at run time) and real tokens from pyspnego (tests/fixtures/pyspnego).
 *
 * NTLMv1 (4.2.2, 4.2.3): the product refuses NTLMv1, so it has no DES. The
 * DES-based values (LMOWFv1, the v1 responses, the LM_KEY key exchange key)
 * are checked here with a test-only DES built from OpenSSL's DES-EDE3 with
 * three equal keys (single DES is only in OpenSSL's legacy provider).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "transport/auth/auth.h"
#include "transport/auth/ntlm_core.h"
#include "transport/crypto/hmac_md5.h"
#include "transport/crypto/md4.h"
#include "transport/crypto/rc4.h"
#include "winrsh/errors.h"
#include "winrsh/winrsh.h"

/* ---- Fixtures ------------------------------------------------------------ */

static unsigned char *read_file(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", WINRSH_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        size_t got = fread(data + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    data[n] = 0;
    *len = n;
    return data;
}

/* A minimal JSON reader for the vector file: objects, strings (no escapes
 * are needed there), numbers. json_get(doc, "a/b/c") returns the value of
 * a string or number as a heap string. */
static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *json_skip(const char *p)
{
    p = json_ws(p);
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1])
                p++;
        assert_int_equal(*p, '"');
        return p + 1;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = json_ws(p + 1);
        while (*p != close) {
            if (close == '}') {
                p = json_skip(p); /* key */
                p = json_ws(p);
                assert_int_equal(*p, ':');
                p++;
            }
            p = json_ws(json_skip(p));
            if (*p == ',')
                p = json_ws(p + 1);
            else
                assert_int_equal(*p, close);
        }
        return p + 1;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
        p++;
    return p;
}

static char *json_get(const char *doc, const char *path)
{
    const char *p = json_ws(doc);
    char key[128];
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t kl = slash ? (size_t)(slash - path) : strlen(path);
        assert_true(kl < sizeof key);
        memcpy(key, path, kl);
        key[kl] = 0;
        path += kl + (slash ? 1 : 0);
        assert_int_equal(*p, '{');
        p = json_ws(p + 1);
        int found = 0;
        while (*p != '}') {
            assert_int_equal(*p, '"');
            const char *k = p + 1;
            const char *kend = strchr(k, '"');
            p = json_ws(kend + 1);
            assert_int_equal(*p, ':');
            p = json_ws(p + 1);
            if ((size_t)(kend - k) == kl && memcmp(k, key, kl) == 0) {
                found = 1;
                break;
            }
            p = json_ws(json_skip(p));
            if (*p == ',')
                p = json_ws(p + 1);
        }
        if (!found)
            fail_msg("vector %s missing", key);
    }
    const char *start = p, *end;
    if (*p == '"') {
        start = p + 1;
        end = strchr(start, '"');
    } else {
        end = json_skip(p);
    }
    char *v = malloc((size_t)(end - start) + 1);
    assert_non_null(v);
    memcpy(v, start, (size_t)(end - start));
    v[end - start] = 0;
    return v;
}

static char *g_json;

/* Hex value at a JSON path, decoded into a heap buffer. */
static unsigned char *vec(const char *path, size_t *len)
{
    char *h = json_get(g_json, path);
    size_t n = strlen(h) / 2;
    assert_int_equal(strlen(h) % 2, 0);
    unsigned char *out = malloc(n + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    free(h);
    if (len)
        *len = n;
    return out;
}

static uint32_t vec_u32(const char *path)
{
    char *h = json_get(g_json, path);
    uint32_t v = (uint32_t)strtoul(h, NULL, 0);
    free(h);
    return v;
}

/* Compare `got` with the hex value at `path` (same length). */
static void check(const char *path, const void *got, size_t got_len)
{
    size_t n;
    unsigned char *want = vec(path, &n);
    if (n != got_len || memcmp(want, got, n) != 0) {
        fprintf(stderr, "mismatch for %s (len %zu vs %zu)\n  got  ", path, got_len, n);
        for (size_t i = 0; i < got_len; i++)
            fprintf(stderr, "%02x", ((const unsigned char *)got)[i]);
        fprintf(stderr, "\n");
        free(want);
        fail_msg("vector %s", path);
    }
    free(want);
}

static int setup(void **state)
{
    (void)state;
    size_t n;
    g_json = (char *)read_file("ntlm-ms-nlmp-4.2/ms-nlmp-4.2-vectors.json", &n);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_json);
    return 0;
}

/* ---- Test-only DES (NTLMv1 values) -------------------------------------- */

/* DES(K7, D): 56-bit key spread over 8 bytes (parity bits ignored), one
 * block, via DES-EDE3 with K1 = K2 = K3 (which is single DES). */
static void des7(const unsigned char k7[7], const unsigned char in[8], unsigned char out[8])
{
    unsigned char k[24];
    k[0] = k7[0];
    for (int i = 1; i < 7; i++)
        k[i] = (unsigned char)((k7[i - 1] << (8 - i)) | (k7[i] >> i));
    k[7] = (unsigned char)(k7[6] << 1);
    memcpy(k + 8, k, 8);
    memcpy(k + 16, k, 8);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_des_ede3_ecb(), NULL, k, NULL), 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    assert_int_equal(EVP_EncryptUpdate(c, out, &l1, in, 8), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + l1, &l2), 1);
    assert_int_equal(l1 + l2, 8);
    EVP_CIPHER_CTX_free(c);
}

/* DESL (MS-NLMP 6): three DES of D under K[0..6], K[7..13], K[14..15]||Z(5). */
static void desl(const unsigned char k[16], const unsigned char d[8], unsigned char out[24])
{
    unsigned char k3[7] = {k[14], k[15]};
    des7(k, d, out);
    des7(k + 7, d, out + 8);
    des7(k3, d, out + 16);
}

/* ---- MS-NLMP 4.2.2 / 4.2.3: NTLMv1 -------------------------------------- */

static void test_v1_values(void **state)
{
    (void)state;
    unsigned char *pw = (unsigned char *)json_get(g_json, "common_4.2.1/password");
    unsigned char *sc = vec("common_4.2.1/server_challenge", NULL);
    unsigned char *rsk = vec("common_4.2.1/random_session_key", NULL);
    unsigned char ntowf[16], lmowf[16], resp[24], sbk[16], kx[16], enc[16];

    /* NTOWFv1 = MD4(UNICODE(Passwd)) */
    assert_int_equal(wr_ntlm_ntowfv1((const char *)pw, ntowf), 0);
    check("ntlmv1_4.2.2/NTOWFv1", ntowf, 16);

    /* LMOWFv1 = DES(UPPER(pw)[0..6], "KGS!@#$%") || DES(UPPER(pw)[7..13], ...) */
    unsigned char up[14] = {0};
    for (size_t i = 0; pw[i] && i < 14; i++)
        up[i] = (unsigned char)(pw[i] >= 'a' && pw[i] <= 'z' ? pw[i] - 32 : pw[i]);
    des7(up, (const unsigned char *)"KGS!@#$%", lmowf);
    des7(up + 7, (const unsigned char *)"KGS!@#$%", lmowf + 8);
    check("ntlmv1_4.2.2/LMOWFv1", lmowf, 16);

    /* 3.3.1: responses are DESL(OWF, ServerChallenge). */
    desl(ntowf, sc, resp);
    check("ntlmv1_4.2.2/NtChallengeResponse", resp, 24);
    unsigned char lmresp[24];
    desl(lmowf, sc, lmresp);
    check("ntlmv1_4.2.2/LmChallengeResponse", lmresp, 24);

    /* SessionBaseKey = MD4(NTOWFv1); KXKEY = SessionBaseKey (no ESS, no LM_KEY). */
    wr_md4(ntowf, 16, sbk);
    check("ntlmv1_4.2.2/SessionBaseKey", sbk, 16);
    check("ntlmv1_4.2.2/KeyExchangeKey", sbk, 16);
    wr_ntlm_rc4k(sbk, rsk, enc);
    check("ntlmv1_4.2.2/EncryptedRandomSessionKey", enc, 16);

    /* NON_NT_SESSION_KEY: KXKEY = LMOWF[0..7] || Z(8). */
    memset(kx, 0, 16);
    memcpy(kx, lmowf, 8);
    check("ntlmv1_4.2.2/with_NON_NT_SESSION_KEY/KeyExchangeKey", kx, 16);
    wr_ntlm_rc4k(kx, rsk, enc);
    check("ntlmv1_4.2.2/with_NON_NT_SESSION_KEY/EncryptedRandomSessionKey", enc, 16);

    /* LM_KEY: DES(LMOWF[0..6], LmResp[0..7]) || DES(LMOWF[7]||0xBD*6, LmResp[0..7]). */
    unsigned char k2[7] = {lmowf[7], 0xBD, 0xBD, 0xBD, 0xBD, 0xBD, 0xBD};
    des7(lmowf, lmresp, kx);
    des7(k2, lmresp, kx + 8);
    check("ntlmv1_4.2.2/with_LM_KEY/KeyExchangeKey", kx, 16);
    wr_ntlm_rc4k(kx, rsk, enc);
    check("ntlmv1_4.2.2/with_LM_KEY/EncryptedRandomSessionKey", enc, 16);

    /* 4.2.2's flags have no extended session security: our client refuses
     * a CHALLENGE carrying them. */
    uint32_t f1 = vec_u32("ntlmv1_4.2.2/negotiate_flags");
    assert_int_equal(f1 & WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY, 0);
    free(pw);
    free(sc);
    free(rsk);
}

static void test_v1_ess_values(void **state)
{
    (void)state;
    char *pw = json_get(g_json, "common_4.2.1/password");
    unsigned char *sc = vec("common_4.2.1/server_challenge", NULL);
    unsigned char *cc = vec("common_4.2.1/client_challenge", NULL);
    unsigned char *plain;
    size_t plen;
    plain = vec("common_4.2.1/plaintext_utf16le", &plen);
    uint32_t flags = vec_u32("ntlmv1_ess_4.2.3/negotiate_flags");
    unsigned char ntowf[16], h[16], resp[24], lm[24] = {0}, sbk[16], kx[16], key[16];

    assert_int_equal(wr_ntlm_ntowfv1(pw, ntowf), 0);
    /* 3.3.1 with ESS: NT = DESL(NTOWF, MD5(SC || CC)[0..7]); LM = CC || Z(16). */
    wr_iov parts[2] = {{sc, 8}, {cc, 8}};
    assert_int_equal(wr_md5(parts, 2, h), 0);
    desl(ntowf, h, resp);
    check("ntlmv1_ess_4.2.3/NtChallengeResponse", resp, 24);
    memcpy(lm, cc, 8);
    check("ntlmv1_ess_4.2.3/LmChallengeResponse", lm, 24);
    wr_md4(ntowf, 16, sbk);
    check("ntlmv1_ess_4.2.3/SessionBaseKey", sbk, 16);
    /* 3.4.5.1 with ESS: KXKEY = HMAC_MD5(SBK, SC || LmChallengeResponse[0..7]). */
    wr_iov kp[2] = {{sc, 8}, {lm, 8}};
    assert_int_equal(wr_hmac_md5(sbk, 16, kp, 2, kx), 0);
    check("ntlmv1_ess_4.2.3/KeyExchangeKey", kx, 16);
    /* No KEY_EXCH: ExportedSessionKey = KXKEY. */
    assert_int_equal(flags & WR_NTLM_NEGOTIATE_KEY_EXCH, 0);
    check("ntlmv1_ess_4.2.3/ExportedSessionKey", kx, 16);
    assert_int_equal(wr_ntlm_seal_key(flags, kx, 0, key), 0); /* 56-bit: no NEGOTIATE_128 */
    check("ntlmv1_ess_4.2.3/ClientSealKey", key, 16);
    assert_int_equal(wr_ntlm_sign_key(kx, 0, key), 0);
    check("ntlmv1_ess_4.2.3/ClientSignKey", key, 16);

    /* Seal "Plaintext" at seq 0: checksum not RC4-encrypted (no KEY_EXCH). */
    wr_ntlm_session s;
    unsigned char out[64], sig[16];
    assert_int_equal(wr_ntlm_session_init(&s, flags, kx, 0), 0);
    assert_int_equal(wr_ntlm_seal(&s, plain, plen, out, sig), 0);
    check("ntlmv1_ess_4.2.3/seal_plaintext_seq0/sealed", out, plen);
    check("ntlmv1_ess_4.2.3/seal_plaintext_seq0/signature", sig, 16);
    wr_ntlm_session_wipe(&s);
    free(pw);
    free(sc);
    free(cc);
    free(plain);
}

/* ---- MS-NLMP 4.2.4: NTLMv2 ----------------------------------------------- */

static void test_v2_values(void **state)
{
    (void)state;
    char *user = json_get(g_json, "common_4.2.1/user");
    char *dom = json_get(g_json, "common_4.2.1/user_domain");
    char *pw = json_get(g_json, "common_4.2.1/password");
    char *seq = json_get(g_json, "common_4.2.1/seq_num");
    unsigned char *sc = vec("common_4.2.1/server_challenge", NULL);
    unsigned char *cc = vec("common_4.2.1/client_challenge", NULL);
    unsigned char *rsk = vec("common_4.2.1/random_session_key", NULL);
    unsigned char *tm = vec("common_4.2.1/time", NULL);
    size_t avlen, plen;
    unsigned char *av = vec("ntlmv2_4.2.4/target_info_av_pairs", &avlen);
    unsigned char *plain = vec("common_4.2.1/plaintext_utf16le", &plen);
    unsigned char nth[16], k[16], sbk[16], enc[16], lm[24];
    uint64_t t = 0;
    for (int i = 7; i >= 0; i--)
        t = t << 8 | tm[i];

    assert_int_equal(wr_ntlm_ntowfv1(pw, nth), 0);
    assert_int_equal(wr_ntlm_ntowfv2(nth, user, dom, k), 0);
    check("ntlmv2_4.2.4/NTOWFv2", k, 16);

    wr_buf nt = WR_BUF_INIT;
    assert_int_equal(wr_ntlm_ntv2_response(k, sc, cc, t, av, avlen, &nt, sbk), 0);
    check("ntlmv2_4.2.4/NtChallengeResponse", nt.data, nt.len);
    check("ntlmv2_4.2.4/NTProofStr", nt.data, 16);
    check("ntlmv2_4.2.4/temp", nt.data + 16, nt.len - 16);
    check("ntlmv2_4.2.4/SessionBaseKey", sbk, 16);
    check("ntlmv2_4.2.4/KeyExchangeKey", sbk, 16); /* NTLMv2: KXKEY = SBK */
    assert_int_equal(wr_ntlm_lmv2_response(k, sc, cc, lm), 0);
    check("ntlmv2_4.2.4/LmChallengeResponse", lm, 24);
    wr_ntlm_rc4k(sbk, rsk, enc);
    check("ntlmv2_4.2.4/EncryptedRandomSessionKey", enc, 16);
    check("ntlmv2_4.2.4/ExportedSessionKey", rsk, 16);

    unsigned char key[16];
    assert_int_equal(wr_ntlm_sign_key(rsk, 0, key), 0);
    check("ntlmv2_4.2.4/ClientSignKey", key, 16);
    assert_int_equal(wr_ntlm_sign_key(rsk, 1, key), 0);
    check("ntlmv2_4.2.4/ServerSignKey", key, 16);
    static const struct {
        const char *bits;
        uint32_t flags;
    } sizes[] = {{"128", WR_NTLM_NEGOTIATE_128 | WR_NTLM_NEGOTIATE_56},
                 {"56", WR_NTLM_NEGOTIATE_56},
                 {"40", 0}};
    for (size_t i = 0; i < 3; i++) {
        char path[96];
        for (int server = 0; server < 2; server++) {
            snprintf(path, sizeof path, "ntlmv2_4.2.4/SealKeys_ESS/%s/%s", sizes[i].bits,
                     server ? "server" : "client");
            assert_int_equal(wr_ntlm_seal_key(sizes[i].flags, rsk, server, key), 0);
            check(path, key, 16);
        }
    }

    /* Seal + sign "Plaintext", seq 0, KEY_EXCH: the checksum is RC4'd with
     * the sealing handle right after the data. */
    uint32_t sflags = vec_u32("ntlmv2_4.2.4/seal_plaintext_seq0_flags");
    assert_int_equal(sflags, WR_NTLM_NEGOTIATE_SEAL | WR_NTLM_NEGOTIATE_SIGN |
                                 WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY |
                                 WR_NTLM_NEGOTIATE_KEY_EXCH | WR_NTLM_NEGOTIATE_128);
    wr_ntlm_session s, srv;
    unsigned char out[64], back[64], sig[16];
    assert_int_equal(wr_ntlm_session_init(&s, sflags, rsk, 0), 0);
    assert_int_equal(s.out.seq, (uint32_t)strtoul(seq, NULL, 10));
    assert_int_equal(wr_ntlm_seal(&s, plain, plen, out, sig), 0);
    check("ntlmv2_4.2.4/seal_plaintext_seq0/sealed", out, plen);
    check("ntlmv2_4.2.4/seal_plaintext_seq0/signature", sig, 16);
    /* ... and the server end opens it. */
    assert_int_equal(wr_ntlm_session_init(&srv, sflags, rsk, 1), 0);
    assert_int_equal(wr_ntlm_unseal(&srv, out, plen, back, sig), 0);
    assert_memory_equal(back, plain, plen);
    wr_ntlm_session_wipe(&s);
    wr_ntlm_session_wipe(&srv);

    wr_buf_free(&nt);
    free(user);
    free(dom);
    free(pw);
    free(seq);
    free(sc);
    free(cc);
    free(rsk);
    free(tm);
    free(av);
    free(plain);
}

static void assert_utf16(wr_ntlm_bytes b, const char *want)
{
    wr_buf u = WR_BUF_INIT;
    assert_int_equal(wr_ntlm_utf8(&u, b.p, b.len), 0);
    assert_string_equal(wr_buf_cstr(&u), want);
    wr_buf_free(&u);
}

static void test_v2_messages(void **state)
{
    (void)state;
    size_t clen, alen, avlen;
    unsigned char *cm = vec("ntlmv2_4.2.4/challenge_message", &clen);
    unsigned char *am = vec("ntlmv2_4.2.4/authenticate_message", &alen);
    unsigned char *av = vec("ntlmv2_4.2.4/target_info_av_pairs", &avlen);
    unsigned char *sc = vec("common_4.2.1/server_challenge", NULL);
    char *server = json_get(g_json, "common_4.2.1/server_name");
    char *dom = json_get(g_json, "common_4.2.1/user_domain");
    char *user = json_get(g_json, "common_4.2.1/user");
    char *ws = json_get(g_json, "common_4.2.1/workstation_name");

    /* CHALLENGE fields. */
    wr_ntlm_challenge ch;
    assert_int_equal(wr_ntlm_challenge_parse(cm, clen, &ch), 0);
    assert_int_equal(ch.flags, vec_u32("ntlmv2_4.2.4/negotiate_flags_challenge"));
    assert_memory_equal(ch.server_challenge, sc, 8);
    assert_utf16(ch.target_name, server);
    assert_int_equal(ch.target_info.len, avlen);
    assert_memory_equal(ch.target_info.p, av, avlen);
    assert_int_equal(ch.av.count, 2);
    assert_utf16(ch.av.nb_domain, dom);
    assert_utf16(ch.av.nb_computer, server);
    assert_false(ch.av.has_timestamp);
    assert_true(ch.has_version);

    /* AUTHENTICATE fields. */
    wr_ntlm_authenticate a;
    assert_int_equal(wr_ntlm_authenticate_parse(am, alen, &a), 0);
    assert_int_equal(a.flags, vec_u32("ntlmv2_4.2.4/negotiate_flags_authenticate"));
    check("ntlmv2_4.2.4/LmChallengeResponse", a.lm.p, a.lm.len);
    check("ntlmv2_4.2.4/NtChallengeResponse", a.nt.p, a.nt.len);
    check("ntlmv2_4.2.4/EncryptedRandomSessionKey", a.session_key.p, a.session_key.len);
    assert_utf16(a.domain, dom);
    assert_utf16(a.user, user);
    assert_utf16(a.workstation, ws);
    assert_non_null(a.version);
    assert_null(a.mic);

    /* Rebuild AUTHENTICATE byte for byte from values computed here (the
     * version structure is the vector message's own). */
    char *pw = json_get(g_json, "common_4.2.1/password");
    unsigned char *cc = vec("common_4.2.1/client_challenge", NULL);
    unsigned char *rsk = vec("common_4.2.1/random_session_key", NULL);
    unsigned char nth[16], k[16], sbk[16], lm[24], enc[16];
    wr_buf nt = WR_BUF_INIT, d16 = WR_BUF_INIT, u16 = WR_BUF_INIT, w16 = WR_BUF_INIT,
           out = WR_BUF_INIT;
    assert_int_equal(wr_ntlm_ntowfv1(pw, nth), 0);
    assert_int_equal(wr_ntlm_ntowfv2(nth, user, dom, k), 0);
    assert_int_equal(wr_ntlm_ntv2_response(k, ch.server_challenge, cc, 0, ch.target_info.p,
                                           ch.target_info.len, &nt, sbk),
                     0);
    assert_int_equal(wr_ntlm_lmv2_response(k, ch.server_challenge, cc, lm), 0);
    wr_ntlm_rc4k(sbk, rsk, enc);
    assert_int_equal(wr_ntlm_utf16le(&d16, dom, strlen(dom), 0), 0);
    assert_int_equal(wr_ntlm_utf16le(&u16, user, strlen(user), 0), 0);
    assert_int_equal(wr_ntlm_utf16le(&w16, ws, strlen(ws), 0), 0);
    wr_ntlm_authenticate b = {
        .flags = a.flags,
        .lm = {lm, 24},
        .nt = {nt.data, nt.len},
        .domain = {d16.data, d16.len},
        .user = {u16.data, u16.len},
        .workstation = {w16.data, w16.len},
        .session_key = {enc, 16},
        .version = a.version,
        .mic = NULL,
    };
    assert_int_equal(wr_ntlm_authenticate_build(&b, &out, NULL), 0);
    check("ntlmv2_4.2.4/authenticate_message", out.data, out.len);

    wr_buf_free(&nt);
    wr_buf_free(&d16);
    wr_buf_free(&u16);
    wr_buf_free(&w16);
    wr_buf_free(&out);
    free(pw);
    free(cc);
    free(rsk);
    free(cm);
    free(am);
    free(av);
    free(sc);
    free(server);
    free(dom);
    free(user);
    free(ws);
}

/* ---- A simulated server ------------------------------------------------- */

/* What an acceptor does with our AUTHENTICATE: recompute NTOWFv2 and the
 * NTProofStr, derive the session key, check the MIC. Returns the
 * ExportedSessionKey and the parsed AV info of our NTLMv2 response. */
static void server_accept(const char *password, const char *user, const char *domain,
                          const wr_ntlm_bytes *neg, const unsigned char *chal, size_t chal_len,
                          const wr_buf *auth, unsigned char esk[16], wr_ntlm_av_info *avi)
{
    wr_ntlm_challenge ch;
    wr_ntlm_authenticate a;
    assert_int_equal(wr_ntlm_challenge_parse(chal, chal_len, &ch), 0);
    assert_int_equal(wr_ntlm_authenticate_parse(auth->data, auth->len, &a), 0);
    assert_utf16(a.user, user);
    assert_utf16(a.domain, domain);
    unsigned char nth[16], k[16], proof[16], sbk[16];
    assert_int_equal(wr_ntlm_ntowfv1(password, nth), 0);
    assert_int_equal(wr_ntlm_ntowfv2(nth, user, domain, k), 0);
    wr_iov pp[2] = {{ch.server_challenge, 8}, {a.nt.p + 16, a.nt.len - 16}};
    assert_int_equal(wr_hmac_md5(k, 16, pp, 2, proof), 0);
    assert_memory_equal(proof, a.nt.p, 16);
    wr_iov sp = {proof, 16};
    assert_int_equal(wr_hmac_md5(k, 16, &sp, 1, sbk), 0);
    assert_true(a.flags & WR_NTLM_NEGOTIATE_KEY_EXCH);
    assert_int_equal(a.session_key.len, 16);
    wr_ntlm_rc4k(sbk, a.session_key.p, esk);
    /* AV pairs of temp: 28 bytes into the blob, i.e. 44 into the response. */
    assert_int_equal(wr_ntlm_av_parse(a.nt.p + 44, a.nt.len - 44, avi), 0);
    assert_true(avi->has_flags && (avi->flags & WR_NTLM_AVFLAG_MIC));
    assert_non_null(a.mic);
    unsigned char mic[16], zero[16] = {0};
    size_t mic_off = (size_t)(a.mic - auth->data);
    wr_iov mp[5] = {{neg->p, neg->len},
                    {chal, chal_len},
                    {auth->data, mic_off},
                    {zero, 16},
                    {auth->data + mic_off + 16, auth->len - mic_off - 16}};
    assert_int_equal(wr_hmac_md5(esk, 16, mp, 5, mic), 0);
    assert_memory_equal(mic, a.mic, 16);
}

typedef struct {
    unsigned char chal_byte, key_byte;
    uint64_t now;
} fixed_rng;

static int fixed_random(void *arg, unsigned char *out, size_t n)
{
    fixed_rng *r = arg;
    memset(out, n == 8 ? r->chal_byte : r->key_byte, n);
    return 0;
}

static uint64_t fixed_now(void *arg)
{
    return ((fixed_rng *)arg)->now;
}

/* The whole client exchange through wr_auth_ntlm, driven with the 4.2.4
 * CHALLENGE and the 4.2.1 random values, then sealed traffic both ways. */
static void test_exchange_and_wrap(void **state)
{
    (void)state;
    size_t clen, plen;
    unsigned char *cm = vec("ntlmv2_4.2.4/challenge_message", &clen);
    unsigned char *plain = vec("common_4.2.1/plaintext_utf16le", &plen);
    unsigned char *rsk = vec("common_4.2.1/random_session_key", NULL);
    unsigned char *cc = vec("common_4.2.1/client_challenge", NULL);

    assert_string_equal(wr_auth_ntlm.scheme, "Negotiate");
    assert_string_equal(wr_auth_ntlm.name, "ntlm");
    assert_int_equal(wr_auth_ntlm.id, WINRSH_AUTH_NTLM);
    assert_int_equal(wr_auth_ntlm.flags, WR_AUTH_CONNECTION_BOUND | WR_AUTH_CAN_SEAL);

    static const unsigned char cbdata[] = "tls-server-end-point:0123456789abcdef0123456789abcdef";
    wr_auth_params p = {.user = "Domain\\User",
                        .password = "Password",
                        .host = "server.example",
                        .channel_bindings = cbdata,
                        .channel_bindings_len = sizeof cbdata - 1};
    wr_auth_ctx *ctx = NULL;
    assert_int_equal(wr_auth_ntlm.create(&ctx, &p), 0);
    fixed_rng rng = {cc[0], rsk[0], 0};
    wr_ntlm_hooks hooks = {fixed_random, fixed_now, &rng};
    wr_ntlm_auth_set_hooks(ctx, &hooks);
    assert_string_equal(ctx->encryption_protocol(ctx), "application/HTTP-SPNEGO-session-encrypted");

    wr_buf neg = WR_BUF_INIT, auth = WR_BUF_INIT, sig = WR_BUF_INIT, sealed = WR_BUF_INIT,
           back = WR_BUF_INIT;
    /* wrap before completion is an error */
    assert_int_equal(ctx->wrap(ctx, plain, plen, &sig, &sealed), WINRSH_EAUTH);
    assert_int_equal(ctx->step(ctx, NULL, 0, &neg), WR_AUTH_STEP_CONTINUE);
    assert_int_equal(neg.len, 40);
    assert_memory_equal(neg.data, "NTLMSSP\0\1\0\0\0", 12);
    assert_int_equal((uint32_t)neg.data[12] | (uint32_t)neg.data[13] << 8 |
                         (uint32_t)neg.data[14] << 16 | (uint32_t)neg.data[15] << 24,
                     WR_NTLM_CLIENT_FLAGS);
    assert_int_equal(ctx->step(ctx, cm, clen, &auth), WR_AUTH_STEP_DONE);

    /* Our AUTHENTICATE as the server sees it. */
    wr_ntlm_authenticate a;
    assert_int_equal(wr_ntlm_authenticate_parse(auth.data, auth.len, &a), 0);
    /* 0xE28A8233 (the server's) & what we asked for & the target flags. */
    assert_int_equal(a.flags, 0xE28A8231u);
    assert_true(a.flags & WR_NTLM_NEGOTIATE_KEY_EXCH);
    assert_true(a.flags & WR_NTLM_NEGOTIATE_SEAL);
    assert_memory_equal(a.version, wr_ntlm_client_version, 8);
    assert_utf16(a.user, "User");
    assert_utf16(a.domain, "Domain");
    assert_int_equal(a.workstation.len, 0);
    /* No server timestamp: LMv2 is sent, the time is ours (fixed 0), the
     * client challenge is the fixed one, so LM equals the 4.2.4 value. */
    check("ntlmv2_4.2.4/LmChallengeResponse", a.lm.p, a.lm.len);
    check("common_4.2.1/time", a.nt.p + 24, 8);
    check("common_4.2.1/client_challenge", a.nt.p + 32, 8);

    unsigned char esk[16];
    wr_ntlm_av_info avi;
    wr_ntlm_bytes negv = {neg.data, neg.len};
    server_accept("Password", "User", "Domain", &negv, cm, clen, &auth, esk, &avi);
    check("ntlmv2_4.2.4/ExportedSessionKey", esk, 16);
    /* The server's pairs are kept, ours added. */
    assert_utf16(avi.nb_domain, "Domain");
    assert_utf16(avi.nb_computer, "Server");
    assert_utf16(avi.target_name, "HTTP/server.example");
    assert_true(avi.has_channel_bindings);
    unsigned char cbh[16];
    assert_int_equal(wr_ntlm_channel_bindings_hash(cbdata, sizeof cbdata - 1, cbh), 0);
    assert_memory_equal(avi.channel_bindings, cbh, 16);

    /* First wrapped message = the 4.2.4 sealed "Plaintext" and signature:
     * same ExportedSessionKey, same seq 0, and SEAL|SIGN|ESS|KEY_EXCH|128. */
    assert_int_equal(ctx->wrap(ctx, plain, plen, &sig, &sealed), 0);
    check("ntlmv2_4.2.4/seal_plaintext_seq0/signature", sig.data, sig.len);
    check("ntlmv2_4.2.4/seal_plaintext_seq0/sealed", sealed.data, sealed.len);

    wr_ntlm_session srv;
    assert_int_equal(wr_ntlm_session_init(&srv, a.flags, esk, 1), 0);
    unsigned char buf[256], ssig[16];
    assert_int_equal(wr_ntlm_unseal(&srv, sealed.data, sealed.len, buf, sig.data), 0);
    assert_memory_equal(buf, plain, plen);

    /* More traffic both ways: the key streams and sequence numbers carry on. */
    for (int i = 0; i < 5; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "<s:Envelope>request %d</s:Envelope>", i);
        wr_buf_clear(&sig);
        wr_buf_clear(&sealed);
        assert_int_equal(ctx->wrap(ctx, (unsigned char *)msg, (size_t)n, &sig, &sealed), 0);
        assert_int_equal(sig.len, 16);
        assert_int_equal(sig.data[12], i + 1); /* seq, little-endian */
        assert_int_equal(wr_ntlm_unseal(&srv, sealed.data, sealed.len, buf, sig.data), 0);
        assert_memory_equal(buf, msg, (size_t)n);

        n = snprintf(msg, sizeof msg, "<s:Envelope>response %d</s:Envelope>", i);
        assert_int_equal(wr_ntlm_seal(&srv, (unsigned char *)msg, (size_t)n, buf, ssig), 0);
        wr_buf_clear(&back);
        assert_int_equal(ctx->unwrap(ctx, ssig, 16, buf, (size_t)n, &back), 0);
        assert_int_equal(back.len, (size_t)n);
        assert_memory_equal(back.data, msg, (size_t)n);
    }
    /* An empty body is fine too. */
    assert_int_equal(wr_ntlm_seal(&srv, NULL, 0, buf, ssig), 0);
    wr_buf_clear(&back);
    assert_int_equal(ctx->unwrap(ctx, ssig, 16, buf, 0, &back), 0);
    assert_int_equal(back.len, 0);

    /* A tampered message: refused, and the context is dead afterwards. */
    assert_int_equal(wr_ntlm_seal(&srv, plain, plen, buf, ssig), 0);
    buf[3] ^= 1;
    assert_int_equal(ctx->unwrap(ctx, ssig, 16, buf, plen, &back), WINRSH_EAUTH);
    assert_int_equal(ctx->unwrap(ctx, ssig, 16, buf, plen, &back), WINRSH_EAUTH);
    assert_int_equal(ctx->wrap(ctx, plain, plen, &sig, &sealed), WINRSH_EAUTH);
    assert_int_equal(ctx->unwrap(ctx, ssig, 15, buf, plen, &back), WINRSH_EAUTH);

    wr_ntlm_session_wipe(&srv);
    ctx->free(ctx);
    wr_buf_free(&neg);
    wr_buf_free(&auth);
    wr_buf_free(&sig);
    wr_buf_free(&sealed);
    wr_buf_free(&back);
    free(cm);
    free(plain);
    free(rsk);
    free(cc);
}

/* Out-of-order or replayed messages fail (sequence number / key stream). */
static void test_wrong_order(void **state)
{
    (void)state;
    unsigned char esk[16];
    memset(esk, 0x42, 16);
    uint32_t fl = WR_NTLM_CLIENT_FLAGS;
    wr_ntlm_session c, s;
    assert_int_equal(wr_ntlm_session_init(&c, fl, esk, 0), 0);
    assert_int_equal(wr_ntlm_session_init(&s, fl, esk, 1), 0);
    unsigned char m1[5], m2[5], sig1[16], sig2[16], out[5];
    assert_int_equal(wr_ntlm_seal(&c, (const unsigned char *)"first", 5, m1, sig1), 0);
    assert_int_equal(wr_ntlm_seal(&c, (const unsigned char *)"secnd", 5, m2, sig2), 0);
    assert_int_equal(wr_ntlm_unseal(&s, m2, 5, out, sig2), WINRSH_EAUTH);
    /* GetMIC/VerifyMIC style signing. */
    wr_ntlm_session c2, s2;
    assert_int_equal(wr_ntlm_session_init(&c2, fl, esk, 0), 0);
    assert_int_equal(wr_ntlm_session_init(&s2, fl, esk, 1), 0);
    assert_int_equal(wr_ntlm_sign(&c2, (const unsigned char *)"mechTypes", 9, sig1), 0);
    assert_int_equal(wr_ntlm_verify(&s2, (const unsigned char *)"mechTypes", 9, sig1), 0);
    assert_int_equal(wr_ntlm_sign(&s2, (const unsigned char *)"x", 1, sig2), 0);
    assert_int_equal(wr_ntlm_verify(&c2, (const unsigned char *)"y", 1, sig2), WINRSH_EAUTH);
    wr_ntlm_session_wipe(&c);
    wr_ntlm_session_wipe(&s);
    wr_ntlm_session_wipe(&c2);
    wr_ntlm_session_wipe(&s2);
}

/* ---- pyspnego tokens ------------------------------------------------------ */

static void test_pyspnego_tokens(void **state)
{
    (void)state;
    size_t nl, cl, al, bl;
    unsigned char *nm = read_file("pyspnego/ntlm_negotiate", &nl);
    unsigned char *cm = read_file("pyspnego/ntlm_challenge", &cl);
    unsigned char *am = read_file("pyspnego/ntlm_authenticate", &al);
    unsigned char *bm = read_file("pyspnego/ntlm_authenticate_no_sign_seal", &bl);

    /* NEGOTIATE: our builder gives the same bytes for the same flags/version. */
    wr_buf n = WR_BUF_INIT;
    assert_int_equal(wr_ntlm_negotiate_build(0xE20882B7u, nm + 32, &n), 0);
    assert_int_equal(n.len, nl);
    assert_memory_equal(n.data, nm, nl);
    wr_buf_free(&n);

    /* A Windows DC's CHALLENGE. */
    wr_ntlm_challenge ch;
    assert_int_equal(wr_ntlm_challenge_parse(cm, cl, &ch), 0);
    assert_int_equal(ch.flags, 0xE2898235u);
    static const unsigned char chal[8] = {0xe4, 0x10, 0x10, 0x14, 0xcf, 0x8a, 0x90, 0xbe};
    assert_memory_equal(ch.server_challenge, chal, 8);
    assert_utf16(ch.target_name, "DOMAIN");
    assert_true(ch.has_version);
    assert_int_equal(ch.version[0], 10);
    assert_int_equal(ch.version[2] | ch.version[3] << 8, 14393);
    assert_int_equal(ch.version[7], 15);
    assert_int_equal(ch.av.count, 6);
    assert_utf16(ch.av.nb_domain, "DOMAIN");
    assert_utf16(ch.av.nb_computer, "DC01");
    assert_utf16(ch.av.dns_domain, "domain.local");
    assert_utf16(ch.av.dns_computer, "DC01.domain.local");
    assert_utf16(ch.av.dns_tree, "domain.local");
    assert_true(ch.av.has_timestamp);
    assert_true(ch.av.timestamp == 0x01d61e99889281f8ull);
    assert_false(ch.av.has_flags);

    /* A Linux client's AUTHENTICATE with a UPN and no domain. */
    wr_ntlm_authenticate a;
    assert_int_equal(wr_ntlm_authenticate_parse(am, al, &a), 0);
    assert_int_equal(a.flags, 0xE2898235u);
    assert_int_equal(a.lm.len, 0);
    assert_int_equal(a.nt.len, 252);
    assert_int_equal(a.domain.len, 0);
    assert_utf16(a.user, "vagrant-domain@DOMAIN.LOCAL");
    assert_utf16(a.workstation, "JBOREAN-LINUX");
    assert_int_equal(a.session_key.len, 16);
    assert_int_equal(a.session_key.p[0], 0x37);
    assert_non_null(a.version);
    assert_null(a.mic);
    wr_ntlm_av_info avi;
    assert_int_equal(wr_ntlm_av_parse(a.nt.p + 44, a.nt.len - 44, &avi), 0);
    assert_true(avi.timestamp == ch.av.timestamp);
    assert_utf16(avi.target_name, "dc01.domain.local");
    assert_true(avi.has_channel_bindings);

    /* One with a MIC, Z(24) as LM response, and our AV pairs' kinds. */
    assert_int_equal(wr_ntlm_authenticate_parse(bm, bl, &a), 0);
    assert_int_equal(a.flags, 0xE28A8205u);
    assert_int_equal(a.lm.len, 24);
    static const unsigned char z24[24] = {0};
    assert_memory_equal(a.lm.p, z24, 24);
    assert_int_equal(a.nt.len, 272);
    assert_utf16(a.user, "vagrant");
    assert_int_equal(a.domain.len, 0);
    assert_non_null(a.mic);
    assert_int_equal(a.mic[0], 0xfe);
    assert_int_equal(wr_ntlm_av_parse(a.nt.p + 44, a.nt.len - 44, &avi), 0);
    assert_utf16(avi.target_name, "HOST/192.168.121.229");
    assert_int_equal(avi.flags, WR_NTLM_AVFLAG_MIC);

    /* Our client answering the real Windows challenge: the server's
     * timestamp is used, LM is Z(24), the MIC verifies. */
    wr_auth_params p = {.user = "vagrant-domain@DOMAIN.LOCAL",
                        .password = "secret",
                        .spn = "HTTP/dc01.domain.local"};
    wr_auth_ctx *ctx = NULL;
    assert_int_equal(wr_auth_ntlm.create(&ctx, &p), 0);
    wr_buf neg = WR_BUF_INIT, auth = WR_BUF_INIT;
    assert_int_equal(ctx->step(ctx, NULL, 0, &neg), WR_AUTH_STEP_CONTINUE);
    assert_int_equal(ctx->step(ctx, cm, cl, &auth), WR_AUTH_STEP_DONE);
    assert_int_equal(wr_ntlm_authenticate_parse(auth.data, auth.len, &a), 0);
    assert_memory_equal(a.lm.p, z24, 24);
    assert_int_equal(a.nt.p[24], 0xf8); /* the server's time */
    unsigned char esk[16];
    wr_ntlm_bytes negv = {neg.data, neg.len};
    server_accept("secret", "vagrant-domain@DOMAIN.LOCAL", "", &negv, cm, cl, &auth, esk, &avi);
    assert_utf16(avi.target_name, "HTTP/dc01.domain.local");
    assert_int_equal(avi.count, 9); /* 6 from the server + flags, CB, target */
    static const unsigned char z16[16] = {0};
    assert_memory_equal(avi.channel_bindings, z16, 16);
    ctx->free(ctx);
    wr_buf_free(&neg);
    wr_buf_free(&auth);

    free(nm);
    free(cm);
    free(am);
    free(bm);
}

/* ---- Names ---------------------------------------------------------------- */

static void test_user_names(void **state)
{
    (void)state;
    char *u, *d;
    assert_int_equal(wr_ntlm_split_user("DOM\\bob", &u, &d), 0);
    assert_string_equal(u, "bob");
    assert_string_equal(d, "DOM");
    free(u);
    free(d);
    assert_int_equal(wr_ntlm_split_user("bob@corp.example", &u, &d), 0);
    assert_string_equal(u, "bob@corp.example");
    assert_string_equal(d, "");
    free(u);
    free(d);
    assert_int_equal(wr_ntlm_split_user("bob", &u, &d), 0);
    assert_string_equal(u, "bob");
    assert_string_equal(d, "");
    free(u);
    free(d);

    wr_buf b = WR_BUF_INIT;
    /* "üser-Åсь" upper-cased: Ü S E R - Å С Ь */
    assert_int_equal(wr_ntlm_utf16le(&b,
                                     "\xc3\xbc"
                                     "ser-\xc3\x85\xd1\x81\xd1\x8c",
                                     12, 1),
                     0);
    static const unsigned char want[] = {0xdc, 0, 'S',  0, 'E',  0,    'R',  0,
                                         '-',  0, 0xc5, 0, 0x21, 0x04, 0x2c, 0x04};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    wr_buf_clear(&b);
    /* Outside the BMP: a surrogate pair, and back. */
    assert_int_equal(wr_ntlm_utf16le(&b, "\xf0\x9f\x98\x80", 4, 0), 0);
    static const unsigned char sp[] = {0x3d, 0xd8, 0x00, 0xde};
    assert_memory_equal(b.data, sp, 4);
    wr_buf u8 = WR_BUF_INIT;
    assert_int_equal(wr_ntlm_utf8(&u8, b.data, b.len), 0);
    assert_string_equal(wr_buf_cstr(&u8), "\xf0\x9f\x98\x80");
    wr_buf_free(&u8);
    /* Invalid UTF-8: overlong, lone continuation, truncated, surrogate. */
    assert_int_equal(wr_ntlm_utf16le(&b, "\xc0\xaf", 2, 0), WINRSH_EINVAL);
    assert_int_equal(wr_ntlm_utf16le(&b, "\x80", 1, 0), WINRSH_EINVAL);
    assert_int_equal(wr_ntlm_utf16le(&b, "\xe2\x82", 2, 0), WINRSH_EINVAL);
    assert_int_equal(wr_ntlm_utf16le(&b, "\xed\xa0\x80", 3, 0), WINRSH_EINVAL);
    wr_buf_free(&b);

    wr_auth_ctx *ctx = NULL;
    wr_auth_params p = {.user = "", .password = "x"};
    assert_int_equal(wr_auth_ntlm.create(&ctx, &p), WINRSH_EAUTH);
    p.user = "DOM\\";
    assert_int_equal(wr_auth_ntlm.create(&ctx, &p), WINRSH_EAUTH);
    assert_null(ctx);
}

/* ---- Malformed and refused CHALLENGEs ------------------------------------- */

static void put32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Run the client on a challenge; return its result code. */
static int client_on(const unsigned char *chal, size_t len)
{
    unsigned char nth[16] = {0};
    wr_ntlm_client_input in = {.user = "u", .domain = "", .nt_hash = nth, .challenge = {chal, len}};
    wr_buf out = WR_BUF_INIT;
    wr_ntlm_session s;
    int rc = wr_ntlm_client_authenticate(&in, &out, &s);
    if (rc == 0) {
        assert_true(out.len > 88);
        wr_ntlm_session_wipe(&s);
    } else {
        assert_int_equal(out.len, 0);
    }
    wr_buf_free(&out);
    return rc;
}

static void test_malformed_challenge(void **state)
{
    (void)state;
    size_t clen;
    unsigned char *cm = vec("ntlmv2_4.2.4/challenge_message", &clen);
    unsigned char m[512];
    assert_true(clen < sizeof m);
    assert_int_equal(client_on(cm, clen), 0);

    /* Every truncation. */
    for (size_t l = 0; l < clen; l++)
        assert_int_equal(client_on(cm, l), WINRSH_EPROTO);
    assert_int_equal(client_on(NULL, 0), WINRSH_EPROTO);

    struct {
        size_t at;
        uint32_t v;
        int width; /* 2 or 4 */
    } cases[] = {
        {8, 3, 4},           /* message type */
        {12, 0xFFFF, 2},     /* TargetName length past the end */
        {16, 0xFFFFFFF0, 4}, /* TargetName offset huge */
        {16, 10, 4},         /* TargetName offset inside the header */
        {12, 7, 2},          /* odd Unicode TargetName */
        {40, 0xFFFF, 2},     /* TargetInfo length */
        {44, 0xFFFFFFFF, 4}, /* TargetInfo offset */
        {44, (uint32_t)clen, 4},
        {40, 0x20, 2},         /* TargetInfo cut before MsvAvEOL */
        {0x44 + 2, 0xFF00, 2}, /* first AV pair length huge */
        {0x44 + 2, 0x25, 2},   /* first AV pair runs past the list */
        {0x44 + 2, 0x0b, 2},   /* odd-length name */
        {0x44, 7, 2},          /* name pair relabelled as a timestamp (12 bytes) */
        {0x44, 6, 2},          /* ... as MsvAvFlags */
        {0x44, 10, 2},         /* ... as MsvAvChannelBindings */
        {0x44, 1, 2},          /* duplicate NbComputerName */
        {0x44 + 0x10 + 4 + 0x0c, 0x04000000, 4}, /* MsvAvEOL with a length */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(m, cm, clen);
        if (cases[i].width == 2) {
            m[cases[i].at] = (unsigned char)cases[i].v;
            m[cases[i].at + 1] = (unsigned char)(cases[i].v >> 8);
        } else {
            put32le(m + cases[i].at, cases[i].v);
        }
        if (client_on(m, clen) != WINRSH_EPROTO)
            fail_msg("case %zu accepted", i);
    }
    /* Bad signature. */
    memcpy(m, cm, clen);
    m[0] = 'X';
    assert_int_equal(client_on(m, clen), WINRSH_EPROTO);

    /* Policy: no ESS (NTLMv1), no Unicode, no TargetInfo, weak sealing. */
    uint32_t f = vec_u32("ntlmv2_4.2.4/negotiate_flags_challenge");
    static const uint32_t drop[] = {WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY,
                                    WR_NTLM_NEGOTIATE_UNICODE, WR_NTLM_NEGOTIATE_TARGET_INFO,
                                    WR_NTLM_NEGOTIATE_128};
    for (size_t i = 0; i < 4; i++) {
        memcpy(m, cm, clen);
        put32le(m + 20, f & ~drop[i]);
        assert_int_equal(client_on(m, clen), WINRSH_EAUTH);
    }
    memcpy(m, cm, clen);
    put32le(m + 20, vec_u32("ntlmv1_4.2.2/negotiate_flags"));
    assert_int_equal(client_on(m, clen), WINRSH_EAUTH);
    memcpy(m, cm, clen);
    m[40] = m[41] = 0; /* empty TargetInfo */
    assert_int_equal(client_on(m, clen), WINRSH_EAUTH);

    /* Random corruption: never a crash, never an unchecked read (ASan). */
    srand(1);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(m, cm, clen);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            m[(size_t)rand() % clen] = (unsigned char)rand();
        size_t l = (size_t)rand() % 8 ? clen : (size_t)rand() % (clen + 1);
        unsigned char *heap = malloc(l ? l : 1); /* exact size: ASan sees overreads */
        memcpy(heap, m, l);
        int rc = client_on(heap, l);
        assert_true(rc == 0 || rc == WINRSH_EPROTO || rc == WINRSH_EAUTH);
        wr_ntlm_authenticate a;
        rc = wr_ntlm_authenticate_parse(heap, l, &a);
        assert_true(rc == 0 || rc == WINRSH_EPROTO);
        free(heap);
    }

    /* The step interface: garbage gives EPROTO and a dead context. */
    wr_auth_params p = {.user = "u", .password = "p"};
    wr_auth_ctx *ctx = NULL;
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_auth_ntlm.create(&ctx, &p), 0);
    assert_int_equal(ctx->step(ctx, NULL, 0, &out), WR_AUTH_STEP_CONTINUE);
    assert_int_equal(ctx->step(ctx, (const unsigned char *)"NTLMSSP", 8, &out), WINRSH_EPROTO);
    assert_int_equal(ctx->step(ctx, cm, clen, &out), WINRSH_EAUTH);
    ctx->free(ctx);
    assert_int_equal(wr_auth_ntlm.create(&ctx, &p), 0);
    wr_buf_clear(&out);
    assert_int_equal(ctx->step(ctx, NULL, 0, &out), WR_AUTH_STEP_CONTINUE);
    assert_int_equal(ctx->step(ctx, NULL, 0, &out), WINRSH_EAUTH);
    ctx->free(ctx);
    wr_buf_free(&out);
    free(cm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_values),           cmocka_unit_test(test_v1_ess_values),
        cmocka_unit_test(test_v2_values),           cmocka_unit_test(test_v2_messages),
        cmocka_unit_test(test_exchange_and_wrap),   cmocka_unit_test(test_wrong_order),
        cmocka_unit_test(test_pyspnego_tokens),     cmocka_unit_test(test_user_names),
        cmocka_unit_test(test_malformed_challenge),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
