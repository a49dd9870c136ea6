#include "base64.h"

#include "winrsh/errors.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int wr_base64_encode(wr_buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    int rc = wr_buf_reserve(out, (len + 2) / 3 * 4);
    if (rc)
        return rc;
    unsigned char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = (unsigned char)ALPHABET[v >> 18];
        *o++ = (unsigned char)ALPHABET[(v >> 12) & 63];
        *o++ = (unsigned char)ALPHABET[(v >> 6) & 63];
        *o++ = (unsigned char)ALPHABET[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = (unsigned char)ALPHABET[v >> 18];
        *o++ = (unsigned char)ALPHABET[(v >> 12) & 63];
        *o++ = i + 1 < len ? (unsigned char)ALPHABET[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return 0;
}

/* The value of each base64 symbol; 255 for everything else. */
static const unsigned char DECODE[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static int value_of(unsigned char c)
{
    return DECODE[c] == 255 ? -1 : DECODE[c];
}

void wr_base64_decoder_init(wr_base64_decoder *d)
{
    d->acc = 0;
    d->nbits = 0;
    d->pad = 0;
}

int wr_base64_decoder_feed(wr_base64_decoder *d, wr_buf *out, const char *text, size_t len)
{
    int rc = wr_buf_reserve(out, len / 4 * 3 + 3);
    if (rc)
        return rc;
    unsigned char *o = out->data + out->len;
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++) {
        /* Fast path: on a quantum boundary, whole quanta of four symbols
         * (no whitespace, no padding) go three bytes at a time. */
        if (d->nbits == 0 && !d->pad) {
            while (i + 4 <= len) {
                unsigned a = DECODE[t[i]], b = DECODE[t[i + 1]], c = DECODE[t[i + 2]],
                         e = DECODE[t[i + 3]];
                if ((a | b | c | e) & 0x80u)
                    break;
                unsigned v = a << 18 | b << 12 | c << 6 | e;
                o[0] = (unsigned char)(v >> 16);
                o[1] = (unsigned char)(v >> 8);
                o[2] = (unsigned char)v;
                o += 3;
                i += 4;
            }
            if (i >= len)
                break;
        }
        unsigned char c = t[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            /* Padding is legal only after 2 or 3 symbols of a quantum. */
            if (!d->pad && d->nbits != 12 && d->nbits != 18 && d->nbits != 4 && d->nbits != 2)
                return WINRSH_EPROTO;
            d->pad++;
            continue;
        }
        int v = value_of(c);
        if (v < 0 || d->pad)
            return WINRSH_EPROTO;
        d->acc = (d->acc << 6) | (unsigned)v;
        d->nbits += 6;
        if (d->nbits >= 8) {
            d->nbits -= 8;
            *o++ = (unsigned char)(d->acc >> d->nbits);
            d->acc &= (1u << d->nbits) - 1;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return 0;
}

int wr_base64_decoder_finish(wr_base64_decoder *d)
{
    /* Leftover bits must be zero padding: 2 bits after 3 symbols, 4 after 2. */
    if (d->nbits >= 6 || d->acc != 0)
        return WINRSH_EPROTO;
    if (d->pad && d->pad > 2)
        return WINRSH_EPROTO;
    return 0;
}

int wr_base64_decode(wr_buf *out, const char *text, size_t len)
{
    wr_base64_decoder d;
    wr_base64_decoder_init(&d);
    int rc = wr_base64_decoder_feed(&d, out, text, len);
    return rc ? rc : wr_base64_decoder_finish(&d);
}
