#include "base64.h"

#include <string.h>

#include "winrsh/errors.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Every pair of symbols, in order of the 12 bits they encode: PAIRS[2 * v]
 * and PAIRS[2 * v + 1] are the symbols of v (0..4095). Encoding looks up
 * two symbols at a time, half the lookups of one at a time. */
/* clang-format off */
#define B64_ROW(c) \
    c "A" c "B" c "C" c "D" c "E" c "F" c "G" c "H" \
    c "I" c "J" c "K" c "L" c "M" c "N" c "O" c "P" \
    c "Q" c "R" c "S" c "T" c "U" c "V" c "W" c "X" \
    c "Y" c "Z" c "a" c "b" c "c" c "d" c "e" c "f" \
    c "g" c "h" c "i" c "j" c "k" c "l" c "m" c "n" \
    c "o" c "p" c "q" c "r" c "s" c "t" c "u" c "v" \
    c "w" c "x" c "y" c "z" c "0" c "1" c "2" c "3" \
    c "4" c "5" c "6" c "7" c "8" c "9" c "+" c "/"
static const char PAIRS[] =
    B64_ROW("A") B64_ROW("B") B64_ROW("C") B64_ROW("D")
    B64_ROW("E") B64_ROW("F") B64_ROW("G") B64_ROW("H")
    B64_ROW("I") B64_ROW("J") B64_ROW("K") B64_ROW("L")
    B64_ROW("M") B64_ROW("N") B64_ROW("O") B64_ROW("P")
    B64_ROW("Q") B64_ROW("R") B64_ROW("S") B64_ROW("T")
    B64_ROW("U") B64_ROW("V") B64_ROW("W") B64_ROW("X")
    B64_ROW("Y") B64_ROW("Z") B64_ROW("a") B64_ROW("b")
    B64_ROW("c") B64_ROW("d") B64_ROW("e") B64_ROW("f")
    B64_ROW("g") B64_ROW("h") B64_ROW("i") B64_ROW("j")
    B64_ROW("k") B64_ROW("l") B64_ROW("m") B64_ROW("n")
    B64_ROW("o") B64_ROW("p") B64_ROW("q") B64_ROW("r")
    B64_ROW("s") B64_ROW("t") B64_ROW("u") B64_ROW("v")
    B64_ROW("w") B64_ROW("x") B64_ROW("y") B64_ROW("z")
    B64_ROW("0") B64_ROW("1") B64_ROW("2") B64_ROW("3")
    B64_ROW("4") B64_ROW("5") B64_ROW("6") B64_ROW("7")
    B64_ROW("8") B64_ROW("9") B64_ROW("+") B64_ROW("/");
/* clang-format on */

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
        memcpy(o, PAIRS + 2 * (v >> 12), 2);
        memcpy(o + 2, PAIRS + 2 * (v & 4095), 2);
        o += 4;
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
