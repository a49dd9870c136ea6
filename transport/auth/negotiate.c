/*
 * negotiate.c: the default mechanism. Windows offers "Negotiate" and takes
 * either SPNEGO (which we only use with Kerberos inside) or raw NTLMSSP
 * tokens under it. Like Windows' own client we prefer Kerberos and fall back
 * to NTLM when Kerberos is impossible: an IP address as the target, a user
 * without a realm, or no ticket to be had for the user.
 */
#include "negotiate.h"

#include <arpa/inet.h>
#include <string.h>

#include "common/error.h"

int wr_negotiate_kerberos_possible(const wr_auth_params *p)
{
    unsigned char addr[16];
    if (!p->host || inet_pton(AF_INET, p->host, addr) == 1 ||
        inet_pton(AF_INET6, p->host, addr) == 1 || (p->host[0] == '[' /* curl keeps brackets */))
        return 0;
    if (p->spn && *p->spn)
        return 1;
    if (!p->password)
        return 1; /* the ccache may hold a ticket */
    return p->user && strchr(p->user, '@') != NULL;
}

static int negotiate_create(wr_auth_ctx **out, const wr_auth_params *p)
{
    if (wr_negotiate_kerberos_possible(p)) {
        int rc = wr_negotiate_gssapi_create(out, p);
        if (rc == 0)
            return 0;
        /* Remember why Kerberos failed: if NTLM cannot run either, that is
         * the more useful message. */
        wr_tracef(p->tracer, "Kerberos not possible (%s); falling back to NTLM",
                  winrsh_error_last()->message);
        if (!p->password)
            return rc;
    } else {
        wr_tracef(p->tracer, "Kerberos not possible for this user and host; using NTLM");
    }
    return wr_auth_ntlm.create(out, p);
}

const wr_auth_mech wr_auth_negotiate = {
    "Negotiate", "negotiate", WINRSH_AUTH_NEGOTIATE,
    WR_AUTH_CONNECTION_BOUND | WR_AUTH_CAN_SEAL, negotiate_create,
};
