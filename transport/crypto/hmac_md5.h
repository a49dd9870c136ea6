/*
 * hmac_md5.h: MD5 and HMAC-MD5 through OpenSSL's EVP interfaces (both are in
 * the default provider). Thin wrappers so NTLM code reads like MS-NLMP.
 */
#ifndef WR_HMAC_MD5_H
#define WR_HMAC_MD5_H

#include <stddef.h>

#define WR_MD5_LEN 16

/* A (pointer, length) piece of the message; the pieces are concatenated. */
typedef struct wr_iov {
    const void *p;
    size_t len;
} wr_iov;

/* MD5(concatenation of parts). 0, or WINRSH_ERROR with the error raised. */
int wr_md5(const wr_iov *parts, size_t n, unsigned char out[WR_MD5_LEN]);
/* HMAC-MD5(key, concatenation of parts). 0, or WINRSH_ERROR raised. */
int wr_hmac_md5(const unsigned char *key, size_t key_len, const wr_iov *parts, size_t n,
                unsigned char out[WR_MD5_LEN]);

#endif
