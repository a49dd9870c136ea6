/*
 * test_outofproc_pwsh.c: the out-of-process binding against a real
 * PowerShell (`pwsh -s -NoLogo -NoProfile` over pipes): open a runspace
 * pool, run `1+1`, stop `Start-Sleep 60`, close, and leave no process behind.
 *
 * pwsh is looked for in this order; the test is skipped (saying why) only
 * when none is found:
 *   1. $WINRSH_TEST_PWSH (if set, it must work: a wrong path fails the test)
 *   2. ${XDG_CACHE_HOME:-$HOME/.cache}/winrsh/pwsh-7.6.9/pwsh
 *   3. /root/.cache/winrsh/pwsh-7.6.9/pwsh
 *   4. pwsh on PATH
 * WINRSH_TEST_TRACE=1 prints the packets on stderr.
 */
#define _DEFAULT_SOURCE /* strndup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/guid.h"
#include "common/trace.h"
#include "psrp/binding_outofproc.h"
#include "psrp/clixml.h"
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "psrp/records.h"
#include "transport/stream.h"
#include "winrsh/errors.h"
#include "winrsh/psobject.h"

#include "find_pwsh.h"

#define WAIT_MS 20000 /* pwsh starts in 1-2 s; generous, never unbounded */


static void trace_cb(winrsh_trace_kind kind, const char *text, size_t len, void *payload)
{
    (void)payload;
    const char *dir = kind == WINRSH_TRACE_DATA_OUT  ? ">>"
                      : kind == WINRSH_TRACE_DATA_IN ? "<<"
                                                     : "--";
    fprintf(stderr, "%s %.*s\n", dir, (int)(len > 300 ? 300 : len), text);
}

/* ---- a minimal PSRP client on the binding ----------------------------------- */

typedef struct session {
    wr_psrp_binding *b;
    wr_guid rpid;
    wr_psrp_fragmenter frag;
    wr_psrp_defrag defrag;
    const wr_guid *packet_pid; /* PSGuid of the Data being fed */
    int pool_state;
    wr_guid pipe;   /* the pipeline watched */
    int pipe_state; /* -1 until a PIPELINE_STATE for it came */
    int32_t outputs[8];
    int nout;
    int nstrings; /* string outputs and their bytes */
    size_t string_bytes;
    int messages;
    int mismatched_pid; /* a message whose PID disagreed with its PSGuid */
    char errors[2048];
} session;

static void note_error(session *s, const winrsh_psobject *er)
{
    wr_psrp_error_record r;
    wr_buf out = WR_BUF_INIT;
    if (er && wr_psrp_error_record_read(er, &r) == 0 &&
        wr_psrp_error_record_format(&r, &out) == 0) {
        size_t l = strlen(s->errors);
        snprintf(s->errors + l, sizeof s->errors - l, "%s", wr_buf_cstr(&out));
    }
    wr_buf_free(&out);
}

static int on_message(void *payload, uint64_t oid, const unsigned char *msg, size_t len)
{
    (void)oid;
    session *s = payload;
    wr_psrp_message m;
    assert_int_equal(wr_psrp_message_parse(&m, msg, len), 0);
    assert_int_equal(m.destination, WR_PSRP_DEST_CLIENT);
    s->messages++;
    /* Over OutOfProc the packet's PSGuid and the message's PID agree
     * (PROTOCOL.md 4, GUID layout). */
    static const wr_guid zero;
    const wr_guid *want = s->packet_pid ? s->packet_pid : &zero;
    if (memcmp(&m.pid, want, sizeof zero) != 0)
        s->mismatched_pid++;
    winrsh_psobject *o = NULL;
    if (m.len && winrsh_psobject_from_clixml(&o, m.data, m.len) != 0)
        fail_msg("bad CLIXML in %s: %s", wr_psrp_message_type_name(m.type),
                 winrsh_error_last()->message);
    wr_psrp_state st;
    switch (m.type) {
    case WR_PSRP_RUNSPACEPOOL_STATE:
        assert_int_equal(wr_psrp_pool_state_read(o, &st), 0);
        s->pool_state = st.state;
        note_error(s, st.error);
        break;
    case WR_PSRP_PIPELINE_STATE:
        assert_int_equal(wr_psrp_pipeline_state_read(o, &st), 0);
        if (memcmp(&m.pid, &s->pipe, sizeof m.pid) == 0)
            s->pipe_state = st.state;
        note_error(s, st.error);
        break;
    case WR_PSRP_PIPELINE_OUTPUT: {
        int32_t v;
        if (winrsh_psobject_get_kind(o) == WINRSH_PSOBJ_STRING) {
            size_t tl = 0;
            const char *t = winrsh_psobject_text(o, &tl);
            assert_non_null(t);
            s->nstrings++;
            s->string_bytes += tl;
            break;
        }
        assert_int_equal(winrsh_psobject_get_kind(o), WINRSH_PSOBJ_INT32);
        assert_int_equal(winrsh_psobject_get_int32(o, &v), 0);
        if (s->nout < 8)
            s->outputs[s->nout++] = v;
        break;
    }
    case WR_PSRP_ERROR_RECORD:
        note_error(s, o);
        break;
    default:
        break;
    }
    winrsh_psobject_free(o);
    return 0;
}

static int on_data(const wr_guid *pid, const unsigned char *frags, size_t len, void *payload)
{
    session *s = payload;
    s->packet_pid = pid;
    int rc = wr_psrp_defrag_feed(&s->defrag, frags, len, on_message, s);
    s->packet_pid = NULL;
    return rc;
}

static int pool_opened(session *s)
{
    return s->pool_state == WR_PSRP_POOL_OPENED || s->pool_state == WR_PSRP_POOL_BROKEN ||
           s->pool_state == WR_PSRP_POOL_CLOSED;
}

static int pipe_ended(session *s)
{
    return s->pipe_state == WR_PSRP_PIPE_COMPLETED || s->pipe_state == WR_PSRP_PIPE_STOPPED ||
           s->pipe_state == WR_PSRP_PIPE_FAILED;
}

static void pump_until(session *s, int (*done)(session *), long timeout_ms, const char *what)
{
    long long deadline = wr_stream_now_ms() + timeout_ms;
    while (!done(s)) {
        int left = wr_stream_ms_left(deadline);
        if (left == 0)
            fail_msg("no %s within %ld ms (pool state %d, pipeline state %d) %s", what, timeout_ms,
                     s->pool_state, s->pipe_state, s->errors);
        int to = 0;
        int rc = s->b->ops->receive(s->b, NULL, left < 1000 ? left : 1000, on_data, s, &to);
        if (rc)
            fail_msg("receive while waiting for %s: %s", what, winrsh_error_last()->message);
    }
}

static void add_message(session *s, wr_buf *frags, uint32_t type, const wr_guid *pid,
                        const wr_buf *xml)
{
    wr_buf msg = WR_BUF_INIT;
    assert_int_equal(
        wr_psrp_message_write(&msg, WR_PSRP_DEST_SERVER, type, &s->rpid, pid, xml->data, xml->len),
        0);
    assert_int_equal(wr_psrp_fragment_message(&s->frag, msg.data, msg.len,
                                              s->b->ops->max_blob(s->b), frags, NULL),
                     0);
    wr_buf_free(&msg);
}

static void session_open(session *s, wr_tracer *tr)
{
    memset(s, 0, sizeof *s);
    s->pool_state = s->pipe_state = -1;
    wr_psrp_fragmenter_init(&s->frag);
    wr_psrp_defrag_init(&s->defrag, 0, 0);
    assert_int_equal(wr_guid_random(&s->rpid), 0);
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "process://%s", g_pwsh);
    if (wr_psrp_binding_outofproc_open(&s->b, target, tr, WAIT_MS) != 0)
        fail_msg("open %s: %s", target, winrsh_error_last()->message);

    wr_buf frags = WR_BUF_INIT, xml = WR_BUF_INIT;
    assert_int_equal(wr_psrp_build_session_capability(&xml), 0);
    add_message(s, &frags, WR_PSRP_SESSION_CAPABILITY, NULL, &xml);
    wr_buf_clear(&xml);
    wr_psrp_host_info host;
    wr_psrp_host_info_null(&host);
    assert_int_equal(wr_psrp_build_init_runspacepool(&xml, 1, 1, &host, NULL), 0);
    add_message(s, &frags, WR_PSRP_INIT_RUNSPACEPOOL, NULL, &xml);
    if (s->b->ops->open_pool(s->b, &s->rpid, frags.data, frags.len) != 0)
        fail_msg("open_pool: %s", winrsh_error_last()->message);
    wr_buf_free(&frags);
    wr_buf_free(&xml);
    pump_until(s, pool_opened, WAIT_MS, "RUNSPACEPOOL_STATE");
    if (s->pool_state != WR_PSRP_POOL_OPENED)
        fail_msg("the pool did not open (state %d): %s", s->pool_state, s->errors);
}

static void start_pipeline_input(session *s, const char *script, int no_input)
{
    assert_int_equal(wr_guid_random(&s->pipe), 0);
    s->pipe_state = -1;
    s->nout = 0;
    wr_psrp_command cmd;
    wr_psrp_command_init(&cmd, script, 1);
    wr_psrp_pipeline pl;
    wr_psrp_pipeline_init(&pl, &cmd, 1);
    pl.no_input = no_input;
    wr_buf frags = WR_BUF_INIT, xml = WR_BUF_INIT;
    assert_int_equal(wr_psrp_build_create_pipeline(&xml, &pl), 0);
    add_message(s, &frags, WR_PSRP_CREATE_PIPELINE, &s->pipe, &xml);
    if (s->b->ops->create_pipeline(s->b, &s->pipe, frags.data, frags.len) != 0)
        fail_msg("create_pipeline: %s", winrsh_error_last()->message);
    wr_buf_free(&frags);
    wr_buf_free(&xml);
}

static void start_pipeline(session *s, const char *script)
{
    start_pipeline_input(s, script, 1);
}

/* Children of this process (alive or zombie), from /proc. */
static int count_children(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p[300], buf[512];
        snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        char *rp = strrchr(buf, ')'); /* after "pid (comm)" */
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)getpid())
            n++;
    }
    closedir(d);
    return n;
}

static void test_pwsh_session(void **state)
{
    (void)state;
    need_pwsh();
    wr_tracer tr = {trace_cb, NULL, getenv("WINRSH_TEST_TRACE") ? 2 : 0};
    int children_before = count_children();

    long long t0 = wr_stream_now_ms();
    session s;
    session_open(&s, &tr);
    long long t_open = wr_stream_now_ms() - t0;

    /* 1+1 -> PIPELINE_OUTPUT <I32>2</I32>, PIPELINE_STATE Completed. */
    t0 = wr_stream_now_ms();
    start_pipeline(&s, "1+1");
    pump_until(&s, pipe_ended, WAIT_MS, "PIPELINE_STATE for 1+1");
    long long t_run = wr_stream_now_ms() - t0;
    if (s.pipe_state != WR_PSRP_PIPE_COMPLETED)
        fail_msg("1+1 ended in state %d: %s", s.pipe_state, s.errors);
    assert_int_equal(s.nout, 1);
    assert_int_equal(s.outputs[0], 2);
    assert_int_equal(s.b->ops->close_pipeline(s.b, &s.pipe), 0);

    /* Start-Sleep 60, stopped with a Signal: Stopped within 2 s. */
    start_pipeline(&s, "Start-Sleep -Seconds 60");
    int to = 0;
    assert_int_equal(s.b->ops->receive(s.b, NULL, 500, on_data, &s, &to), 0);
    assert_false(pipe_ended(&s));
    t0 = wr_stream_now_ms();
    if (s.b->ops->stop(s.b, &s.pipe) != 0)
        fail_msg("stop: %s", winrsh_error_last()->message);
    pump_until(&s, pipe_ended, 2000, "PIPELINE_STATE Stopped");
    long long t_stop = wr_stream_now_ms() - t0;
    assert_int_equal(s.pipe_state, WR_PSRP_PIPE_STOPPED);
    assert_true(t_stop < 2000);
    assert_int_equal(s.b->ops->close_pipeline(s.b, &s.pipe), 0);

    /* Close the pool (Close(0) -> CloseAck), then the process. */
    t0 = wr_stream_now_ms();
    if (s.b->ops->close_pool(s.b) != 0)
        fail_msg("close_pool: %s", winrsh_error_last()->message);
    s.b->ops->free(s.b);
    long long t_close = wr_stream_now_ms() - t0;
    assert_int_equal(s.mismatched_pid, 0);
    assert_int_equal(wr_psrp_defrag_pending(&s.defrag), 0);
    wr_psrp_defrag_free(&s.defrag);
    if (children_before >= 0)
        assert_int_equal(count_children(), children_before); /* no zombie */
    assert_true(t_close < 3000);

    print_message("pwsh %s: pool opened in %lld ms, 1+1 in %lld ms, stop in %lld ms, "
                  "close+reap in %lld ms; %d messages\n",
                  g_pwsh, t_open, t_run, t_stop, t_close, s.messages);
}

/* Freeing the binding with a pipeline still running (no Close at all)
 * still ends the process within the bounded grace periods. */
static void test_pwsh_abandon(void **state)
{
    (void)state;
    need_pwsh();
    int children_before = count_children();
    session s;
    session_open(&s, NULL);
    start_pipeline(&s, "Start-Sleep -Seconds 60");
    long long t0 = wr_stream_now_ms();
    s.b->ops->free(s.b);
    long long took = wr_stream_now_ms() - t0;
    wr_psrp_defrag_free(&s.defrag);
    if (children_before >= 0)
        assert_int_equal(count_children(), children_before);
    assert_true(took < 7000);
    print_message("abandoned a running pipeline: pwsh gone in %lld ms\n", took);
}

/* Pipeline input while output flows back: 3000 strings of 1 KiB in, each
 * in its own acked Data packet, echoed by the server as they come. */
static void test_pwsh_input(void **state)
{
    (void)state;
    need_pwsh();
    session s;
    session_open(&s, NULL);
    start_pipeline_input(&s, "$input | ForEach-Object { $_ }", 0);
    enum { N = 3000, LEN = 1024 };
    char line[LEN + 1];
    memset(line, 'x', LEN);
    line[LEN] = 0;
    long long t0 = wr_stream_now_ms();
    wr_buf frags = WR_BUF_INIT, xml = WR_BUF_INIT;
    for (int i = 0; i < N; i++) {
        snprintf(line, sizeof line, "%05d", i);
        line[5] = 'x';
        wr_buf_clear(&xml);
        wr_buf_clear(&frags);
        assert_int_equal(wr_psrp_build_pipeline_input_string(&xml, line, LEN), 0);
        add_message(&s, &frags, WR_PSRP_PIPELINE_INPUT, &s.pipe, &xml);
        if (s.b->ops->send(s.b, &s.pipe, frags.data, frags.len, 0) != 0)
            fail_msg("send input %d: %s", i, winrsh_error_last()->message);
    }
    wr_buf_clear(&xml);
    wr_buf_clear(&frags);
    add_message(&s, &frags, WR_PSRP_END_OF_PIPELINE_INPUT, &s.pipe, &xml);
    assert_int_equal(s.b->ops->send(s.b, &s.pipe, frags.data, frags.len, 0), 0);
    pump_until(&s, pipe_ended, WAIT_MS, "the end of the echo pipeline");
    long long took = wr_stream_now_ms() - t0;
    if (s.pipe_state != WR_PSRP_PIPE_COMPLETED)
        fail_msg("echo ended in state %d: %s", s.pipe_state, s.errors);
    assert_int_equal(s.nstrings, N);
    assert_int_equal(s.string_bytes, (size_t)N * LEN);
    assert_int_equal(s.b->ops->close_pipeline(s.b, &s.pipe), 0);
    assert_int_equal(s.b->ops->close_pool(s.b), 0);
    s.b->ops->free(s.b);
    wr_psrp_defrag_free(&s.defrag);
    wr_buf_free(&frags);
    wr_buf_free(&xml);
    print_message("%d input strings of %d bytes echoed in %lld ms\n", N, LEN, took);
}

/* pwsh's own complaint about a bad line reaches us as a clear error: EOF,
 * its exit status, and what it wrote on stderr. */
static void test_pwsh_bad_line(void **state)
{
    (void)state;
    need_pwsh();
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "process://%s", g_pwsh);
    wr_stream *st = NULL;
    wr_stream_options o = {WAIT_MS, NULL};
    assert_int_equal(wr_stream_process.open(&st, target, &o), 0);
    assert_int_equal(wr_stream_write_all(st, "garbage\n", 8, 5000), 0);
    long long deadline = wr_stream_now_ms() + WAIT_MS;
    int rc;
    for (;;) {
        struct pollfd pf = {st->type->fd(st, 0), POLLIN, 0};
        int left = wr_stream_ms_left(deadline);
        assert_true(left > 0);
        poll(&pf, 1, left);
        char buf[4096];
        size_t got = 0;
        if ((rc = st->type->read(st, buf, sizeof buf, &got)) != 0)
            break;
    }
    assert_int_equal(rc, WINRSH_ECLOSED);
    const char *m = winrsh_error_last()->message;
    print_message("pwsh given a bad line: %s\n", m);
    assert_non_null(strstr(m, "exited with status"));
    assert_non_null(strstr(m, "its stderr says: "));
    st->type->close(st);
}

int main(void)
{
    if (!find_pwsh())
        fprintf(stderr, "test_outofproc_pwsh: SKIPPING: %s\n", g_why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pwsh_session),
        cmocka_unit_test(test_pwsh_abandon),
        cmocka_unit_test(test_pwsh_input),
        cmocka_unit_test(test_pwsh_bad_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
