/*
 * test_outofproc.c: the out-of-process framing (transport/outofproc.h),
 * the stream back-ends (transport/stream.h) and the PSRP binding over them
 * (psrp/binding_outofproc.h), without PowerShell: exact packet bytes, the
 * strict line parser, and the sequencing against a scripted fake server on
 * the other end of a socketpair.
 */
#define _DEFAULT_SOURCE /* realpath, strndup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/guid.h"
#include "psrp/binding_outofproc.h"
#include "psrp/fragment.h"
#include "transport/outofproc.h"
#include "transport/stream.h"
#include "winrsh/errors.h"

#define ZERO "00000000-0000-0000-0000-000000000000"
#define PIPE_UPPER "9B6C5E0F-2F0A-4C1E-8A35-0D3C0E0C4E11"
#define PIPE_LOWER "9b6c5e0f-2f0a-4c1e-8a35-0d3c0e0c4e11"

static wr_guid pipe_guid(void)
{
    wr_guid g;
    assert_int_equal(wr_guid_parse(&g, PIPE_UPPER), 0);
    return g;
}

static char *fmt(wr_oop_kind kind, const wr_guid *g, wr_oop_stream st, const void *d, size_t n)
{
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_oop_format(&b, kind, g, st, d, n), 0);
    return (char *)wr_buf_detach(&b, NULL);
}

static int msg_has(const char *needle)
{
    const char *m = winrsh_error_last()->message;
    if (strstr(m, needle))
        return 1;
    print_message("error message \"%s\" lacks \"%s\"\n", m, needle);
    return 0;
}

/* ---- exact bytes ----------------------------------------------------------- */

static void test_format_exact(void **state)
{
    (void)state;
    wr_guid p = pipe_guid();
    static const struct {
        wr_oop_kind kind;
        const char *pool, *pipe;
    } want[] = {
        {WR_OOP_DATA_ACK, "<DataAck PSGuid='" ZERO "' />\n",
         "<DataAck PSGuid='" PIPE_LOWER "' />\n"},
        {WR_OOP_COMMAND, "<Command PSGuid='" ZERO "' />\n",
         "<Command PSGuid='" PIPE_LOWER "' />\n"},
        {WR_OOP_COMMAND_ACK, "<CommandAck PSGuid='" ZERO "' />\n",
         "<CommandAck PSGuid='" PIPE_LOWER "' />\n"},
        {WR_OOP_SIGNAL, "<Signal PSGuid='" ZERO "' />\n", "<Signal PSGuid='" PIPE_LOWER "' />\n"},
        {WR_OOP_SIGNAL_ACK, "<SignalAck PSGuid='" ZERO "' />\n",
         "<SignalAck PSGuid='" PIPE_LOWER "' />\n"},
        {WR_OOP_CLOSE, "<Close PSGuid='" ZERO "' />\n", "<Close PSGuid='" PIPE_LOWER "' />\n"},
        {WR_OOP_CLOSE_ACK, "<CloseAck PSGuid='" ZERO "' />\n",
         "<CloseAck PSGuid='" PIPE_LOWER "' />\n"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *a = fmt(want[i].kind, NULL, WR_OOP_STREAM_DEFAULT, NULL, 0);
        char *b = fmt(want[i].kind, &p, WR_OOP_STREAM_DEFAULT, NULL, 0);
        assert_string_equal(a, want[i].pool);
        assert_string_equal(b, want[i].pipe);
        free(a);
        free(b);
    }
    char *d = fmt(WR_OOP_DATA, NULL, WR_OOP_STREAM_DEFAULT, "hello", 5);
    assert_string_equal(d, "<Data Stream='Default' PSGuid='" ZERO "'>aGVsbG8=</Data>\n");
    free(d);
    d = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_PROMPT_RESPONSE, "\x00\xff", 2);
    assert_string_equal(d, "<Data Stream='PromptResponse' PSGuid='" PIPE_LOWER "'>AP8=</Data>\n");
    free(d);
    d = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_DEFAULT, NULL, 0);
    assert_string_equal(d, "<Data Stream='Default' PSGuid='" PIPE_LOWER "'></Data>\n");
    free(d);

    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_oop_format(&b, (wr_oop_kind)99, NULL, 0, NULL, 0), WINRSH_EINVAL);
    wr_buf_free(&b);
    assert_string_equal(wr_oop_kind_name(WR_OOP_SIGNAL_ACK), "SignalAck");
    assert_null(wr_oop_kind_name((wr_oop_kind)8));
}

/* What real pwsh 7.6 wrote (captured from `pwsh -s`), and every packet we
 * format, parse back. */
static void test_parse(void **state)
{
    (void)state;
    wr_oop_packet p;
    const char *real = "<CloseAck PSGuid='" ZERO "' />";
    assert_int_equal(wr_oop_parse(&p, real, strlen(real)), 0);
    assert_int_equal(p.kind, WR_OOP_CLOSE_ACK);
    assert_true(p.is_pool);

    wr_guid g = pipe_guid();
    for (int k = WR_OOP_DATA; k <= WR_OOP_CLOSE_ACK; k++) {
        for (int st = 0; st < 2; st++) {
            char *line = fmt((wr_oop_kind)k, &g, (wr_oop_stream)st, "fragments", 9);
            size_t len = strlen(line) - 1;
            assert_int_equal(wr_oop_parse(&p, line, len), 0);
            assert_int_equal(p.kind, k);
            assert_false(p.is_pool);
            assert_memory_equal(&p.psguid, &g, sizeof g);
            if (k == WR_OOP_DATA) {
                assert_int_equal(p.stream, st);
                assert_int_equal(p.b64_len, 12);
                assert_memory_equal(p.b64, "ZnJhZ21lbnRz", 12);
            } else {
                assert_int_equal(p.b64_len, 0);
            }
            /* With "\r" still on it, as a CRLF line would come. */
            line[len] = '\r';
            assert_int_equal(wr_oop_parse(&p, line, len + 1), 0);
            assert_int_equal(p.kind, k);
            free(line);
        }
    }

    /* Well-formed variants PowerShell's XmlReader takes as well. */
    static const char *const ok[] = {
        "<DataAck PSGuid=\"" PIPE_UPPER "\"/>",
        "<DataAck  PSGuid='" ZERO "'></DataAck>",
        "<Data PSGuid='" ZERO "' Stream='Default'>AAAA</Data>  ",
        "<Data Stream='Default' PSGuid='" ZERO "' />",
        "<Data Stream='Default' PSGuid='" ZERO "'></Data>",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (wr_oop_parse(&p, ok[i], strlen(ok[i])) != 0)
            fail_msg("rejected %s: %s", ok[i], winrsh_error_last()->message);
    }
    assert_int_equal(wr_oop_parse(&p, ok[4], strlen(ok[4])), 0);
    assert_non_null(p.b64);
    assert_int_equal(p.b64_len, 0);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"<Foo PSGuid='" ZERO "' />", "unknown packet <Foo>"},
        {"<dataack PSGuid='" ZERO "' />", "unknown packet <dataack>"},
        {"<DataAckX PSGuid='" ZERO "' />", "unknown packet"},
        {"<DataAck />", "no PSGuid"},
        {"<DataAck PSGuid='" ZERO "' PSGuid='" ZERO "' />", "PSGuid twice"},
        {"<DataAck PSGuid='not-a-guid' />", "a bad PSGuid"},
        {"<DataAck PSGuid='uuid:" ZERO "' />", "a bad PSGuid"},
        {"<DataAck PSGuid='0000000g-0000-0000-0000-000000000000' />", "a bad PSGuid"},
        {"<DataAck PSGuid=" ZERO " />", "an unquoted attribute"},
        {"<DataAck PSGuid='" ZERO "\" />", "an unterminated attribute"},
        {"<DataAck PSGuid='" ZERO "'/", "a malformed element end"},
        {"<DataAck PSGuid='" ZERO "'", "unterminated element"},
        {"<DataAck PSGuid='" ZERO "' Stream='Default' />", "an unknown attribute"},
        {"<DataAck Foo='x' PSGuid='" ZERO "' />", "an unknown attribute"},
        {"<DataAck PSGuid='" ZERO "'PSGuid='x' />", "no space before an attribute"},
        {"<DataAck PSGuid='&amp;' />", "markup in an attribute"},
        {"<DataAck PSGuid='" ZERO "'>AAAA</DataAck>", "content in"},
        {"<Data PSGuid='" ZERO "'>AAAA</Data>", "without Stream"},
        {"<Data Stream='Default' Stream='Default' PSGuid='" ZERO "'>AAAA</Data>", "Stream twice"},
        {"<Data Stream='Priority' PSGuid='" ZERO "'>AAAA</Data>", "an unknown Stream"},
        {"<Data Stream='Default' PSGuid='" ZERO "'>AA AA</Data>", "non-base64 data"},
        {"<Data Stream='Default' PSGuid='" ZERO "'>AAAA</Dat>", "end tag"},
        {"<Data Stream='Default' PSGuid='" ZERO "'>AAAA</DataAck>", "end tag"},
        {"<Data Stream='Default' PSGuid='" ZERO "'>AAAA", "end tag"},
        {"<Data Stream='Default' PSGuid='" ZERO "'>AAAA</Data><DataAck PSGuid='" ZERO "' />",
         "text after the element"},
        {"<DataAck PSGuid='" ZERO "' /> x", "text after the element"},
        {"<?xml version='1.0'?>", "unknown packet"},
        {"<", "unknown packet"},
        {"", "an empty line"},
        {"\r", "an empty line"},
        /* Errors the server prints instead of packets. */
        {"__HyperVSocketError__: The credential is invalid.",
         "PowerShell Direct server error: The credential is invalid."},
        {"__NamedPipeError__:Pipe broken", "PowerShell server error: Pipe broken"},
        {"An unknown element \"\" was received. This can happen if the remote process closed "
         "or ended abnormally.",
         "the server sent text instead of a packet: An unknown element"},
        {"Subsystem request failed\x1b[31m", "instead of a packet: Subsystem request failed?[31m"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wr_oop_packet p;
        int rc = wr_oop_parse(&p, bad[i].line, strlen(bad[i].line));
        if (rc != WINRSH_EPROTO)
            fail_msg("accepted %s", bad[i].line);
        assert_int_equal(winrsh_error_last()->klass, WINRSH_ERRCLASS_PSRP);
        if (!msg_has(bad[i].why))
            fail_msg("line %zu: %s", i, bad[i].line);
    }
}

static void test_reader(void **state)
{
    (void)state;
    /* Lines ending in "\n" or "\r\n", fed one byte at a time. */
    const char *in = "<DataAck PSGuid='" ZERO "' />\r\n<CloseAck PSGuid='" PIPE_LOWER
                     "' />\n\n<Data Stream='Default' PSGuid='" ZERO "'>AAAA</Data>\r\n";
    wr_oop_reader r;
    wr_oop_reader_init(&r, 0);
    char *lines[4] = {0};
    int n = 0;
    for (size_t i = 0; in[i]; i++) {
        assert_int_equal(wr_oop_reader_feed(&r, in + i, 1), 0);
        const char *l;
        size_t len;
        int got;
        while ((got = wr_oop_reader_next(&r, &l, &len)) == 1) {
            assert_true(n < 4);
            lines[n++] = strndup(l, len);
        }
        assert_int_equal(got, 0);
    }
    assert_int_equal(n, 4);
    assert_string_equal(lines[0], "<DataAck PSGuid='" ZERO "' />");
    assert_string_equal(lines[1], "<CloseAck PSGuid='" PIPE_LOWER "' />");
    assert_string_equal(lines[2], "");
    assert_string_equal(lines[3], "<Data Stream='Default' PSGuid='" ZERO "'>AAAA</Data>");
    for (int i = 0; i < n; i++)
        free(lines[i]);
    wr_oop_reader_free(&r);

    /* Bounded lines: 16 bytes is the limit here. */
    const char *l;
    size_t len;
    wr_oop_reader_init(&r, 16);
    assert_int_equal(wr_oop_reader_feed(&r, "0123456789abcdef\n0123456789abcdef\r\n", 35), 0);
    assert_int_equal(wr_oop_reader_next(&r, &l, &len), 1);
    assert_int_equal(len, 16);
    assert_int_equal(wr_oop_reader_next(&r, &l, &len), 1);
    assert_int_equal(len, 16);
    assert_int_equal(wr_oop_reader_next(&r, &l, &len), 0);
    /* 17 bytes in a terminated line. */
    assert_int_equal(wr_oop_reader_feed(&r, "0123456789abcdefg\n", 18), 0);
    assert_int_equal(wr_oop_reader_next(&r, &l, &len), WINRSH_EPROTO);
    assert_true(msg_has("longer than 16 bytes"));
    wr_oop_reader_free(&r);
    /* No newline yet but already too long: refused before it ends. */
    wr_oop_reader_init(&r, 16);
    assert_int_equal(wr_oop_reader_feed(&r, "0123456789abcdef\r", 17), 0);
    assert_int_equal(wr_oop_reader_next(&r, &l, &len), 0);
    assert_int_equal(wr_oop_reader_feed(&r, "x", 1), 0);
    assert_int_equal(wr_oop_reader_next(&r, &l, &len), WINRSH_EPROTO);
    wr_oop_reader_free(&r);

    /* Many lines: the buffer is compacted as lines are consumed. */
    wr_oop_reader_init(&r, 0);
    char line[64];
    for (int i = 0; i < 20000; i++) {
        int k = snprintf(line, sizeof line, "line %d\n", i);
        assert_int_equal(wr_oop_reader_feed(&r, line, (size_t)k), 0);
        assert_int_equal(wr_oop_reader_next(&r, &l, &len), 1);
        assert_int_equal(len, (size_t)k - 1);
        assert_memory_equal(l, line, len);
    }
    assert_true(r.buf.cap < 200000);
    wr_oop_reader_free(&r);
}

/* ---- a scripted fake server ------------------------------------------------- */

typedef enum { EXPECT, SEND, QUIET, PAUSE, HANGUP, DRAIN } op;

typedef struct step {
    op op;
    char *text; /* EXPECT: the line (no "\n"); SEND: the bytes */
    int ms;     /* QUIET, PAUSE */
} step;

typedef struct fake {
    int fd;
    step steps[64];
    int n;
    char err[512];
    pthread_t thr;
    wr_buf in;
} fake;

static void add(fake *f, op o, const char *text, int ms)
{
    assert_true(f->n < 64);
    f->steps[f->n].op = o;
    f->steps[f->n].text = text ? strdup(text) : NULL;
    f->steps[f->n].ms = ms;
    f->n++;
}

/* Steps built from packets. */
static void add_pkt(fake *f, op o, wr_oop_kind kind, const wr_guid *g, const char *data)
{
    char *line = fmt(kind, g, WR_OOP_STREAM_DEFAULT, data, data ? strlen(data) : 0);
    if (o == EXPECT)
        line[strlen(line) - 1] = 0;
    add(f, o, line, 0);
    free(line);
}

static int fake_readline(fake *f, char **line, int timeout_ms)
{
    for (;;) {
        unsigned char *nl = f->in.len ? memchr(f->in.data, '\n', f->in.len) : NULL;
        if (nl) {
            size_t l = (size_t)(nl - f->in.data);
            *line = strndup((const char *)f->in.data, l);
            wr_buf_consume(&f->in, l + 1);
            return 1;
        }
        struct pollfd pf = {f->fd, POLLIN, 0};
        if (poll(&pf, 1, timeout_ms) <= 0)
            return 0;
        char buf[4096];
        ssize_t n = read(f->fd, buf, sizeof buf);
        if (n <= 0)
            return -1;
        wr_buf_append(&f->in, buf, (size_t)n);
    }
}

static void *fake_run(void *arg)
{
    fake *f = arg;
    for (int i = 0; i < f->n && !f->err[0]; i++) {
        step *s = &f->steps[i];
        char *line = NULL;
        switch (s->op) {
        case EXPECT: {
            int r = fake_readline(f, &line, 5000);
            if (r != 1)
                snprintf(f->err, sizeof f->err, "step %d: no line (%d), wanted %s", i, r, s->text);
            else if (strcmp(line, s->text) != 0)
                snprintf(f->err, sizeof f->err, "step %d: got %s, wanted %s", i, line, s->text);
            free(line);
            break;
        }
        case SEND: {
            size_t len = strlen(s->text);
            if (write(f->fd, s->text, len) != (ssize_t)len)
                snprintf(f->err, sizeof f->err, "step %d: write failed", i);
            break;
        }
        case QUIET: {
            /* The client must not send anything now (it waits for an ack). */
            if (f->in.len) {
                snprintf(f->err, sizeof f->err, "step %d: client sent early", i);
                break;
            }
            struct pollfd pf = {f->fd, POLLIN, 0};
            if (poll(&pf, 1, s->ms) != 0)
                snprintf(f->err, sizeof f->err, "step %d: client sent before the ack", i);
            break;
        }
        case PAUSE: {
            struct timespec ts = {s->ms / 1000, (s->ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            break;
        }
        case DRAIN: {
            /* Read lines until EOF (what the client sends after a hang-up). */
            while (fake_readline(f, &line, 5000) == 1)
                free(line);
            break;
        }
        case HANGUP:
            shutdown(f->fd, SHUT_RDWR);
            break;
        }
    }
    return NULL;
}

/* Start the fake on one end of a socketpair; the other end is a stream. */
static wr_oop_conn *fake_start(fake *f)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->fd = sv[1];
    memset(&f->in, 0, sizeof f->in);
    wr_stream *s = NULL;
    assert_int_equal(wr_stream_fd_adopt(&s, sv[0], sv[0]), 0);
    wr_oop_conn *c = NULL;
    assert_int_equal(wr_oop_conn_wrap(&c, s, NULL, 3000), 0);
    assert_int_equal(pthread_create(&f->thr, NULL, fake_run, f), 0);
    return c;
}

static void fake_finish(fake *f)
{
    pthread_join(f->thr, NULL);
    close(f->fd);
    wr_buf_free(&f->in);
    for (int i = 0; i < f->n; i++)
        free(f->steps[i].text);
    if (f->err[0])
        fail_msg("fake server: %s", f->err);
}

typedef struct recv_log {
    int n;
    int pool[16];
    wr_guid pid[16];
    char *data[16];
    int stop_after;
} recv_log;

static int collect(const wr_guid *psguid, wr_oop_stream stream, const unsigned char *data,
                   size_t len, void *payload)
{
    (void)stream;
    recv_log *g = payload;
    assert_true(g->n < 16);
    g->pool[g->n] = psguid == NULL;
    if (psguid)
        g->pid[g->n] = *psguid;
    g->data[g->n] = strndup((const char *)data, len);
    g->n++;
    return g->stop_after && g->n >= g->stop_after ? WINRSH_EUSER : 0;
}

static void got_free(recv_log *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
    memset(g, 0, sizeof *g);
}

static long long now_ms(void)
{
    return wr_stream_now_ms();
}

/* One Data at a time, each waiting for its ack; server Data that comes
 * during the wait is queued and delivered by the next receive. */
static void test_data_waits_for_ack(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof f);
    wr_guid p = pipe_guid();
    add_pkt(&f, EXPECT, WR_OOP_DATA, NULL, "capability");
    add(&f, QUIET, NULL, 300);
    add_pkt(&f, SEND, WR_OOP_DATA, NULL, "server-1");
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, &p, NULL); /* not ours: ignored */
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, NULL, NULL);
    add_pkt(&f, EXPECT, WR_OOP_DATA, NULL, "init");
    add_pkt(&f, SEND, WR_OOP_DATA, &p, "server-2");
    add(&f, SEND, "<DataAck PSGuid='" ZERO "' />\r\n", 0);
    add_pkt(&f, SEND, WR_OOP_DATA, NULL, "server-3");
    wr_oop_conn *c = fake_start(&f);

    long long t0 = now_ms();
    assert_int_equal(wr_oop_send_data(c, NULL, WR_OOP_STREAM_DEFAULT, "capability", 10), 0);
    assert_true(now_ms() - t0 >= 250);
    assert_int_equal(wr_oop_send_data(c, NULL, WR_OOP_STREAM_DEFAULT, "init", 4), 0);

    recv_log g;
    memset(&g, 0, sizeof g);
    int to = 0;
    while (g.n < 3) {
        assert_int_equal(wr_oop_receive(c, 2000, collect, &g, &to), 0);
        assert_false(to);
    }
    assert_true(g.pool[0]);
    assert_string_equal(g.data[0], "server-1");
    assert_false(g.pool[1]);
    assert_memory_equal(&g.pid[1], &p, sizeof p);
    assert_string_equal(g.data[1], "server-2");
    assert_true(g.pool[2]);
    assert_string_equal(g.data[2], "server-3");
    got_free(&g);

    /* Nothing more: a bounded wait that says it timed out. */
    t0 = now_ms();
    assert_int_equal(wr_oop_receive(c, 150, collect, &g, &to), 0);
    assert_true(to);
    assert_int_equal(g.n, 0);
    assert_true(now_ms() - t0 >= 140);
    assert_true(now_ms() - t0 < 2000);
    fake_finish(&f);
    wr_oop_conn_free(c);
}

/* The whole pipeline life cycle through the binding. */
static void test_binding_sequence(void **state)
{
    (void)state;
    wr_guid p = pipe_guid();
    wr_buf frags = WR_BUF_INIT, one = WR_BUF_INIT, two = WR_BUF_INIT;
    assert_int_equal(wr_psrp_fragment_write(&one, 1, 0, WR_PSRP_FRAGMENT_START, "ab", 2), 0);
    assert_int_equal(wr_psrp_fragment_write(&two, 1, 1, WR_PSRP_FRAGMENT_END, "cd", 2), 0);
    wr_buf_append(&frags, one.data, one.len);
    wr_buf_append(&frags, two.data, two.len);
    char *d1 = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_DEFAULT, one.data, one.len);
    char *d2 = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_DEFAULT, two.data, two.len);
    char *d3 = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_PROMPT_RESPONSE, one.data, one.len);
    char *d4 = fmt(WR_OOP_DATA, NULL, WR_OOP_STREAM_DEFAULT, one.data, one.len);
    d1[strlen(d1) - 1] = d2[strlen(d2) - 1] = d3[strlen(d3) - 1] = d4[strlen(d4) - 1] = 0;

    fake f;
    memset(&f, 0, sizeof f);
    /* open_pool: one fragment per Data packet, each acked. */
    add(&f, EXPECT, d4, 0);
    add(&f, QUIET, NULL, 100);
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, NULL, NULL);
    add(&f, EXPECT, d4, 0);
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, NULL, NULL);
    /* create_pipeline: Command -> CommandAck, then the fragments. */
    add_pkt(&f, EXPECT, WR_OOP_COMMAND, &p, NULL);
    add(&f, QUIET, NULL, 100);
    add_pkt(&f, SEND, WR_OOP_COMMAND_ACK, &p, NULL);
    add(&f, EXPECT, d1, 0);
    add(&f, QUIET, NULL, 100);
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, &p, NULL);
    add(&f, EXPECT, d2, 0);
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, &p, NULL);
    /* send on PromptResponse */
    add(&f, EXPECT, d3, 0);
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, &p, NULL);
    /* stop, close the pipeline, close the pool */
    add_pkt(&f, EXPECT, WR_OOP_SIGNAL, &p, NULL);
    add_pkt(&f, SEND, WR_OOP_DATA, &p, "stopping");
    add_pkt(&f, SEND, WR_OOP_SIGNAL_ACK, &p, NULL);
    add_pkt(&f, EXPECT, WR_OOP_CLOSE, &p, NULL);
    add_pkt(&f, SEND, WR_OOP_CLOSE_ACK, &p, NULL);
    add_pkt(&f, EXPECT, WR_OOP_CLOSE, NULL, NULL);
    add_pkt(&f, SEND, WR_OOP_CLOSE_ACK, NULL, NULL);
    wr_oop_conn *c = fake_start(&f);
    wr_psrp_binding *b = NULL;
    assert_int_equal(wr_psrp_binding_outofproc_wrap(&b, c), 0);
    assert_string_equal(b->ops->name, "outofproc");
    assert_int_equal(b->ops->max_blob(b), 32768 - 21);

    wr_buf pool = WR_BUF_INIT;
    wr_buf_append(&pool, one.data, one.len);
    wr_buf_append(&pool, one.data, one.len);
    wr_guid rpid = p;
    assert_int_equal(b->ops->open_pool(b, &rpid, pool.data, pool.len), 0);
    assert_int_equal(b->ops->create_pipeline(b, &p, frags.data, frags.len), 0);
    assert_int_equal(b->ops->send(b, &p, one.data, one.len, 1), 0);
    assert_int_equal(b->ops->stop(b, &p), 0);
    assert_int_equal(b->ops->close_pipeline(b, &p), 0);
    assert_int_equal(b->ops->close_pool(b), 0);
    /* A partial fragment is the engine's bug, caught before anything goes. */
    assert_int_equal(b->ops->send(b, &p, frags.data, frags.len - 1, 0), WINRSH_EINVAL);
    assert_int_equal(b->ops->stop(b, NULL), WINRSH_EINVAL);
    fake_finish(&f);
    b->ops->free(b);
    wr_buf_free(&pool);
    wr_buf_free(&frags);
    wr_buf_free(&one);
    wr_buf_free(&two);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
}

typedef struct bgot {
    int n;
    int pool;
    size_t len;
} bgot;

static int bcollect(const wr_guid *pid, const unsigned char *frags, size_t len, void *payload)
{
    (void)frags;
    bgot *g = payload;
    g->n++;
    g->pool = pid == NULL;
    g->len = len;
    return 0;
}

static void test_binding_receive(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof f);
    add(&f, PAUSE, NULL, 300);
    add_pkt(&f, SEND, WR_OOP_DATA, NULL, "abc");
    add(&f, PAUSE, NULL, 500);
    wr_oop_conn *c = fake_start(&f);
    wr_psrp_binding *b = NULL;
    assert_int_equal(wr_psrp_binding_outofproc_wrap(&b, c), 0);
    bgot g = {0, 0, 0};
    int to = 1;
    /* Timeout 0 is the default wait (as over WS-Man), not a poll. */
    long long t0 = now_ms();
    assert_int_equal(b->ops->receive(b, NULL, 0, bcollect, &g, &to), 0);
    assert_false(to);
    assert_true(now_ms() - t0 >= 250);
    assert_int_equal(g.n, 1);
    assert_true(g.pool);
    assert_int_equal(g.len, 3);
    /* interrupt (as from a signal handler) abandons a blocking receive */
    b->ops->interrupt(b);
    t0 = now_ms();
    assert_int_equal(b->ops->receive(b, NULL, 5000, bcollect, &g, &to), WINRSH_EINTR);
    assert_true(now_ms() - t0 < 1000);
    fake_finish(&f);
    b->ops->free(b);
}

/* Timeouts, hang-ups, and packets a server must not send. */
static void test_failures(void **state)
{
    (void)state;
    wr_guid p = pipe_guid();
    fake f;

    /* No ack: ETIMEOUT within the bound; the connection stays usable. */
    memset(&f, 0, sizeof f);
    add_pkt(&f, EXPECT, WR_OOP_COMMAND, &p, NULL);
    add_pkt(&f, EXPECT, WR_OOP_SIGNAL, &p, NULL);
    add_pkt(&f, EXPECT, WR_OOP_CLOSE, &p, NULL);
    add_pkt(&f, SEND, WR_OOP_COMMAND_ACK, &p, NULL); /* late: ignored */
    add_pkt(&f, SEND, WR_OOP_SIGNAL_ACK, &p, NULL);  /* late: ignored */
    add_pkt(&f, SEND, WR_OOP_CLOSE_ACK, &p, NULL);
    wr_oop_conn *c = fake_start(&f);
    wr_oop_set_timeouts(c, 200, 300);
    long long t0 = now_ms();
    assert_int_equal(wr_oop_command(c, &p), WINRSH_ETIMEOUT);
    assert_true(msg_has("no CommandAck(" PIPE_LOWER ") from the server within 200 ms"));
    long long t1 = now_ms();
    assert_true(t1 - t0 >= 190 && t1 - t0 < 1500);
    assert_int_equal(wr_oop_signal(c, &p), WINRSH_ETIMEOUT);
    assert_true(msg_has("no SignalAck"));
    assert_true(now_ms() - t1 >= 290);
    wr_oop_set_timeouts(c, 3000, 0);
    assert_int_equal(wr_oop_close(c, &p), 0);
    fake_finish(&f);
    wr_oop_conn_free(c);

    /* The server hangs up during a wait: ECLOSED, then again on every call;
     * Data it sent before that is still delivered. */
    memset(&f, 0, sizeof f);
    add_pkt(&f, EXPECT, WR_OOP_CLOSE, NULL, NULL);
    add_pkt(&f, SEND, WR_OOP_DATA, NULL, "last words");
    add(&f, HANGUP, NULL, 0);
    c = fake_start(&f);
    assert_int_equal(wr_oop_close(c, NULL), WINRSH_ECLOSED);
    assert_true(msg_has("closed by the peer"));
    recv_log g;
    memset(&g, 0, sizeof g);
    int to = 0;
    assert_int_equal(wr_oop_receive(c, 1000, collect, &g, &to), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.data[0], "last words");
    got_free(&g);
    assert_int_equal(wr_oop_receive(c, 1000, collect, &g, &to), WINRSH_ECLOSED);
    assert_int_equal(wr_oop_send_data(c, NULL, WR_OOP_STREAM_DEFAULT, "x", 1), WINRSH_ECLOSED);
    assert_true(msg_has("closed by the peer"));
    fake_finish(&f);
    wr_oop_conn_free(c);

    /* A packet only clients send; an error line; a bad payload. */
    static const char *const evil[][2] = {
        {"<Signal PSGuid='" ZERO "' />\n", "the server sent Signal(" ZERO ")"},
        {"__NamedPipeError__: the pipe is gone\n", "PowerShell server error: the pipe is gone"},
        {"<Data Stream='Default' PSGuid='" ZERO "'>A===</Data>\n", "bad base64"},
        {"<Bogus PSGuid='" ZERO "' />\n", "unknown packet <Bogus>"},
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        for (int in_receive = 0; in_receive < 2; in_receive++) {
            memset(&f, 0, sizeof f);
            if (!in_receive)
                add_pkt(&f, EXPECT, WR_OOP_COMMAND, &p, NULL);
            add(&f, SEND, evil[i][0], 0);
            add(&f, PAUSE, NULL, 100);
            c = fake_start(&f);
            if (in_receive)
                assert_int_equal(wr_oop_receive(c, 2000, collect, &g, &to), WINRSH_EPROTO);
            else
                assert_int_equal(wr_oop_command(c, &p), WINRSH_EPROTO);
            assert_true(msg_has(evil[i][1]));
            /* Fatal: later calls say the same. */
            assert_int_equal(wr_oop_close(c, NULL), WINRSH_EPROTO);
            assert_true(msg_has(evil[i][1]));
            fake_finish(&f);
            wr_oop_conn_free(c);
            got_free(&g);
        }
    }

    /* Data in the same read as the ack: the ack completes the wait, the
     * Data waits for receive; a callback may stop delivery early. */
    memset(&f, 0, sizeof f);
    add_pkt(&f, EXPECT, WR_OOP_DATA, &p, "in");
    char *both = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_DEFAULT, "one", 3);
    char *two = fmt(WR_OOP_DATA_ACK, &p, WR_OOP_STREAM_DEFAULT, NULL, 0);
    char *three = fmt(WR_OOP_DATA, &p, WR_OOP_STREAM_DEFAULT, "two", 3);
    wr_buf all = WR_BUF_INIT;
    wr_buf_puts(&all, both);
    wr_buf_puts(&all, two);
    wr_buf_puts(&all, three);
    add(&f, SEND, (const char *)all.data, 0);
    add(&f, PAUSE, NULL, 200);
    c = fake_start(&f);
    assert_int_equal(wr_oop_send_data(c, &p, WR_OOP_STREAM_DEFAULT, "in", 2), 0);
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    assert_int_equal(wr_oop_receive(c, 1000, collect, &g, &to), WINRSH_EUSER);
    assert_int_equal(g.n, 1);
    g.stop_after = 0;
    assert_int_equal(wr_oop_receive(c, 1000, collect, &g, &to), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.data[0], "one");
    assert_string_equal(g.data[1], "two");
    got_free(&g);
    fake_finish(&f);
    wr_oop_conn_free(c);
    wr_buf_free(&all);
    free(both);
    free(two);
    free(three);
}

static int count_60000(const wr_guid *psguid, wr_oop_stream stream, const unsigned char *data,
                       size_t len, void *payload)
{
    (void)psguid;
    (void)stream;
    (void)data;
    assert_int_equal(len, 60000);
    ++*(int *)payload;
    return 0;
}

/* The server writes a lot before it reads anything (pwsh acks under the
 * lock its pipeline output takes): a client that only waited for room to
 * write would deadlock with it. We read while we write. */
static void test_write_while_server_writes(void **state)
{
    (void)state;
    enum { BIG = 1 << 20, FLOOD = 24 };
    char *payload = malloc(BIG);
    assert_non_null(payload);
    memset(payload, 'q', BIG);
    payload[BIG - 1] = 0;
    wr_buf flood = WR_BUF_INIT;
    char *one = fmt(WR_OOP_DATA, NULL, WR_OOP_STREAM_DEFAULT, payload, 60000);
    for (int i = 0; i < FLOOD; i++) /* ~1.9 MB of server Data, more than socket buffers */
        wr_buf_puts(&flood, one);
    char *mine = fmt(WR_OOP_DATA, NULL, WR_OOP_STREAM_DEFAULT, payload, BIG - 1);
    mine[strlen(mine) - 1] = 0;

    fake f;
    memset(&f, 0, sizeof f);
    add(&f, SEND, (const char *)flood.data, 0);
    add(&f, EXPECT, mine, 0);
    add_pkt(&f, SEND, WR_OOP_DATA_ACK, NULL, NULL);
    wr_oop_conn *c = fake_start(&f);
    wr_oop_set_timeouts(c, 30000, 0); /* slow under valgrind */
    assert_int_equal(wr_oop_send_data(c, NULL, WR_OOP_STREAM_DEFAULT, payload, BIG - 1), 0);
    int n = 0, to = 0;
    while (n < FLOOD) {
        assert_int_equal(wr_oop_receive(c, 2000, count_60000, &n, &to), 0);
        assert_false(to);
    }
    assert_int_equal(n, FLOOD);
    fake_finish(&f);
    wr_oop_conn_free(c);
    wr_buf_free(&flood);
    free(one);
    free(mine);
    free(payload);
}

/* ---- stream back-ends -------------------------------------------------------- */

static char g_tmp[64];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/winrsh-oop-XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static char *script(const char *name, const char *body)
{
    char *path = malloc(PATH_MAX);
    snprintf(path, PATH_MAX, "%s/%s", g_tmp, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
    return path;
}

static wr_stream *start(const char *path)
{
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "process://%s", path);
    wr_stream *s = NULL;
    wr_stream_options o = {5000, NULL};
    if (wr_stream_process.open(&s, target, &o) != 0)
        fail_msg("open %s: %s", target, winrsh_error_last()->message);
    return s;
}

/* Read until EOF (or 5 s); returns the rc of the last read. */
static int read_all(wr_stream *s, wr_buf *out)
{
    long long deadline = now_ms() + 5000;
    for (;;) {
        struct pollfd pf = {s->type->fd(s, 0), POLLIN, 0};
        int left = wr_stream_ms_left(deadline);
        if (left == 0)
            return WINRSH_ETIMEOUT;
        poll(&pf, 1, left);
        char buf[4096];
        size_t got = 0;
        int rc = s->type->read(s, buf, sizeof buf, &got);
        if (rc)
            return rc;
        wr_buf_append(out, buf, got);
    }
}

static void test_process_stream(void **state)
{
    (void)state;
    /* The child's arguments, a round trip through its stdin/stdout, its own
     * process group, and EOF with its exit status and stderr in the message. */
    char *p = script("echo.sh", "echo \"args: $*\"\n"
                                "echo \"pgrp-leader: $(ps -o pgid= -p $$ | tr -d ' ') $$\"\n"
                                "read line; echo \"got: $line\"\n"
                                "echo 'Something went wrong' >&2; exit 3");
    wr_stream *s = start(p);
    assert_int_equal(wr_stream_write_all(s, "hello\n", 6, 1000), 0);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_true(msg_has("exited with status 3; its stderr says: Something went wrong"));
    assert_true(msg_has(p));
    assert_non_null(strstr(wr_buf_cstr(&out), "args: -s -NoLogo -NoProfile\n"));
    assert_non_null(strstr(wr_buf_cstr(&out), "got: hello\n"));
    int pgid = 0, pid = 0;
    const char *pl = strstr(wr_buf_cstr(&out), "pgrp-leader: ");
    assert_non_null(pl);
    assert_int_equal(sscanf(pl, "pgrp-leader: %d %d", &pgid, &pid), 2);
    assert_int_equal(pgid, pid);
    assert_int_not_equal(pgid, getpgrp());
    /* Again: the same message. */
    size_t got;
    char c;
    assert_int_equal(s->type->read(s, &c, 1, &got), WINRSH_ECLOSED);
    assert_true(msg_has("exited with status 3"));
    /* Writing to a dead child: ECLOSED, not SIGPIPE. */
    static char big[1 << 20];
    assert_int_equal(wr_stream_write_all(s, big, sizeof big, 1000), WINRSH_ECLOSED);
    assert_true(msg_has("exited with status 3"));
    s->type->close(s);
    wr_buf_free(&out);
    free(p);

    /* Nothing on stderr. */
    p = script("quiet.sh", "exit 0");
    s = start(p);
    wr_buf_clear(&out);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_true(msg_has("exited with status 0 (nothing on its stderr)"));
    s->type->close(s);
    free(p);

    /* Lots of stderr never blocks the child; the tail is what we show. */
    p = script("noisy.sh", "i=0; while [ $i -lt 3000 ]; do echo \"noise line $i\" >&2; "
                           "i=$((i+1)); done; echo 'the real reason' >&2; kill -9 $$");
    s = start(p);
    wr_buf_clear(&out);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_true(msg_has("was killed by signal 9; its stderr says: "));
    assert_true(msg_has("noise line 2999 the real reason"));
    s->type->close(s);
    free(p);
    wr_buf_free(&out);
}

static void test_process_close(void **state)
{
    (void)state;
    /* A child that exits on EOF of stdin: close is quick and reaps it. */
    char *p = script("cat.sh", "echo $$; exec cat >/dev/null");
    wr_stream *s = start(p);
    char buf[64] = {0};
    size_t got = 0;
    struct pollfd pf = {s->type->fd(s, 0), POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(s->type->read(s, buf, sizeof buf - 1, &got), 0);
    pid_t pid = (pid_t)atoi(buf);
    assert_true(pid > 0);
    long long t0 = now_ms();
    s->type->close(s);
    assert_true(now_ms() - t0 < 1500);
    assert_int_equal(kill(pid, 0), -1); /* reaped: not even a zombie */
    assert_int_equal(errno, ESRCH);
    free(p);

    /* A child that ignores EOF and SIGTERM: SIGKILL after the grace periods
     * (2 s + 2 s), for it and its process group. */
    p = script("stubborn.sh", "trap '' TERM; echo $$; while :; do sleep 1; done");
    s = start(p);
    memset(buf, 0, sizeof buf);
    pf.fd = s->type->fd(s, 0);
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(s->type->read(s, buf, sizeof buf - 1, &got), 0);
    pid = (pid_t)atoi(buf);
    assert_true(pid > 0);
    t0 = now_ms();
    s->type->close(s);
    long long took = now_ms() - t0;
    assert_true(took >= 3500 && took < 7000);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    free(p);
}

static void test_process_env(void **state)
{
    (void)state;
    /* DOTNET_ROOT: given to the child when unset and `dotnet` on PATH is
     * a real .NET install (has host/fxr); left alone otherwise. */
    char dir[128], sub[192], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/dotnet-install", g_tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(sub, sizeof sub, "%s/host", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/host/fxr", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/dotnet", dir);
    FILE *f = fopen(sub, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
    chmod(sub, 0755);
    assert_non_null(realpath(dir, real));

    char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char *old_root = getenv("DOTNET_ROOT") ? strdup(getenv("DOTNET_ROOT")) : NULL;
    char newpath[2 * PATH_MAX];
    snprintf(newpath, sizeof newpath, "%s:%s", dir, old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", newpath, 1);
    unsetenv("DOTNET_ROOT");

    char *p = script("env.sh", "echo \"root=[$DOTNET_ROOT] home=[$HOME]\"");
    wr_buf out = WR_BUF_INIT, want = WR_BUF_INIT;
    wr_stream *s = start(p);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    s->type->close(s);
    wr_buf_printf(&want, "root=[%s] home=[%s]\n", real, getenv("HOME") ? getenv("HOME") : "");
    assert_string_equal(wr_buf_cstr(&out), wr_buf_cstr(&want));

    setenv("DOTNET_ROOT", "/opt/elsewhere", 1);
    wr_buf_clear(&out);
    s = start(p);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    s->type->close(s);
    assert_non_null(strstr(wr_buf_cstr(&out), "root=[/opt/elsewhere]"));

    /* A PATH search for the program itself: process://name. */
    unsetenv("DOTNET_ROOT");
    snprintf(newpath, sizeof newpath, "%s:%s", g_tmp, old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", newpath, 1);
    wr_stream_options o = {5000, NULL};
    assert_int_equal(wr_stream_process.open(&s, "process://env.sh", &o), 0);
    wr_buf_clear(&out);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    s->type->close(s);
    assert_non_null(strstr(wr_buf_cstr(&out), "root=["));

    if (old_path)
        setenv("PATH", old_path, 1);
    if (old_root)
        setenv("DOTNET_ROOT", old_root, 1);
    else
        unsetenv("DOTNET_ROOT");
    free(old_path);
    free(old_root);
    free(p);
    wr_buf_free(&out);
    wr_buf_free(&want);
}

static void test_bad_targets(void **state)
{
    (void)state;
    wr_oop_conn *c = (wr_oop_conn *)1;
    assert_int_equal(wr_oop_conn_open(&c, "telnet://host", NULL, 1000), WINRSH_EINVAL);
    assert_null(c);
    assert_int_equal(wr_oop_conn_open(&c, "processx:///bin/sh", NULL, 1000), WINRSH_EINVAL);
    assert_int_equal(wr_oop_conn_open(&c, "process://", NULL, 1000), WINRSH_EINVAL);
    assert_int_equal(wr_oop_conn_open(&c, "process:///nonexistent/pwsh", NULL, 1000),
                     WINRSH_ECONNECT);
    assert_true(msg_has("cannot run /nonexistent/pwsh: No such file or directory"));
    assert_int_equal(wr_oop_conn_open(&c, "process://no-such-pwsh-anywhere", NULL, 1000),
                     WINRSH_ECONNECT);
    assert_true(msg_has("not found on PATH"));
    assert_int_equal(wr_oop_conn_open(&c, "process:///etc", NULL, 1000), WINRSH_ECONNECT);
    assert_int_equal(wr_oop_conn_open(&c, "unix://relative/sock", NULL, 1000), WINRSH_EINVAL);
    char longp[300];
    memset(longp, 'a', sizeof longp);
    memcpy(longp, "unix:///", 8);
    longp[sizeof longp - 1] = 0;
    assert_int_equal(wr_oop_conn_open(&c, longp, NULL, 1000), WINRSH_EINVAL);
    assert_int_equal(wr_oop_conn_open(&c, "unix:///nonexistent/sock", NULL, 1000), WINRSH_ECONNECT);
    wr_psrp_binding *b = (wr_psrp_binding *)1;
    assert_int_equal(wr_psrp_binding_outofproc_open(&b, "http://host", NULL, 1000), WINRSH_EINVAL);
    assert_null(b);
    wr_stream *s = (wr_stream *)1;
    assert_int_equal(wr_stream_fd_adopt(&s, -1, -1), WINRSH_EINVAL);
    assert_null(s);
}

static void test_unix_stream(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/server.sock", g_tmp);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 1), 0);

    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "unix://%s", path);
    wr_oop_conn *c = NULL;
    assert_int_equal(wr_oop_conn_open(&c, target, NULL, 2000), 0);
    int peer = accept(ls, NULL, NULL);
    assert_true(peer >= 0);
    const char *ack = "<CommandAck PSGuid='" PIPE_LOWER "' />\n";
    assert_int_equal(write(peer, ack, strlen(ack)), (ssize_t)strlen(ack));
    wr_guid p = pipe_guid();
    assert_int_equal(wr_oop_command(c, &p), 0);
    char buf[256] = {0};
    const char *want = "<Command PSGuid='" PIPE_LOWER "' />\n";
    assert_int_equal(read(peer, buf, sizeof buf - 1), (ssize_t)strlen(want));
    assert_string_equal(buf, want);
    /* The peer goes away while we write: ECLOSED, never SIGPIPE. */
    close(peer);
    static char big[1 << 20];
    int rc = wr_oop_send_data(c, &p, WR_OOP_STREAM_DEFAULT, big, sizeof big);
    assert_true(rc == WINRSH_ECLOSED);
    wr_oop_conn_free(c);
    close(ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_exact),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_data_waits_for_ack),
        cmocka_unit_test(test_binding_sequence),
        cmocka_unit_test(test_binding_receive),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_write_while_server_writes),
        cmocka_unit_test(test_process_stream),
        cmocka_unit_test(test_process_close),
        cmocka_unit_test(test_process_env),
        cmocka_unit_test(test_bad_targets),
        cmocka_unit_test(test_unix_stream),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
