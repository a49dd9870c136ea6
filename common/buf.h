/*
 * buf.h: the one growable byte buffer used throughout libwinrsh.
 * The data is always followed by a NUL byte (not counted in len), so text
 * held in a buffer can be used as a C string.
 */
#ifndef WR_BUF_H
#define WR_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct wr_buf {
    unsigned char *data; /* NULL until something is appended */
    size_t len;
    size_t cap;
} wr_buf;

#define WR_BUF_INIT {NULL, 0, 0}

/* Make room for `extra` more bytes (plus the NUL). 0 or WINRSH_ENOMEM. */
int wr_buf_reserve(wr_buf *b, size_t extra);
int wr_buf_append(wr_buf *b, const void *data, size_t len);
int wr_buf_puts(wr_buf *b, const char *s);
int wr_buf_putc(wr_buf *b, unsigned char c);
int wr_buf_printf(wr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wr_buf_vprintf(wr_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Remove the first n bytes (n <= len). */
void wr_buf_consume(wr_buf *b, size_t n);
/* Empty the buffer, keeping its memory. */
void wr_buf_clear(wr_buf *b);
/* The contents as a C string ("" for an empty buffer). */
const char *wr_buf_cstr(const wr_buf *b);
/* Hand the memory over to the caller (NUL-terminated, may be NULL). */
unsigned char *wr_buf_detach(wr_buf *b, size_t *len);
void wr_buf_free(wr_buf *b);
/* Overwrite the whole allocation with zeros, then free: for secrets. */
void wr_buf_wipe_free(wr_buf *b);

#endif
