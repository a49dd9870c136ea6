/* hmac_md5.c: MD5 / HMAC-MD5 via EVP_Digest* and EVP_MAC. */
#include "hmac_md5.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/error.h"

int wr_md5(const wr_iov *parts, size_t n, unsigned char out[WR_MD5_LEN])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_md5(), NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, parts[i].p, parts[i].len);
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(c, out, &len) && len == WR_MD5_LEN;
    EVP_MD_CTX_free(c);
    if (!ok)
        return wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_TLS, "MD5 is not available from OpenSSL");
    return 0;
}

int wr_hmac_md5(const unsigned char *key, size_t key_len, const wr_iov *parts, size_t n,
                unsigned char out[WR_MD5_LEN])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "MD5";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = c && EVP_MAC_init(c, key, key_len, params);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(c, parts[i].p, parts[i].len);
    size_t len = 0;
    ok = ok && EVP_MAC_final(c, out, &len, WR_MD5_LEN) && len == WR_MD5_LEN;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    if (!ok)
        return wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_TLS,
                            "HMAC-MD5 is not available from OpenSSL");
    return 0;
}
