/*
 * encrypt.c: the multipart/encrypted body of MS-WSMV 2.2.9.1.
 *
 * One encrypted message is a pair of MIME parts between boundary lines
 * ("HT" is a TAB; header names are case-sensitive, MS-WSMV 2.2.9.1):
 *
 * +------------------------------------------------------------------------+
 * | "--Encrypted Boundary" CRLF                                            |
 * | HT "Content-Type: " <protocol> CRLF                                    |
 * | HT "OriginalContent: type=application/soap+xml;charset=UTF-8;Length="  |
 * |    <decimal length of the plaintext (+ padding, see below)> CRLF       |
 * +------------------------------------------------------------------------+
 * | "--Encrypted Boundary" CRLF                                            |
 * | HT "Content-Type: application/octet-stream" CRLF                       |
 * +--------------+---------------------------------------------------------+
 * | 4 bytes      | sig_len, uint32 little-endian                           |
 * | sig_len      | the mechanism's security header ("signature")           |
 * | rest         | the sealed message (then any Kerberos padding)          |
 * +--------------+---------------------------------------------------------+
 * | "--Encrypted Boundary--" CRLF   (no CRLF before it: the binary data    |
 * |                                  runs right up to the boundary)        |
 * +------------------------------------------------------------------------+
 *
 * multipart/x-multi-encrypted (2.2.9.1.3, CredSSP over 16 KiB) repeats the
 * pair once per chunk and closes once at the end.
 *
 * Nothing in the data part says where the sealed bytes end: the part runs up
 * to the next boundary line. The closing boundary must end the body, so the
 * last part is bounded exactly, and in multipart/encrypted (one pair) that
 * is the only part. In the multi form, a part ends at the first boundary
 * line followed by a "Content-Type:" header line, which sealed bytes do not
 * imitate by chance (and a mechanism's MAC would catch it if they did).
 */
#include "encrypt.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"

#define BOUNDARY "Encrypted Boundary"
#define SOAP_TYPE "application/soap+xml"
#define OCTET_STREAM "application/octet-stream"
#define MT_ENCRYPTED "multipart/encrypted"
#define MT_MULTI "multipart/x-multi-encrypted"
/* RFC 2046 5.1.1: a boundary is 1 to 70 characters. */
#define BOUNDARY_MAX 70
/* Longer than any protocol string of 2.2.9.1; bounds what we copy. */
#define PROTOCOL_MAX 128

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static int proto_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Every parse failure: WINRSH_EPROTO, "encrypted body: " and what was
 * wrong, so a bad server answer is told apart from a wrong password. */
static int proto_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_HTTP, "encrypted body: %s", msg);
}

static int is_credssp(const char *protocol)
{
    return wr_strncasecmp(protocol, WR_ENCRYPT_CREDSSP, sizeof(WR_ENCRYPT_CREDSSP)) == 0;
}

/* Text we show in an error: printable ASCII only, bounded. */
static void shown(const unsigned char *p, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < size; i++)
        out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    if (o + 4 >= size && n > o) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
}

/* ------------------------------------------------------------------ */
/* Building                                                             */

/* The protocol goes into a quoted header parameter and a header line: no
 * quote, backslash or control character may break either. */
static int check_protocol(const char *protocol)
{
    size_t n = protocol ? strlen(protocol) : 0;
    if (n == 0 || n > PROTOCOL_MAX)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "message encryption: no usable protocol string");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)protocol[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ';')
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "message encryption: bad protocol string");
    }
    return 0;
}

static void put_u32le(unsigned char out[4], uint32_t v)
{
    out[0] = (unsigned char)(v & 0xff);
    out[1] = (unsigned char)((v >> 8) & 0xff);
    out[2] = (unsigned char)((v >> 16) & 0xff);
    out[3] = (unsigned char)((v >> 24) & 0xff);
}

/* Seal one message (or one CredSSP chunk) and append its pair of parts. */
static int append_pair(wr_auth_ctx *ctx, const char *protocol, int credssp,
                       const unsigned char *plain, size_t len, wr_buf *out)
{
    wr_buf sig = WR_BUF_INIT, sealed = WR_BUF_INIT;
    int rc = ctx->wrap(ctx, plain, len, &sig, &sealed);
    if (rc) {
        wr_buf_free(&sig);
        wr_buf_free(&sealed);
        return rc;
    }
    /* Length (PROTOCOL.md 3): NTLM and Kerberos seal in place, so the
     * sealed bytes are the plaintext's length plus whatever padding the
     * mechanism appended, and pypsrp/Windows count that padding in Length.
     * CredSSP's sealed bytes are a TLS record, unrelated in size to the
     * plaintext, so Length is the plaintext length there. */
    size_t length = len;
    if (!credssp) {
        if (sealed.len < len)
            rc = wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_AUTH,
                              "message encryption: the mechanism sealed %zu bytes into %zu", len,
                              sealed.len);
        length = sealed.len;
    }
    if (!rc && sig.len > UINT32_MAX)
        rc = wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_AUTH,
                          "message encryption: signature of %zu bytes", sig.len);
    if (!rc) {
        unsigned char le[4];
        put_u32le(le, (uint32_t)sig.len);
        if (wr_buf_printf(out,
                          "--" BOUNDARY "\r\n"
                          "\tContent-Type: %s\r\n"
                          "\tOriginalContent: type=" SOAP_TYPE ";charset=UTF-8;Length=%zu\r\n"
                          "--" BOUNDARY "\r\n"
                          "\tContent-Type: " OCTET_STREAM "\r\n",
                          protocol, length) ||
            wr_buf_append(out, le, 4) || wr_buf_append(out, sig.data, sig.len) ||
            wr_buf_append(out, sealed.data, sealed.len))
            rc = oom();
    }
    wr_buf_free(&sig);
    wr_buf_free(&sealed);
    return rc;
}

int wr_encrypt_body(wr_auth_ctx *ctx, const char *protocol, const unsigned char *soap, size_t len,
                    wr_buf *body_out, wr_buf *content_type_out)
{
    if (!ctx || !ctx->wrap)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_AUTH,
                            "message encryption: the %s mechanism cannot seal messages",
                            ctx && ctx->mech ? ctx->mech->name : "selected");
    if (!protocol && ctx->encryption_protocol)
        protocol = ctx->encryption_protocol(ctx);
    int rc = check_protocol(protocol);
    if (rc)
        return rc;

    if (!soap && len)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "message encryption: no message");
    int credssp = is_credssp(protocol);
    int multi = credssp && len > WR_ENCRYPT_CREDSSP_CHUNK;
    size_t chunk = multi ? WR_ENCRYPT_CREDSSP_CHUNK : len;

    /* Built aside and appended at the end: on error the caller's buffers
     * are as they were. */
    wr_buf body = WR_BUF_INIT;
    size_t off = 0;
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        /* (NULL + 0 is undefined, and an empty message is legal.) */
        rc = append_pair(ctx, protocol, credssp, soap ? soap + off : soap, n, &body);
        off += n;
    } while (!rc && off < len);
    if (!rc && wr_buf_puts(&body, "--" BOUNDARY "--\r\n"))
        rc = oom();

    size_t ct_len = content_type_out->len;
    if (!rc && (wr_buf_printf(content_type_out, "%s;protocol=\"%s\";boundary=\"" BOUNDARY "\"",
                              multi ? MT_MULTI : MT_ENCRYPTED, protocol) ||
                wr_buf_append(body_out, body.data, body.len))) {
        content_type_out->len = ct_len;
        if (content_type_out->data)
            content_type_out->data[ct_len] = 0;
        rc = oom();
    }
    wr_buf_free(&body);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Parsing the Content-Type header                                      */

typedef struct {
    int multi;
    char boundary[BOUNDARY_MAX + 1];
    size_t boundary_len;
    char protocol[PROTOCOL_MAX + 1];
} ctype_params;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * RFC 2045 5.1: type "/" subtype *(";" attribute "=" value), value a token
 * or a quoted string. Type and parameter names are case-insensitive. An
 * unquoted boundary may hold a space ("boundary=Encrypted Boundary"): it
 * runs to the next ';', trimmed.
 */
static int parse_content_type(const char *ct, ctype_params *out)
{
    memset(out, 0, sizeof(*out));
    if (!ct)
        return proto_error("the response has no Content-Type");
    const char *p = ct;
    while (is_ows(*p))
        p++;
    const char *t = p;
    while (*p && *p != ';')
        p++;
    size_t tn = (size_t)(p - t);
    while (tn && is_ows(t[tn - 1]))
        tn--;
    if (tn == strlen(MT_ENCRYPTED) && wr_strncasecmp(t, MT_ENCRYPTED, tn) == 0)
        out->multi = 0;
    else if (tn == strlen(MT_MULTI) && wr_strncasecmp(t, MT_MULTI, tn) == 0)
        out->multi = 1;
    else {
        char s[80];
        shown((const unsigned char *)t, tn, s, sizeof(s));
        return proto_error("Content-Type '%s' is neither " MT_ENCRYPTED " nor " MT_MULTI, s);
    }

    int have_boundary = 0, have_protocol = 0;
    while (*p == ';') {
        p++;
        while (is_ows(*p))
            p++;
        if (!*p)
            break; /* a trailing ';' */
        const char *name = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        size_t nn = (size_t)(p - name);
        while (nn && is_ows(name[nn - 1]))
            nn--;
        if (*p != '=' || nn == 0)
            return proto_error("malformed Content-Type parameter");
        p++;
        while (is_ows(*p))
            p++;
        char value[PROTOCOL_MAX + 1];
        size_t vn = 0;
        if (*p == '"') {
            p++;
            for (; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                if (vn == PROTOCOL_MAX)
                    return proto_error("Content-Type parameter value too long");
                value[vn++] = *p;
            }
            if (*p != '"')
                return proto_error("unterminated quoted string in Content-Type");
            p++;
            while (is_ows(*p))
                p++;
            if (*p && *p != ';')
                return proto_error("malformed Content-Type parameter");
        } else {
            const char *v = p;
            while (*p && *p != ';')
                p++;
            vn = (size_t)(p - v);
            while (vn && is_ows(v[vn - 1]))
                vn--;
            if (vn > PROTOCOL_MAX)
                return proto_error("Content-Type parameter value too long");
            memcpy(value, v, vn);
        }
        value[vn] = 0;

        if (nn == 8 && wr_strncasecmp(name, "boundary", 8) == 0) {
            if (have_boundary++)
                return proto_error("Content-Type has two boundary parameters");
            if (vn == 0 || vn > BOUNDARY_MAX)
                return proto_error("boundary of %zu characters (1 to %d allowed)", vn,
                                   BOUNDARY_MAX);
            for (size_t i = 0; i < vn; i++)
                if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                    return proto_error("boundary contains a control character");
            memcpy(out->boundary, value, vn + 1);
            out->boundary_len = vn;
        } else if (nn == 8 && wr_strncasecmp(name, "protocol", 8) == 0) {
            if (have_protocol++)
                return proto_error("Content-Type has two protocol parameters");
            memcpy(out->protocol, value, vn + 1);
        }
    }
    if (*p)
        return proto_error("malformed Content-Type parameter");
    if (!have_boundary)
        return proto_error("Content-Type has no boundary parameter");
    if (!have_protocol || !out->protocol[0])
        return proto_error("Content-Type has no protocol parameter");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing the body                                                     */

typedef struct {
    const unsigned char *b;
    size_t len;
    const ctype_params *ct;
} body_reader;

/*
 * A boundary line at `pos`: "--", any spaces (Exchange writes
 * "-- Encrypted Boundary"), the boundary, then "--" for the closing one.
 * Returns the offset just past the boundary (and its "--" when closing),
 * or 0 when there is none; *closing tells which.
 */
static size_t boundary_at(const body_reader *r, size_t pos, int *closing)
{
    const unsigned char *b = r->b;
    size_t n = r->len, bl = r->ct->boundary_len;
    *closing = 0;
    if (n - pos < 2 || b[pos] != '-' || b[pos + 1] != '-')
        return 0;
    pos += 2;
    while (pos < n && b[pos] == ' ')
        pos++;
    if (n - pos < bl || memcmp(b + pos, r->ct->boundary, bl) != 0)
        return 0;
    pos += bl;
    if (n - pos >= 2 && b[pos] == '-' && b[pos + 1] == '-') {
        *closing = 1;
        pos += 2;
    }
    return pos;
}

/* An opening boundary line (with its CRLF) at pos; returns the offset
 * after it, or 0. */
static size_t opening_at(const body_reader *r, size_t pos)
{
    int closing;
    size_t end = boundary_at(r, pos, &closing);
    if (!end || closing || r->len - end < 2 || r->b[end] != '\r' || r->b[end + 1] != '\n')
        return 0;
    return end + 2;
}

/* The closing boundary must end the body, optionally followed by CRLF.
 * Returns its offset or SIZE_MAX. Found from the end: the sealed bytes
 * before it are arbitrary and may contain anything. */
static size_t find_closing(const body_reader *r)
{
    const unsigned char *b = r->b;
    size_t n = r->len, bl = r->ct->boundary_len;
    if (n >= 2 && b[n - 2] == '\r' && b[n - 1] == '\n')
        n -= 2;
    if (n < bl + 4 || b[n - 1] != '-' || b[n - 2] != '-' ||
        memcmp(b + n - 2 - bl, r->ct->boundary, bl) != 0)
        return SIZE_MAX;
    size_t pos = n - 2 - bl;
    while (pos > 2 && b[pos - 1] == ' ')
        pos--;
    if (pos < 2 || b[pos - 1] != '-' || b[pos - 2] != '-')
        return SIZE_MAX;
    return pos - 2;
}

/*
 * One header line at *pos: optional indentation (the spec's TAB; spaces or
 * none tolerated), Name ":" OWS value CRLF. The name is returned as is and
 * compared case-sensitively by the caller, as 2.2.9.1 asks.
 */
static int read_header(const body_reader *r, size_t *pos, const char *where,
                       const unsigned char **name, size_t *name_len, const unsigned char **value,
                       size_t *value_len)
{
    const unsigned char *b = r->b;
    size_t p = *pos;
    while (p < r->len && is_ows((char)b[p]))
        p++;
    const unsigned char *nl = memchr(b + p, '\n', r->len - p);
    if (!nl)
        return proto_error("%s header at offset %zu is not ended by CRLF (truncated?)", where,
                           *pos);
    size_t eol = (size_t)(nl - b);
    if (eol == p || b[eol - 1] != '\r')
        return proto_error("%s header at offset %zu is not ended by CRLF", where, *pos);
    size_t line_end = eol - 1;
    const unsigned char *colon = memchr(b + p, ':', line_end - p);
    if (!colon) {
        char s[80];
        shown(b + p, line_end - p, s, sizeof(s));
        return proto_error("%s header line '%s' has no ':'", where, s);
    }
    *name = b + p;
    *name_len = (size_t)(colon - (b + p));
    size_t v = (size_t)(colon - b) + 1;
    while (v < line_end && is_ows((char)b[v]))
        v++;
    size_t ve = line_end;
    while (ve > v && is_ows((char)b[ve - 1]))
        ve--;
    *value = b + v;
    *value_len = ve - v;
    *pos = eol + 1;
    return 0;
}

static int span_is(const unsigned char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

static int span_is_nocase(const unsigned char *p, size_t n, const char *s)
{
    return strlen(s) == n && wr_strncasecmp((const char *)p, s, n) == 0;
}

/*
 * The OriginalContent value: "type=application/soap+xml;charset=UTF-8;
 * Length=N". type and Length are required; Length is digits only and must
 * fit a size_t. The charset is the SOAP layer's business, not ours.
 */
static int parse_original_content(const unsigned char *v, size_t n, size_t *length)
{
    int have_type = 0, have_length = 0;
    size_t i = 0;
    while (i <= n) {
        size_t s = i;
        while (i < n && v[i] != ';')
            i++;
        size_t a = s, e = i;
        while (a < e && is_ows((char)v[a]))
            a++;
        while (e > a && is_ows((char)v[e - 1]))
            e--;
        const unsigned char *eq = memchr(v + a, '=', e - a);
        if (eq) {
            const unsigned char *name = v + a, *val = eq + 1;
            size_t nl = (size_t)(eq - name), vl = (size_t)(v + e - val);
            if (span_is(name, nl, "type")) {
                if (!span_is_nocase(val, vl, SOAP_TYPE)) {
                    char sh[80];
                    shown(val, vl, sh, sizeof(sh));
                    return proto_error("OriginalContent type '%s' is not " SOAP_TYPE, sh);
                }
                have_type = 1;
            } else if (span_is(name, nl, "Length")) {
                if (have_length)
                    return proto_error("OriginalContent has two Length parameters");
                if (vl == 0)
                    return proto_error("OriginalContent Length is empty");
                size_t x = 0;
                for (size_t k = 0; k < vl; k++) {
                    if (val[k] < '0' || val[k] > '9') {
                        char sh[40];
                        shown(val, vl, sh, sizeof(sh));
                        return proto_error("OriginalContent Length '%s' is not a number", sh);
                    }
                    unsigned d = (unsigned)(val[k] - '0');
                    if (x > (SIZE_MAX - d) / 10)
                        return proto_error("OriginalContent Length is too large");
                    x = x * 10 + d;
                }
                *length = x;
                have_length = 1;
            }
        }
        i++;
    }
    if (!have_type)
        return proto_error("OriginalContent has no type");
    if (!have_length)
        return proto_error("OriginalContent has no Length");
    return 0;
}

/* The first part of a pair, from just after its boundary line up to the
 * next boundary: Content-Type (the protocol) and OriginalContent. */
static int parse_header_part(const body_reader *r, size_t *pos, size_t *length)
{
    int have_ct = 0, have_oc = 0;
    while (*pos < r->len && r->b[*pos] != '-') {
        size_t at = *pos;
        const unsigned char *name, *value;
        size_t nl, vl;
        int rc = read_header(r, pos, "encrypted part", &name, &nl, &value, &vl);
        if (rc)
            return rc;
        if (span_is(name, nl, "Content-Type")) {
            if (have_ct++)
                return proto_error("two Content-Type headers at offset %zu", at);
            if (!span_is_nocase(value, vl, r->ct->protocol)) {
                char sh[PROTOCOL_MAX + 8];
                shown(value, vl, sh, sizeof(sh));
                return proto_error("part Content-Type '%s' does not match the protocol '%s'", sh,
                                   r->ct->protocol);
            }
        } else if (span_is(name, nl, "OriginalContent")) {
            if (have_oc++)
                return proto_error("two OriginalContent headers at offset %zu", at);
            if ((rc = parse_original_content(value, vl, length)) != 0)
                return rc;
        } else {
            char sh[80];
            shown(name, nl, sh, sizeof(sh));
            return proto_error("unexpected header '%s' at offset %zu", sh, at);
        }
    }
    if (!have_ct)
        return proto_error("encrypted part without Content-Type");
    if (!have_oc)
        return proto_error("encrypted part without OriginalContent");
    return 0;
}

/* Does a new pair start at pos? Its boundary line followed by a header
 * line naming Content-Type: enough that sealed bytes never pass for it. */
static int pair_starts_at(const body_reader *r, size_t pos)
{
    size_t p = opening_at(r, pos);
    if (!p)
        return 0;
    while (p < r->len && is_ows((char)r->b[p]))
        p++;
    static const char ct[] = "Content-Type:";
    return r->len - p >= sizeof(ct) - 1 && memcmp(r->b + p, ct, sizeof(ct) - 1) == 0;
}

/* Where the data part starting at `from` ends. multipart/encrypted holds
 * one pair, so its data runs exactly to the closing boundary, whatever the
 * sealed bytes contain. In the multi form it ends at the next pair. */
static size_t data_end(const body_reader *r, size_t from, size_t closing)
{
    if (!r->ct->multi)
        return closing;
    for (size_t p = from; p + 1 < closing; p++) {
        const unsigned char *d = memchr(r->b + p, '-', closing - p);
        if (!d)
            break;
        p = (size_t)(d - r->b);
        if (pair_starts_at(r, p))
            return p;
    }
    return closing;
}

static uint32_t get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One pair at *pos: parse, check, unwrap, append to `plain`. */
static int read_pair(wr_auth_ctx *ctx, const body_reader *r, size_t *pos, size_t closing,
                     wr_buf *plain)
{
    size_t p = opening_at(r, *pos);
    if (!p)
        return proto_error("expected the boundary '--%s' at offset %zu", r->ct->boundary, *pos);
    size_t length = 0;
    int rc = parse_header_part(r, &p, &length);
    if (rc)
        return rc;

    size_t q = opening_at(r, p);
    if (!q)
        return proto_error("expected the boundary '--%s' before the data part at offset %zu",
                           r->ct->boundary, p);
    const unsigned char *name, *value;
    size_t nl, vl, at = q;
    if ((rc = read_header(r, &q, "data part", &name, &nl, &value, &vl)) != 0)
        return rc;
    if (!span_is(name, nl, "Content-Type") || !span_is_nocase(value, vl, OCTET_STREAM))
        return proto_error("the data part at offset %zu is not Content-Type: " OCTET_STREAM, at);

    if (q > closing)
        return proto_error("the data part at offset %zu starts past the closing boundary", q);
    size_t end = data_end(r, q, closing);
    size_t part = end - q;
    if (part < 4)
        return proto_error("the data part at offset %zu is %zu bytes, too short for the "
                           "signature length",
                           q, part);
    uint32_t sig_len = get_u32le(r->b + q);
    if (sig_len > part - 4)
        return proto_error("signature length %u exceeds the part (%zu bytes)", (unsigned)sig_len,
                           part - 4);
    const unsigned char *sig = r->b + q + 4;
    const unsigned char *sealed = sig + sig_len;
    size_t sealed_len = part - 4 - sig_len;

    size_t before = plain->len;
    rc = ctx->unwrap(ctx, sig, sig_len, sealed, sealed_len, plain);
    if (rc) {
        wr_error_prefix("encrypted body");
        return rc;
    }
    if (plain->len < before || plain->len - before != length)
        return proto_error("decrypted length %zu does not match OriginalContent Length=%zu",
                           plain->len - before, length);
    *pos = end;
    return 0;
}

int wr_decrypt_body(wr_auth_ctx *ctx, const char *content_type, const unsigned char *body,
                    size_t len, wr_buf *soap_out)
{
    if (!ctx || !ctx->unwrap)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_AUTH,
                            "message encryption: the %s mechanism cannot unseal messages",
                            ctx && ctx->mech ? ctx->mech->name : "selected");
    ctype_params ct;
    int rc = parse_content_type(content_type, &ct);
    if (rc)
        return rc;
    if (!body || len == 0)
        return proto_error("the body is empty");

    body_reader r = {body, len, &ct};
    size_t closing = find_closing(&r);
    if (closing == SIZE_MAX)
        return proto_error("the body does not end with '--%s--' (truncated?)", ct.boundary);

    /* Plaintext is collected aside, wiped if anything fails: it may hold
     * secrets, and the caller must not see half a message. */
    wr_buf plain = WR_BUF_INIT;
    size_t pos = 0, pairs = 0;
    while (!rc && pos < closing) {
        rc = read_pair(ctx, &r, &pos, closing, &plain);
        pairs++;
    }
    if (!rc && pairs == 0)
        rc = proto_error("no encrypted part before the closing boundary");
    if (!rc && wr_buf_append(soap_out, plain.data, plain.len))
        rc = oom();
    wr_buf_wipe_free(&plain);
    return rc;
}
