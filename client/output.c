/*
 * output.c: write-all helpers, messages and the trace sink.
 */
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int verbose_on;

int cli_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* a signal (Ctrl-C) must not lose output */
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Format one line into a buffer and write it with one write(), so lines
 * from winrsh do not interleave with remote stderr bytes mid-line. */
static void vline(const char *prefix, const char *fmt, va_list ap, const char *suffix)
    __attribute__((format(printf, 2, 0)));

static void vline(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s", prefix);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = strlen(line);
    snprintf(line + len, sizeof(line) - len, "%s\n", suffix ? suffix : "");
    (void)cli_write_all(2, line, strlen(line));
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("winrsh: ", fmt, ap, NULL);
    va_end(ap);
}

void cli_lib_error(int rc, const char *fmt, ...)
{
    const winrsh_error *e = winrsh_error_last();
    char suffix[1100];
    const char *msg = e && e->message && *e->message ? e->message : winrsh_error_name(rc);
    snprintf(suffix, sizeof(suffix), ": %s", msg ? msg : "unknown error");
    va_list ap;
    va_start(ap, fmt);
    vline("winrsh: ", fmt, ap, suffix);
    va_end(ap);
}

void cli_verbose_enable(int on)
{
    verbose_on = on;
}

void cli_verbose(const char *fmt, ...)
{
    if (!verbose_on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vline("winrsh: ", fmt, ap, NULL);
    va_end(ap);
}

void cli_trace(winrsh_trace_kind kind, const char *text, size_t len, void *payload)
{
    const char *prefix;
    (void)payload;
    switch (kind) {
    case WINRSH_TRACE_HEADER_OUT:
        prefix = "> ";
        break;
    case WINRSH_TRACE_HEADER_IN:
        prefix = "< ";
        break;
    case WINRSH_TRACE_DATA_OUT:
        prefix = "} ";
        break;
    case WINRSH_TRACE_DATA_IN:
        prefix = "{ ";
        break;
    case WINRSH_TRACE_INFO:
    default:
        prefix = "winrsh: ";
        break;
    }
    /* One prefix per line; CRs of HTTP header lines are dropped. */
    while (len > 0) {
        const char *nl = memchr(text, '\n', len);
        size_t n = nl ? (size_t)(nl - text) : len;
        size_t shown = n;
        if (shown > 0 && text[shown - 1] == '\r')
            shown--;
        if (shown > 0 || nl == NULL) {
            (void)cli_write_all(2, prefix, strlen(prefix));
            (void)cli_write_all(2, text, shown);
            (void)cli_write_all(2, "\n", 1);
        }
        if (!nl)
            break;
        text += n + 1;
        len -= n + 1;
    }
}
