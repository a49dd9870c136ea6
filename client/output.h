/*
 * output.h: everything winrsh writes to fd 1 and fd 2.
 *
 * Remote output goes out with write() exactly as received (no stdio
 * buffering, so it shows as it arrives); winrsh's own messages go to stderr
 * with a "winrsh: " prefix.
 */
#ifndef WINRSH_CLI_OUTPUT_H
#define WINRSH_CLI_OUTPUT_H

#include <stddef.h>

#include <winrsh/winrsh.h>

/* Write all of buf to fd, through partial writes and EINTR. Returns 0, or -1
 * with errno set. */
int cli_write_all(int fd, const void *buf, size_t len);

/* "winrsh: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "winrsh: <what>: <the library's last error>\n" on stderr. Reads
 * winrsh_error_last(), so call it before anything else can fail. */
void cli_lib_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress for -v: "winrsh: <message>\n" on stderr when enabled. */
void cli_verbose_enable(int on);
void cli_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The session's trace callback: every line of `text` goes to stderr behind
 * a prefix that says which way it went (as curl -v does). */
void cli_trace(winrsh_trace_kind kind, const char *text, size_t len, void *payload);

#endif
