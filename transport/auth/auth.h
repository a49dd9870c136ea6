/*
 * auth.h: the authentication mechanism interface (after curl's vauth and
 * libgit2's transports/auth.h). One file per mechanism implements a const
 * wr_auth_mech descriptor; its context starts with wr_auth_ctx.
 *
 * Tokens are raw bytes. Only transport/http.c knows about base64, the
 * Authorization / WWW-Authenticate headers and the scheme names on the wire,
 * so a mechanism can be carried elsewhere (CredSSP carries SPNEGO inside
 * TSRequest).
 */
#ifndef WR_AUTH_H
#define WR_AUTH_H

#include <stddef.h>

#include "common/buf.h"
#include "common/trace.h"

/* Descriptor flags. */
#define WR_AUTH_CONNECTION_BOUND 0x1 /* the context belongs to one TCP connection */
#define WR_AUTH_CAN_SEAL 0x2         /* wrap/unwrap exist: message encryption */
#define WR_AUTH_NEEDS_TLS 0x4        /* only over HTTPS */
#define WR_AUTH_SENDS_SECRET 0x8     /* reveals the password to the server (Basic) */

/* What a mechanism gets to build its context. Strings are borrowed for the
 * duration of create(); a context copies what it keeps. */
typedef struct wr_auth_params {
    const char *user;     /* as the user typed it: "user", "DOM\\user", "user@REALM" */
    const char *password; /* may be NULL */
    const char *host;     /* target host name (for SPNs) */
    const char *spn;      /* explicit SPN, or NULL for HTTP@host */
    const unsigned char *channel_bindings; /* tls-server-end-point data, or NULL */
    size_t channel_bindings_len;
    const wr_tracer *tracer;
} wr_auth_params;

typedef struct wr_auth_ctx wr_auth_ctx;

/* Outcome of a step. */
typedef enum {
    WR_AUTH_STEP_DONE = 0,     /* context complete; out may still hold a last token */
    WR_AUTH_STEP_CONTINUE = 1  /* send out, feed the server's answer to step() */
} wr_auth_step_result;

struct wr_auth_ctx {
    const struct wr_auth_mech *mech;
    /* in: the server's token (NULL/0 for the first call). out: the token to
     * send (appended to `out`). Returns a wr_auth_step_result >= 0, or a
     * negative WINRSH_E* code with the error raised. */
    int (*step)(wr_auth_ctx *ctx, const unsigned char *in, size_t in_len, wr_buf *out);
    /* Message encryption (NULL when the mechanism cannot seal): wrap appends
     * the security header ("signature") to `sig` and the sealed data to
     * `sealed`; unwrap verifies and appends the plaintext. */
    int (*wrap)(wr_auth_ctx *ctx, const unsigned char *plain, size_t len, wr_buf *sig,
                wr_buf *sealed);
    int (*unwrap)(wr_auth_ctx *ctx, const unsigned char *sig, size_t sig_len,
                  const unsigned char *sealed, size_t sealed_len, wr_buf *plain);
    /* The content type protocol for message encryption, e.g.
     * "application/HTTP-SPNEGO-session-encrypted"; NULL if none. */
    const char *(*encryption_protocol)(wr_auth_ctx *ctx);
    /* Free the context and wipe its keys. */
    void (*free)(wr_auth_ctx *ctx);
};

typedef struct wr_auth_mech {
    const char *scheme;  /* as in WWW-Authenticate: "Basic", "Negotiate", "Kerberos" */
    const char *name;    /* the user-facing name: "basic", "ntlm", "kerberos" */
    unsigned int id;     /* one WINRSH_AUTH_* bit */
    unsigned int flags;  /* WR_AUTH_* */
    int (*create)(wr_auth_ctx **out, const wr_auth_params *params);
} wr_auth_mech;

/* The mechanisms (one file each). "negotiate" is SPNEGO with Kerberos when
 * Kerberos can work, else our NTLM under the Negotiate scheme. */
extern const wr_auth_mech wr_auth_negotiate;
extern const wr_auth_mech wr_auth_kerberos;
extern const wr_auth_mech wr_auth_ntlm;
extern const wr_auth_mech wr_auth_basic;
extern const wr_auth_mech wr_auth_certificate;

/* The preference table: mechanisms in the order we try them. */
const wr_auth_mech *const *wr_auth_mechs(void);
/* Name list of mechanism bits, e.g. "basic, ntlm", into out. */
void wr_auth_describe(unsigned int ids, char *out, size_t size);

#endif
