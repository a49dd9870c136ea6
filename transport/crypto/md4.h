/*
 * md4.h: the MD4 message digest (RFC 1320).
 *
 * MD4 is broken as a general-purpose hash. It is here only because NTLM
 * (MS-NLMP 3.3.1/3.3.2, NTOWFv1/NTOWFv2) hashes the password with it, and
 * OpenSSL 3 keeps MD4 in its legacy provider, which we do not load.
 */
#ifndef WR_MD4_H
#define WR_MD4_H

#include <stddef.h>
#include <stdint.h>

#define WR_MD4_DIGEST_LEN 16

typedef struct wr_md4_ctx {
    uint32_t state[4];
    uint64_t total;          /* bytes hashed so far */
    unsigned char block[64]; /* a partial block waiting for more input */
} wr_md4_ctx;

void wr_md4_init(wr_md4_ctx *c);
void wr_md4_update(wr_md4_ctx *c, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void wr_md4_final(wr_md4_ctx *c, unsigned char out[WR_MD4_DIGEST_LEN]);
/* One shot. */
void wr_md4(const void *data, size_t len, unsigned char out[WR_MD4_DIGEST_LEN]);

#endif
