/*
 * build.h: the helpers every WS-Man request builder uses (envelope.c,
 * shell.c, shell_connect.c): literal markup and escaped values appended in
 * a chain where the first error wins, so a builder checks once at the end.
 */
#ifndef WR_WSMAN_BUILD_H
#define WR_WSMAN_BUILD_H

#include "common/buf.h"
#include "common/error.h"
#include "winrsh/errors.h"
#include "wsman/xml.h"

/* Append literal markup (escaping is for values only), unless rc is set. */
static inline int lit(wr_buf *b, const char *s, int rc)
{
    return rc ? rc : wr_buf_puts(b, s);
}

/* Append an escaped value; `what` names it in the error if it cannot be. */
static inline int val(wr_buf *b, const char *s, const char *what, int rc)
{
    return rc ? rc : wr_xml_escape_str(b, s, what);
}

/* The chain's result, with the error record set for out of memory. */
static inline int built(int rc)
{
    if (rc == WINRSH_ENOMEM)
        return wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory building a request");
    return rc;
}

#endif
