#include "trace.h"

#include <stdarg.h>
#include <stdio.h>

void wr_trace(const wr_tracer *t, winrsh_trace_kind kind, const char *text, size_t len)
{
    if (!t || !t->cb || t->level <= 0)
        return;
    if (kind != WINRSH_TRACE_INFO && t->level < 2)
        return;
    t->cb(kind, text, len, t->payload);
}

void wr_tracef(const wr_tracer *t, const char *fmt, ...)
{
    if (!t || !t->cb || t->level <= 0)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    t->cb(WINRSH_TRACE_INFO, line, len, t->payload);
}
