/*
 * basic.c: HTTP Basic (RFC 7617). The "token" is user:password; the HTTP
 * layer base64-encodes it into the Authorization header. It cannot seal, and
 * it reveals the password to anyone who can read the request, which is why
 * transport/http.c refuses it over plain HTTP unless the user allows
 * unencrypted traffic.
 */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"

typedef struct {
    wr_auth_ctx base;
    wr_buf credentials; /* "user:password", wiped on free */
} basic_ctx;

static int basic_step(wr_auth_ctx *ctx, const unsigned char *in, size_t in_len, wr_buf *out)
{
    basic_ctx *c = (basic_ctx *)ctx;
    (void)in;
    (void)in_len;
    int rc = wr_buf_append(out, c->credentials.data, c->credentials.len);
    return rc ? rc : WR_AUTH_STEP_DONE;
}

static void basic_free(wr_auth_ctx *ctx)
{
    basic_ctx *c = (basic_ctx *)ctx;
    if (!c)
        return;
    wr_buf_wipe_free(&c->credentials);
    free(c);
}

static int basic_create(wr_auth_ctx **out, const wr_auth_params *p)
{
    *out = NULL;
    if (!p->user || !*p->user)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "Basic authentication needs a user name (-u USER)");
    /* RFC 7617 2: the user-id cannot contain a colon. */
    if (strchr(p->user, ':'))
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "Basic authentication: the user name may not contain ':'");
    basic_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    c->base.mech = &wr_auth_basic;
    c->base.step = basic_step;
    c->base.free = basic_free;
    /* Before the first byte: growing must not leave copies (common/buf.h). */
    wr_buf_set_sensitive(&c->credentials);
    if (wr_buf_puts(&c->credentials, p->user) || wr_buf_putc(&c->credentials, ':') ||
        wr_buf_puts(&c->credentials, p->password ? p->password : "")) {
        basic_free(&c->base);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    *out = &c->base;
    return 0;
}

const wr_auth_mech wr_auth_basic = {
    "Basic", "basic", WINRSH_AUTH_BASIC, WR_AUTH_SENDS_SECRET, basic_create,
};
