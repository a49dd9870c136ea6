/*
 * securestring.c: the session key exchange and <SS> encryption
 * (securestring.h draws the blobs). OpenSSL 3 EVP does the RSA and AES;
 * this file only lays the bytes out as CryptoAPI does.
 */
#include "psrp/securestring.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/base64.h"
#include "common/error.h"
#include "common/mem.h"
#include "winrsh/errors.h"

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static int crypto_failed(const char *what)
{
    return wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_PSRP, "SecureString: %s failed (OpenSSL)",
                        what);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)((v >> 8) & 0xFF);
    p[2] = (unsigned char)((v >> 16) & 0xFF);
    p[3] = (unsigned char)((v >> 24) & 0xFF);
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- UTF-8 <-> UTF-16LE ----------------------------------------------------- */

/* The code point at s[*i] (advancing *i); U+FFFD for a bad sequence. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (!k || *i + k > len) {
        (*i)++;
        return 0xFFFD;
    }
    uint32_t cp = k == 1 ? c : k == 2 ? (c & 0x1Fu) : k == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t j = 1; j < k; j++) {
        if ((s[*i + j] & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[*i + j] & 0x3Fu);
    }
    static const uint32_t min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    *i += k;
    if (cp < min_of[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFD;
    return cp;
}

size_t wr_ss_utf16_units(const char *utf8, size_t len)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t n = 0;
    for (size_t i = 0; i < len;)
        n += next_cp(s, len, &i) >= 0x10000 ? 2 : 1;
    return n;
}

void wr_ss_to_utf16le(const char *utf8, size_t len, unsigned char *out)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = next_cp(s, len, &i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            uint32_t hi = 0xD800 + (cp >> 10), lo = 0xDC00 + (cp & 0x3FF);
            out[o++] = (unsigned char)(hi & 0xFF);
            out[o++] = (unsigned char)(hi >> 8);
            out[o++] = (unsigned char)(lo & 0xFF);
            out[o++] = (unsigned char)(lo >> 8);
        } else {
            out[o++] = (unsigned char)(cp & 0xFF);
            out[o++] = (unsigned char)(cp >> 8);
        }
    }
}

/* UTF-16LE -> UTF-8 into out (room for 3 bytes per unit + NUL); a lone
 * surrogate becomes U+FFFD. Returns the length. */
static size_t from_utf16le(const unsigned char *in, size_t units, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < units; i++) {
        uint32_t cp = (uint32_t)in[2 * i] | (uint32_t)in[2 * i + 1] << 8;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < units) {
            uint32_t lo = (uint32_t)in[2 * i + 2] | (uint32_t)in[2 * i + 3] << 8;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i++;
            } else {
                cp = 0xFFFD;
            }
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = 0;
    return o;
}

/* ---- the exchange key -------------------------------------------------------- */

int wr_ss_make_keypair(wr_ss_session *s)
{
    if (s->rsa)
        return 0;
    EVP_PKEY *pk = EVP_RSA_gen(WR_SS_RSA_BITS);
    if (!pk)
        return crypto_failed("generating the RSA-2048 exchange key");
    s->rsa = pk;
    return 0;
}

int wr_ss_public_key_blob(wr_ss_session *s, wr_buf *out)
{
    int rc = wr_ss_make_keypair(s);
    if (rc)
        return rc;
    BIGNUM *n = NULL, *e = NULL;
    unsigned char blob[WR_SS_PUBLICKEYBLOB_LEN];
    memset(blob, 0, sizeof blob);
    if (!EVP_PKEY_get_bn_param(s->rsa, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(s->rsa, OSSL_PKEY_PARAM_RSA_E, &e) ||
        BN_num_bytes(n) != (int)WR_SS_MODULUS_LEN || BN_num_bits(e) > 32 ||
        BN_bn2lebinpad(n, blob + 20, (int)WR_SS_MODULUS_LEN) != (int)WR_SS_MODULUS_LEN) {
        BN_free(n);
        BN_free(e);
        return crypto_failed("reading the RSA public key");
    }
    blob[0] = WR_SS_PUBLICKEYBLOB;
    blob[1] = WR_SS_CUR_BLOB_VERSION;
    put_le32(blob + 4, WR_SS_CALG_RSA_KEYX);
    put_le32(blob + 8, WR_SS_RSA1_MAGIC);
    put_le32(blob + 12, WR_SS_RSA_BITS);
    put_le32(blob + 16, (uint32_t)BN_get_word(e));
    BN_free(n);
    BN_free(e);
    return wr_buf_append(out, blob, sizeof blob) ? oom() : 0;
}

int wr_ss_import_session_key(wr_ss_session *s, const void *blob, size_t len)
{
    const unsigned char *b = blob;
    if (!s->rsa)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "the server sent a session key that nobody asked for");
    if (len != WR_SS_SIMPLEBLOB_HEADER_LEN + WR_SS_MODULUS_LEN || b[0] != WR_SS_SIMPLEBLOB ||
        b[1] != WR_SS_CUR_BLOB_VERSION || get_le32(b + 4) != WR_SS_CALG_AES_256 ||
        get_le32(b + 8) != WR_SS_CALG_RSA_KEYX)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "the server's encrypted session key is not an AES-256 SIMPLEBLOB "
                            "of %u bytes (got %zu)",
                            WR_SS_SIMPLEBLOB_HEADER_LEN + WR_SS_MODULUS_LEN, len);
    unsigned char ct[WR_SS_MODULUS_LEN], pt[WR_SS_MODULUS_LEN];
    for (size_t i = 0; i < WR_SS_MODULUS_LEN; i++)
        ct[i] = b[WR_SS_SIMPLEBLOB_HEADER_LEN + WR_SS_MODULUS_LEN - 1 - i];
    size_t ptlen = sizeof pt;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(s->rsa, NULL);
    int ok = ctx && EVP_PKEY_decrypt_init(ctx) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
             EVP_PKEY_decrypt(ctx, pt, &ptlen, ct, sizeof ct) > 0;
    EVP_PKEY_CTX_free(ctx);
    int rc = 0;
    if (!ok || ptlen != WR_SS_AES_KEY_LEN) {
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                          "the server's session key does not decrypt with our exchange key");
    } else {
        memcpy(s->key, pt, WR_SS_AES_KEY_LEN);
        s->have_key = 1;
    }
    wr_wipe(pt, sizeof pt);
    return rc;
}

int wr_ss_import_session_key_b64(wr_ss_session *s, const char *b64, size_t len)
{
    wr_buf raw = WR_BUF_INIT;
    int rc = wr_base64_decode(&raw, b64, len);
    if (rc)
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                          "the server's encrypted session key is not base64");
    else
        rc = wr_ss_import_session_key(s, raw.data, raw.len);
    wr_buf_free(&raw);
    return rc;
}

/* ---- <SS> values ----------------------------------------------------------------- */

static const unsigned char ZERO_IV[16];

int wr_ss_encrypt(const unsigned char key[WR_SS_AES_KEY_LEN], const char *utf8, size_t len,
                  wr_buf *b64)
{
    size_t units = wr_ss_utf16_units(utf8, len);
    size_t plen = units * 2;
    unsigned char *plain = malloc(plen ? plen : 1);
    unsigned char *ct = malloc(plen + 16);
    if (!plain || !ct) {
        free(plain);
        free(ct);
        return oom();
    }
    wr_ss_to_utf16le(utf8, len, plain);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, ZERO_IV) == 1 &&
             EVP_EncryptUpdate(ctx, ct, &n1, plain, (int)plen) == 1 &&
             EVP_EncryptFinal_ex(ctx, ct + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    wr_wipe(plain, plen);
    free(plain);
    int rc = ok ? 0 : crypto_failed("AES-256-CBC encryption");
    if (!rc && wr_base64_encode(b64, ct, (size_t)n1 + (size_t)n2))
        rc = oom();
    free(ct);
    return rc;
}

int wr_ss_decrypt(const unsigned char key[WR_SS_AES_KEY_LEN], const char *b64, size_t len,
                  char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    wr_buf ct = WR_BUF_INIT;
    if (wr_base64_decode(&ct, b64, len)) {
        wr_buf_free(&ct);
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "a SecureString is not base64");
    }
    if (ct.len == 0 || ct.len % 16) {
        wr_buf_free(&ct);
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "a SecureString is not a whole number of AES blocks");
    }
    size_t cap = ct.len + 16;
    unsigned char *plain = malloc(cap);
    if (!plain) {
        wr_buf_free(&ct);
        return oom();
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    int ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, ZERO_IV) == 1 &&
             EVP_DecryptUpdate(ctx, plain, &n1, ct.data, (int)ct.len) == 1 &&
             EVP_DecryptFinal_ex(ctx, plain + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    size_t plen = (size_t)n1 + (size_t)n2;
    wr_buf_free(&ct);
    if (!ok || plen % 2) {
        wr_wipe(plain, cap);
        free(plain);
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "a SecureString does not decrypt with the session key");
    }
    size_t units = plen / 2;
    char *text = malloc(units * 3 + 1);
    if (!text) {
        wr_wipe(plain, plen);
        free(plain);
        return oom();
    }
    size_t tlen = from_utf16le(plain, units, text);
    wr_wipe(plain, plen);
    free(plain);
    *out = text;
    if (out_len)
        *out_len = tlen;
    return 0;
}

void wr_ss_free_plain(char *s, size_t len)
{
    if (!s)
        return;
    wr_wipe(s, len);
    free(s);
}

void wr_ss_session_clear(wr_ss_session *s)
{
    EVP_PKEY_free(s->rsa);
    s->rsa = NULL;
    wr_wipe(s->key, sizeof s->key);
    s->have_key = 0;
    s->public_key_sent = 0;
    s->key_requested = 0;
}
