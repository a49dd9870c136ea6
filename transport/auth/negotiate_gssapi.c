/*
 * negotiate_gssapi.c: SPNEGO (HTTP scheme "Negotiate") and raw Kerberos
 * (HTTP scheme "Kerberos") through GSSAPI, i.e. MIT krb5 on Debian.
 *
 * Credentials come from the ccache, or from a password through
 * gss_acquire_cred_with_password() (user@REALM). The target is HTTP@host
 * unless the caller names another SPN. Mutual authentication is required:
 * the context is only "done" once the server's last token proved it knows
 * the service key.
 *
 * Message encryption for WinRM uses the IOV ("DCE") layout, not a plain
 * wrap token (MS-WSMV 2.2.9.1.1/.2; PROTOCOL.md 3 and 8):
 *
 *   | buffer  | goes on the wire as                                  |
 *   |---------|------------------------------------------------------|
 *   | HEADER  | the "signature" (60 bytes for AES with MIT krb5)     |
 *   | DATA    | the sealed SOAP, same length as the plaintext        |
 *   | PADDING | appended to DATA (empty for AES; RC4-HMAC pads)      |
 *
 * SPNEGO is restricted to Kerberos: when Kerberos cannot work, the
 * "negotiate" mechanism falls back to our own NTLM (transport/auth/ntlm.c)
 * rather than to whatever GSSAPI NTLM module the machine may have.
 */
#include "auth.h"
#include "negotiate.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"

static gss_OID_desc OID_KRB5 = {9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};
static gss_OID_desc OID_SPNEGO = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};

typedef struct {
    wr_auth_ctx base;
    int spnego;               /* 1: Negotiate scheme, 0: Kerberos scheme */
    gss_ctx_id_t gss;
    gss_cred_id_t cred;
    gss_cred_id_t probe_cred; /* Kerberos-only twin of a password credential */
    char what[160];           /* "Kerberos authentication of USER failed" */
    gss_name_t target;
    struct gss_channel_bindings_struct bindings;
    unsigned char *cb_data;   /* tls-server-end-point application data */
    int have_bindings;
    int established;
} gss_ctx;

/* Append the text of one GSSAPI status code (major, or a mechanism minor
 * decoded as Kerberos: SPNEGO's own text for it is only "Unspecified"). */
static void status_text(OM_uint32 code, int type, char *text, size_t size, size_t *used)
{
    OM_uint32 mctx = 0, lmin;
    gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
    do {
        /* GSS_C_NO_OID: MIT's mechglue maps minor codes to their mechanism. */
        if (gss_display_status(&lmin, code, type, GSS_C_NO_OID, &mctx, &msg) != GSS_S_COMPLETE)
            break;
        int n = snprintf(text + *used, size - *used, "%s%.*s", *used ? "; " : "",
                         (int)msg.length, (const char *)msg.value);
        gss_release_buffer(&lmin, &msg);
        if (n > 0 && (size_t)n < size - *used)
            *used += (size_t)n;
    } while (mctx != 0);
}

/* What the user should hear for the Kerberos errors people actually meet. */
static const char *kerberos_advice(OM_uint32 minor, int *code)
{
    switch ((krb5_error_code)minor) {
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        return "access denied: wrong password (the KDC refused the credentials)";
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        return "access denied: the user is unknown to the KDC (check the credentials and realm)";
    case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
        return "the KDC knows no service principal for this host (try its full name, or --spn)";
    case KRB5KRB_AP_ERR_TKT_EXPIRED:
    case KRB5KDC_ERR_KEY_EXP:
        return "the Kerberos ticket has expired: run kinit again, or give a password";
    case KRB5_FCC_NOFILE:
    case KRB5_CC_NOTFOUND:
        return "no Kerberos ticket: run kinit, or give a password";
    case KRB5_KDC_UNREACH:
        *code = WINRSH_ECONNECT;
        return "cannot reach a KDC for the realm (check krb5.conf)";
    default:
        return NULL;
    }
}

/* Raise a GSSAPI failure with both the major and the mechanism's text. */
static int gss_fail(const char *what, OM_uint32 major, OM_uint32 minor)
{
    char text[512] = "";
    size_t used = 0;
    status_text(major, GSS_C_GSS_CODE, text, sizeof(text), &used);
    if (minor)
        status_text(minor, GSS_C_MECH_CODE, text, sizeof(text), &used);
    int code = WINRSH_EAUTH;
    const char *advice = minor ? kerberos_advice(minor, &code) : NULL;
    if (advice)
        wr_error_set(code, WINRSH_ERRCLASS_GSS, "%s: %s (%s)", what, advice,
                     text[0] ? text : "GSSAPI failure");
    else
        wr_error_set(code, WINRSH_ERRCLASS_GSS, "%s: %s", what, text[0] ? text : "GSSAPI failure");
    wr_error_set_gss(major, minor);
    return code;
}

/* SPNEGO reports a failure of the Kerberos mechanism under it as an
 * "unspecified" failure with no usable minor code. SPNEGO here only ever
 * runs Kerberos, so repeat the first step with Kerberos directly, on a
 * throwaway context, to learn what went wrong (expired ticket, unknown
 * user, wrong password) and say that instead. */
static void diagnose_spnego(gss_ctx *c, OM_uint32 *major, OM_uint32 *minor)
{
    gss_ctx_id_t probe = GSS_C_NO_CONTEXT;
    gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
    OM_uint32 pmin = 0, lmin;
    gss_cred_id_t cred = c->probe_cred != GSS_C_NO_CREDENTIAL ? c->probe_cred : c->cred;
    OM_uint32 pmaj = gss_init_sec_context(&pmin, cred, &probe, c->target, &OID_KRB5,
                                          GSS_C_MUTUAL_FLAG, 0, GSS_C_NO_CHANNEL_BINDINGS,
                                          GSS_C_NO_BUFFER, NULL, &out, NULL, NULL);
    gss_release_buffer(&lmin, &out);
    if (probe != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&lmin, &probe, GSS_C_NO_BUFFER);
    if (GSS_ERROR(pmaj) && pmin) {
        *major = pmaj;
        *minor = pmin;
    }
}

static int gss_step(wr_auth_ctx *base, const unsigned char *in, size_t in_len, wr_buf *out)
{
    gss_ctx *c = (gss_ctx *)base;
    if (c->established)
        return in_len ? wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_AUTH,
                                     "unexpected authentication token after the context "
                                     "was complete")
                      : WR_AUTH_STEP_DONE;
    gss_buffer_desc input = {in_len, (void *)in};
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor = 0, ret_flags = 0;
    OM_uint32 want = GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    OM_uint32 major = gss_init_sec_context(
        &minor, c->cred, &c->gss, c->target, c->spnego ? &OID_SPNEGO : &OID_KRB5, want, 0,
        c->have_bindings ? &c->bindings : GSS_C_NO_CHANNEL_BINDINGS, in ? &input : GSS_C_NO_BUFFER,
        NULL, &output, &ret_flags, NULL);
    if (GSS_ERROR(major)) {
        OM_uint32 lmin; /* not `minor`: it holds the failure's reason */
        gss_release_buffer(&lmin, &output);
        int ignored;
        if (c->spnego && !in && !kerberos_advice(minor, &ignored))
            diagnose_spnego(c, &major, &minor);
        return gss_fail(c->what, major, minor);
    }
    int rc = 0;
    if (output.length)
        rc = wr_buf_append(out, output.value, output.length);
    gss_release_buffer(&minor, &output);
    if (rc)
        return rc;
    if (major & GSS_S_CONTINUE_NEEDED)
        return WR_AUTH_STEP_CONTINUE;
    if (!(ret_flags & GSS_C_MUTUAL_FLAG))
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_GSS,
                            "the server did not prove its identity (no mutual authentication)");
    c->established = 1;
    return WR_AUTH_STEP_DONE;
}

static int gss_wrap_msg(wr_auth_ctx *base, const unsigned char *plain, size_t len, wr_buf *sig,
                        wr_buf *sealed)
{
    gss_ctx *c = (gss_ctx *)base;
    gss_iov_buffer_desc iov[3];
    memset(iov, 0, sizeof(iov));
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE;
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE;
    /* gss_wrap_iov encrypts DATA in place: work on our own copy. */
    size_t start = sealed->len;
    int rc = wr_buf_append(sealed, plain, len);
    if (rc)
        return rc;
    iov[1].buffer.length = len;
    iov[1].buffer.value = sealed->data + start;
    OM_uint32 minor = 0, lmin;
    int conf = 0;
    OM_uint32 major = gss_wrap_iov(&minor, c->gss, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
    if (GSS_ERROR(major)) {
        gss_release_iov_buffer(&lmin, iov, 3);
        sealed->len = start;
        return gss_fail("Kerberos wrap failed", major, minor);
    }
    if (!conf) {
        gss_release_iov_buffer(&lmin, iov, 3);
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_GSS,
                            "Kerberos wrap did not encrypt (no confidentiality)");
    }
    rc = wr_buf_append(sig, iov[0].buffer.value, iov[0].buffer.length);
    if (!rc && iov[2].buffer.length)
        rc = wr_buf_append(sealed, iov[2].buffer.value, iov[2].buffer.length);
    gss_release_iov_buffer(&lmin, iov, 3);
    return rc;
}

static int gss_unwrap_msg(wr_auth_ctx *base, const unsigned char *sig, size_t sig_len,
                          const unsigned char *sealed, size_t sealed_len, wr_buf *plain)
{
    gss_ctx *c = (gss_ctx *)base;
    gss_iov_buffer_desc iov[2];
    memset(iov, 0, sizeof(iov));
    wr_buf header = WR_BUF_INIT;
    int rc = wr_buf_append(&header, sig, sig_len);
    size_t start = plain->len;
    if (!rc)
        rc = wr_buf_append(plain, sealed, sealed_len);
    if (rc) {
        wr_buf_free(&header);
        return rc;
    }
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    iov[0].buffer.length = sig_len;
    iov[0].buffer.value = header.data;
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer.length = sealed_len;
    iov[1].buffer.value = plain->data + start;
    OM_uint32 minor = 0;
    int conf = 0;
    gss_qop_t qop = 0;
    OM_uint32 major = gss_unwrap_iov(&minor, c->gss, &conf, &qop, iov, 2);
    wr_buf_free(&header);
    if (GSS_ERROR(major)) {
        plain->len = start;
        return gss_fail("Kerberos unwrap of the server's message failed", major, minor);
    }
    if (!conf) {
        plain->len = start;
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_GSS,
                            "the server's message was not encrypted");
    }
    /* RC4-HMAC may leave the plaintext shorter than the sealed data. */
    plain->len = start + iov[1].buffer.length;
    plain->data[plain->len] = 0;
    return 0;
}

static const char *gss_protocol(wr_auth_ctx *base)
{
    gss_ctx *c = (gss_ctx *)base;
    return c->spnego ? "application/HTTP-SPNEGO-session-encrypted"
                     : "application/HTTP-Kerberos-session-encrypted";
}

static void gss_free_ctx(wr_auth_ctx *base)
{
    gss_ctx *c = (gss_ctx *)base;
    if (!c)
        return;
    OM_uint32 minor;
    if (c->gss != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &c->gss, GSS_C_NO_BUFFER);
    if (c->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &c->cred);
    if (c->probe_cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &c->probe_cred);
    if (c->target != GSS_C_NO_NAME)
        gss_release_name(&minor, &c->target);
    free(c->cb_data);
    free(c);
}

/* Build the target name: an explicit SPN ("HTTP/host" or "HTTP@host") or
 * the host-based service HTTP@host. */
static int import_target(gss_ctx *c, const wr_auth_params *p)
{
    wr_buf name = WR_BUF_INIT;
    gss_OID type = GSS_C_NT_HOSTBASED_SERVICE;
    int rc;
    if (p->spn && *p->spn) {
        rc = wr_buf_puts(&name, p->spn);
        /* "HTTP/host[@REALM]" is a principal name, not a host-based one. */
        if (strchr(p->spn, '/'))
            type = (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME;
    } else {
        rc = wr_buf_printf(&name, "HTTP@%s", p->host);
    }
    if (rc)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    gss_buffer_desc b = {name.len, name.data};
    OM_uint32 minor = 0;
    OM_uint32 major = gss_import_name(&minor, &b, type, &c->target);
    wr_buf_free(&name);
    if (GSS_ERROR(major))
        return gss_fail("invalid service name", major, minor);
    return 0;
}

/* Credentials: from the password when one is given, else the ccache. */
static int acquire_cred(gss_ctx *c, const wr_auth_params *p)
{
    OM_uint32 minor = 0, major;
    gss_OID_set_desc krb5_only = {1, &OID_KRB5};
    /* For SPNEGO the credential must be SPNEGO's, or MIT refuses to
     * restrict its mechanisms below. */
    gss_OID_set_desc mechs = {1, c->spnego ? &OID_SPNEGO : &OID_KRB5};
    if (p->password && p->user && *p->user) {
        gss_name_t user = GSS_C_NO_NAME;
        gss_buffer_desc ub = {strlen(p->user), (void *)p->user};
        major = gss_import_name(&minor, &ub, GSS_C_NT_USER_NAME, &user);
        if (GSS_ERROR(major))
            return gss_fail("invalid user name", major, minor);
        gss_buffer_desc pw = {strlen(p->password), (void *)p->password};
        major = gss_acquire_cred_with_password(&minor, user, &pw, GSS_C_INDEFINITE, &mechs,
                                               GSS_C_INITIATE, &c->cred, NULL, NULL);
        /* MIT gets the ticket lazily, and SPNEGO hides why that failed:
         * keep a Kerberos-only credential to ask directly (diagnose_spnego). */
        if (!GSS_ERROR(major) && c->spnego)
            (void)gss_acquire_cred_with_password(&minor, user, &pw, GSS_C_INDEFINITE, &krb5_only,
                                                 GSS_C_INITIATE, &c->probe_cred, NULL, NULL);
        OM_uint32 lmin;
        gss_release_name(&lmin, &user);
        if (GSS_ERROR(major))
            return gss_fail("cannot get a Kerberos ticket for the user", major, minor);
    } else {
        major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                                 &c->cred, NULL, NULL);
        if (GSS_ERROR(major))
            return gss_fail("no usable Kerberos ticket (run kinit, or give a password)", major,
                            minor);
    }
    if (c->spnego) {
        /* Keep SPNEGO to Kerberos: NTLM is ours, not a GSSAPI module's. */
        major = gss_set_neg_mechs(&minor, c->cred, &krb5_only);
        if (GSS_ERROR(major))
            return gss_fail("cannot restrict SPNEGO to Kerberos", major, minor);
    }
    return 0;
}

/* RFC 5929 channel bindings: the application data is
 * "tls-server-end-point:" followed by the certificate hash. */
static int set_bindings(gss_ctx *c, const wr_auth_params *p)
{
    if (!p->channel_bindings || !p->channel_bindings_len)
        return 0;
    c->cb_data = malloc(p->channel_bindings_len);
    if (!c->cb_data)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    memcpy(c->cb_data, p->channel_bindings, p->channel_bindings_len);
    memset(&c->bindings, 0, sizeof(c->bindings));
    c->bindings.application_data.length = p->channel_bindings_len;
    c->bindings.application_data.value = c->cb_data;
    c->have_bindings = 1;
    return 0;
}

static int create_ctx(wr_auth_ctx **out, const wr_auth_params *p, int spnego,
                      const wr_auth_mech *mech)
{
    *out = NULL;
    gss_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    c->base.mech = mech;
    c->base.step = gss_step;
    c->base.wrap = gss_wrap_msg;
    c->base.unwrap = gss_unwrap_msg;
    c->base.encryption_protocol = gss_protocol;
    c->base.free = gss_free_ctx;
    c->spnego = spnego;
    c->gss = GSS_C_NO_CONTEXT;
    c->cred = GSS_C_NO_CREDENTIAL;
    c->probe_cred = GSS_C_NO_CREDENTIAL;
    if (p->user && *p->user)
        snprintf(c->what, sizeof(c->what), "Kerberos authentication of %s failed", p->user);
    else
        snprintf(c->what, sizeof(c->what), "Kerberos authentication failed");
    c->target = GSS_C_NO_NAME;
    int rc = import_target(c, p);
    if (!rc)
        rc = acquire_cred(c, p);
    if (!rc)
        rc = set_bindings(c, p);
    if (rc) {
        gss_free_ctx(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

static int kerberos_create(wr_auth_ctx **out, const wr_auth_params *p)
{
    return create_ctx(out, p, 0, &wr_auth_kerberos);
}

int wr_negotiate_gssapi_create(wr_auth_ctx **out, const wr_auth_params *p)
{
    return create_ctx(out, p, 1, &wr_auth_negotiate);
}

const wr_auth_mech wr_auth_kerberos = {
    "Kerberos", "kerberos", WINRSH_AUTH_KERBEROS, WR_AUTH_CONNECTION_BOUND | WR_AUTH_CAN_SEAL,
    kerberos_create,
};
