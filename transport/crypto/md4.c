/*
 * md4.c: MD4 (RFC 1320), written from the RFC's description of the three
 * rounds. Little-endian word order throughout, as the RFC specifies.
 */
#include "md4.h"

#include <string.h>

#include "common/mem.h"

#define ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
/* RFC 1320 3.4: the three auxiliary functions. */
#define MD4_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define MD4_G(x, y, z) (((x) & (y)) | ((x) & (z)) | ((y) & (z)))
#define MD4_H(x, y, z) ((x) ^ (y) ^ (z))

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void md4_block(uint32_t st[4], const unsigned char *blk)
{
    /* Per-round word orders and shift amounts (RFC 1320 3.4). */
    static const unsigned char order2[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    static const unsigned char order3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    static const unsigned char shift1[4] = {3, 7, 11, 19};
    static const unsigned char shift2[4] = {3, 5, 9, 13};
    static const unsigned char shift3[4] = {3, 9, 11, 15};
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = load_le32(blk + 4 * i);

    /* r[0..3] = a, b, c, d; each operation updates r[(4 - i) % 4], which
     * walks a, d, c, b as in the RFC's [abcd k s] lines. */
    uint32_t r[4] = {st[0], st[1], st[2], st[3]};
    for (int i = 0; i < 16; i++) {
        int ia = (16 - i) & 3, ib = (17 - i) & 3, ic = (18 - i) & 3, id = (19 - i) & 3;
        uint32_t t = r[ia] + MD4_F(r[ib], r[ic], r[id]) + x[i];
        unsigned s = shift1[i & 3];
        r[ia] = ROTL(t, s);
    }
    for (int i = 0; i < 16; i++) {
        int ia = (16 - i) & 3, ib = (17 - i) & 3, ic = (18 - i) & 3, id = (19 - i) & 3;
        uint32_t t = r[ia] + MD4_G(r[ib], r[ic], r[id]) + x[order2[i]] + 0x5A827999u;
        unsigned s = shift2[i & 3];
        r[ia] = ROTL(t, s);
    }
    for (int i = 0; i < 16; i++) {
        int ia = (16 - i) & 3, ib = (17 - i) & 3, ic = (18 - i) & 3, id = (19 - i) & 3;
        uint32_t t = r[ia] + MD4_H(r[ib], r[ic], r[id]) + x[order3[i]] + 0x6ED9EBA1u;
        unsigned s = shift3[i & 3];
        r[ia] = ROTL(t, s);
    }
    for (int i = 0; i < 4; i++)
        st[i] += r[i];
    wr_wipe(x, sizeof x);
    wr_wipe(r, sizeof r);
}

void wr_md4_init(wr_md4_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->state[0] = 0x67452301u;
    c->state[1] = 0xefcdab89u;
    c->state[2] = 0x98badcfeu;
    c->state[3] = 0x10325476u;
}

void wr_md4_update(wr_md4_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t have = (size_t)(c->total & 63);
    c->total += len;
    if (have) {
        size_t take = 64 - have < len ? 64 - have : len;
        memcpy(c->block + have, p, take);
        p += take;
        len -= take;
        if (have + take < 64)
            return;
        md4_block(c->state, c->block);
    }
    for (; len >= 64; p += 64, len -= 64)
        md4_block(c->state, p);
    if (len)
        memcpy(c->block, p, len);
}

void wr_md4_final(wr_md4_ctx *c, unsigned char out[WR_MD4_DIGEST_LEN])
{
    /* RFC 1320 3.1/3.2: a 1 bit, zeros to 56 mod 64, then the bit length. */
    uint64_t bits = c->total * 8;
    unsigned char pad[72] = {0x80};
    size_t have = (size_t)(c->total & 63);
    size_t padlen = have < 56 ? 56 - have : 120 - have;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (8 * i));
    wr_md4_update(c, pad, padlen + 8);
    for (int i = 0; i < 4; i++)
        store_le32(out + 4 * i, c->state[i]);
    wr_wipe(c, sizeof *c);
}

void wr_md4(const void *data, size_t len, unsigned char out[WR_MD4_DIGEST_LEN])
{
    wr_md4_ctx c;
    wr_md4_init(&c);
    wr_md4_update(&c, data, len);
    wr_md4_final(&c, out);
}
