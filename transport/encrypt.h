/*
 * encrypt.h: WinRM message encryption over HTTP (MS-WSMV 2.2.9.1).
 *
 * Builds and parses the multipart/encrypted body that carries a sealed SOAP
 * message. It knows nothing about NTLM, Kerberos or CredSSP beyond the
 * mechanism context's wrap/unwrap (auth/auth.h) and the protocol string
 * that names the mechanism family in the Content-Type.
 */
#ifndef WR_ENCRYPT_H
#define WR_ENCRYPT_H

#include <stddef.h>

#include "common/buf.h"
#include "transport/auth/auth.h"

/* The protocol parameter values of MS-WSMV 2.2.9.1.1-3. */
#define WR_ENCRYPT_SPNEGO "application/HTTP-SPNEGO-session-encrypted"
#define WR_ENCRYPT_KERBEROS "application/HTTP-Kerberos-session-encrypted"
#define WR_ENCRYPT_CREDSSP "application/HTTP-CredSSP-session-encrypted"

/* CredSSP seals through TLS, whose records hold at most 16 KiB of
 * plaintext: a longer message is sent as one encrypted pair per chunk in a
 * multipart/x-multi-encrypted body (MS-WSMV 2.2.9.1.3). */
#define WR_ENCRYPT_CREDSSP_CHUNK 16384

/*
 * Seal `soap` with ctx->wrap and append the HTTP body to `body_out` and the
 * value of its Content-Type header to `content_type_out`:
 *   multipart/encrypted;protocol="<protocol>";boundary="Encrypted Boundary"
 * `protocol` NULL means ctx->encryption_protocol(ctx). The OriginalContent
 * Length is the plaintext length, except that a mechanism which pads
 * (Kerberos RC4-HMAC in the IOV layout) appends its padding to the sealed
 * data and Length counts it (PROTOCOL.md 3). For CredSSP, messages longer
 * than WR_ENCRYPT_CREDSSP_CHUNK become multipart/x-multi-encrypted.
 * Returns 0 or a negative WINRSH_E* code with the error raised; on error
 * the output buffers are left as they were.
 */
int wr_encrypt_body(wr_auth_ctx *ctx, const char *protocol, const unsigned char *soap, size_t len,
                    wr_buf *body_out, wr_buf *content_type_out);

/*
 * Parse an encrypted response body whose Content-Type header value is
 * `content_type` (multipart/encrypted or multipart/x-multi-encrypted),
 * unwrap every sealed part with ctx->unwrap and append the plaintext SOAP to
 * `soap_out`. Strict: every length is checked before it is used, and each
 * part's decrypted length must equal its OriginalContent Length. Errors are
 * WINRSH_EPROTO naming what was wrong (or the mechanism's own error when
 * unwrap fails); on error `soap_out` is left as it was.
 */
int wr_decrypt_body(wr_auth_ctx *ctx, const char *content_type, const unsigned char *body,
                    size_t len, wr_buf *soap_out);

#endif
