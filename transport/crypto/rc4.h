/*
 * rc4.h: the RC4 stream cipher, as a streaming state.
 *
 * RC4 is broken; it is here only because NTLM sealing (MS-NLMP 3.4.3) and
 * key exchange (3.1.5.1.2, RC4K) use it, and OpenSSL 3 keeps it in its
 * legacy provider. The keystream continues across wr_rc4_apply() calls: an
 * NTLM sealing handle is one RC4 state for the whole session.
 */
#ifndef WR_RC4_H
#define WR_RC4_H

#include <stddef.h>

typedef struct wr_rc4 {
    unsigned char s[256];
    unsigned char i, j;
} wr_rc4;

/* key_len must be 1..256. */
void wr_rc4_init(wr_rc4 *st, const unsigned char *key, size_t key_len);
/* out = in XOR keystream; in and out may be the same buffer. */
void wr_rc4_apply(wr_rc4 *st, const unsigned char *in, unsigned char *out, size_t len);
/* Skip n keystream bytes (tests; RFC 6229 lists offsets). */
void wr_rc4_skip(wr_rc4 *st, size_t n);
void wr_rc4_wipe(wr_rc4 *st);

#endif
