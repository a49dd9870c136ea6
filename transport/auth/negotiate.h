/*
 * negotiate.h: the pieces of the "negotiate" mechanism (HTTP scheme
 * Negotiate), which picks SPNEGO with Kerberos (negotiate_gssapi.c) when
 * Kerberos can work and our NTLM (ntlm.c) otherwise.
 */
#ifndef WR_NEGOTIATE_H
#define WR_NEGOTIATE_H

#include "auth.h"

/* SPNEGO restricted to Kerberos, through GSSAPI. */
int wr_negotiate_gssapi_create(wr_auth_ctx **out, const wr_auth_params *p);

/* Whether Kerberos is worth trying: the host is a name, not an IP address
 * (Kerberos has no service principals for addresses), and the user either
 * names a realm (user@REALM) or gives no password (a ticket in the ccache). */
int wr_negotiate_kerberos_possible(const wr_auth_params *p);

#endif
