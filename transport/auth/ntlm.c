/*
 * ntlm.c: the NTLM mechanism (MS-NLMP) behind the wr_auth interface.
 *
 * Windows offers NTLM through the HTTP "Negotiate" scheme, and accepts raw
 * NTLMSSP tokens there (no SPNEGO wrapping), which is what this mechanism
 * sends: step(NULL) gives NEGOTIATE, step(CHALLENGE) gives AUTHENTICATE and
 * completes. Message encryption then uses the WinRM layout (MS-WSMV
 * 2.2.9.1.1): the 16-byte NTLMSSP_MESSAGE_SIGNATURE is the "signature", the
 * RC4-sealed body follows; each direction has its own key stream and
 * sequence number, so messages must be processed in order.
 */
#include "auth.h"
#include "ntlm_core.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"

enum { NTLM_START, NTLM_SENT_NEGOTIATE, NTLM_DONE, NTLM_FAILED };

typedef struct {
    wr_auth_ctx base;
    int state;
    char *user, *domain, *target_name;
    unsigned char nt_hash[16]; /* NTOWFv1; the password itself is not kept */
    unsigned char *cb;         /* channel binding application data */
    size_t cb_len;
    wr_buf negotiate; /* kept for the MIC */
    wr_ntlm_hooks hooks;
    int has_hooks;
    wr_ntlm_session sess;
    const wr_tracer *tracer;
} ntlm_ctx;

static int ntlm_step(wr_auth_ctx *ctx, const unsigned char *in, size_t in_len, wr_buf *out)
{
    ntlm_ctx *c = (ntlm_ctx *)ctx;
    int rc;
    switch (c->state) {
    case NTLM_START:
        rc = wr_ntlm_negotiate_build(WR_NTLM_CLIENT_FLAGS, wr_ntlm_client_version, &c->negotiate);
        if (!rc && wr_buf_append(out, c->negotiate.data, c->negotiate.len))
            rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        if (rc) {
            c->state = NTLM_FAILED;
            return rc;
        }
        c->state = NTLM_SENT_NEGOTIATE;
        return WR_AUTH_STEP_CONTINUE;
    case NTLM_SENT_NEGOTIATE: {
        if (!in || !in_len) {
            c->state = NTLM_FAILED;
            return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                                "the server answered the NTLM NEGOTIATE without a challenge");
        }
        wr_ntlm_client_input ci = {
            .user = c->user,
            .domain = c->domain,
            .workstation = NULL,
            .nt_hash = c->nt_hash,
            .target_name = c->target_name,
            .channel_bindings = c->cb,
            .channel_bindings_len = c->cb_len,
            .negotiate = {c->negotiate.data, c->negotiate.len},
            .challenge = {in, in_len},
            .hooks = c->has_hooks ? &c->hooks : NULL,
        };
        rc = wr_ntlm_client_authenticate(&ci, out, &c->sess);
        /* The hash is no longer needed once AUTHENTICATE is built. */
        wr_wipe(c->nt_hash, sizeof c->nt_hash);
        if (rc) {
            c->state = NTLM_FAILED;
            return rc;
        }
        c->state = NTLM_DONE;
        wr_tracef(c->tracer, "NTLM: authenticated as %s%s%s (flags 0x%08x)", c->domain,
                  *c->domain ? "\\" : "", c->user, (unsigned)c->sess.flags);
        return WR_AUTH_STEP_DONE;
    }
    case NTLM_DONE:
        /* A final token after completion would be a protocol violation. */
        if (in && in_len)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_AUTH,
                                "unexpected NTLM token after authentication");
        return WR_AUTH_STEP_DONE;
    default:
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "the NTLM context has failed and cannot be reused");
    }
}

static int ready(ntlm_ctx *c)
{
    if (c->state != NTLM_DONE)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "NTLM message encryption before authentication completed");
    return 0;
}

static int ntlm_wrap(wr_auth_ctx *ctx, const unsigned char *plain, size_t len, wr_buf *sig,
                     wr_buf *sealed)
{
    ntlm_ctx *c = (ntlm_ctx *)ctx;
    int rc = ready(c);
    if (rc)
        return rc;
    if (wr_buf_reserve(sig, 16) || wr_buf_reserve(sealed, len))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    unsigned char s[16];
    rc = wr_ntlm_seal(&c->sess, plain, len, sealed->data + sealed->len, s);
    if (rc)
        return rc;
    sealed->len += len;
    sealed->data[sealed->len] = 0;
    wr_buf_append(sig, s, 16); /* room reserved above */
    return 0;
}

static int ntlm_unwrap(wr_auth_ctx *ctx, const unsigned char *sig, size_t sig_len,
                       const unsigned char *sealed, size_t sealed_len, wr_buf *plain)
{
    ntlm_ctx *c = (ntlm_ctx *)ctx;
    int rc = ready(c);
    if (rc)
        return rc;
    if (sig_len != 16)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_AUTH,
                            "NTLM message signature is %zu bytes, not 16", sig_len);
    if (wr_buf_reserve(plain, sealed_len))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    rc = wr_ntlm_unseal(&c->sess, sealed, sealed_len, plain->data + plain->len, sig);
    if (rc) {
        /* The key stream has moved on: the session cannot recover. */
        c->state = NTLM_FAILED;
        return rc;
    }
    plain->len += sealed_len;
    plain->data[plain->len] = 0;
    return 0;
}

static const char *ntlm_protocol(wr_auth_ctx *ctx)
{
    (void)ctx;
    return "application/HTTP-SPNEGO-session-encrypted";
}

static void ntlm_free(wr_auth_ctx *ctx)
{
    ntlm_ctx *c = (ntlm_ctx *)ctx;
    if (!c)
        return;
    wr_free_secret(c->user);
    wr_free_secret(c->domain);
    free(c->target_name);
    if (c->cb) {
        wr_wipe(c->cb, c->cb_len);
        free(c->cb);
    }
    wr_buf_free(&c->negotiate);
    wr_ntlm_session_wipe(&c->sess);
    wr_wipe(c, sizeof *c);
    free(c);
}

static int ntlm_create(wr_auth_ctx **out, const wr_auth_params *p)
{
    *out = NULL;
    if (!p->user || !*p->user)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "NTLM authentication needs a user name (-u USER)");
    ntlm_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    c->base.mech = &wr_auth_ntlm;
    c->base.step = ntlm_step;
    c->base.wrap = ntlm_wrap;
    c->base.unwrap = ntlm_unwrap;
    c->base.encryption_protocol = ntlm_protocol;
    c->base.free = ntlm_free;
    c->tracer = p->tracer;
    int rc = wr_ntlm_split_user(p->user, &c->user, &c->domain);
    if (!rc && !*c->user)
        rc = wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                          "NTLM authentication needs a user name after the domain");
    if (!rc)
        rc = wr_ntlm_ntowfv1(p->password, c->nt_hash);
    /* MsvAvTargetName: the SPN the client means to reach (3.1.5.1.2). */
    if (!rc && p->spn && *p->spn) {
        c->target_name = wr_strdup(p->spn, &rc);
    } else if (!rc && p->host && *p->host) {
        wr_buf t = WR_BUF_INIT;
        if (wr_buf_printf(&t, "HTTP/%s", p->host))
            rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        c->target_name = (char *)wr_buf_detach(&t, NULL);
    }
    if (!rc && p->channel_bindings) {
        c->cb = malloc(p->channel_bindings_len ? p->channel_bindings_len : 1);
        if (!c->cb)
            rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        else if (p->channel_bindings_len)
            memcpy(c->cb, p->channel_bindings, p->channel_bindings_len);
        c->cb_len = p->channel_bindings_len;
    }
    if (rc) {
        ntlm_free(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

void wr_ntlm_auth_set_hooks(wr_auth_ctx *ctx, const wr_ntlm_hooks *hooks)
{
    ntlm_ctx *c = (ntlm_ctx *)ctx;
    if (hooks) {
        c->hooks = *hooks;
        c->has_hooks = 1;
    } else {
        c->has_hooks = 0;
    }
}

wr_ntlm_session *wr_ntlm_auth_session(wr_auth_ctx *ctx)
{
    ntlm_ctx *c = (ntlm_ctx *)ctx;
    return c->state == NTLM_DONE ? &c->sess : NULL;
}

const wr_auth_mech wr_auth_ntlm = {
    "Negotiate", "ntlm", WINRSH_AUTH_NTLM, WR_AUTH_CONNECTION_BOUND | WR_AUTH_CAN_SEAL, ntlm_create,
};
