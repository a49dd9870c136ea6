/*
 * hvsocket.c: the PowerShell Direct client handshakes (see hvsocket.h for
 * the wire tables; PROTOCOL.md 5). Portable C only: the sockets are behind
 * wr_hvsock (hvsocket_sock_win.c, hvsocket_sock_unix.c).
 *
 * Reply buffers are the sizes PowerShell reads with (it rents them from
 * ArrayPool<byte>.Shared, whose smallest buffer is 16 bytes, so its "4-byte"
 * reads take up to 16): a broker that sends a reply and the next one
 * together would confuse PowerShell's client the same way, so nothing more
 * is read than it would.
 */
#include "transport/hvsocket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/url.h"
#include "common/mem.h"
#include "common/trace.h"
#include "winrsh/errors.h"

#define REPLY_SHORT 16      /* PASS/FAIL/CONF/VERSION_n */
#define REPLY_TOKEN 1024    /* "TOKEN <token>" from the broker */
#define REPLY_SERVER 256    /* the server's answer to our token */
#define MAX_TEXT_UNITS 1024 /* UTF-16 code units in a user/domain/password/config */

/* ---- small helpers ----------------------------------------------------------- */

void wr_hvsocket_sockaddr(unsigned char out[WR_HV_SOCKADDR_SIZE], const wr_guid *vm,
                          const wr_guid *service)
{
    memset(out, 0, WR_HV_SOCKADDR_SIZE);
    out[0] = WR_HV_AF_HYPERV & 0xff; /* family, u16 little-endian */
    out[1] = (WR_HV_AF_HYPERV >> 8) & 0xff;
    /* out[2..3]: reserved, 0 */
    wr_guid_to_dotnet(vm, out + 4);
    wr_guid_to_dotnet(service, out + 20);
}

/* UTF-8 to UTF-16LE (no terminator) into a malloc'd buffer; secrets are
 * wiped by the caller. 0, WINRSH_EINVAL for bad UTF-8, WINRSH_ENOMEM. */
static int utf16le(const char *s, unsigned char **out, size_t *outlen, const char *what)
{
    *out = NULL;
    *outlen = 0;
    size_t n = strlen(s);
    unsigned char *b = malloc(n * 4 + 1);
    if (!b)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned long cp;
        size_t need;
        if (u[i] < 0x80) {
            cp = u[i];
            need = 0;
        } else if ((u[i] & 0xe0) == 0xc0) {
            cp = u[i] & 0x1fu;
            need = 1;
        } else if ((u[i] & 0xf0) == 0xe0) {
            cp = u[i] & 0x0fu;
            need = 2;
        } else if ((u[i] & 0xf8) == 0xf0) {
            cp = u[i] & 0x07u;
            need = 3;
        } else {
            goto bad;
        }
        if (need && i + need >= n)
            goto bad;
        for (size_t k = 1; k <= need; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (u[i + k] & 0x3fu);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += need + 1;
        if (cp >= 0x10000) {
            unsigned long v = cp - 0x10000;
            unsigned long hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);
            b[o++] = (unsigned char)(hi & 0xff);
            b[o++] = (unsigned char)(hi >> 8);
            b[o++] = (unsigned char)(lo & 0xff);
            b[o++] = (unsigned char)(lo >> 8);
        } else {
            b[o++] = (unsigned char)(cp & 0xff);
            b[o++] = (unsigned char)(cp >> 8);
        }
        if (o / 2 > MAX_TEXT_UNITS) {
            wr_wipe(b, n * 4 + 1);
            free(b);
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "PowerShell Direct: the %s is too long", what);
        }
    }
    *out = b;
    *outlen = o;
    return 0;
bad:
    wr_wipe(b, n * 4 + 1);
    free(b);
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "PowerShell Direct: the %s is not valid UTF-8", what);
}

static void free_secret_bytes(unsigned char *b, size_t len)
{
    if (b) {
        wr_wipe(b, len);
        free(b);
    }
}

/* Printable form of an untrusted reply, for messages. */
static void printable(char *out, size_t outsz, const char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (char)(c < 0x20 || c >= 0x7f ? '?' : c);
    }
    out[o] = 0;
}

/* ---- target text ------------------------------------------------------------- */



void wr_hvsocket_target_free(wr_hvsocket_target *t)
{
    if (!t)
        return;
    free(t->user);
    free(t->config);
    t->user = t->config = NULL;
}

static int bad_target(wr_hvsocket_target *t, const char *target, const char *why)
{
    wr_hvsocket_target_free(t);
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "%s: not a vmbus://[USER@]VMID[/CONFIG] target: %s", target, why);
}

int wr_hvsocket_target_parse(wr_hvsocket_target *t, const char *target)
{
    memset(t, 0, sizeof(*t));
    static const char scheme[] = "vmbus://";
    if (!target || strncmp(target, scheme, sizeof(scheme) - 1) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a vmbus://[USER@]VMID[/CONFIG] target",
                            target ? target : "(null)");
    const char *rest = target + sizeof(scheme) - 1;
    const char *slash = strchr(rest, '/');
    size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (rest[i] == '@')
            at = rest + i;
    int nomem = 0;
    const char *id = rest;
    size_t idlen = alen;
    if (at) {
        size_t ulen = (size_t)(at - rest);
        if (ulen == 0)
            return bad_target(t, target, "an empty user name");
        t->user = wr_pct_decode(rest, ulen, &nomem);
        if (!t->user)
            return nomem ? wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory")
                         : bad_target(t, target, "a bad %-escape or control character in USER");
        id = at + 1;
        idlen = alen - ulen - 1;
    }
    if (idlen >= 2 && id[0] == '{' && id[idlen - 1] == '}') {
        id++;
        idlen -= 2;
    }
    char idtext[40];
    if (idlen != 36)
        return bad_target(t, target, "VMID must be a GUID (the VM's Id from Get-VM)");
    memcpy(idtext, id, 36);
    idtext[36] = 0;
    if (wr_guid_parse(&t->vm, idtext) != 0)
        return bad_target(t, target, "VMID must be a GUID (the VM's Id from Get-VM)");
    wr_guid_format(&t->vm, 0, t->vm_text);
    if (slash && slash[1]) {
        size_t clen = strlen(slash + 1);
        if (slash[clen] == '/')
            clen--; /* one trailing slash */
        if (clen) {
            t->config = wr_pct_decode(slash + 1, clen, &nomem);
            if (!t->config)
                return nomem
                           ? wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory")
                           : bad_target(t, target, "a bad %-escape or control character in CONFIG");
            if (strchr(t->config, '/'))
                return bad_target(t, target, "CONFIG may not contain '/'");
        }
    }
    return 0;
}

/* ---- one handshake connection ------------------------------------------------------ */

typedef struct hs {
    const wr_hvsocket_options *o;
    wr_hvsocket_connect_fn connect;
    void *connect_payload;
    const wr_tracer *tr;
    wr_guid vm, broker_id, server_id;
    char vm_text[37];
    long step_ms, connect_ms;
    wr_hvsock *s;
    const char *peer; /* "broker" or "PowerShell server" */
} hs;

static int hs_connect(hs *h, const wr_guid *service, const char *peer)
{
    char sid[37];
    wr_guid_format(service, 0, sid);
    h->peer = peer;
    wr_tracef(h->tr, "vmbus: connecting to the %s of VM %s (service %s)", peer, h->vm_text, sid);
    int rc = h->connect(&h->s, &h->vm, service, h->connect_ms, h->connect_payload);
    if (rc) {
        h->s = NULL;
        wr_error_prefix("PowerShell Direct: cannot reach the %s of VM %s", peer, h->vm_text);
    }
    return rc;
}

static void hs_disconnect(hs *h)
{
    wr_hvsock_close(h->s);
    h->s = NULL;
}

/* Send one token. what: how messages and the trace name it. */
static int hs_send(hs *h, const void *buf, size_t len, const char *what, int traced_as_is)
{
    if (traced_as_is)
        wr_tracef(h->tr, "vmbus: -> %s", what);
    else
        wr_tracef(h->tr, "vmbus: -> %s (%lu bytes)", what, (unsigned long)len);
    int rc = wr_hvsock_send(h->s, buf, len, h->step_ms);
    if (rc == WINRSH_ETIMEOUT)
        return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS,
                            "PowerShell Direct: the %s of VM %s did not take %s within %ld ms",
                            h->peer, h->vm_text, what, h->step_ms);
    if (rc == WINRSH_ECLOSED)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                            "PowerShell Direct: the %s of VM %s closed the connection before "
                            "we could send %s",
                            h->peer, h->vm_text, what);
    if (rc)
        wr_error_prefix("PowerShell Direct: sending %s to the %s of VM %s", what, h->peer,
                        h->vm_text);
    return rc;
}

static int hs_send_kw(hs *h, const char *kw)
{
    return hs_send(h, kw, strlen(kw), kw, 1);
}

/* One reply: one recv of at most cap bytes, ASCII, trailing NULs trimmed,
 * into out[cap + 1]. after: what we sent last (for messages). */
static int hs_reply(hs *h, char *out, size_t cap, const char *after, int secret)
{
    size_t got = 0;
    int rc = wr_hvsock_recv(h->s, out, cap, &got, h->step_ms);
    if (rc == WINRSH_ETIMEOUT)
        return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS,
                            "PowerShell Direct: the %s of VM %s did not answer %s within %ld ms",
                            h->peer, h->vm_text, after, h->step_ms);
    if (rc == WINRSH_ECLOSED)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                            "PowerShell Direct: the %s of VM %s closed the connection after we "
                            "sent %s",
                            h->peer, h->vm_text, after);
    if (rc) {
        wr_error_prefix("PowerShell Direct: reading the %s's answer to %s", h->peer, after);
        return rc;
    }
    while (got > 0 && out[got - 1] == 0)
        got--;
    out[got] = 0;
    if (secret) {
        wr_tracef(h->tr, "vmbus: <- (%lu bytes, not shown)", (unsigned long)got);
    } else {
        char p[64];
        printable(p, sizeof(p), out);
        wr_tracef(h->tr, "vmbus: <- %s", p);
    }
    return 0;
}

static int unexpected(hs *h, const char *reply, const char *after, const char *wanted)
{
    char p[64];
    printable(p, sizeof(p), reply);
    return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                        "PowerShell Direct: the %s of VM %s answered %s with \"%s\" (expected %s)",
                        h->peer, h->vm_text, after, p, wanted);
}

/* ---- the credential exchange --------------------------------------------------------- */

typedef struct creds {
    const char *user_text; /* as the caller gave it, for messages */
    unsigned char *domain, *user, *password, *config;
    size_t domain_len, user_len, password_len, config_len;
} creds;

static void creds_free(creds *c)
{
    free(c->domain);
    free(c->user);
    free_secret_bytes(c->password, c->password_len);
    free(c->config);
    memset(c, 0, sizeof(*c));
}

/*
 * Steps 3-8 of connection 1 (hvsocket.h): domain, user, password, the
 * CONF/PASS/FAIL answer, configuration, and with modern the token (into
 * token[REPLY_TOKEN + 1]).
 */
static int exchange(hs *h, const creds *c, int modern, char *token)
{
    char r[REPLY_TOKEN + 1];
    int rc;
    if ((rc = hs_send(h, c->domain, c->domain_len, "the domain", 0)) ||
        (rc = hs_reply(h, r, REPLY_SHORT, "the domain", 0)))
        return rc;
    if ((rc = hs_send(h, c->user, c->user_len, "the user name", 0)) ||
        (rc = hs_reply(h, r, REPLY_SHORT, "the user name", 0)))
        return rc;
    const char *after;
    if (c->password_len == 0) {
        if ((rc = hs_send_kw(h, "EMPTYPW")) || (rc = hs_reply(h, r, REPLY_SHORT, "EMPTYPW", 0)))
            return rc;
        after = "EMPTYPW";
    } else {
        if ((rc = hs_send_kw(h, "NONEMPTYPW")) ||
            (rc = hs_reply(h, r, REPLY_SHORT, "NONEMPTYPW", 0)))
            return rc;
        if ((rc = hs_send(h, c->password, c->password_len, "the password", 0)) ||
            (rc = hs_reply(h, r, REPLY_SHORT, "the password", 0)))
            return rc;
        after = "the password";
    }
    if (strcmp(r, "FAIL") == 0) {
        /* Tell the broker we saw it, so it ends cleanly; then give up. */
        (void)hs_send_kw(h, "FAIL");
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "invalid credentials for %s on VM %s", c->user_text, h->vm_text);
    }
    if (strcmp(r, "CONF") == 0) {
        if (c->config_len == 0) {
            if ((rc = hs_send_kw(h, "EMPTYCF")))
                return rc;
        } else {
            if ((rc = hs_send_kw(h, "NONEMPTYCF")) ||
                (rc = hs_reply(h, r, REPLY_SHORT, "NONEMPTYCF", 0)))
                return rc;
            if ((rc = hs_send(h, c->config, c->config_len, "the configuration name", 0)))
                return rc;
        }
    } else if (strcmp(r, "PASS") == 0) {
        /* A guest from before configurations (Server 2016 TP4). */
        wr_tracef(h->tr, "vmbus: the broker takes no configuration name");
        if ((rc = hs_send_kw(h, "PASS")))
            return rc;
    } else {
        return unexpected(h, r, after, "CONF, PASS or FAIL");
    }
    if (!modern)
        return 0;

    if ((rc = hs_reply(h, r, REPLY_TOKEN, "the credentials (waiting for the token)", 1)))
        return rc;
    if (strncmp(r, "TOKEN ", 6) != 0 || !r[6]) {
        char p[16];
        printable(p, sizeof(p), r);
        wr_wipe(r, sizeof(r));
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PowerShell Direct: the broker of VM %s sent no token (its answer "
                            "starts \"%.8s\")",
                            h->vm_text, p);
    }
    memcpy(token, r + 6, strlen(r + 6) + 1);
    wr_wipe(r, sizeof(r));
    return hs_send_kw(h, "PASS");
}

/* Connection 1 in full. *legacy becomes 1 when the broker is an old one. */
static int broker_handshake(hs *h, const creds *c, int require_modern, int *legacy, char *token)
{
    char r[REPLY_SHORT + 1];
    int rc;
    *legacy = 0;
    if ((rc = hs_connect(h, &h->broker_id, "broker")))
        return rc;
    if ((rc = hs_send_kw(h, "VERSION")) || (rc = hs_reply(h, r, REPLY_SHORT, "VERSION", 0)))
        goto out;
    if (strncmp(r, "VERSION_", 8) == 0) {
        if ((rc = hs_send_kw(h, "VERSION_2")) || (rc = hs_reply(h, r, REPLY_SHORT, "VERSION_2", 0)))
            goto out;
        /* PowerShell's client does not look at this answer either. */
        rc = exchange(h, c, 1, token);
        goto out;
    }

    /* An old broker: it took "VERSION" for the domain. */
    if (require_modern) {
        char p[32];
        printable(p, sizeof(p), r);
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                          "PowerShell Direct: the broker of VM %s does not speak the VERSION_2 "
                          "protocol (it answered VERSION with \"%s\") and the legacy fallback is "
                          "disabled (RequirePsDirectAuthentication)",
                          h->vm_text, p);
        goto out;
    }
    wr_tracef(h->tr, "vmbus: the broker answered VERSION with a legacy reply; finishing that "
                     "conversation and falling back to the legacy flow");
    unsigned char *probe = NULL;
    size_t probe_len = 0;
    if ((rc = utf16le(WR_HVSOCKET_LEGACY_PROBE_USER, &probe, &probe_len, "probe user")))
        goto out;
    rc = hs_send(h, probe, probe_len, "the probe user " WR_HVSOCKET_LEGACY_PROBE_USER, 0);
    free(probe);
    if (rc || (rc = hs_reply(h, r, REPLY_SHORT, "the probe user", 0)))
        goto out;
    if ((rc = hs_send_kw(h, "EMPTYPW")) || (rc = hs_reply(h, r, REPLY_SHORT, "EMPTYPW", 0)) ||
        (rc = hs_send_kw(h, "FAIL")))
        goto out;
    hs_disconnect(h);
    *legacy = 1;
    if ((rc = hs_connect(h, &h->broker_id, "broker")))
        return rc;
    rc = exchange(h, c, 0, NULL);
out:
    hs_disconnect(h);
    return rc;
}

/* Connection 2, modern: versions, then the token. */
static int server_handshake(hs *h, const char *token)
{
    char r[REPLY_SERVER + 1];
    int rc;
    if ((rc = hs_send_kw(h, "VERSION")) || (rc = hs_reply(h, r, REPLY_SHORT, "VERSION", 0)))
        goto closed_hint;
    if (strncmp(r, "VERSION_", 8) != 0)
        return unexpected(h, r, "VERSION", "VERSION_2");
    if ((rc = hs_send_kw(h, "VERSION_2")) || (rc = hs_reply(h, r, REPLY_SHORT, "VERSION_2", 0)))
        goto closed_hint;
    if (strcmp(r, "PASS") != 0)
        return unexpected(h, r, "VERSION_2", "PASS");
    size_t tl = strlen(token);
    char *msg = malloc(6 + tl + 1);
    if (!msg)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    memcpy(msg, "TOKEN ", 6);
    memcpy(msg + 6, token, tl + 1);
    rc = hs_send(h, msg, 6 + tl, "the token", 0);
    wr_wipe(msg, 6 + tl);
    free(msg);
    if (rc || (rc = hs_reply(h, r, REPLY_SERVER, "the token", 0)))
        goto closed_hint;
    if (strcmp(r, "PASS") != 0) {
        char p[64];
        printable(p, sizeof(p), r);
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                            "PowerShell Direct: the PowerShell server in VM %s refused the "
                            "broker's token (it answered \"%s\"; a token lives 10 minutes)",
                            h->vm_text, p);
    }
    return 0;
closed_hint:
    if (rc == WINRSH_ECLOSED) {
        char m[512];
        snprintf(m, sizeof(m), "%s", winrsh_error_last()->message);
        wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                     "%s (it hangs up on a token older than 10 minutes)", m);
    }
    return rc;
}

/* ---- the stream ------------------------------------------------------------------ */

/* The server connection, named "vmbus" and saying which VM a closed
 * connection was. */
typedef struct hv_stream {
    wr_stream base;
    wr_stream *inner;
    char vm_text[37];
} hv_stream;

static int hv_read(wr_stream *s, void *buf, size_t len, size_t *got)
{
    hv_stream *v = (hv_stream *)s;
    int rc = v->inner->type->read(v->inner, buf, len, got);
    if (rc == WINRSH_ECLOSED)
        wr_error_prefix("PowerShell Direct (VM %s)", v->vm_text);
    return rc;
}

static int hv_write(wr_stream *s, const void *buf, size_t len, size_t *wrote)
{
    hv_stream *v = (hv_stream *)s;
    int rc = v->inner->type->write(v->inner, buf, len, wrote);
    if (rc == WINRSH_ECLOSED)
        wr_error_prefix("PowerShell Direct (VM %s)", v->vm_text);
    return rc;
}

static int hv_fd(const wr_stream *s, int for_write)
{
    const hv_stream *v = (const hv_stream *)s;
    return v->inner->type->fd(v->inner, for_write);
}

static void hv_close(wr_stream *s)
{
    hv_stream *v = (hv_stream *)s;
    if (!v)
        return;
    wr_stream_close(v->inner);
    free(v);
}

static int hv_open_url(wr_stream **out, const char *target, const wr_stream_options *opts);

const wr_stream_type wr_stream_hvsocket = {"vmbus",  hv_open_url, hv_read,
                                           hv_write, hv_fd,       hv_close};

static int default_connect(wr_hvsock **out, const wr_guid *vm, const wr_guid *service,
                           long timeout_ms, void *payload)
{
    (void)payload;
    return wr_hvsock_connect(out, vm, service, timeout_ms);
}

int wr_hvsocket_open(wr_stream **out, const char *target, const wr_hvsocket_options *o,
                     int *legacy_out)
{
    *out = NULL;
    static const wr_hvsocket_options defaults;
    if (!o)
        o = &defaults;
    wr_hvsocket_target t;
    int rc = wr_hvsocket_target_parse(&t, target);
    if (rc)
        return rc;
    hs h;
    memset(&h, 0, sizeof(h));
    h.o = o;
    h.tr = o->tracer;
    h.vm = t.vm;
    memcpy(h.vm_text, t.vm_text, sizeof(h.vm_text));
    h.step_ms = o->step_timeout_ms > 0 ? o->step_timeout_ms : WR_HVSOCKET_STEP_TIMEOUT_MS;
    h.connect_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : WR_HVSOCKET_CONNECT_TIMEOUT_MS;
    h.connect = o->connect ? o->connect : default_connect;
    h.connect_payload = o->connect_payload;
    wr_guid_parse(&h.broker_id, WR_HV_SERVICE_BROKER);
    wr_guid_parse(&h.server_id, WR_HV_SERVICE_SERVER);

    const char *user = o->user && *o->user ? o->user : t.user;
    const char *config = o->config_name ? o->config_name : t.config;
    creds c;
    memset(&c, 0, sizeof(c));
    char token[REPLY_TOKEN + 1];
    token[0] = 0;
    int legacy = 0;
    wr_stream *sock_stream = NULL;
    if (!user || !*user) {
        rc = wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                          "%s: PowerShell Direct needs a user name (vmbus://USER@VMID, or the "
                          "session's credentials)",
                          target);
        goto done;
    }
    /* DOMAIN\user, as NetworkCredential splits it; no domain: "localhost". */
    c.user_text = user;
    const char *bs = strchr(user, '\\');
    char *domain = NULL;
    if (bs) {
        size_t dl = (size_t)(bs - user);
        domain = malloc(dl + 1);
        if (!domain) {
            rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
            goto done;
        }
        memcpy(domain, user, dl);
        domain[dl] = 0;
    }
    const char *name = bs ? bs + 1 : user;
    if (!*name) {
        free(domain);
        rc = wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                          "PowerShell Direct: \"%s\" has an empty user name", user);
        goto done;
    }
    rc = utf16le(domain && *domain ? domain : "localhost", &c.domain, &c.domain_len, "domain");
    free(domain);
    if (rc || (rc = utf16le(name, &c.user, &c.user_len, "user name")) ||
        (rc = utf16le(o->password ? o->password : "", &c.password, &c.password_len, "password")) ||
        (rc = utf16le(config ? config : "", &c.config, &c.config_len, "configuration name")))
        goto done;

    int require_modern = o->require_modern || wr_hvsock_require_modern_policy();
    if ((rc = broker_handshake(&h, &c, require_modern, &legacy, token)))
        goto done;
    if ((rc = hs_connect(&h, &h.server_id, "PowerShell server")))
        goto done;
    if (legacy) {
        wr_tracef(h.tr, "vmbus: legacy flow: the framing starts now");
    } else if ((rc = server_handshake(&h, token))) {
        hs_disconnect(&h);
        goto done;
    }
    wr_tracef(h.tr, "vmbus: connected to VM %s (%s flow)", h.vm_text,
              legacy ? "legacy" : "VERSION_2");
    rc = wr_hvsock_to_stream(h.s, &sock_stream);
    h.s = NULL;
    if (rc)
        goto done;
    hv_stream *v = calloc(1, sizeof(*v));
    if (!v) {
        wr_stream_close(sock_stream);
        rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        goto done;
    }
    v->base.type = &wr_stream_hvsocket;
    v->inner = sock_stream;
    memcpy(v->vm_text, h.vm_text, sizeof(v->vm_text));
    *out = &v->base;
    if (legacy_out)
        *legacy_out = legacy;
done:
    wr_wipe(token, sizeof(token));
    creds_free(&c);
    wr_hvsocket_target_free(&t);
    return rc;
}

static int hv_open_url(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    wr_hvsocket_options o;
    memset(&o, 0, sizeof(o));
    if (opts) {
        o.connect_timeout_ms = opts->connect_timeout_ms;
        o.tracer = opts->tracer;
    }
    return wr_hvsocket_open(out, target, &o, NULL);
}
