/*
 * auth.c: the preference table of mechanisms and their names. Selection in
 * transport/http.c walks this table, keeping what the user allows and what
 * the server offers. New mechanisms are added here and nowhere else.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>

/* Strongest first: when several are allowed, the first one that the
 * server also offers wins. */
static const wr_auth_mech *const MECHS[] = {
    &wr_auth_kerberos, &wr_auth_negotiate, &wr_auth_ntlm, &wr_auth_certificate, &wr_auth_basic,
    NULL,
};

const wr_auth_mech *const *wr_auth_mechs(void)
{
    return MECHS;
}

static const struct {
    unsigned int id;
    const char *name;
} NAMES[] = {
    {WINRSH_AUTH_NEGOTIATE, "negotiate"}, {WINRSH_AUTH_NTLM, "ntlm"},
    {WINRSH_AUTH_KERBEROS, "kerberos"},   {WINRSH_AUTH_BASIC, "basic"},
    {WINRSH_AUTH_CREDSSP, "credssp"},     {WINRSH_AUTH_CERTIFICATE, "certificate"},
};

void wr_auth_describe(unsigned int ids, char *out, size_t size)
{
    size_t used = 0;
    if (size)
        out[0] = 0;
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        if (!(ids & NAMES[i].id))
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", NAMES[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!used && size)
        snprintf(out, size, "none");
}
