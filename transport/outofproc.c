/*
 * outofproc.c: the out-of-process framing (see outofproc.h for the packet
 * table and the sequencing; PROTOCOL.md 5; PowerShell's
 * OutOfProcTransportManager.cs).
 *
 * What PowerShell writes, byte for byte (OutOfProcessUtils.CreateDataPacket
 * and CreatePSGuidPacket use the format strings
 *   "<{0} {1}='{2}' {3}='{4}'>{5}</{0}>"  and  "<{0} {1}='{2}' />"
 * with Guid.ToString(), i.e. lower-case "D" format), and what we write:
 *
 *   <Data Stream='Default' PSGuid='00000000-0000-0000-0000-000000000000'>AAAA...</Data>\n
 *   <CommandAck PSGuid='9b6c5e0f-2f0a-4c1e-8a35-0d3c0e0c4e11' />\n
 *
 * The reader is stricter than PowerShell's XmlReader in what it accepts as
 * the line's shape (no comments, no entities, no namespaces, no extra
 * attributes) because nothing else is ever sent, and anything else is far
 * more likely to be a server error printed as text.
 */
#include "transport/outofproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/error.h"
#include "transport/hvsocket.h"
#include "transport/stream_ssh.h"
#include "transport/stream_vsock.h"
#include "winrsh/errors.h"

/* ---- packets ----------------------------------------------------------------- */

static const char *const kind_names[] = {"Data",   "DataAck",   "Command", "CommandAck",
                                         "Signal", "SignalAck", "Close",   "CloseAck"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *wr_oop_kind_name(wr_oop_kind kind)
{
    return (unsigned)kind < NKINDS ? kind_names[kind] : NULL;
}

static const char *stream_name(wr_oop_stream s)
{
    return s == WR_OOP_STREAM_PROMPT_RESPONSE ? "PromptResponse" : "Default";
}

int wr_oop_format(wr_buf *out, wr_oop_kind kind, const wr_guid *psguid, wr_oop_stream stream,
                  const void *data, size_t len)
{
    const char *name = wr_oop_kind_name(kind);
    if (!name)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad packet kind %d",
                            (int)kind);
    static const wr_guid zero;
    char g[37];
    wr_guid_format(psguid ? psguid : &zero, 0, g);
    int rc;
    if (kind == WR_OOP_DATA) {
        rc = wr_buf_printf(out, "<Data Stream='%s' PSGuid='%s'>", stream_name(stream), g);
        if (!rc && len)
            rc = wr_base64_encode(out, data, len);
        if (!rc)
            rc = wr_buf_puts(out, "</Data>\n");
    } else {
        rc = wr_buf_printf(out, "<%s PSGuid='%s' />\n", name, g);
    }
    if (rc)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    return 0;
}

/* Up to max bytes of untrusted text, safe to show on a terminal. */
static void snippet(char *out, size_t outsz, const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    if (n > outsz - 4)
        n = outsz - 4;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (n < len) {
        out[o++] = '.';
        out[o++] = '.';
        out[o++] = '.';
    }
    out[o] = 0;
}

static int bad_line(const char *line, size_t len, const char *why)
{
    char s[128];
    snippet(s, sizeof(s), line, len, 80);
    return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                        "out-of-process packet: %s in line \"%s\"", why, s);
}

static int starts_with(const char *line, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    return len >= pl && memcmp(line, prefix, pl) == 0;
}

static int is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int wr_oop_parse(wr_oop_packet *p, const char *line, size_t len)
{
    memset(p, 0, sizeof(*p));
    if (len && line[len - 1] == '\r')
        len--;

    /* Errors the server could not put in a packet. */
    static const struct {
        const char *prefix, *what;
    } errs[] = {{"__HyperVSocketError__:", "PowerShell Direct server error"},
                {"__NamedPipeError__:", "PowerShell server error"}};
    for (size_t k = 0; k < sizeof(errs) / sizeof(errs[0]); k++) {
        if (starts_with(line, len, errs[k].prefix)) {
            size_t pl = strlen(errs[k].prefix);
            const char *t = line + pl;
            size_t tl = len - pl;
            while (tl && (*t == ' ' || *t == '\t')) {
                t++;
                tl--;
            }
            char s[640];
            snippet(s, sizeof(s), t, tl, 600);
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "%s: %s", errs[k].what, s);
        }
    }
    if (len == 0)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "out-of-process packet: an empty line");
    if (line[0] != '<') {
        char s[640];
        snippet(s, sizeof(s), line, len, 600);
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "the server sent text instead of a packet: %s", s);
    }

    const unsigned char *u = (const unsigned char *)line;
    size_t i = 1;
    size_t name_start = i;
    while (i < len && is_alpha(u[i]))
        i++;
    size_t name_len = i - name_start;
    int kind = -1;
    for (size_t k = 0; k < NKINDS; k++)
        if (strlen(kind_names[k]) == name_len &&
            memcmp(kind_names[k], line + name_start, name_len) == 0)
            kind = (int)k;
    if (kind < 0) {
        char s[64];
        snippet(s, sizeof(s), line + name_start, name_len, 40);
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "out-of-process packet: unknown packet <%s>", s);
    }
    p->kind = (wr_oop_kind)kind;

    int have_guid = 0, have_stream = 0;
    for (;;) {
        size_t ws = i;
        while (i < len && (u[i] == ' ' || u[i] == '\t'))
            i++;
        if (i >= len)
            return bad_line(line, len, "unterminated element");
        if (u[i] == '/' || u[i] == '>')
            break;
        if (i == ws)
            return bad_line(line, len, "no space before an attribute");
        size_t an = i;
        while (i < len && is_alpha(u[i]))
            i++;
        size_t alen = i - an;
        if (i >= len || u[i] != '=' || alen == 0)
            return bad_line(line, len, "a malformed attribute");
        i++;
        if (i >= len || (u[i] != '\'' && u[i] != '"'))
            return bad_line(line, len, "an unquoted attribute");
        unsigned char q = u[i++];
        size_t vs = i;
        while (i < len && u[i] != q) {
            if (u[i] == '<' || u[i] == '&')
                return bad_line(line, len, "markup in an attribute");
            i++;
        }
        if (i >= len)
            return bad_line(line, len, "an unterminated attribute");
        size_t vlen = i - vs;
        i++;
        const char *aname = line + an, *val = line + vs;
        if (alen == 6 && memcmp(aname, "PSGuid", 6) == 0) {
            char g[37];
            if (have_guid)
                return bad_line(line, len, "PSGuid twice");
            if (vlen != 36)
                return bad_line(line, len, "a bad PSGuid");
            memcpy(g, val, 36);
            g[36] = 0;
            if (wr_guid_parse(&p->psguid, g) != 0)
                return bad_line(line, len, "a bad PSGuid");
            have_guid = 1;
        } else if (alen == 6 && memcmp(aname, "Stream", 6) == 0 && p->kind == WR_OOP_DATA) {
            if (have_stream)
                return bad_line(line, len, "Stream twice");
            if (vlen == 7 && memcmp(val, "Default", 7) == 0)
                p->stream = WR_OOP_STREAM_DEFAULT;
            else if (vlen == 14 && memcmp(val, "PromptResponse", 14) == 0)
                p->stream = WR_OOP_STREAM_PROMPT_RESPONSE;
            else
                return bad_line(line, len, "an unknown Stream");
            have_stream = 1;
        } else {
            return bad_line(line, len, "an unknown attribute");
        }
    }
    if (!have_guid)
        return bad_line(line, len, "no PSGuid");
    if (p->kind == WR_OOP_DATA && !have_stream)
        return bad_line(line, len, "a Data packet without Stream");

    if (u[i] == '/') {
        /* <Name ... /> */
        if (i + 1 >= len || u[i + 1] != '>')
            return bad_line(line, len, "a malformed element end");
        i += 2;
    } else {
        /* <Name ...>content</Name> */
        i++;
        size_t cs = i;
        while (i < len && u[i] != '<') {
            if (!is_b64(u[i]))
                return bad_line(line, len,
                                p->kind == WR_OOP_DATA ? "non-base64 data" : "content in an ack");
            i++;
        }
        if (i > cs && p->kind != WR_OOP_DATA)
            return bad_line(line, len, "content in a packet that carries none");
        p->b64 = line + cs;
        p->b64_len = i - cs;
        if (i + 2 + name_len + 1 > len || u[i + 1] != '/' ||
            memcmp(line + i + 2, line + name_start, name_len) != 0 || u[i + 2 + name_len] != '>')
            return bad_line(line, len, "a missing or wrong end tag");
        i += 2 + name_len + 1;
    }
    while (i < len && (u[i] == ' ' || u[i] == '\t'))
        i++;
    if (i != len)
        return bad_line(line, len, "text after the element");
    if (!p->b64)
        p->b64 = line + len; /* an empty payload, never NULL */
    static const wr_guid zero;
    p->is_pool = memcmp(&p->psguid, &zero, sizeof(zero)) == 0;
    return 0;
}

/* ---- lines ------------------------------------------------------------------- */

void wr_oop_reader_init(wr_oop_reader *r, size_t max_line)
{
    memset(r, 0, sizeof(*r));
    r->max_line = max_line ? max_line : WR_OOP_MAX_LINE;
}

int wr_oop_reader_feed(wr_oop_reader *r, const void *data, size_t len)
{
    if (r->start == r->buf.len) {
        wr_buf_clear(&r->buf);
        r->start = 0;
    } else if (r->start >= 65536 && r->start >= r->buf.len / 2) {
        wr_buf_consume(&r->buf, r->start);
        r->start = 0;
    }
    if (wr_buf_append(&r->buf, data, len))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    return 0;
}

int wr_oop_reader_next(wr_oop_reader *r, const char **line, size_t *len)
{
    if (!r->buf.data || r->start >= r->buf.len)
        return 0;
    const char *base = (const char *)r->buf.data + r->start;
    size_t avail = r->buf.len - r->start;
    const char *nl = memchr(base + r->scanned, '\n', avail - r->scanned);
    size_t l = nl ? (size_t)(nl - base) : avail;
    size_t content = l;
    if (nl && content && base[content - 1] == '\r')
        content--;
    /* Without a newline, allow one byte more for a "\r" still to come. */
    if ((nl && content > r->max_line) || (!nl && avail > r->max_line + 1))
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "out-of-process packet: a line longer than %zu bytes", r->max_line);
    if (!nl) {
        r->scanned = avail;
        return 0;
    }
    *line = base;
    *len = content;
    r->start += l + 1;
    r->scanned = 0;
    return 1;
}

void wr_oop_reader_free(wr_oop_reader *r)
{
    wr_buf_free(&r->buf);
    r->start = r->scanned = 0;
}

/* ---- the connection ------------------------------------------------------------ */

typedef struct queued {
    struct queued *next;
    wr_guid psguid;
    int is_pool;
    wr_oop_stream stream;
    size_t len;
    unsigned char data[];
} queued;

struct wr_oop_conn {
    wr_stream *stream;
    wr_oop_reader rd;
    wr_tracer tracer;
    long timeout_ms;
    long signal_timeout_ms;
    int intr[2]; /* self-pipe: wr_oop_interrupt writes, receive reads */
    queued *qhead, *qtail;
    size_t qbytes;
    wr_buf out;     /* the packet being written */
    wr_buf decoded; /* the payload being delivered */
    int broken;     /* a fatal error: every later call raises it again */
    int broken_code;
    winrsh_error_class broken_class;
    char broken_msg[600];
};

static void trace_line(wr_oop_conn *c, winrsh_trace_kind kind, const char *line, size_t len)
{
    wr_trace(&c->tracer, kind, line, len);
}

/* Remember a fatal error (the stream is unusable: EOF, I/O error, a line we
 * cannot parse, a half-written packet) and return its code. */
static int fail_always(wr_oop_conn *c, int rc)
{
    if (!c->broken) {
        const winrsh_error *e = winrsh_error_last();
        c->broken = 1;
        c->broken_code = rc;
        c->broken_class = e->klass;
        snprintf(c->broken_msg, sizeof(c->broken_msg), "%s", e->message);
    }
    return rc;
}

/* The same, except for errors that leave the stream in sync. */
static int fail(wr_oop_conn *c, int rc)
{
    if (rc == WINRSH_ETIMEOUT || rc == WINRSH_EINTR)
        return rc;
    return fail_always(c, rc);
}

static int check_broken(wr_oop_conn *c)
{
    if (!c->broken)
        return 0;
    return wr_error_set(c->broken_code, c->broken_class, "%s", c->broken_msg);
}

void wr_oop_set_timeouts(wr_oop_conn *c, long timeout_ms, long signal_timeout_ms)
{
    if (timeout_ms > 0)
        c->timeout_ms = timeout_ms;
    if (signal_timeout_ms > 0)
        c->signal_timeout_ms = signal_timeout_ms;
}

static int conn_new(wr_oop_conn **out, const wr_tracer *tracer, long timeout_ms)
{
    *out = NULL;
    wr_oop_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    c->intr[0] = c->intr[1] = -1;
    if (tracer)
        c->tracer = *tracer;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : WR_OOP_DEFAULT_TIMEOUT_MS;
    c->signal_timeout_ms = WR_OOP_SIGNAL_TIMEOUT_MS;
    wr_oop_reader_init(&c->rd, 0);
    int rc = 0;
    if (pipe(c->intr) < 0) {
        c->intr[0] = c->intr[1] = -1;
        rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "pipe: %s", strerror(errno));
    } else if ((rc = wr_stream_fd_prepare(c->intr[0])) == 0) {
        rc = wr_stream_fd_prepare(c->intr[1]);
    }
    if (rc) {
        wr_oop_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int wr_oop_conn_wrap(wr_oop_conn **out, wr_stream *stream, const wr_tracer *tracer, long timeout_ms)
{
    int rc = conn_new(out, tracer, timeout_ms);
    if (rc) {
        wr_stream_close(stream);
        return rc;
    }
    (*out)->stream = stream;
    return 0;
}

int wr_oop_conn_open(wr_oop_conn **out, const char *target, const wr_tracer *tracer,
                     long timeout_ms)
{
    static const wr_stream_type *const types[] = {
        &wr_stream_process, &wr_stream_unix, &wr_stream_ssh, &wr_stream_vsock, &wr_stream_hvsocket};
    *out = NULL;
    const wr_stream_type *type = NULL;
    for (size_t i = 0; target && i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = strlen(types[i]->name);
        if (strncmp(target, types[i]->name, n) == 0 && strncmp(target + n, "://", 3) == 0)
            type = types[i];
    }
    if (!type)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not an out-of-process target (process:///path/to/pwsh, "
                            "ssh://[USER@]HOST[:PORT], vmbus://[USER@]VMID[/CONFIG], "
                            "vsock://CID:PORT, unix:///path)",
                            target ? target : "(null)");
    wr_oop_conn *c = NULL;
    int rc = conn_new(&c, tracer, timeout_ms);
    if (rc)
        return rc;
    /* The stream borrows the connection's copy of the tracer. */
    wr_stream_options so = {timeout_ms, &c->tracer};
    if ((rc = type->open(&c->stream, target, &so)) != 0) {
        wr_oop_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void drop_queue(wr_oop_conn *c)
{
    while (c->qhead) {
        queued *q = c->qhead;
        c->qhead = q->next;
        free(q);
    }
    c->qtail = NULL;
    c->qbytes = 0;
}

void wr_oop_conn_free(wr_oop_conn *c)
{
    if (!c)
        return;
    wr_stream_close(c->stream);
    drop_queue(c);
    wr_oop_reader_free(&c->rd);
    wr_buf_free(&c->out);
    wr_buf_free(&c->decoded);
    if (c->intr[0] >= 0)
        close(c->intr[0]);
    if (c->intr[1] >= 0)
        close(c->intr[1]);
    free(c);
}

void wr_oop_interrupt(wr_oop_conn *c)
{
    if (c && c->intr[1] >= 0) {
        int saved = errno; /* async-signal-safe: keep the interrupted code's errno */
        ssize_t w = write(c->intr[1], "!", 1);
        (void)w; /* a full pipe already holds an interrupt */
        errno = saved;
    }
}

static int drain_interrupt(wr_oop_conn *c)
{
    char buf[64];
    int any = 0;
    ssize_t n;
    while ((n = read(c->intr[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            any = 1;
    return any;
}

/* Wait up to wait_ms for bytes (with want_write: or for room to write;
 * with use_intr: or for an interrupt) and read what came into the line
 * reader. *nread: bytes read. */
static int fill(wr_oop_conn *c, int wait_ms, int want_write, int use_intr, int *interrupted,
                size_t *nread)
{
    *nread = 0;
    if (interrupted)
        *interrupted = 0;
    struct pollfd pf[3];
    nfds_t n = 0;
    pf[n++] = (struct pollfd){c->stream->type->fd(c->stream, 0), POLLIN, 0};
    nfds_t ii = 0;
    if (want_write) /* room to write: the caller just tries again */
        pf[n++] = (struct pollfd){c->stream->type->fd(c->stream, 1), POLLOUT, 0};
    if (use_intr) {
        ii = n;
        pf[n++] = (struct pollfd){c->intr[0], POLLIN, 0};
    }
    int pr = poll(pf, n, wait_ms);
    if (pr < 0) {
        if (errno == EINTR)
            return 0;
        return fail(c, wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "poll: %s", strerror(errno)));
    }
    if (use_intr && (pf[ii].revents & POLLIN) && drain_interrupt(c)) {
        *interrupted = 1;
        return 0;
    }
    if (!pf[0].revents)
        return 0;
    unsigned char buf[65536];
    size_t got = 0;
    int rc = c->stream->type->read(c->stream, buf, sizeof(buf), &got);
    if (rc)
        return fail(c, rc);
    if (got && (rc = wr_oop_reader_feed(&c->rd, buf, got)) != 0)
        return fail(c, rc);
    *nread = got;
    return 0;
}

/* The next buffered packet: 1, 0 if no whole line is buffered, or < 0. */
static int next_packet(wr_oop_conn *c, wr_oop_packet *p)
{
    const char *line = NULL;
    size_t len = 0;
    int r = wr_oop_reader_next(&c->rd, &line, &len);
    if (r <= 0)
        return r < 0 ? fail(c, r) : 0;
    trace_line(c, WINRSH_TRACE_DATA_IN, line, len);
    int rc = wr_oop_parse(p, line, len);
    if (rc)
        return fail(c, rc);
    return 1;
}

static int decode(wr_oop_conn *c, const wr_oop_packet *p)
{
    wr_buf_clear(&c->decoded);
    if (wr_base64_decode(&c->decoded, p->b64, p->b64_len) != 0)
        return fail(c, wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                    "out-of-process packet: bad base64 in a Data packet"));
    return 0;
}

/* A packet that is neither Data nor the ack we wait for. */
static int unexpected(wr_oop_conn *c, const wr_oop_packet *p)
{
    char g[37];
    wr_guid_format(&p->psguid, 0, g);
    switch (p->kind) {
    case WR_OOP_COMMAND:
    case WR_OOP_SIGNAL:
    case WR_OOP_CLOSE:
        /* PowerShell's client also fails on these (IPCUnknownElementReceived). */
        return fail(c, wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                    "out-of-process: the server sent %s(%s), which only a "
                                    "client sends",
                                    wr_oop_kind_name(p->kind), g));
    default:
        /* A late ack of a wait that timed out: harmless. */
        wr_tracef(&c->tracer, "out-of-process: ignoring an unexpected %s(%s)",
                  wr_oop_kind_name(p->kind), g);
        return 0;
    }
}

static int enqueue(wr_oop_conn *c, const wr_oop_packet *p)
{
    int rc = decode(c, p);
    if (rc || c->decoded.len == 0)
        return rc;
    if (c->qbytes + c->decoded.len > WR_OOP_MAX_QUEUED)
        return fail(c, wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                    "out-of-process: the server sent more than %u bytes while "
                                    "we waited for an ack",
                                    WR_OOP_MAX_QUEUED));
    queued *q = malloc(sizeof(*q) + c->decoded.len);
    if (!q)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    q->next = NULL;
    q->psguid = p->psguid;
    q->is_pool = p->is_pool;
    q->stream = p->stream;
    q->len = c->decoded.len;
    memcpy(q->data, c->decoded.data, c->decoded.len);
    if (c->qtail)
        c->qtail->next = q;
    else
        c->qhead = q;
    c->qtail = q;
    c->qbytes += q->len;
    return 0;
}

static int send_packet(wr_oop_conn *c, wr_oop_kind kind, const wr_guid *psguid,
                       wr_oop_stream stream, const void *data, size_t len)
{
    int rc = check_broken(c);
    if (rc)
        return rc;
    wr_buf_clear(&c->out);
    rc = wr_oop_format(&c->out, kind, psguid, stream, data, len);
    if (rc)
        return rc;
    trace_line(c, WINRSH_TRACE_DATA_OUT, (const char *)c->out.data, c->out.len - 1);
    /* Keep reading while the server cannot take more: it may be blocked on
     * its own output (see stream.h). What comes in waits in the line reader
     * for the ack wait that follows. A partial line would desynchronise the
     * server, so every failure here is fatal. */
    long long deadline = wr_stream_now_ms() + c->timeout_ms;
    size_t off = 0;
    while (off < c->out.len) {
        size_t w = 0;
        if ((rc = c->stream->type->write(c->stream, c->out.data + off, c->out.len - off, &w)) != 0)
            return fail_always(c, rc);
        off += w;
        if (w)
            continue;
        int left = wr_stream_ms_left(deadline);
        if (left == 0)
            return fail_always(c, wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS,
                                               "out-of-process: the server did not take a %s "
                                               "packet within %ld ms",
                                               wr_oop_kind_name(kind), c->timeout_ms));
        size_t nread;
        if ((rc = fill(c, left, 1, 0, NULL, &nread)) != 0)
            return fail_always(c, rc);
        if (c->rd.buf.len - c->rd.start > WR_OOP_MAX_QUEUED)
            return fail_always(c, wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                               "out-of-process: the server sent more than %u "
                                               "bytes while we were writing",
                                               WR_OOP_MAX_QUEUED));
    }
    return 0;
}

static int same_guid(const wr_guid *a, const wr_guid *b)
{
    static const wr_guid zero;
    return memcmp(a ? a : &zero, b ? b : &zero, sizeof(wr_guid)) == 0;
}

static int wait_ack(wr_oop_conn *c, wr_oop_kind ack, const wr_guid *psguid, long timeout_ms)
{
    long long deadline = wr_stream_now_ms() + timeout_ms;
    for (;;) {
        wr_oop_packet p;
        int r;
        while ((r = next_packet(c, &p)) == 1) {
            if (p.kind == WR_OOP_DATA) {
                if ((r = enqueue(c, &p)) != 0)
                    return r;
            } else if (p.kind == ack && same_guid(&p.psguid, psguid)) {
                return 0;
            } else if ((r = unexpected(c, &p)) != 0) {
                return r;
            }
        }
        if (r < 0)
            return r;
        int left = wr_stream_ms_left(deadline);
        if (left == 0) {
            static const wr_guid zero;
            char g[37];
            wr_guid_format(psguid ? psguid : &zero, 0, g);
            return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_PSRP,
                                "out-of-process: no %s(%s) from the server within %ld ms",
                                wr_oop_kind_name(ack), g, timeout_ms);
        }
        /* Ctrl-C must not wait out the whole bound (60 s for a signal):
         * an interrupted ack wait leaves the conversation out of step, so
         * the connection is given up. */
        size_t n;
        int interrupted = 0;
        if ((r = fill(c, left, 0, 1, &interrupted, &n)) != 0)
            return r;
        if (interrupted)
            return fail_always(c, wr_error_set(WINRSH_EINTR, WINRSH_ERRCLASS_NONE,
                                               "interrupted while waiting for the server's %s",
                                               wr_oop_kind_name(ack)));
    }
}

int wr_oop_send_data(wr_oop_conn *c, const wr_guid *psguid, wr_oop_stream stream, const void *data,
                     size_t len)
{
    int rc = send_packet(c, WR_OOP_DATA, psguid, stream, data, len);
    return rc ? rc : wait_ack(c, WR_OOP_DATA_ACK, psguid, c->timeout_ms);
}

int wr_oop_command(wr_oop_conn *c, const wr_guid *psguid)
{
    int rc = send_packet(c, WR_OOP_COMMAND, psguid, WR_OOP_STREAM_DEFAULT, NULL, 0);
    return rc ? rc : wait_ack(c, WR_OOP_COMMAND_ACK, psguid, c->timeout_ms);
}

int wr_oop_signal(wr_oop_conn *c, const wr_guid *psguid)
{
    int rc = send_packet(c, WR_OOP_SIGNAL, psguid, WR_OOP_STREAM_DEFAULT, NULL, 0);
    return rc ? rc : wait_ack(c, WR_OOP_SIGNAL_ACK, psguid, c->signal_timeout_ms);
}

int wr_oop_close(wr_oop_conn *c, const wr_guid *psguid)
{
    int rc = send_packet(c, WR_OOP_CLOSE, psguid, WR_OOP_STREAM_DEFAULT, NULL, 0);
    return rc ? rc : wait_ack(c, WR_OOP_CLOSE_ACK, psguid, c->timeout_ms);
}

/* Once data was delivered, return after this many packets even if the
 * server keeps sending, so the caller gets to do its part. */
#define RECEIVE_BATCH 256

int wr_oop_receive(wr_oop_conn *c, long timeout_ms, wr_oop_data_cb cb, void *payload,
                   int *timed_out)
{
    int dummy;
    if (!timed_out)
        timed_out = &dummy;
    *timed_out = 0;
    long long deadline = wr_stream_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    size_t delivered = 0;
    for (;;) {
        while (c->qhead) {
            queued *q = c->qhead;
            c->qhead = q->next;
            if (!c->qhead)
                c->qtail = NULL;
            c->qbytes -= q->len;
            int rc = cb(q->is_pool ? NULL : &q->psguid, q->stream, q->data, q->len, payload);
            free(q);
            delivered++;
            if (rc)
                return rc;
        }
        wr_oop_packet p;
        int r;
        while ((r = next_packet(c, &p)) == 1) {
            if (p.kind != WR_OOP_DATA) {
                if ((r = unexpected(c, &p)) != 0)
                    return r;
                continue;
            }
            if ((r = decode(c, &p)) != 0)
                return r;
            if (c->decoded.len == 0)
                continue;
            delivered++;
            if ((r = cb(p.is_pool ? NULL : &p.psguid, p.stream, c->decoded.data, c->decoded.len,
                        payload)) != 0)
                return r;
            if (delivered >= RECEIVE_BATCH)
                return 0;
        }
        if (r < 0)
            return r;
        /* Only now does a broken stream matter: what came before it is
         * delivered first, and the error waits for the next call. */
        if (c->broken)
            return delivered ? 0 : check_broken(c);
        int left = wr_stream_ms_left(deadline);
        if (delivered && (left == 0 || delivered >= RECEIVE_BATCH))
            return 0;
        int interrupted = 0;
        size_t n = 0;
        if ((r = fill(c, delivered ? 0 : left, 0, 1, &interrupted, &n)) != 0)
            return r;
        if (interrupted)
            return wr_error_set(WINRSH_EINTR, WINRSH_ERRCLASS_NONE, "interrupted");
        if (n == 0 && delivered)
            return 0;
        if (n == 0 && wr_stream_ms_left(deadline) == 0) {
            *timed_out = 1;
            return 0;
        }
    }
}
