/*
 * ntlm_core.c: NTLM client-side protocol pieces (MS-NLMP), transport-free.
 *
 * Why the policy in ntlm_core.h:
 *  - LM and NTLMv1 responses can be cracked from a capture, and their
 *    session keys are weak; MS-NLMP's NTLMv2 (3.3.2) is all Windows has
 *    needed since Vista/2008 (LmCompatibilityLevel >= 3 sends NTLMv2 only).
 *    A server that does not set NEGOTIATE_EXTENDED_SESSIONSECURITY would
 *    give us the NTLMv1 sign/seal scheme (CRC32 checksums, 3.4.4.1), and one
 *    that sends no TargetInfo cannot take part in NTLMv2 with a MIC, so we
 *    refuse both instead of falling back.
 *  - Sealing with 40/56-bit keys (3.4.5.3) is refused; the key derivation
 *    for them is still here because the MS-NLMP 4.2 vectors exercise it.
 */
#include "ntlm_core.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/error.h"
#include "common/mem.h"
#include "transport/crypto/hmac_md5.h"
#include "transport/crypto/md4.h"

static const unsigned char ntlm_signature[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

/* ProductMajorVersion 10, ProductMinorVersion 0, ProductBuild 0,
 * Reserved Z(3), NTLMRevisionCurrent 0x0F (2.2.2.10). */
const unsigned char wr_ntlm_client_version[8] = {10, 0, 0, 0, 0, 0, 0, 0x0F};

static int proto_error(const char *what)
{
    return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_AUTH, "malformed NTLM message: %s", what);
}

static int nomem(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- Text --------------------------------------------------------------- */

/* Upper-case mapping for the NTOWFv2 user name. Windows uses its own table
 * (RtlUpcaseUnicodeChar); this covers the scripts user names commonly use. */
static uint32_t upcase(uint32_t c)
{
    if (c >= 'a' && c <= 'z')
        return c - 32;
    if (c < 0x80)
        return c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
        return c - 32;
    if (c == 0xFF)
        return 0x178;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c & 1) && c != 0x131 ? c - 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c : c - 1;
    if (c == 0x3C2)
        return 0x3A3;
    if ((c >= 0x3B1 && c <= 0x3CB) || (c >= 0x430 && c <= 0x44F))
        return c - 32;
    if (c >= 0x450 && c <= 0x45F)
        return c - 0x50;
    return c;
}

static int put_unit(wr_buf *out, uint32_t u)
{
    unsigned char b[2] = {(unsigned char)u, (unsigned char)(u >> 8)};
    return wr_buf_append(out, b, 2);
}

int wr_ntlm_utf16le(wr_buf *out, const char *utf8, size_t len, int upper)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t i = 0;
    while (i < len) {
        uint32_t c = s[i];
        size_t n;
        uint32_t min;
        if (c < 0x80) {
            n = 1;
            min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            c &= 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            c &= 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            c &= 0x07;
            min = 0x10000;
        } else {
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "invalid UTF-8 in name");
        }
        if (n > len - i)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "truncated UTF-8 in name");
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                    "invalid UTF-8 in name");
            c = c << 6 | (s[i + k] & 0x3Fu);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "invalid UTF-8 in name");
        i += n;
        if (upper)
            c = upcase(c);
        int rc;
        if (c >= 0x10000) {
            c -= 0x10000;
            rc = put_unit(out, 0xD800 | (c >> 10));
            if (!rc)
                rc = put_unit(out, 0xDC00 | (c & 0x3FF));
        } else {
            rc = put_unit(out, c);
        }
        if (rc)
            return nomem();
    }
    return 0;
}

int wr_ntlm_utf8(wr_buf *out, const unsigned char *utf16, size_t len)
{
    if (len % 2)
        return proto_error("odd UTF-16 length");
    for (size_t i = 0; i < len; i += 2) {
        uint32_t c = get16(utf16 + i);
        if (c >= 0xD800 && c <= 0xDBFF) {
            if (len - i < 4)
                return proto_error("broken UTF-16 surrogate pair");
            uint32_t d = get16(utf16 + i + 2);
            if (d < 0xDC00 || d > 0xDFFF)
                return proto_error("broken UTF-16 surrogate pair");
            c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
            i += 2;
        } else if (c >= 0xDC00 && c <= 0xDFFF) {
            return proto_error("broken UTF-16 surrogate pair");
        }
        unsigned char b[4];
        size_t n;
        if (c < 0x80) {
            b[0] = (unsigned char)c;
            n = 1;
        } else if (c < 0x800) {
            b[0] = (unsigned char)(0xC0 | c >> 6);
            b[1] = (unsigned char)(0x80 | (c & 0x3F));
            n = 2;
        } else if (c < 0x10000) {
            b[0] = (unsigned char)(0xE0 | c >> 12);
            b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            b[2] = (unsigned char)(0x80 | (c & 0x3F));
            n = 3;
        } else {
            b[0] = (unsigned char)(0xF0 | c >> 18);
            b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            b[3] = (unsigned char)(0x80 | (c & 0x3F));
            n = 4;
        }
        if (wr_buf_append(out, b, n))
            return nomem();
    }
    return 0;
}

int wr_ntlm_split_user(const char *name, char **user, char **domain)
{
    *user = *domain = NULL;
    const char *bs = strchr(name, '\\');
    int rc = 0;
    if (bs) {
        size_t dlen = (size_t)(bs - name);
        *domain = malloc(dlen + 1);
        if (*domain) {
            memcpy(*domain, name, dlen);
            (*domain)[dlen] = 0;
        }
        *user = wr_strdup(bs + 1, &rc);
    } else {
        /* "user" and UPN "user@realm": the whole name is the user name and
         * the domain is empty, which is what Windows sends for a UPN. */
        *domain = wr_strdup("", &rc);
        *user = wr_strdup(name, &rc);
    }
    if (!*user || !*domain) {
        free(*user);
        free(*domain);
        *user = *domain = NULL;
        return nomem();
    }
    return 0;
}

/* ---- One-way functions and keys ----------------------------------------- */

int wr_ntlm_ntowfv1(const char *password, unsigned char out[16])
{
    wr_buf u = WR_BUF_SECRET_INIT; /* the password in UTF-16LE */
    int rc = wr_ntlm_utf16le(&u, password ? password : "", password ? strlen(password) : 0, 0);
    if (!rc)
        wr_md4(u.data ? u.data : (const unsigned char *)"", u.len, out);
    wr_buf_wipe_free(&u);
    return rc;
}

int wr_ntlm_ntowfv2(const unsigned char nt_hash[16], const char *user, const char *domain,
                    unsigned char out[16])
{
    wr_buf u = WR_BUF_INIT;
    int rc = wr_ntlm_utf16le(&u, user, strlen(user), 1);
    if (!rc)
        rc = wr_ntlm_utf16le(&u, domain, strlen(domain), 0);
    if (!rc) {
        wr_iov part = {u.data ? u.data : (const unsigned char *)"", u.len};
        rc = wr_hmac_md5(nt_hash, 16, &part, 1, out);
    }
    wr_buf_wipe_free(&u);
    return rc;
}

/* 3.3.2: temp = Responserversion(1) HiResponserversion(1) Z(6) Time(8)
 *               ClientChallenge(8) Z(4) ServerName(AV pairs) Z(4) */
int wr_ntlm_ntv2_response(const unsigned char key[16], const unsigned char server_chal[8],
                          const unsigned char client_chal[8], uint64_t filetime,
                          const unsigned char *av, size_t av_len, wr_buf *nt_response,
                          unsigned char session_base_key[16])
{
    unsigned char head[28] = {1, 1};
    put64(head + 8, filetime);
    memcpy(head + 16, client_chal, 8);
    static const unsigned char z4[4] = {0};
    wr_iov parts[4] = {{server_chal, 8}, {head, sizeof head}, {av, av_len}, {z4, 4}};
    unsigned char proof[16];
    int rc = wr_hmac_md5(key, 16, parts, 4, proof);
    if (rc)
        return rc;
    if (wr_buf_reserve(nt_response, 16 + sizeof head + av_len + 4))
        return nomem();
    wr_buf_append(nt_response, proof, 16);
    for (size_t i = 1; i < 4; i++)
        wr_buf_append(nt_response, parts[i].p, parts[i].len);
    wr_iov p = {proof, 16};
    rc = wr_hmac_md5(key, 16, &p, 1, session_base_key);
    wr_wipe(proof, sizeof proof);
    return rc;
}

int wr_ntlm_lmv2_response(const unsigned char key[16], const unsigned char server_chal[8],
                          const unsigned char client_chal[8], unsigned char out[24])
{
    wr_iov parts[2] = {{server_chal, 8}, {client_chal, 8}};
    int rc = wr_hmac_md5(key, 16, parts, 2, out);
    memcpy(out + 16, client_chal, 8);
    return rc;
}

void wr_ntlm_rc4k(const unsigned char key[16], const unsigned char in[16], unsigned char out[16])
{
    wr_rc4 st;
    wr_rc4_init(&st, key, 16);
    wr_rc4_apply(&st, in, out, 16);
    wr_rc4_wipe(&st);
}

/* The magic constants of 3.4.5.2 / 3.4.5.3, with their terminating NUL. */
static const char magic_sign_c2s[] = "session key to client-to-server signing key magic constant";
static const char magic_sign_s2c[] = "session key to server-to-client signing key magic constant";
static const char magic_seal_c2s[] = "session key to client-to-server sealing key magic constant";
static const char magic_seal_s2c[] = "session key to server-to-client sealing key magic constant";

int wr_ntlm_sign_key(const unsigned char esk[16], int server, unsigned char out[16])
{
    const char *m = server ? magic_sign_s2c : magic_sign_c2s;
    wr_iov parts[2] = {{esk, 16}, {m, sizeof magic_sign_c2s}};
    return wr_md5(parts, 2, out);
}

int wr_ntlm_seal_key(uint32_t flags, const unsigned char esk[16], int server, unsigned char out[16])
{
    size_t n = (flags & WR_NTLM_NEGOTIATE_128) ? 16 : (flags & WR_NTLM_NEGOTIATE_56) ? 7 : 5;
    const char *m = server ? magic_seal_s2c : magic_seal_c2s;
    wr_iov parts[2] = {{esk, n}, {m, sizeof magic_seal_c2s}};
    return wr_md5(parts, 2, out);
}

/* gss_channel_bindings_struct flattened as Windows hashes it (RFC 2744 3.11,
 * MS-NLMP 3.1.5.1.2 footnote): all fields little-endian u32.
 *   +0  initiator_addrtype  +4  initiator_address.length (0, no data)
 *   +8  acceptor_addrtype   +12 acceptor_address.length  (0, no data)
 *   +16 application_data.length, then the application data. */
int wr_ntlm_channel_bindings_hash(const unsigned char *app_data, size_t len, unsigned char out[16])
{
    if (!app_data) {
        memset(out, 0, 16);
        return 0;
    }
    if (len > UINT32_MAX)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "channel bindings too long");
    unsigned char head[20] = {0};
    put32(head + 16, (uint32_t)len);
    wr_iov parts[2] = {{head, sizeof head}, {app_data, len}};
    return wr_md5(parts, 2, out);
}

uint64_t wr_ntlm_filetime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec + 11644473600u) * 10000000u + (uint64_t)ts.tv_nsec / 100u;
}

/* ---- Messages ----------------------------------------------------------- */

/*
 * NEGOTIATE_MESSAGE (2.2.1.1)
 *   +0  Signature "NTLMSSP\0"            8
 *   +8  MessageType = 1                  4
 *   +12 NegotiateFlags                   4
 *   +16 DomainNameFields (len,max,off)   8   (empty)
 *   +24 WorkstationFields                8   (empty)
 *   +32 Version                          8   (only with a version)
 */
int wr_ntlm_negotiate_build(uint32_t flags, const unsigned char *version, wr_buf *out)
{
    unsigned char m[40] = {0};
    memcpy(m, ntlm_signature, 8);
    put32(m + 8, 1);
    if (version) {
        memcpy(m + 32, version, 8);
        flags |= WR_NTLM_NEGOTIATE_VERSION;
    } else {
        flags &= ~WR_NTLM_NEGOTIATE_VERSION;
    }
    put32(m + 12, flags);
    if (wr_buf_append(out, m, version ? 40 : 32))
        return nomem();
    return 0;
}

/*
 * AV_PAIR (2.2.2.1)
 *   +0 AvId  u16
 *   +2 AvLen u16
 *   +4 Value AvLen bytes
 * The list ends with MsvAvEOL (AvId 0, AvLen 0).
 */
int wr_ntlm_av_parse(const unsigned char *av, size_t len, wr_ntlm_av_info *info)
{
    memset(info, 0, sizeof *info);
    size_t pos = 0;
    unsigned seen = 0;
    for (;;) {
        if (len - pos < 4)
            return proto_error("AV pair list without MsvAvEOL");
        uint16_t id = get16(av + pos), alen = get16(av + pos + 2);
        pos += 4;
        if (alen > len - pos)
            return proto_error("AV pair longer than its list");
        const unsigned char *v = av + pos;
        pos += alen;
        if (id == WR_NTLM_AV_EOL) {
            if (alen != 0)
                return proto_error("MsvAvEOL with a value");
            return 0; /* anything after MsvAvEOL is ignored, never copied */
        }
        if (id <= WR_NTLM_AV_CHANNEL_BINDINGS) {
            if (seen & (1u << id))
                return proto_error("repeated AV pair");
            seen |= 1u << id;
        }
        info->count++;
        wr_ntlm_bytes b = {v, alen};
        switch (id) {
        case WR_NTLM_AV_NB_COMPUTER:
        case WR_NTLM_AV_NB_DOMAIN:
        case WR_NTLM_AV_DNS_COMPUTER:
        case WR_NTLM_AV_DNS_DOMAIN:
        case WR_NTLM_AV_DNS_TREE:
        case WR_NTLM_AV_TARGET_NAME:
            if (alen % 2)
                return proto_error("odd-length name in AV pair");
            if (id == WR_NTLM_AV_NB_COMPUTER)
                info->nb_computer = b;
            else if (id == WR_NTLM_AV_NB_DOMAIN)
                info->nb_domain = b;
            else if (id == WR_NTLM_AV_DNS_COMPUTER)
                info->dns_computer = b;
            else if (id == WR_NTLM_AV_DNS_DOMAIN)
                info->dns_domain = b;
            else if (id == WR_NTLM_AV_DNS_TREE)
                info->dns_tree = b;
            else
                info->target_name = b;
            break;
        case WR_NTLM_AV_FLAGS:
            if (alen != 4)
                return proto_error("MsvAvFlags is not 4 bytes");
            info->has_flags = 1;
            info->flags = get32(v);
            break;
        case WR_NTLM_AV_TIMESTAMP:
            if (alen != 8)
                return proto_error("MsvAvTimestamp is not 8 bytes");
            info->has_timestamp = 1;
            info->timestamp = get64(v);
            break;
        case WR_NTLM_AV_CHANNEL_BINDINGS:
            if (alen != 16)
                return proto_error("MsvAvChannelBindings is not 16 bytes");
            info->has_channel_bindings = 1;
            memcpy(info->channel_bindings, v, 16);
            break;
        default: /* MsvAvSingleHost and unknown ids: carried, not interpreted */
            break;
        }
    }
}

/* A (Len u16, MaxLen u16, BufferOffset u32) field at m+at; the data must lie
 * in [min_off, len). Empty fields are not checked further. */
static int get_field(const unsigned char *m, size_t len, size_t at, size_t min_off,
                     wr_ntlm_bytes *out, const char *what)
{
    size_t flen = get16(m + at), off = get32(m + at + 4);
    out->p = NULL;
    out->len = 0;
    if (flen == 0)
        return 0;
    if (off < min_off || off > len || flen > len - off)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_AUTH,
                            "malformed NTLM message: %s field outside the message", what);
    out->p = m + off;
    out->len = flen;
    return 0;
}

static size_t field_offset(const unsigned char *m, size_t at)
{
    return get16(m + at) ? get32(m + at + 4) : SIZE_MAX;
}

/*
 * CHALLENGE_MESSAGE (2.2.1.2)
 *   +0  Signature "NTLMSSP\0"        8
 *   +8  MessageType = 2              4
 *   +12 TargetNameFields             8
 *   +20 NegotiateFlags               4
 *   +24 ServerChallenge              8
 *   +32 Reserved                     8
 *   +40 TargetInfoFields             8
 *   +48 Version                      8   (when NEGOTIATE_VERSION)
 *   +56 Payload (TargetName, TargetInfo)
 */
int wr_ntlm_challenge_parse(const unsigned char *msg, size_t len, wr_ntlm_challenge *ch)
{
    memset(ch, 0, sizeof *ch);
    if (!msg || len < 48)
        return proto_error("CHALLENGE shorter than its fixed part");
    if (memcmp(msg, ntlm_signature, 8) != 0)
        return proto_error("no NTLMSSP signature");
    if (get32(msg + 8) != 2)
        return proto_error("not a CHALLENGE message");
    ch->flags = get32(msg + 20);
    memcpy(ch->server_challenge, msg + 24, 8);
    int rc = get_field(msg, len, 12, 48, &ch->target_name, "TargetName");
    if (!rc)
        rc = get_field(msg, len, 40, 48, &ch->target_info, "TargetInfo");
    if (rc)
        return rc;
    if ((ch->flags & WR_NTLM_NEGOTIATE_UNICODE) && ch->target_name.len % 2)
        return proto_error("odd-length Unicode TargetName");
    size_t first = field_offset(msg, 12);
    size_t t = field_offset(msg, 40);
    if (t < first)
        first = t;
    if ((ch->flags & WR_NTLM_NEGOTIATE_VERSION) && len >= 56 && first >= 56) {
        ch->has_version = 1;
        memcpy(ch->version, msg + 48, 8);
    }
    if (ch->target_info.len)
        rc = wr_ntlm_av_parse(ch->target_info.p, ch->target_info.len, &ch->av);
    return rc;
}

/*
 * AUTHENTICATE_MESSAGE (2.2.1.3)
 *   +0  Signature "NTLMSSP\0"                  8
 *   +8  MessageType = 3                        4
 *   +12 LmChallengeResponseFields              8
 *   +20 NtChallengeResponseFields              8
 *   +28 DomainNameFields                       8
 *   +36 UserNameFields                         8
 *   +44 WorkstationFields                      8
 *   +52 EncryptedRandomSessionKeyFields        8
 *   +60 NegotiateFlags                         4
 *   +64 Version                                8   (optional)
 *   +72 MIC                                   16   (optional; needs Version's room)
 *   +64/72/88 Payload
 */
int wr_ntlm_authenticate_build(const wr_ntlm_authenticate *a, wr_buf *out, size_t *mic_off)
{
    size_t hlen = a->mic ? 88 : a->version ? 72 : 64;
    const wr_ntlm_bytes *f[6] = {&a->lm,   &a->nt,          &a->domain,
                                 &a->user, &a->workstation, &a->session_key};
    /* Payload order of MS-NLMP 4.2.4: domain, user, workstation, LM, NT, key. */
    static const int order[6] = {2, 3, 4, 0, 1, 5};
    size_t total = hlen;
    for (int i = 0; i < 6; i++) {
        if (f[i]->len > UINT16_MAX)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_AUTH,
                                "NTLM AUTHENTICATE field too long");
        total += f[i]->len;
    }
    if (total > UINT32_MAX)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_AUTH, "NTLM AUTHENTICATE too long");
    size_t base = out->len;
    if (wr_buf_reserve(out, total))
        return nomem();
    unsigned char *m = out->data + base;
    memset(m, 0, hlen);
    memcpy(m, ntlm_signature, 8);
    put32(m + 8, 3);
    put32(m + 60, a->flags);
    if (a->version)
        memcpy(m + 64, a->version, 8);
    size_t off = hlen;
    for (int k = 0; k < 6; k++) {
        int i = order[k];
        unsigned char *fld = m + 12 + 8 * i;
        put16(fld, (uint16_t)f[i]->len);
        put16(fld + 2, (uint16_t)f[i]->len);
        put32(fld + 4, (uint32_t)off);
        if (f[i]->len)
            memcpy(m + off, f[i]->p, f[i]->len);
        off += f[i]->len;
    }
    out->len = base + total;
    out->data[out->len] = 0;
    if (mic_off)
        *mic_off = a->mic ? base + 72 : 0;
    return 0;
}

int wr_ntlm_authenticate_parse(const unsigned char *msg, size_t len, wr_ntlm_authenticate *a)
{
    memset(a, 0, sizeof *a);
    if (!msg || len < 64)
        return proto_error("AUTHENTICATE shorter than its fixed part");
    if (memcmp(msg, ntlm_signature, 8) != 0)
        return proto_error("no NTLMSSP signature");
    if (get32(msg + 8) != 3)
        return proto_error("not an AUTHENTICATE message");
    wr_ntlm_bytes *f[6] = {&a->lm, &a->nt, &a->domain, &a->user, &a->workstation, &a->session_key};
    static const char *const names[6] = {"LmChallengeResponse", "NtChallengeResponse",
                                         "DomainName",          "UserName",
                                         "Workstation",         "EncryptedRandomSessionKey"};
    size_t first = len;
    for (int i = 0; i < 6; i++) {
        int rc = get_field(msg, len, 12 + 8 * (size_t)i, 64, f[i], names[i]);
        if (rc)
            return rc;
        size_t o = field_offset(msg, 12 + 8 * (size_t)i);
        if (o < first)
            first = o;
    }
    a->flags = get32(msg + 60);
    if ((a->flags & WR_NTLM_NEGOTIATE_UNICODE) &&
        (a->domain.len % 2 || a->user.len % 2 || a->workstation.len % 2))
        return proto_error("odd-length Unicode name");
    if (a->session_key.len && a->session_key.len != 16)
        return proto_error("EncryptedRandomSessionKey is not 16 bytes");
    if ((a->flags & WR_NTLM_NEGOTIATE_VERSION) && first >= 72)
        a->version = msg + 64;
    /* An NTLMv2 response: NTProofStr(16) then temp, whose AV pairs start
     * 28 bytes in. Its MsvAvFlags tells whether a MIC is present. */
    if (a->nt.len > 24) {
        if (a->nt.len < 16 + 28 + 4)
            return proto_error("NTLMv2 response too short");
        if (a->nt.p[16] != 1 || a->nt.p[17] != 1)
            return proto_error("unknown NTLMv2 response version");
        wr_ntlm_av_info info;
        int rc = wr_ntlm_av_parse(a->nt.p + 44, a->nt.len - 44, &info);
        if (rc)
            return rc;
        if (info.has_flags && (info.flags & WR_NTLM_AVFLAG_MIC)) {
            if (first < 88)
                return proto_error("MIC announced but no room for it");
            a->mic = msg + 72;
        }
    }
    return 0;
}

/* ---- Session security --------------------------------------------------- */

static int dir_init(wr_ntlm_dir *d, uint32_t flags, const unsigned char esk[16], int server)
{
    unsigned char seal[16];
    int rc = wr_ntlm_sign_key(esk, server, d->sign_key);
    if (!rc)
        rc = wr_ntlm_seal_key(flags, esk, server, seal);
    if (!rc)
        wr_rc4_init(&d->seal, seal, 16);
    d->seq = 0;
    wr_wipe(seal, sizeof seal);
    return rc;
}

int wr_ntlm_session_init(wr_ntlm_session *s, uint32_t flags, const unsigned char esk[16],
                         int as_server)
{
    memset(s, 0, sizeof *s);
    if (!(flags & WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY))
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "NTLM session security needs extended session security");
    s->flags = flags;
    memcpy(s->exported_key, esk, 16);
    int rc = dir_init(&s->out, flags, esk, as_server ? 1 : 0);
    if (!rc)
        rc = dir_init(&s->in, flags, esk, as_server ? 0 : 1);
    if (rc)
        wr_ntlm_session_wipe(s);
    return rc;
}

void wr_ntlm_session_wipe(wr_ntlm_session *s)
{
    wr_wipe(s, sizeof *s);
}

/*
 * NTLMSSP_MESSAGE_SIGNATURE with extended session security (2.2.2.9.2):
 *   +0  Version = 1   4
 *   +4  Checksum      8   HMAC-MD5(SignKey, SeqNum || Message)[0..7],
 *                         then RC4(SealingHandle) if KEY_EXCH (3.4.4.2)
 *   +12 SeqNum        4
 * The checksum is encrypted after the message itself was sealed with the
 * same handle (3.4.3), so the keystream order is: data, then checksum.
 */
static int mac(wr_ntlm_dir *d, uint32_t flags, const unsigned char *plain, size_t len,
               unsigned char sig[16])
{
    unsigned char seq[4], h[16];
    put32(seq, d->seq);
    wr_iov parts[2] = {{seq, 4}, {plain, len}};
    int rc = wr_hmac_md5(d->sign_key, 16, parts, 2, h);
    if (rc)
        return rc;
    put32(sig, 1);
    memcpy(sig + 4, h, 8);
    if (flags & WR_NTLM_NEGOTIATE_KEY_EXCH)
        wr_rc4_apply(&d->seal, sig + 4, sig + 4, 8);
    memcpy(sig + 12, seq, 4);
    d->seq++;
    wr_wipe(h, sizeof h);
    return 0;
}

static int need(const wr_ntlm_session *s, uint32_t flag, const char *what)
{
    if (!(s->flags & flag))
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "the NTLM server did not agree to %s", what);
    return 0;
}

int wr_ntlm_seal(wr_ntlm_session *s, const unsigned char *in, size_t len, unsigned char *out,
                 unsigned char sig[16])
{
    int rc = need(s, WR_NTLM_NEGOTIATE_SEAL, "sealing");
    if (rc)
        return rc;
    /* The MAC covers the plaintext; compute it before sealing in place. */
    unsigned char seq[4], h[16];
    put32(seq, s->out.seq);
    wr_iov parts[2] = {{seq, 4}, {in, len}};
    rc = wr_hmac_md5(s->out.sign_key, 16, parts, 2, h);
    if (rc)
        return rc;
    wr_rc4_apply(&s->out.seal, in, out, len);
    put32(sig, 1);
    memcpy(sig + 4, h, 8);
    if (s->flags & WR_NTLM_NEGOTIATE_KEY_EXCH)
        wr_rc4_apply(&s->out.seal, sig + 4, sig + 4, 8);
    memcpy(sig + 12, seq, 4);
    s->out.seq++;
    wr_wipe(h, sizeof h);
    return 0;
}

int wr_ntlm_unseal(wr_ntlm_session *s, const unsigned char *in, size_t len, unsigned char *out,
                   const unsigned char sig[16])
{
    int rc = need(s, WR_NTLM_NEGOTIATE_SEAL, "sealing");
    if (rc)
        return rc;
    unsigned char expect[16];
    wr_rc4_apply(&s->in.seal, in, out, len);
    rc = mac(&s->in, s->flags, out, len, expect);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(expect, sig, 16) != 0) {
        wr_wipe(out, len);
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "NTLM message signature or sequence number does not match");
    }
    return 0;
}

int wr_ntlm_sign(wr_ntlm_session *s, const unsigned char *data, size_t len, unsigned char sig[16])
{
    int rc = need(s, WR_NTLM_NEGOTIATE_SIGN, "signing");
    if (rc)
        return rc;
    return mac(&s->out, s->flags, data, len, sig);
}

int wr_ntlm_verify(wr_ntlm_session *s, const unsigned char *data, size_t len,
                   const unsigned char sig[16])
{
    int rc = need(s, WR_NTLM_NEGOTIATE_SIGN, "signing");
    if (rc)
        return rc;
    unsigned char expect[16];
    rc = mac(&s->in, s->flags, data, len, expect);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(expect, sig, 16) != 0)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "NTLM signature or sequence number does not match");
    return 0;
}

/* ---- The client side ------------------------------------------------------ */

static int get_random(const wr_ntlm_hooks *h, unsigned char *out, size_t n)
{
    if (h && h->random)
        return h->random(h->arg, out, n);
    if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
        return wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_TLS, "no random bytes from OpenSSL");
    return 0;
}

static int av_put(wr_buf *b, uint16_t id, const void *v, size_t len)
{
    unsigned char h[4];
    if (len > UINT16_MAX)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_AUTH, "NTLM AV pair too long");
    put16(h, id);
    put16(h + 2, (uint16_t)len);
    if (wr_buf_append(b, h, 4) || wr_buf_append(b, v, len))
        return nomem();
    return 0;
}

/* Our AV pairs for temp (3.1.5.1.2): the server's pairs in their order
 * (except the ones we set), then MsvAvFlags with the MIC bit,
 * MsvAvChannelBindings, MsvAvTargetName, MsvAvEOL. */
static int client_av(const wr_ntlm_challenge *ch, const unsigned char cb_hash[16],
                     const char *target_name, wr_buf *out)
{
    const unsigned char *p = ch->target_info.p;
    size_t len = ch->target_info.len, pos = 0;
    int rc = 0;
    while (!rc && len - pos >= 4) { /* already validated by wr_ntlm_av_parse */
        uint16_t id = get16(p + pos), alen = get16(p + pos + 2);
        if (id == WR_NTLM_AV_EOL)
            break;
        if (id != WR_NTLM_AV_FLAGS && id != WR_NTLM_AV_CHANNEL_BINDINGS &&
            id != WR_NTLM_AV_TARGET_NAME)
            rc = av_put(out, id, p + pos + 4, alen);
        pos += 4u + alen;
    }
    unsigned char fl[4];
    put32(fl, (ch->av.has_flags ? ch->av.flags : 0) | WR_NTLM_AVFLAG_MIC);
    if (!rc)
        rc = av_put(out, WR_NTLM_AV_FLAGS, fl, 4);
    if (!rc)
        rc = av_put(out, WR_NTLM_AV_CHANNEL_BINDINGS, cb_hash, 16);
    if (!rc && target_name && *target_name) {
        wr_buf t = WR_BUF_INIT;
        rc = wr_ntlm_utf16le(&t, target_name, strlen(target_name), 0);
        if (!rc)
            rc = av_put(out, WR_NTLM_AV_TARGET_NAME, t.data, t.len);
        wr_buf_free(&t);
    }
    if (!rc)
        rc = av_put(out, WR_NTLM_AV_EOL, "", 0);
    return rc;
}

static int refuse(const char *why)
{
    return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH, "refusing the NTLM server: %s", why);
}

int wr_ntlm_client_authenticate(const wr_ntlm_client_input *in, wr_buf *out, wr_ntlm_session *sess)
{
    wr_ntlm_challenge ch;
    int rc = wr_ntlm_challenge_parse(in->challenge.p, in->challenge.len, &ch);
    if (rc)
        return rc;
    if (!(ch.flags & WR_NTLM_NEGOTIATE_UNICODE))
        return refuse("it does not offer Unicode");
    if (!(ch.flags & WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY))
        return refuse("it does not offer extended session security (NTLMv1/LM only)");
    if (!(ch.flags & WR_NTLM_NEGOTIATE_TARGET_INFO) || ch.target_info.len == 0)
        return refuse("it sent no TargetInfo, so it cannot do NTLMv2");
    if ((ch.flags & WR_NTLM_NEGOTIATE_SEAL) && !(ch.flags & WR_NTLM_NEGOTIATE_128))
        return refuse("it offers only 40/56-bit sealing keys");

    uint32_t flags = ch.flags & (WR_NTLM_CLIENT_FLAGS | WR_NTLM_NEGOTIATE_TARGET_INFO |
                                 WR_NTLM_TARGET_TYPE_DOMAIN | WR_NTLM_TARGET_TYPE_SERVER);
    uint64_t when = ch.av.has_timestamp           ? ch.av.timestamp
                    : in->hooks && in->hooks->now ? in->hooks->now(in->hooks->arg)
                                                  : wr_ntlm_filetime_now();

    unsigned char client_chal[8], cb[16], key[16], sbk[16], esk[16], enc_key[16], lm[24];
    unsigned char mic[16] = {0};
    wr_buf av = WR_BUF_INIT, nt = WR_BUF_INIT, dom = WR_BUF_INIT, usr = WR_BUF_INIT,
           ws = WR_BUF_INIT;
    size_t base = out->len, mic_off = 0;

    rc = get_random(in->hooks, client_chal, 8);
    if (!rc)
        rc = wr_ntlm_channel_bindings_hash(in->channel_bindings, in->channel_bindings_len, cb);
    if (!rc)
        rc = client_av(&ch, cb, in->target_name, &av);
    if (!rc)
        rc = wr_ntlm_ntowfv2(in->nt_hash, in->user, in->domain, key);
    if (!rc)
        rc = wr_ntlm_ntv2_response(key, ch.server_challenge, client_chal, when, av.data, av.len,
                                   &nt, sbk);
    if (!rc) {
        /* 3.1.5.1.2: with MsvAvTimestamp the client sends Z(24), not LMv2. */
        if (ch.av.has_timestamp)
            memset(lm, 0, sizeof lm);
        else
            rc = wr_ntlm_lmv2_response(key, ch.server_challenge, client_chal, lm);
    }
    /* NTLMv2: KeyExchangeKey = SessionBaseKey (3.4.5.1). */
    if (!rc && (flags & WR_NTLM_NEGOTIATE_KEY_EXCH)) {
        rc = get_random(in->hooks, esk, 16);
        if (!rc)
            wr_ntlm_rc4k(sbk, esk, enc_key);
    } else if (!rc) {
        memcpy(esk, sbk, 16);
    }
    if (!rc)
        rc = wr_ntlm_utf16le(&dom, in->domain, strlen(in->domain), 0);
    if (!rc)
        rc = wr_ntlm_utf16le(&usr, in->user, strlen(in->user), 0);
    if (!rc && in->workstation)
        rc = wr_ntlm_utf16le(&ws, in->workstation, strlen(in->workstation), 0);
    if (!rc) {
        wr_ntlm_authenticate a = {
            .flags = flags,
            .lm = {lm, sizeof lm},
            .nt = {nt.data, nt.len},
            .domain = {dom.data, dom.len},
            .user = {usr.data, usr.len},
            .workstation = {ws.data, ws.len},
            .session_key = {enc_key, (flags & WR_NTLM_NEGOTIATE_KEY_EXCH) ? 16u : 0u},
            .version = wr_ntlm_client_version,
            .mic = mic,
        };
        rc = wr_ntlm_authenticate_build(&a, out, &mic_off);
    }
    if (!rc) {
        /* MIC = HMAC-MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE ||
         * AUTHENTICATE with the MIC field zero) (3.1.5.1.2). */
        wr_iov parts[3] = {{in->negotiate.p, in->negotiate.len},
                           {in->challenge.p, in->challenge.len},
                           {out->data + base, out->len - base}};
        rc = wr_hmac_md5(esk, 16, parts, 3, mic);
        if (!rc)
            memcpy(out->data + mic_off, mic, 16);
    }
    if (!rc)
        rc = wr_ntlm_session_init(sess, flags, esk, 0);
    if (rc && out->len > base) {
        wr_wipe(out->data + base, out->len - base);
        out->len = base;
        out->data[base] = 0;
    }
    wr_wipe(key, sizeof key);
    wr_wipe(sbk, sizeof sbk);
    wr_wipe(esk, sizeof esk);
    wr_buf_free(&av);
    wr_buf_free(&nt);
    wr_buf_free(&dom);
    wr_buf_free(&usr);
    wr_buf_free(&ws);
    return rc;
}
