/*
 * trace.h: the one logging path. Layers call wr_trace(); the session's
 * callback (from winrsh_session_options) decides where it goes. Callers
 * never pass secrets: the HTTP layer redacts Authorization before tracing.
 */
#ifndef WR_TRACE_H
#define WR_TRACE_H

#include <stddef.h>

#include "winrsh/session.h"

typedef struct wr_tracer {
    winrsh_trace_cb cb;
    void *payload;
    int level; /* 0 off, 1 progress (-v), 2 wire (--trace) */
} wr_tracer;

void wr_trace(const wr_tracer *t, winrsh_trace_kind kind, const char *text, size_t len);
void wr_tracef(const wr_tracer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
