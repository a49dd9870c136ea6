/*
 * error.h: raising errors into the thread-local record behind
 * winrsh_error_last(). Every failure path calls one of these once, at the
 * place that knows what went wrong, and returns the code it gives back.
 */
#ifndef WR_ERROR_H
#define WR_ERROR_H

#include <stdint.h>

#include "winrsh/errors.h"

/* Set code, class and a printf-style message; returns `code`. */
int wr_error_set(int code, winrsh_error_class klass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Attach an HTTP status to the current error. */
void wr_error_set_http_status(long status);
/* Attach GSSAPI status codes to the current error. */
void wr_error_set_gss(uint32_t major, uint32_t minor);

/* A fault being built by the parser; strings are heap copies. */
typedef struct wr_fault {
    char *code, *subcode, *reason, *machine, *message, *provider_name;
    uint32_t wsman_code;
    struct wr_fault *provider;
} wr_fault;

void wr_fault_free(wr_fault *f);
/* Make `f` (ownership passes) the fault of the current error. */
void wr_error_set_fault(wr_fault *f);
/* Prefix the current message with "what: " (keeps everything else). */
void wr_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
