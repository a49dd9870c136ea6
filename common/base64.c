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

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
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
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
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
