/*
 * base64.h: RFC 4648 base64, whole-buffer and streaming.
 * The streaming decoder takes input in pieces of any size (WS-Man output
 * streams are base64 text that arrives element by element) and skips
 * whitespace, which XML pretty-printers may add.
 */
#ifndef WR_BASE64_H
#define WR_BASE64_H

#include <stddef.h>

#include "buf.h"

int wr_base64_encode(wr_buf *out, const void *data, size_t len);
/* Strict whole-buffer decode (whitespace allowed). WINRSH_EPROTO if bad. */
int wr_base64_decode(wr_buf *out, const char *text, size_t len);

typedef struct wr_base64_decoder {
    unsigned int acc;  /* bits collected so far */
    int nbits;         /* how many bits acc holds */
    int pad;           /* '=' seen: only more '=' or whitespace may follow */
} wr_base64_decoder;

void wr_base64_decoder_init(wr_base64_decoder *d);
int wr_base64_decoder_feed(wr_base64_decoder *d, wr_buf *out, const char *text, size_t len);
/* Check that the input ended on a complete quantum. */
int wr_base64_decoder_finish(wr_base64_decoder *d);

#endif
