/*
 * test_psrp_replay_pool.c: calls on the runspace pool (psrp/runspace_admin.c)
 * and GET_COMMAND_METADATA pipelines (psrp/pipeline.c) replaying real
 * recorded Windows sessions through the public API (the harness:
 * psrp_replay_harness.h):
 *
 *   test_psrp_set_runspaces.yml            GET_AVAILABLE / SET_MAX / SET_MIN
 *   test_psrp_reset_runspace_state*.yml    RESET_RUNSPACE_STATE true / false
 *   test_psrp_get_command_metadata.yml     three GET_COMMAND_METADATA calls
 *   test_psrp_key_exchange_timeout.yml     PUBLIC_KEY, never answered
 *   test_psrp_run_protocol_version_2.1.yml a 2.1 server: no RESET asked
 *
 * Each test decodes what we sent (type, call id, values) and checks what
 * the API made of the server's answers.
 */
#define _DEFAULT_SOURCE /* usleep */
#include <time.h>
#include <unistd.h>

#include "psrp_replay_harness.h"

/* ---- what we sent --------------------------------------------------------------- */

/* The one PSRP message in the nth request of `action` (Send: rsp:Stream;
 * Command: rsp:Arguments), parsed. Fails unless it is one whole fragment. */
typedef struct sent {
    wr_buf bin;
    wr_psrp_message m;
    winrsh_psobject *o;
    char xml[4096];
} sent;

static void decode_b64_message(sent *s, const char *b64, size_t len)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(wr_base64_decode(&s->bin, b64, len), 0);
    wr_psrp_fragment f;
    size_t used = 0;
    assert_int_equal(wr_psrp_fragment_read(&f, s->bin.data, s->bin.len, &used), 0);
    assert_int_equal(used, s->bin.len);
    assert_int_equal(f.flags & 3, 3); /* start and end */
    assert_int_equal(wr_psrp_message_parse(&s->m, f.blob, f.blob_len), 0);
    assert_int_equal(s->m.destination, WR_PSRP_DEST_SERVER);
    assert_true(s->m.len < sizeof s->xml);
    memcpy(s->xml, s->m.data, s->m.len);
    s->xml[s->m.len] = 0;
    if (s->m.len)
        assert_int_equal(winrsh_psobject_from_clixml(&s->o, s->m.data, s->m.len), 0);
}

static void decode_request(sent *s, const char *req)
{
    assert_non_null(req);
    const char *b64 = strstr(req, "<rsp:Stream");
    if (!b64)
        b64 = strstr(req, "<rsp:Arguments>");
    assert_non_null(b64);
    b64 = strchr(b64, '>') + 1;
    decode_b64_message(s, b64, strcspn(b64, "<"));
}

static void decode_sent(sent *s, const fake *f, const char *action, size_t nth)
{
    decode_request(s, find_request(f, action, nth));
}

static void sent_free(sent *s)
{
    wr_buf_free(&s->bin);
    winrsh_psobject_free(s->o);
}

static int64_t prop_i64(const winrsh_psobject *o, const char *name)
{
    const winrsh_psobject *v = winrsh_psobject_prop(o, name);
    if (!v)
        fail_msg("no property %s", name);
    int64_t n = 0;
    assert_int_equal(winrsh_psobject_get_int64(v, &n), 0);
    return n;
}

static int is_zero_guid(const wr_guid *g)
{
    static const wr_guid zero;
    return memcmp(g, &zero, sizeof zero) == 0;
}

/* A pool call as PROTOCOL.md and MS-PSRP 2.2.2.6/7/11/31 say: a Send on
 * stdin with no CommandId, the zero PID, our RPID, the type, and ci. */
static void check_pool_call(const replay *t, size_t nth_send, uint32_t type, int64_t ci,
                            const char *size_name, int64_t size)
{
    const char *req = find_request(&t->f, "Send", nth_send);
    assert_non_null(req);
    assert_non_null(strstr(req, "<rsp:Stream Name=\"stdin\""));
    assert_null(strstr(req, "CommandId"));
    sent s;
    decode_request(&s, req);
    assert_int_equal(s.m.type, type);
    assert_true(is_zero_guid(&s.m.pid));
    char rpid[37];
    wr_guid_format(&s.m.rpid, 1, rpid);
    assert_string_equal(rpid, winrsh_runspace_id(t->rs));
    assert_int_equal(prop_i64(s.o, "ci"), ci);
    /* Lower-case "ci" as the spec writes it (pypsrp sent "CI"). */
    assert_non_null(strstr(s.xml, "<I64 N=\"ci\">"));
    if (size_name)
        assert_int_equal(prop_i64(s.o, size_name), size);
    else
        assert_int_equal(winrsh_psobject_prop_count(s.o, WINRSH_PSPROP_EXTENDED), 1);
    sent_free(&s);
}

/* ---- the pool's size ------------------------------------------------------------ */

static void test_set_runspaces(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_set_runspaces.yml");
    long long n = -1;
    int ok = -1;

    /* The pool opened with 1..1: one runspace free (Windows answers I32). */
    assert_int_equal(winrsh_runspace_available(t.rs, 0, &n), 0);
    assert_int_equal(n, 1);
    check_pool_call(&t, 0, WR_PSRP_GET_AVAILABLE_RUNSPACES, 0, NULL, 0);

    assert_int_equal(winrsh_runspace_set_max_runspaces(t.rs, 5, 0, &ok), 0);
    assert_int_equal(ok, 1);
    check_pool_call(&t, 1, WR_PSRP_SET_MAX_RUNSPACES, 1, "MaxRunspaces", 5);

    assert_int_equal(winrsh_runspace_available(t.rs, 0, &n), 0);
    assert_int_equal(n, 5);
    check_pool_call(&t, 2, WR_PSRP_GET_AVAILABLE_RUNSPACES, 2, NULL, 0);

    assert_int_equal(winrsh_runspace_set_min_runspaces(t.rs, 2, 0, &ok), 0);
    assert_int_equal(ok, 1);
    check_pool_call(&t, 3, WR_PSRP_SET_MIN_RUNSPACES, 3, "MinRunspaces", 2);

    /* Refusals are answers, not errors. */
    ok = -1;
    assert_int_equal(winrsh_runspace_set_min_runspaces(t.rs, -1, 0, &ok), 0);
    assert_int_equal(ok, 0);
    check_pool_call(&t, 4, WR_PSRP_SET_MIN_RUNSPACES, 4, "MinRunspaces", -1);
    ok = -1;
    assert_int_equal(winrsh_runspace_set_max_runspaces(t.rs, -1, 0, &ok), 0);
    assert_int_equal(ok, 0);
    check_pool_call(&t, 5, WR_PSRP_SET_MAX_RUNSPACES, 5, "MaxRunspaces", -1);

    /* One Send and one pool Receive per call, nothing else. */
    assert_int_equal(count_requests(&t.f, "Send"), 6);
    assert_int_equal(count_requests(&t.f, "Receive"), 2 + 6);
    for (size_t i = 2; i < 8; i++)
        assert_null(strstr(find_request(&t.f, "Receive", i), "CommandId"));

    /* Bad arguments and a closed pool send nothing. */
    assert_int_equal(winrsh_runspace_available(t.rs, 0, NULL), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_available(NULL, 0, &n), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_set_max_runspaces(t.rs, 2, -1, &ok), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_set_max_runspaces(NULL, 2, 0, &ok), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_reset_state(NULL, 0, &ok), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_exchange_key(NULL, 0), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_close(t.rs), 0);
    ok = -1;
    assert_int_equal(winrsh_runspace_set_max_runspaces(t.rs, 2, 0, &ok), WINRSH_ECLOSED);
    assert_int_equal(ok, 0);
    assert_int_equal(winrsh_runspace_available(t.rs, 0, &n), WINRSH_ECLOSED);
    assert_int_equal(n, 0);
    assert_int_equal(winrsh_runspace_exchange_key(t.rs, 0), WINRSH_ECLOSED);
    assert_int_equal(count_requests(&t.f, "Send"), 6);
    replay_close(&t);
}

/* ---- RESET_RUNSPACE_STATE ---------------------------------------------------------- */

static void test_reset_runspace_state(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_reset_runspace_state.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "echo hi"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "hi");
    winrsh_pipeline_free(p);

    int reset = -1;
    assert_int_equal(winrsh_runspace_reset_state(t.rs, 0, &reset), 0);
    assert_int_equal(reset, 1);
    check_pool_call(&t, 0, WR_PSRP_RESET_RUNSPACE_STATE, 0, NULL, 0);

    /* The pool still runs pipelines (pypsrp then ran Get-History: empty). */
    p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_command(p, "Get-History"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 1);
    winrsh_pipeline_free(p);
    assert_int_equal(count_requests(&t.f, "Send"), 1);
    replay_close(&t);
}

static void test_reset_runspace_state_fail(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_reset_runspace_state_fail.yml");
    /* The server answers false: the call succeeds and says "not reset". */
    int reset = -1;
    assert_int_equal(winrsh_runspace_reset_state(t.rs, 0, &reset), 0);
    assert_int_equal(reset, 0);
    check_pool_call(&t, 0, WR_PSRP_RESET_RUNSPACE_STATE, 0, NULL, 0);
    assert_int_equal(winrsh_runspace_get_state(t.rs), WINRSH_RUNSPACE_OPENED);
    replay_close(&t);
}

/* A server of protocol 2.1 does not know RESET_RUNSPACE_STATE: it is not
 * asked (no Send), and the error says why. */
static void test_reset_refused_before_2_3(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_run_protocol_version_2.1.yml");
    assert_string_equal(winrsh_runspace_protocol_version(t.rs), "2.1");
    int reset = -1;
    assert_int_equal(winrsh_runspace_reset_state(t.rs, 0, &reset), WINRSH_EPROTO);
    assert_int_equal(reset, 0);
    assert_non_null(strstr(winrsh_error_last()->message, "2.3"));
    assert_non_null(strstr(winrsh_error_last()->message, "2.1"));
    assert_int_equal(count_requests(&t.f, "Send"), 0);
    replay_close(&t);
}

/* ---- GET_COMMAND_METADATA ------------------------------------------------------------ */

typedef struct meta_seen {
    char names[8][64];
    int32_t types[8];
    size_t n;
    size_t with_parameters;
} meta_seen;

static int on_metadata(const winrsh_psobject *o, void *payload)
{
    meta_seen *m = payload;
    assert_true(m->n < 8);
    const char *name = winrsh_psobject_text(winrsh_psobject_prop(o, "Name"), NULL);
    assert_non_null(name);
    snprintf(m->names[m->n], sizeof m->names[0], "%s", name);
    assert_int_equal(
        winrsh_psobject_enum_value(winrsh_psobject_prop(o, "CommandType"), &m->types[m->n], NULL),
        0);
    if (winrsh_psobject_prop(o, "Parameters"))
        m->with_parameters++;
    m->n++;
    return 0;
}

/* The XML of the recorded request's message, for an exact comparison. */
static void recorded_command_xml(const rec *r, size_t nth, char *out, size_t size)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!strstr(r->pairs[i].request, "shell/Command<") || nth-- != 0)
            continue;
        sent s;
        decode_request(&s, r->pairs[i].request);
        snprintf(out, size, "%s", s.xml);
        sent_free(&s);
        return;
    }
    fail_msg("no recorded Command %zu", nth);
}

static winrsh_pipeline *metadata_call(replay *t, meta_seen *m, const char *const *names, size_t n,
                                      unsigned types, const char *const *ns, size_t nns)
{
    memset(m, 0, sizeof *m);
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.output = on_metadata;
    po.error = on_error;
    po.payload = m;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, t->rs, &po), 0);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, names, n, types, ns, nns), 0);
    /* Now it is a metadata call: no commands can be added. */
    assert_int_equal(winrsh_pipeline_add_command(p, "Get-Date"), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, names, n, types, ns, nns),
                     WINRSH_EINVAL);
    long long count = -1;
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(winrsh_pipeline_error_count(p), 0);
    return p;
}

static void check_metadata_command(const replay *t, winrsh_pipeline *p, size_t nth)
{
    /* Sent like CREATE_PIPELINE: a Command with an empty rsp:Command, our
     * PID as CommandId, the message in rsp:Arguments. */
    const char *cmd = find_request(&t->f, "Command", nth);
    assert_non_null(cmd);
    char cid[64];
    attr_value(cmd, "CommandId=\"", cid, sizeof cid);
    assert_string_equal(cid, winrsh_pipeline_id(p));
    assert_non_null(strstr(cmd, "<rsp:Command></rsp:Command><rsp:Arguments>"));
    sent s;
    decode_sent(&s, &t->f, "Command", nth);
    assert_int_equal(s.m.type, WR_PSRP_GET_COMMAND_METADATA);
    char pid[37];
    wr_guid_format(&s.m.pid, 1, pid);
    assert_string_equal(pid, winrsh_pipeline_id(p));
    /* The same body as pypsrp sent to Windows. */
    char want[4096];
    recorded_command_xml(&t->r, nth, want, sizeof want);
    assert_string_equal(s.xml, want);
    sent_free(&s);
}

static void test_get_command_metadata(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_get_command_metadata.yml");
    meta_seen m;
    long long count = -1;

    /* 1: new-pssession*, all types. */
    const char *n1[] = {"new-pssession*"};
    winrsh_pipeline *p = metadata_call(&t, &m, n1, 1, 0, NULL, 0);
    check_metadata_command(&t, p, 0);
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 1);
    assert_int_equal(count, 3);
    assert_int_equal(m.n, 3); /* the count object is not an output */
    assert_string_equal(m.names[0], "New-PSSession");
    assert_string_equal(m.names[1], "New-PSSessionConfigurationFile");
    assert_string_equal(m.names[2], "New-PSSessionOption");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(m.types[i], WINRSH_COMMAND_TYPE_CMDLET);
    assert_int_equal(m.with_parameters, 3);
    winrsh_pipeline_free(p);

    /* 2: new-*, functions only. */
    const char *n2[] = {"new-*"};
    p = metadata_call(&t, &m, n2, 1, WINRSH_COMMAND_TYPE_FUNCTION, NULL, 0);
    check_metadata_command(&t, p, 1);
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 1);
    assert_int_equal(count, 2);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.names[0], "New-Guid");
    assert_string_equal(m.names[1], "New-TemporaryFile");
    assert_int_equal(m.types[0], WINRSH_COMMAND_TYPE_FUNCTION);
    assert_int_equal(m.types[1], WINRSH_COMMAND_TYPE_FUNCTION);
    winrsh_pipeline_free(p);

    /* 3: Get-*, all types, in one module. */
    const char *n3[] = {"Get-*"};
    const char *ns[] = {"Microsoft.WSMan.Management"};
    p = metadata_call(&t, &m, n3, 1, WINRSH_COMMAND_TYPE_ALL, ns, 1);
    check_metadata_command(&t, p, 2);
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 1);
    assert_int_equal(count, 2);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.names[0], "Get-WSManCredSSP");
    assert_string_equal(m.names[1], "Get-WSManInstance");
    winrsh_pipeline_free(p);
    assert_int_equal(count_requests(&t.f, "Command"), 3);
    assert_int_equal(count_requests(&t.f, "Signal"), 3); /* each released */

    /* Misuse: no names, NULL entries, unknown types, input, commands first. */
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    assert_int_equal(winrsh_pipeline_new(&p, t.rs, &po), 0);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, n1, 0, 0, NULL, 0), WINRSH_EINVAL);
    const char *bad[] = {NULL};
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, bad, 1, 0, NULL, 0), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, n1, 1, 0, bad, 1), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, n1, 1, 0x200, NULL, 0), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_get_command_metadata(NULL, n1, 1, 0, NULL, 0), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_add_command(p, "Get-Date"), 0);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, n1, 1, 0, NULL, 0), WINRSH_EINVAL);
    /* An ordinary pipeline has no metadata count. */
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 0);
    winrsh_pipeline_free(p);
    po.input = 1;
    assert_int_equal(winrsh_pipeline_new(&p, t.rs, &po), 0);
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, n1, 1, 0, NULL, 0), WINRSH_EINVAL);
    winrsh_pipeline_free(p);
    assert_int_equal(count_requests(&t.f, "Command"), 3);
    replay_close(&t);
}

/* ---- a server that never answers ----------------------------------------------------- */

/* The w:TimedOut fault Windows sent in another recording. */
static char *g_timed_out;

static void load_timed_out_fault(void)
{
    rec r;
    rec_load_file(&r, "test_psrp_long_running_cmdlet.yml");
    for (size_t i = 0; i < r.n && !g_timed_out; i++)
        if (r.pairs[i].fault && strstr(r.pairs[i].response, "w:TimedOut"))
            g_timed_out = strdup(r.pairs[i].response);
    rec_release(&r);
    assert_non_null(g_timed_out);
}

static long operation_timeout_ms(const char *req)
{
    const char *p = strstr(req, "OperationTimeout>PT");
    long s = 0, ms = 0;
    if (!p || sscanf(p + strlen("OperationTimeout>PT"), "%ld.%3ldS", &s, &ms) < 1)
        return 0;
    return s * 1000 + ms;
}

static int recorded_pool_receives_left(const fake *f)
{
    int n = 0;
    for (size_t i = 0; i < f->r->n; i++) {
        if (f->used[i])
            continue;
        char action[32];
        action_of(f->r->pairs[i].request, action, sizeof action);
        n += strcmp(action, "Receive") == 0 &&
             command_index(f->r->command_ids, f->r->ncommands, f->r->pairs[i].request) < 0;
    }
    return n;
}

/* The recording ends with an empty ReceiveResponse; after that the server
 * behaves as Windows does when nothing comes: each pool Receive waits out
 * its OperationTimeout and faults w:TimedOut. */
static int post_then_time_out(void *ctx, const char *body, size_t len, long timeout_ms,
                              wr_buf *resp, long *status)
{
    fake *f = ctx;
    wr_buf q = WR_BUF_INIT;
    wr_buf_append(&q, body, len);
    char action[32];
    action_of(wr_buf_cstr(&q), action, sizeof action);
    int own = strcmp(action, "Receive") == 0 && !strstr(wr_buf_cstr(&q), "CommandId") &&
              recorded_pool_receives_left(f) == 0;
    if (!own) {
        wr_buf_free(&q);
        return fake_post(ctx, body, len, timeout_ms, resp, status);
    }
    assert_true(f->nrequests < 256);
    f->requests[f->nrequests] = q;
    snprintf(f->kinds[f->nrequests].action, sizeof f->kinds[0].action, "Receive");
    f->kinds[f->nrequests].command = -1;
    f->nrequests++;
    long wait = operation_timeout_ms(wr_buf_cstr(&q));
    assert_true(wait > 0 && wait <= 5000);
    usleep((useconds_t)wait * 1000);
    /* Our a:MessageID in a:RelatesTo. */
    assert_non_null(strstr(wr_buf_cstr(&q), "<a:MessageID>"));
    assert_non_null(strstr(g_timed_out, "RelatesTo>"));
    assert_int_equal(reply_to(resp, g_timed_out, wr_buf_cstr(&q)), 0);
    *status = 500;
    return 0;
}

static void replay_open_post(replay *t, const char *name, wr_post_fn post)
{
    memset(t, 0, sizeof *t);
    rec_load_file(&t->r, name);
    t->f.r = &t->r;
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.user = "vagrant";
    so.password = "vagrant";
    assert_int_equal(wr_session_open_with(&t->session, "http://127.0.0.1:5985", &so, post, &t->f),
                     0);
    int rc = winrsh_runspace_open(&t->rs, t->session, NULL);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void test_key_exchange_timeout(void **state)
{
    (void)state;
    load_timed_out_fault();
    replay t;
    replay_open_post(&t, "test_psrp_key_exchange_timeout.yml", post_then_time_out);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(winrsh_runspace_exchange_key(t.rs, 1500), WINRSH_ETIMEOUT);
    long took = elapsed_ms(&t0);
    const winrsh_error *e = winrsh_error_last();
    assert_int_equal(e->code, WINRSH_ETIMEOUT);
    assert_non_null(strstr(e->message, "session key"));
    assert_non_null(strstr(e->message, "1500 ms"));
    assert_true(took >= 1400);
    /* The bound includes making an RSA-2048 key, which valgrind slows down
     * a lot (tests/valgrind/run_valgrind.sh sets the scale). */
    const char *scale = getenv("WINRSH_TEST_TIME_SCALE");
    long bound = 4000L * (scale && atoi(scale) > 1 ? atoi(scale) : 1);
    assert_true(took < bound);

    /* PUBLIC_KEY went out once, on the pool: a PUBLICKEYBLOB of RSA-2048. */
    assert_int_equal(count_requests(&t.f, "Send"), 1);
    assert_null(strstr(find_request(&t.f, "Send", 0), "CommandId"));
    sent s;
    decode_sent(&s, &t.f, "Send", 0);
    assert_int_equal(s.m.type, WR_PSRP_PUBLIC_KEY);
    assert_true(is_zero_guid(&s.m.pid));
    size_t klen = 0;
    const char *k = winrsh_psobject_text(winrsh_psobject_prop(s.o, "PublicKey"), &klen);
    assert_non_null(k);
    wr_buf blob = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&blob, k, klen), 0);
    assert_int_equal(blob.len, 276);
    assert_memory_equal(blob.data, "\x06\x02\x00\x00\x00\xA4\x00\x00RSA1\x00\x08\x00\x00", 16);
    wr_buf_free(&blob);
    sent_free(&s);
    /* Receives: the opening two, the recorded empty one, then ours. */
    size_t receives = count_requests(&t.f, "Receive");
    assert_true(receives >= 4 && receives <= 6);

    /* Asked again: it waits again, but does not send the key twice. */
    assert_int_equal(winrsh_runspace_exchange_key(t.rs, 300), WINRSH_ETIMEOUT);
    assert_int_equal(count_requests(&t.f, "Send"), 1);
    assert_int_equal(winrsh_runspace_exchange_key(t.rs, -1), WINRSH_EINVAL);

    /* A pool call the server never answers is bounded the same way. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long n = -1;
    assert_int_equal(winrsh_runspace_available(t.rs, 700, &n), WINRSH_ETIMEOUT);
    took = elapsed_ms(&t0);
    assert_true(took >= 600 && took < 3000L * (scale && atoi(scale) > 1 ? atoi(scale) : 1));
    assert_int_equal(n, 0);
    assert_non_null(strstr(winrsh_error_last()->message, "GET_AVAILABLE_RUNSPACES"));
    assert_int_equal(count_requests(&t.f, "Send"), 2);
    check_pool_call(&t, 1, WR_PSRP_GET_AVAILABLE_RUNSPACES, 0, NULL, 0);
    assert_int_equal(winrsh_runspace_get_state(t.rs), WINRSH_RUNSPACE_OPENED);
    replay_close(&t);
    free(g_timed_out);
    g_timed_out = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_runspaces),
        cmocka_unit_test(test_reset_runspace_state),
        cmocka_unit_test(test_reset_runspace_state_fail),
        cmocka_unit_test(test_reset_refused_before_2_3),
        cmocka_unit_test(test_get_command_metadata),
        cmocka_unit_test(test_key_exchange_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
