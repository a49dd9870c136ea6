#include "buf.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "winrsh/errors.h"

int wr_buf_reserve(wr_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return WINRSH_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p;
    if (b->sensitive) {
        /* realloc() may move the block and free the old one as it is: a
         * secret would stay behind in freed memory. */
        p = malloc(cap);
        if (!p)
            return WINRSH_ENOMEM;
        if (b->data) {
            memcpy(p, b->data, b->len + 1);
            wr_wipe(b->data, b->cap);
            free(b->data);
        }
    } else {
        p = realloc(b->data, cap);
        if (!p)
            return WINRSH_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int wr_buf_append(wr_buf *b, const void *data, size_t len)
{
    int rc = wr_buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

int wr_buf_puts(wr_buf *b, const char *s)
{
    return wr_buf_append(b, s, strlen(s));
}

int wr_buf_putc(wr_buf *b, unsigned char c)
{
    return wr_buf_append(b, &c, 1);
}

int wr_buf_vprintf(wr_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return WINRSH_EINVAL;
    int rc = wr_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int wr_buf_printf(wr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = wr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void wr_buf_consume(wr_buf *b, size_t n)
{
    if (n >= b->len) {
        wr_buf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
    if (b->sensitive) /* the tail still holds the moved bytes */
        wr_wipe(b->data + b->len + 1, n);
}

void wr_buf_clear(wr_buf *b)
{
    if (b->sensitive && b->data)
        wr_wipe(b->data, b->len);
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

const char *wr_buf_cstr(const wr_buf *b)
{
    return b->data ? (const char *)b->data : "";
}

unsigned char *wr_buf_detach(wr_buf *b, size_t *len)
{
    unsigned char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void wr_buf_free(wr_buf *b)
{
    if (b->sensitive && b->data)
        wr_wipe(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void wr_buf_wipe_free(wr_buf *b)
{
    if (b->data)
        wr_wipe(b->data, b->cap);
    wr_buf_free(b);
}

void wr_buf_set_sensitive(wr_buf *b)
{
    b->sensitive = 1;
}
