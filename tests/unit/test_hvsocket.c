/*
 * test_hvsocket.c: the PowerShell Direct client handshakes
 * (transport/hvsocket.c; PROTOCOL.md 5) against scripted brokers.
 *
 * Each connection the client makes is the client end of a socketpair()
 * (through the connect hook) or of a Unix socket under WINRSH_HVSOCKET_DIR
 * (the default connector); a thread plays the broker and the server from a
 * script: for every step, the exact bytes the client must send and the
 * bytes to answer. Anything else the client sends, and a client that does
 * not close when the script ends, is a failure.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/guid.h"
#include "transport/hvsocket.h"
#include "transport/stream.h"
#include "winrsh/errors.h"

#define VMID "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
#define TOKEN "Zm9vYmFyYmF6cXV4+/0123456789abcdefABCDEF=="
#define FRAME_OUT "<Command PSGuid='00000000-0000-0000-0000-000000000000' />\n"
#define FRAME_IN "<CommandAck PSGuid='00000000-0000-0000-0000-000000000000' />\n"
#define PEER_WAIT_MS 3000

static char g_tmp[64];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int msg_has(const char *needle)
{
    const char *m = winrsh_error_last()->message;
    if (strstr(m, needle))
        return 1;
    print_message("error message \"%s\" lacks \"%s\"\n", m, needle);
    return 0;
}

/* ---- scripts ------------------------------------------------------------------------- */

enum { AFTER_EXPECT_CLOSE = 1, AFTER_EXPECT_STALL = 2 };

typedef struct step {
    unsigned char expect[256];
    size_t elen;
    unsigned char reply[256];
    size_t rlen;
    int action; /* 0, or close / stall after reading expect */
} step;

typedef struct conn_script {
    step steps[24];
    size_t n;
    const char *service; /* which service the client must connect to */
    int no_eof_check;    /* the client is not expected to close (left to the test) */
} conn_script;

typedef struct script {
    conn_script conns[4];
    size_t nconns;
} script;

static conn_script *new_conn(script *s, const char *service)
{
    conn_script *c = &s->conns[s->nconns++];
    memset(c, 0, sizeof(*c));
    c->service = service;
    return c;
}

/* The client must send `bytes`; answer `reply` (rlen bytes; rlen (size_t)-1: strlen). */
static step *expect_bytes(conn_script *c, const void *bytes, size_t len, const char *reply,
                          size_t rlen)
{
    step *st = &c->steps[c->n++];
    memset(st, 0, sizeof(*st));
    memcpy(st->expect, bytes, len);
    st->elen = len;
    if (reply) {
        st->rlen = rlen == (size_t)-1 ? strlen(reply) : rlen;
        memcpy(st->reply, reply, st->rlen);
    }
    return st;
}

static step *expect_kw(conn_script *c, const char *kw, const char *reply)
{
    return expect_bytes(c, kw, strlen(kw), reply, (size_t)-1);
}

/* ASCII (or Latin-1-free) text as UTF-16LE, written out independently of
 * the code under test. */
static step *expect_u16(conn_script *c, const char *ascii, const char *reply)
{
    unsigned char b[256];
    size_t n = strlen(ascii);
    for (size_t i = 0; i < n; i++) {
        b[2 * i] = (unsigned char)ascii[i];
        b[2 * i + 1] = 0;
    }
    return expect_bytes(c, b, 2 * n, reply, (size_t)-1);
}

/* ---- the peer thread ------------------------------------------------------------------- */

typedef struct peer {
    script *sc;
    int fds[4];       /* socketpair peer ends, or -1 */
    int listeners[4]; /* for the Unix socket variant: accept on this */
    char err[1024];
    pthread_t thr;
} peer;

static void perr(peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(peer *p, const char *fmt, ...)
{
    if (p->err[0])
        return; /* the first problem is the one that matters */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
}

static void hex(char *out, size_t outsz, const unsigned char *b, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < outsz; i++)
        o += (size_t)snprintf(out + o, outsz - o, "%02x", b[i]);
    out[o] = 0;
}

/* Read exactly n bytes within PEER_WAIT_MS; returns how many came. */
static size_t read_n(int fd, unsigned char *buf, size_t n, int *eof)
{
    size_t got = 0;
    long long deadline = now_ms() + PEER_WAIT_MS;
    *eof = 0;
    while (got < n) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(fd, buf + got, n - got);
        if (r == 0) {
            *eof = 1;
            break;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            *eof = 1;
            break;
        }
        got += (size_t)r;
    }
    return got;
}

static void *peer_main(void *arg)
{
    peer *p = arg;
    for (size_t ci = 0; ci < p->sc->nconns; ci++) {
        conn_script *c = &p->sc->conns[ci];
        int fd = p->fds[ci];
        if (fd < 0 && p->listeners[ci] >= 0) {
            struct pollfd pf = {p->listeners[ci], POLLIN, 0};
            if (poll(&pf, 1, PEER_WAIT_MS) == 1)
                fd = accept(p->listeners[ci], NULL, NULL);
            if (fd < 0) {
                perr(p, "connection %zu: the client did not connect to %s", ci, c->service);
                return NULL;
            }
            p->fds[ci] = fd;
        }
        for (size_t si = 0; si < c->n; si++) {
            step *st = &c->steps[si];
            unsigned char buf[512];
            int eof = 0;
            size_t got = read_n(fd, buf, st->elen, &eof);
            if (got != st->elen || memcmp(buf, st->expect, st->elen) != 0) {
                char want[600], have[600];
                hex(want, sizeof want, st->expect, st->elen);
                hex(have, sizeof have, buf, got);
                perr(p, "connection %zu step %zu: expected %s, got %s%s", ci, si, want, have,
                     eof ? " and EOF" : "");
                return NULL;
            }
            if (st->action == AFTER_EXPECT_CLOSE) {
                close(fd);
                p->fds[ci] = -1;
                goto next_conn;
            }
            if (st->action == AFTER_EXPECT_STALL) {
                /* Say nothing until the client gives up and closes. */
                read_n(fd, buf, sizeof buf, &eof);
                goto next_conn;
            }
            if (st->rlen && write(fd, st->reply, st->rlen) != (ssize_t)st->rlen) {
                perr(p, "connection %zu step %zu: write failed", ci, si);
                return NULL;
            }
        }
        if (!c->no_eof_check) {
            /* The client must have nothing more to say, and close. */
            unsigned char extra[64];
            int eof = 0;
            size_t got = read_n(fd, extra, sizeof extra, &eof);
            if (got || !eof) {
                char have[200];
                hex(have, sizeof have, extra, got);
                perr(p, "connection %zu: after the script the client sent %s%s", ci, have,
                     eof ? "" : " and did not close");
                return NULL;
            }
        }
    next_conn:;
    }
    return NULL;
}

/* ---- the fake connector (socketpair) --------------------------------------------------------- */

typedef struct fake {
    int client[4];
    int used;
    int n;
    char services[4][37];
    char vms[4][37];
} fake;

static int fake_connect(wr_hvsock **out, const wr_guid *vm, const wr_guid *service, long timeout_ms,
                        void *payload)
{
    (void)timeout_ms;
    fake *f = payload;
    if (f->used >= f->n)
        return WINRSH_ECONNECT;
    wr_guid_format(service, 0, f->services[f->used]);
    wr_guid_format(vm, 0, f->vms[f->used]);
    int fd = f->client[f->used];
    f->client[f->used++] = -1;
    return wr_hvsock_adopt(out, fd);
}

typedef struct run {
    script sc;
    peer pe;
    fake fk;
    wr_hvsocket_options o;
    wr_stream *stream;
    int legacy;
    int rc;
    long long took_ms;
} run;

static void run_init(run *r)
{
    memset(r, 0, sizeof(*r));
    r->o.step_timeout_ms = 2000;
    r->o.connect_timeout_ms = 2000;
    r->o.connect = fake_connect;
    r->o.connect_payload = &r->fk;
    for (int i = 0; i < 4; i++)
        r->pe.fds[i] = r->pe.listeners[i] = r->fk.client[i] = -1;
}

static void start_peer(run *r, int use_pairs)
{
    r->pe.sc = &r->sc;
    if (use_pairs) {
        r->fk.n = (int)r->sc.nconns;
        for (size_t i = 0; i < r->sc.nconns; i++) {
            int sv[2];
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
            r->fk.client[i] = sv[0];
            r->pe.fds[i] = sv[1];
        }
    }
    assert_int_equal(pthread_create(&r->pe.thr, NULL, peer_main, &r->pe), 0);
}

static void open_client(run *r, const char *target)
{
    long long t0 = now_ms();
    r->rc = wr_hvsocket_open(&r->stream, target, &r->o, &r->legacy);
    r->took_ms = now_ms() - t0;
}

/* Close what is left, wait for the peer, fail on its complaint. */
static void finish(run *r)
{
    if (r->stream)
        wr_stream_close(r->stream);
    r->stream = NULL;
    for (int i = 0; i < 4; i++)
        if (r->fk.client[i] >= 0)
            close(r->fk.client[i]);
    pthread_join(r->pe.thr, NULL);
    for (int i = 0; i < 4; i++) {
        if (r->pe.fds[i] >= 0)
            close(r->pe.fds[i]);
        if (r->pe.listeners[i] >= 0)
            close(r->pe.listeners[i]);
    }
    if (r->pe.err[0])
        fail_msg("scripted peer: %s", r->pe.err);
}

/* The framing passes through the returned stream unchanged. */
static void check_framing(run *r)
{
    assert_non_null(r->stream);
    assert_string_equal(r->stream->type->name, "vmbus");
    assert_int_equal(wr_stream_write_all(r->stream, FRAME_OUT, strlen(FRAME_OUT), 2000), 0);
    char buf[256];
    size_t have = 0;
    long long deadline = now_ms() + 3000;
    while (have < strlen(FRAME_IN) && now_ms() < deadline) {
        struct pollfd pf = {r->stream->type->fd(r->stream, 0), POLLIN, 0};
        poll(&pf, 1, 200);
        size_t got = 0;
        assert_int_equal(r->stream->type->read(r->stream, buf + have, sizeof buf - 1 - have, &got),
                         0);
        have += got;
    }
    buf[have] = 0;
    assert_string_equal(buf, FRAME_IN);
}

/* The modern broker conversation up to the password, for a user/domain. */
static conn_script *modern_prefix(script *sc, const char *domain, const char *user)
{
    conn_script *c = new_conn(sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", "VERSION_2");
    expect_kw(c, "VERSION_2", "PASS");
    expect_u16(c, domain, "PASS");
    expect_u16(c, user, "PASS");
    return c;
}

static void server_modern(script *sc, const char *token)
{
    conn_script *c = new_conn(sc, WR_HV_SERVICE_SERVER);
    expect_kw(c, "VERSION", "VERSION_2");
    expect_kw(c, "VERSION_2", "PASS");
    char t[300];
    snprintf(t, sizeof t, "TOKEN %s", token);
    expect_kw(c, t, "PASS");
    expect_bytes(c, FRAME_OUT, strlen(FRAME_OUT), FRAME_IN, (size_t)-1);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_sockaddr_layout(void **state)
{
    (void)state;
    wr_guid vm, svc;
    assert_int_equal(wr_guid_parse(&vm, VMID), 0);
    assert_int_equal(wr_guid_parse(&svc, WR_HV_SERVICE_BROKER), 0);
    unsigned char a[WR_HV_SOCKADDR_SIZE];
    memset(a, 0xee, sizeof a);
    wr_hvsocket_sockaddr(a, &vm, &svc);
    static const unsigned char want[36] = {
        34, 0, 0, 0, /* family 34 LE, reserved */
        /* 3f2504e0-4f89-11d3-9a0c-0305e82c3301: Data1-3 little-endian */
        0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33,
        0x01,
        /* 999e53d4-3d5c-4c3e-8779-bed06ec056e1 */
        0xd4, 0x53, 0x9e, 0x99, 0x5c, 0x3d, 0x3e, 0x4c, 0x87, 0x79, 0xbe, 0xd0, 0x6e, 0xc0, 0x56,
        0xe1};
    assert_memory_equal(a, want, 36);
}

static void test_target_parse(void **state)
{
    (void)state;
    wr_hvsocket_target t;
    assert_int_equal(wr_hvsocket_target_parse(&t, "vmbus://" VMID), 0);
    assert_string_equal(t.vm_text, VMID);
    assert_null(t.user);
    assert_null(t.config);
    wr_hvsocket_target_free(&t);

    assert_int_equal(
        wr_hvsocket_target_parse(&t, "vmbus://LAB%5Cbars@{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"
                                     "/My%20Endpoint/"),
        0);
    assert_string_equal(t.vm_text, VMID);
    assert_string_equal(t.user, "LAB\\bars");
    assert_string_equal(t.config, "My Endpoint");
    wr_hvsocket_target_free(&t);

    assert_int_equal(wr_hvsocket_target_parse(&t, "vmbus://" VMID "/"), 0);
    assert_null(t.config);
    wr_hvsocket_target_free(&t);

    static const char *const bad[] = {
        "vmbus://",
        "vmbus://not-a-guid",
        "vmbus://3f2504e0-4f89-11d3-9a0c-0305e82c330",   /* one digit short */
        "vmbus://3f2504e0-4f89-11d3-9a0c-0305e82c3301x", /* one too many */
        "vmbus://@" VMID,
        "vmbus://a%zzb@" VMID,
        "vmbus://" VMID "/a/b",
        "vmbus://" VMID "/bad%0aname",
        "vmbusx://" VMID,
        "ssh://" VMID,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (wr_hvsocket_target_parse(&t, bad[i]) != WINRSH_EINVAL)
            fail_msg("%s was accepted", bad[i]);
        assert_null(t.user);
        assert_null(t.config);
    }
    assert_true(msg_has("not a vmbus://[USER@]VMID[/CONFIG] target"));
}

/* Modern flow, everything non-empty, DOMAIN\user, non-ASCII password. */
static void test_modern_full(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = modern_prefix(&r.sc, "LAB", "bars");
    expect_kw(c, "NONEMPTYPW", "PASS");
    /* "p€😀": U+0070, U+20AC, U+1F600 as the pair D83D DE00. */
    static const unsigned char pw16[] = {0x70, 0x00, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde};
    expect_bytes(c, pw16, sizeof pw16, "CONF", (size_t)-1);
    expect_kw(c, "NONEMPTYCF", "PASS");
    expect_u16(c, "JEA.Endpoint", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    server_modern(&r.sc, TOKEN);
    start_peer(&r, 1);
    r.o.user = "LAB\\bars";
    r.o.password = "p\xe2\x82\xac\xf0\x9f\x98\x80";
    r.o.config_name = "JEA.Endpoint";
    open_client(&r, "vmbus://" VMID);
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    assert_int_equal(r.legacy, 0);
    check_framing(&r);
    /* Broker first, then the server, both on the VM of the target. */
    assert_int_equal(r.fk.used, 2);
    assert_string_equal(r.fk.services[0], WR_HV_SERVICE_BROKER);
    assert_string_equal(r.fk.services[1], WR_HV_SERVICE_SERVER);
    assert_string_equal(r.fk.vms[0], VMID);
    assert_string_equal(r.fk.vms[1], VMID);
    finish(&r);
}

/* Modern flow: no domain ("localhost"), empty password (EMPTYPW, no
 * password sent), no configuration (EMPTYCF), a VERSION_10 broker, the
 * user and config from the target. */
static void test_modern_empty(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", "VERSION_10");
    expect_kw(c, "VERSION_2", "PASS");
    expect_u16(c, "localhost", "PASS");
    expect_u16(c, "Administrator", "PASS");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    server_modern(&r.sc, TOKEN);
    start_peer(&r, 1);
    open_client(&r, "vmbus://Administrator@" VMID);
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    check_framing(&r);
    finish(&r);

    /* User and configuration from the target text. */
    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "Administrator");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "NONEMPTYCF", "PASS");
    expect_u16(c, "Microsoft.PowerShell", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    server_modern(&r.sc, TOKEN);
    start_peer(&r, 1);
    open_client(&r, "vmbus://Administrator@" VMID "/Microsoft.PowerShell");
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    check_framing(&r);
    finish(&r);
}

/* Replies padded with NULs (as a C broker may send them) are trimmed. */
static void test_nul_padded(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_bytes(c, "VERSION", 7, "VERSION_2\0\0\0\0\0\0\0", 16);
    expect_bytes(c, "VERSION_2", 9, "PASS\0\0\0", 7);
    expect_u16(c, "localhost", "PASS\0");
    expect_u16(c, "bars", "PASS");
    expect_kw(c, "NONEMPTYPW", "PASS");
    expect_bytes(c, "s\0e\0c\0r\0e\0t\0", 12, "CONF\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    expect_kw(c, "EMPTYCF", NULL)->rlen = 0;
    static const char tok[] = "TOKEN " TOKEN "\0\0\0\0";
    c->steps[c->n - 1].rlen = sizeof tok - 1;
    memcpy(c->steps[c->n - 1].reply, tok, sizeof tok - 1);
    expect_kw(c, "PASS", NULL);
    conn_script *s = new_conn(&r.sc, WR_HV_SERVICE_SERVER);
    expect_bytes(s, "VERSION", 7, "VERSION_2\0", 10);
    expect_bytes(s, "VERSION_2", 9, "PASS\0\0", 6);
    expect_kw(s, "TOKEN " TOKEN, NULL);
    s->steps[s->n - 1].rlen = 8;
    memcpy(s->steps[s->n - 1].reply, "PASS\0\0\0\0", 8);
    expect_bytes(s, FRAME_OUT, strlen(FRAME_OUT), FRAME_IN, (size_t)-1);
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.password = "secret";
    open_client(&r, "vmbus://" VMID);
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    check_framing(&r);
    finish(&r);
}

/* An old broker: it takes "VERSION" for the domain. The client finishes
 * that conversation with the probe user, reconnects, runs the legacy flow
 * (no token), and the server connection starts the framing at once. */
static void test_legacy_fallback(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", "PASS");
    expect_u16(c, "?<PSDirectVMLegacy>", "PASS");
    expect_kw(c, "EMPTYPW", "FAIL");
    expect_kw(c, "FAIL", NULL);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_u16(c, "LAB", "PASS");
    expect_u16(c, "bars", "PASS");
    expect_kw(c, "NONEMPTYPW", "PASS");
    expect_u16(c, "secret", "CONF");
    expect_kw(c, "EMPTYCF", NULL);
    conn_script *s = new_conn(&r.sc, WR_HV_SERVICE_SERVER);
    expect_bytes(s, FRAME_OUT, strlen(FRAME_OUT), FRAME_IN, (size_t)-1);
    start_peer(&r, 1);
    r.o.user = "LAB\\bars";
    r.o.password = "secret";
    open_client(&r, "vmbus://" VMID);
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    assert_int_equal(r.legacy, 1);
    check_framing(&r);
    assert_int_equal(r.fk.used, 3);
    assert_string_equal(r.fk.services[1], WR_HV_SERVICE_BROKER);
    assert_string_equal(r.fk.services[2], WR_HV_SERVICE_SERVER);
    finish(&r);

    /* A TP4-era legacy guest answers PASS instead of CONF: the client
     * answers PASS and sends no configuration. */
    run_init(&r);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", "PASS");
    expect_u16(c, "?<PSDirectVMLegacy>", "PASS");
    expect_kw(c, "EMPTYPW", "FAIL");
    expect_kw(c, "FAIL", NULL);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_u16(c, "localhost", "PASS");
    expect_u16(c, "bars", "PASS");
    expect_kw(c, "EMPTYPW", "PASS");
    expect_kw(c, "PASS", NULL);
    s = new_conn(&r.sc, WR_HV_SERVICE_SERVER);
    expect_bytes(s, FRAME_OUT, strlen(FRAME_OUT), FRAME_IN, (size_t)-1);
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.config_name = "Ignored";
    open_client(&r, "vmbus://" VMID);
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    assert_int_equal(r.legacy, 1);
    check_framing(&r);
    finish(&r);

    /* With the fallback forbidden: a clear error after the first reply,
     * and no second connection. */
    run_init(&r);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", "PASS");
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.require_modern = 1;
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EPROTO);
    assert_true(msg_has("does not speak the VERSION_2 protocol"));
    assert_true(msg_has("legacy fallback is disabled"));
    assert_int_equal(r.fk.used, 1);
    finish(&r);
}

/* Wrong password: FAIL -> the client says FAIL, stops, fast. */
static void test_wrong_password(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = modern_prefix(&r.sc, "LAB", "bars");
    expect_kw(c, "NONEMPTYPW", "PASS");
    expect_u16(c, "wrong", "FAIL");
    expect_kw(c, "FAIL", NULL);
    start_peer(&r, 1);
    r.o.user = "LAB\\bars";
    r.o.password = "wrong";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EAUTH);
    assert_string_equal(winrsh_error_last()->message,
                        "invalid credentials for LAB\\bars on VM " VMID);
    assert_null(r.stream);
    assert_true(r.took_ms < 1000);
    assert_int_equal(r.fk.used, 1);
    finish(&r);

    /* The legacy flow too. */
    run_init(&r);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", "PASS");
    expect_u16(c, "?<PSDirectVMLegacy>", "PASS");
    expect_kw(c, "EMPTYPW", "FAIL");
    expect_kw(c, "FAIL", NULL);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_u16(c, "localhost", "PASS");
    expect_u16(c, "bars", "PASS");
    expect_kw(c, "EMPTYPW", "FAIL");
    expect_kw(c, "FAIL", NULL);
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EAUTH);
    assert_true(msg_has("invalid credentials for bars on VM " VMID));
    assert_true(r.took_ms < 1000);
    finish(&r);
}

/* The broker hangs up in the middle: a clear ECLOSED naming the step. */
static void test_broker_closes(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "NONEMPTYPW", NULL)->action = AFTER_EXPECT_CLOSE;
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.password = "secret";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_ECLOSED);
    assert_true(
        msg_has("the broker of VM " VMID " closed the connection after we sent NONEMPTYPW"));
    assert_true(r.took_ms < 1000);
    finish(&r);

    /* Before the token. */
    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", NULL)->action = AFTER_EXPECT_CLOSE;
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_ECLOSED);
    assert_true(msg_has("closed the connection"));
    finish(&r);

    /* The server hangs up on the token (as it does when the token expired). */
    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    conn_script *s = new_conn(&r.sc, WR_HV_SERVICE_SERVER);
    expect_kw(s, "VERSION", NULL)->action = AFTER_EXPECT_CLOSE;
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_ECLOSED);
    assert_true(msg_has("the PowerShell server of VM " VMID " closed the connection"));
    assert_true(msg_has("10 minutes"));
    finish(&r);

    /* The server refuses the token with FAIL. */
    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    s = new_conn(&r.sc, WR_HV_SERVICE_SERVER);
    expect_kw(s, "VERSION", "VERSION_2");
    expect_kw(s, "VERSION_2", "PASS");
    expect_kw(s, "TOKEN " TOKEN, "FAIL");
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EAUTH);
    assert_true(msg_has("refused the broker's token"));
    finish(&r);
}

/* A broker that stops answering: ETIMEOUT within the step timeout. */
static void test_timeouts(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "NONEMPTYPW", NULL)->action = AFTER_EXPECT_STALL;
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.password = "secret";
    r.o.step_timeout_ms = 300;
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_ETIMEOUT);
    assert_true(msg_has("did not answer NONEMPTYPW within 300 ms"));
    assert_true(r.took_ms >= 250 && r.took_ms < 1000);
    finish(&r);

    /* Silent from the start. */
    run_init(&r);
    c = new_conn(&r.sc, WR_HV_SERVICE_BROKER);
    expect_kw(c, "VERSION", NULL)->action = AFTER_EXPECT_STALL;
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.step_timeout_ms = 200;
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_ETIMEOUT);
    assert_true(r.took_ms < 1000);
    finish(&r);

    /* The token never comes. */
    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", NULL)->action = AFTER_EXPECT_STALL;
    start_peer(&r, 1);
    r.o.user = "bars";
    r.o.step_timeout_ms = 300;
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_ETIMEOUT);
    assert_true(msg_has("waiting for the token"));
    assert_true(r.took_ms < 1000);
    finish(&r);
}

/* Replies that break the protocol: EPROTO saying what came. */
static void test_bad_replies(void **state)
{
    (void)state;
    run r;
    run_init(&r);
    conn_script *c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "FAI1");
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EPROTO);
    assert_true(msg_has("answered EMPTYPW with \"FAI1\" (expected CONF, PASS or FAIL)"));
    finish(&r);

    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", "NOTOKEN");
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EPROTO);
    assert_true(msg_has("sent no token"));
    finish(&r);

    /* A server connection that does not speak VERSION. */
    run_init(&r);
    c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "EMPTYPW", "CONF");
    expect_kw(c, "EMPTYCF", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    conn_script *s = new_conn(&r.sc, WR_HV_SERVICE_SERVER);
    expect_kw(s, "VERSION", "FAIL");
    start_peer(&r, 1);
    r.o.user = "bars";
    open_client(&r, "vmbus://" VMID);
    assert_int_equal(r.rc, WINRSH_EPROTO);
    assert_true(msg_has("PowerShell server of VM " VMID " answered VERSION with \"FAIL\""));
    finish(&r);
}

static void test_bad_input(void **state)
{
    (void)state;
    wr_stream *s = (wr_stream *)1;
    wr_hvsocket_options o;
    memset(&o, 0, sizeof o);
    /* No user at all. */
    assert_int_equal(wr_hvsocket_open(&s, "vmbus://" VMID, &o, NULL), WINRSH_EINVAL);
    assert_null(s);
    assert_true(msg_has("needs a user name"));
    o.user = "LAB\\";
    assert_int_equal(wr_hvsocket_open(&s, "vmbus://" VMID, &o, NULL), WINRSH_EINVAL);
    assert_true(msg_has("empty user name"));
    o.user = "bars";
    o.password = "bad\xff utf8";
    assert_int_equal(wr_hvsocket_open(&s, "vmbus://" VMID, &o, NULL), WINRSH_EINVAL);
    assert_true(msg_has("password is not valid UTF-8"));
    assert_int_equal(wr_hvsocket_open(&s, "vmbus://nope", &o, NULL), WINRSH_EINVAL);
}

/* The default connector: WINRSH_HVSOCKET_DIR unset says what to do;
 * set, service G is $DIR/G.sock (or $DIR/VMID/G.sock). */
static int listen_at(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void test_unix_stand_in(void **state)
{
    (void)state;
    wr_stream *s = NULL;
    wr_hvsocket_options o;
    memset(&o, 0, sizeof o);
    o.user = "bars";
    unsetenv("WINRSH_HVSOCKET_DIR");
    assert_int_equal(wr_hvsocket_open(&s, "vmbus://" VMID, &o, NULL), WINRSH_ECONNECT);
    assert_true(msg_has("PowerShell Direct needs Windows (AF_HYPERV); set WINRSH_HVSOCKET_DIR to "
                        "test against a stand-in"));
    /* The scheme table's entry says the same. */
    wr_stream_options so = {1000, NULL};
    assert_int_equal(wr_stream_hvsocket.open(&s, "vmbus://bars@" VMID, &so), WINRSH_ECONNECT);
    assert_true(msg_has("set WINRSH_HVSOCKET_DIR"));

    /* A directory without the sockets: a connect error naming the path. */
    setenv("WINRSH_HVSOCKET_DIR", g_tmp, 1);
    assert_int_equal(wr_hvsocket_open(&s, "vmbus://" VMID, &o, NULL), WINRSH_ECONNECT);
    assert_true(msg_has("cannot reach the broker of VM " VMID));
    assert_true(msg_has(WR_HV_SERVICE_BROKER ".sock"));

    /* The whole modern handshake over Unix sockets, per-VM directory. */
    char vmdir[128], bpath[200], spath[200];
    snprintf(vmdir, sizeof vmdir, "%s/%s", g_tmp, VMID);
    mkdir(vmdir, 0700);
    snprintf(bpath, sizeof bpath, "%s/%s.sock", vmdir, WR_HV_SERVICE_BROKER);
    snprintf(spath, sizeof spath, "%s/%s.sock", vmdir, WR_HV_SERVICE_SERVER);
    run r;
    run_init(&r);
    r.o.connect = NULL;
    r.o.connect_payload = NULL;
    conn_script *c = modern_prefix(&r.sc, "localhost", "bars");
    expect_kw(c, "NONEMPTYPW", "PASS");
    expect_u16(c, "secret", "CONF");
    expect_kw(c, "EMPTYCF", "TOKEN " TOKEN);
    expect_kw(c, "PASS", NULL);
    server_modern(&r.sc, TOKEN);
    r.pe.listeners[0] = listen_at(bpath);
    r.pe.listeners[1] = listen_at(spath);
    start_peer(&r, 0);
    r.o.user = "bars";
    r.o.password = "secret";
    open_client(&r, "vmbus://" VMID);
    if (r.rc)
        fail_msg("open: %s (peer: %s)", winrsh_error_last()->message, r.pe.err);
    check_framing(&r);
    finish(&r);
    unlink(bpath);
    unlink(spath);
    rmdir(vmdir);
    unsetenv("WINRSH_HVSOCKET_DIR");
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/winrsh-hvsock-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rmdir(g_tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sockaddr_layout), cmocka_unit_test(test_target_parse),
        cmocka_unit_test(test_modern_full),     cmocka_unit_test(test_modern_empty),
        cmocka_unit_test(test_nul_padded),      cmocka_unit_test(test_legacy_fallback),
        cmocka_unit_test(test_wrong_password),  cmocka_unit_test(test_broker_closes),
        cmocka_unit_test(test_timeouts),        cmocka_unit_test(test_bad_replies),
        cmocka_unit_test(test_bad_input),       cmocka_unit_test(test_unix_stand_in),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
