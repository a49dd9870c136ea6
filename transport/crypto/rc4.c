/* rc4.c: RC4 key schedule and keystream generator. */
#include "rc4.h"

#include <string.h>

#include "common/mem.h"

void wr_rc4_init(wr_rc4 *st, const unsigned char *key, size_t key_len)
{
    for (unsigned k = 0; k < 256; k++)
        st->s[k] = (unsigned char)k;
    unsigned char j = 0;
    for (size_t k = 0; k < 256; k++) {
        j = (unsigned char)(j + st->s[k] + key[k % key_len]);
        unsigned char t = st->s[k];
        st->s[k] = st->s[j];
        st->s[j] = t;
    }
    st->i = 0;
    st->j = 0;
}

static unsigned char rc4_next(wr_rc4 *st)
{
    st->i = (unsigned char)(st->i + 1);
    st->j = (unsigned char)(st->j + st->s[st->i]);
    unsigned char t = st->s[st->i];
    st->s[st->i] = st->s[st->j];
    st->s[st->j] = t;
    return st->s[(unsigned char)(st->s[st->i] + st->s[st->j])];
}

void wr_rc4_apply(wr_rc4 *st, const unsigned char *in, unsigned char *out, size_t len)
{
    /* The state is worked on in locals: `out` is unsigned char *, which may
     * alias *st as far as the compiler knows, so updating st->s/i/j in place
     * reloads all three after every byte written (3-4x slower; bench/). */
    unsigned char s[256];
    unsigned char i = st->i, j = st->j;
    memcpy(s, st->s, sizeof s);
    for (size_t k = 0; k < len; k++) {
        i = (unsigned char)(i + 1);
        unsigned char si = s[i];
        j = (unsigned char)(j + si);
        unsigned char sj = s[j];
        s[i] = sj;
        s[j] = si;
        out[k] = (unsigned char)(in[k] ^ s[(unsigned char)(si + sj)]);
    }
    memcpy(st->s, s, sizeof s);
    st->i = i;
    st->j = j;
    wr_wipe(s, sizeof s);
}

void wr_rc4_skip(wr_rc4 *st, size_t n)
{
    while (n--)
        (void)rc4_next(st);
}

void wr_rc4_wipe(wr_rc4 *st)
{
    wr_wipe(st, sizeof *st);
}
