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
    /* 0 or the most bytes a producer filling this buffer from the outside
     * should put in it: advice for the one who fills it, not enforced by the
     * functions here. transport/http.c refuses an answer longer than the
     * `max_len` of the buffer it reads into (wsman.c sets it from
     * MaxEnvelopeSize). Survives wr_buf_clear/_free. */
    size_t max_len;
    /* The buffer holds (or will hold) a secret: every block it ever owned is
     * wiped before it goes back to the allocator. Growing allocates a new
     * block, copies and wipes the old one instead of realloc(), which could
     * leave a copy behind; wr_buf_consume and wr_buf_clear wipe the bytes
     * they drop; wr_buf_free wipes. Survives wr_buf_clear/_free (the buffer
     * stays sensitive when reused); wr_buf_detach hands the duty over. */
    int sensitive;
} wr_buf;

#define WR_BUF_INIT {NULL, 0, 0, 0, 0}
/* A buffer for secrets (see `sensitive`). */
#define WR_BUF_SECRET_INIT {NULL, 0, 0, 0, 1}

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
/* Mark b sensitive from now on (what it held before was not protected
 * against realloc copies: call this before the first byte of a secret). */
void wr_buf_set_sensitive(wr_buf *b);

#endif
