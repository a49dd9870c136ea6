/*
 * certificate.c: TLS client certificate authentication (MS-WSMV 3.1.4.1.29
 * "https/mutual" security profile). The proof is the TLS handshake itself:
 * transport/http.c hands the PEM certificate and key to libcurl. The
 * Authorization header only names the profile, with no token, which is what
 * Windows expects from a client that authenticates by certificate.
 */
#include "auth.h"

#include <stdlib.h>

#include "common/error.h"

static int certificate_step(wr_auth_ctx *ctx, const unsigned char *in, size_t in_len, wr_buf *out)
{
    (void)ctx;
    (void)in;
    (void)in_len;
    (void)out;
    return WR_AUTH_STEP_DONE;
}

static void certificate_free(wr_auth_ctx *ctx)
{
    free(ctx);
}

static int certificate_create(wr_auth_ctx **out, const wr_auth_params *p)
{
    (void)p;
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    (*out)->mech = &wr_auth_certificate;
    (*out)->step = certificate_step;
    (*out)->free = certificate_free;
    return 0;
}

const wr_auth_mech wr_auth_certificate = {
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual", "certificate",
    WINRSH_AUTH_CERTIFICATE, WR_AUTH_NEEDS_TLS, certificate_create,
};
