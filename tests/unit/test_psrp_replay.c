/*
 * test_psrp_replay.c: the PSRP engine and its WS-Man binding (psrp/runspace.c,
 * pipeline.c, host.c, binding_wsman.c) replaying real recorded Windows
 * sessions through the public API (the harness: psrp_replay_harness.h).
 */
#include "psrp_replay_harness.h"

/* ---- the tests ------------------------------------------------------------------- */

static void test_open_runspace(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_open_runspace.yml");
    /* Create as PROTOCOL.md 4 says. */
    const char *create = find_request(&t.f, "Create", 0);
    assert_non_null(create);
    assert_non_null(strstr(create, "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"));
    assert_non_null(strstr(create, "Name=\"protocolversion\""));
    assert_non_null(strstr(create, "MustComply=\"true\""));
    assert_non_null(strstr(create, ">2.3</w:Option>"));
    assert_non_null(strstr(create, "<rsp:InputStreams>stdin pr</rsp:InputStreams>"));
    assert_non_null(strstr(create, "<rsp:OutputStreams>stdout</rsp:OutputStreams>"));
    assert_non_null(
        strstr(create, "<creationXml xmlns=\"http://schemas.microsoft.com/powershell\">"));
    char sid[64];
    attr_value(create, "ShellId=\"", sid, sizeof sid);
    assert_string_equal(sid, winrsh_runspace_id(t.rs));
    for (const char *c = sid; *c; c++)
        assert_false(*c >= 'a' && *c <= 'f'); /* upper case */

    /* The creationXml holds SESSION_CAPABILITY and INIT_RUNSPACEPOOL with
     * a real host of our width. */
    const char *b64 = strstr(create, "<creationXml");
    b64 = strchr(b64, '>') + 1;
    wr_buf bin = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&bin, b64, strcspn(b64, "<")), 0);
    wr_psrp_fragment f1, f2;
    size_t u1, u2;
    assert_int_equal(wr_psrp_fragment_read(&f1, bin.data, bin.len, &u1), 0);
    assert_int_equal(wr_psrp_fragment_read(&f2, bin.data + u1, bin.len - u1, &u2), 0);
    assert_int_equal(u1 + u2, bin.len);
    wr_psrp_message m1, m2;
    assert_int_equal(wr_psrp_message_parse(&m1, f1.blob, f1.blob_len), 0);
    assert_int_equal(wr_psrp_message_parse(&m2, f2.blob, f2.blob_len), 0);
    assert_int_equal(m1.type, WR_PSRP_SESSION_CAPABILITY);
    assert_int_equal(m2.type, WR_PSRP_INIT_RUNSPACEPOOL);
    winrsh_psobject *init = NULL;
    assert_int_equal(winrsh_psobject_from_clixml(&init, m2.data, m2.len), 0);
    int b = 1;
    assert_int_equal(
        winrsh_psobject_get_bool(winrsh_psobject_path(init, "HostInfo._isHostNull"), &b), 0);
    assert_int_equal(b, 0);
    winrsh_psobject_free(init);
    wr_buf_free(&bin);

    /* Two pool Receives: capability + private data, then Opened. */
    assert_int_equal(count_requests(&t.f, "Receive"), 2);
    const winrsh_psobject *pd = winrsh_runspace_private_data(t.rs);
    assert_non_null(pd);
    assert_non_null(winrsh_psobject_dict_get(pd, "PSVersionTable"));
    replay_close(&t);
}

static void test_multiple_commands(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_multiple_commands.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "whatever pypsrp ran"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_RUNNING);

    /* The Command: empty rsp:Command, CommandId = PID, the first fragment. */
    const char *cmd = find_request(&t.f, "Command", 0);
    char cid[64];
    attr_value(cmd, "CommandId=\"", cid, sizeof cid);
    assert_string_equal(cid, winrsh_pipeline_id(p));
    assert_non_null(strstr(cmd, "<rsp:Command></rsp:Command><rsp:Arguments>"));

    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 7);
    assert_string_equal(t.s.outputs[0], "Hello World");
    assert_int_equal(t.s.output_kinds[1], WINRSH_PSOBJ_SECURESTRING);
    assert_string_equal(t.s.outputs[2],
                        "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF"
                        " - actual_x000A_string\nnewline: \xF0\x90\x90\xB7");
    assert_string_equal(t.s.outputs[3], "hi\"");
    assert_string_equal(t.s.outputs[4], "win-nnmu24vvkj0\\vagrant");
    assert_string_equal(t.s.outputs[5], "123");
    assert_int_equal(t.s.output_kinds[5], WINRSH_PSOBJ_INT32);
    assert_string_equal(t.s.outputs[6], "winrm");
    assert_int_equal(winrsh_pipeline_error_count(p), 0);
    int code = -1;
    assert_int_equal(winrsh_pipeline_exit_code(p, &code), 0);
    winrsh_pipeline_free(p);
    /* Released with Signal terminate. */
    assert_int_equal(count_requests(&t.f, "Signal"), 1);
    const char *sig = find_request(&t.f, "Signal", 0);
    assert_non_null(strstr(sig, WR_SIGNAL_TERMINATE));
    assert_non_null(strstr(sig, cid));
    replay_close(&t);
}

static void test_long_running_timed_out(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_long_running_cmdlet.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "Start-Sleep 20; 'hi'"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    /* Two w:TimedOut faults are not errors, just "nothing yet". */
    int done = 1;
    assert_int_equal(winrsh_pipeline_receive(p, 0, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(winrsh_pipeline_receive(p, 0, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(t.s.noutputs, 0);
    assert_int_equal(winrsh_pipeline_receive(p, 0, &done), 0);
    assert_int_equal(done, 1);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "hi");
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    /* A finished pipeline: receive again is a no-op. */
    assert_int_equal(winrsh_pipeline_receive(p, 0, &done), 0);
    assert_int_equal(done, 1);
    winrsh_pipeline_free(p);
    replay_close(&t);
}

static void test_error_failed(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_error_failed.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "'before'; Write-Error error -EA Stop"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_FAILED);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "before");
    assert_int_equal(t.s.nprogress, 1);
    assert_int_equal(t.s.nerrors, 1);
    assert_int_equal(t.s.nterminating, 1);
    assert_int_equal(winrsh_pipeline_error_count(p), 1);
    assert_non_null(winrsh_pipeline_failure(p));
    /* Rendered as PowerShell does: the message, then the details. */
    const char *e = wr_buf_cstr(&t.s.errors);
    assert_non_null(strstr(e, "error"));
    assert_non_null(strstr(e, "FullyQualifiedErrorId"));
    winrsh_pipeline_free(p);
    replay_close(&t);
}

static void test_pshost_set_should_exit(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_pshost_methods.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "$host.CurrentCulture; $host.SetShouldExit(1)"),
                     0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "en-US");
    int code = -1;
    assert_int_equal(winrsh_pipeline_exit_code(p, &code), 1);
    assert_int_equal(code, 1);
    /* SetShouldExit is void: nothing was sent back on "pr". */
    for (size_t i = 0; i < t.f.nrequests; i++)
        assert_null(strstr(wr_buf_cstr(&t.f.requests[i]), "Name=\"pr\""));
    winrsh_pipeline_free(p);
    replay_close(&t);
}

static void test_protocol_2_3_input_and_debug(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_run_protocol_version_2.3.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 1);
    assert_int_equal(winrsh_pipeline_add_script(p, "begin {} process { $input } end {}"), 0);
    assert_int_equal(winrsh_pipeline_merge_errors(p), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    /* Input before invoke is refused; after it, it is queued. */
    assert_int_equal(winrsh_pipeline_send_input_string(p, "message 1", 9), 0);
    winrsh_psobject *two = NULL;
    assert_int_equal(winrsh_psobject_new_int32(&two, 2), 0);
    assert_int_equal(winrsh_pipeline_send_input(p, two), 0);
    winrsh_psobject_free(two);
    assert_int_equal(winrsh_pipeline_end_input(p), 0);
    assert_int_equal(winrsh_pipeline_send_input_string(p, "late", 4), WINRSH_EINVAL);

    /* The input went in one Send on stdin with the CommandId: two
     * PIPELINE_INPUT and an END_OF_PIPELINE_INPUT. */
    assert_int_equal(count_requests(&t.f, "Send"), 1);
    const char *send = find_request(&t.f, "Send", 0);
    assert_non_null(strstr(send, "Name=\"stdin\""));
    assert_non_null(strstr(send, winrsh_pipeline_id(p)));
    const char *b64 = strstr(send, "<rsp:Stream");
    b64 = strchr(b64, '>') + 1;
    wr_buf bin = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&bin, b64, strcspn(b64, "<")), 0);
    uint32_t types[3];
    size_t off = 0, n = 0;
    while (off < bin.len) {
        wr_psrp_fragment f;
        size_t used;
        assert_int_equal(wr_psrp_fragment_read(&f, bin.data + off, bin.len - off, &used), 0);
        assert_int_equal(f.flags, 3);
        wr_psrp_message m;
        assert_int_equal(wr_psrp_message_parse(&m, f.blob, f.blob_len), 0);
        assert_true(n < 3);
        types[n++] = m.type;
        off += used;
    }
    assert_int_equal(n, 3);
    assert_int_equal(types[0], WR_PSRP_PIPELINE_INPUT);
    assert_int_equal(types[1], WR_PSRP_PIPELINE_INPUT);
    assert_int_equal(types[2], WR_PSRP_END_OF_PIPELINE_INPUT);
    wr_buf_free(&bin);

    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    /* The merged error record came as output, then the input echoed. */
    assert_int_equal(t.s.noutputs, 4);
    assert_string_equal(t.s.outputs[0], "error");
    assert_string_equal(t.s.outputs[1], "message 1");
    assert_string_equal(t.s.outputs[2], "2");
    assert_int_equal(t.s.output_kinds[3], WINRSH_PSOBJ_LIST);
    assert_int_equal(t.s.nerrors, 0);
    assert_string_equal(wr_buf_cstr(&t.s.messages), "5:Start Block\n5:End Block\n");
    winrsh_pipeline_free(p);
    replay_close(&t);
}

/* A small MaxEnvelopeSize: CREATE_PIPELINE no longer fits one fragment, so
 * the Command carries the first (Start) fragment and a Send on stdin the
 * rest (End); outputs bigger than one Receive still arrive whole. */
static void test_small_envelope_splits_create(void **state)
{
    (void)state;
    replay t;
    memset(&t, 0, sizeof t);
    rec_load_file(&t.r, "test_psrp_small_msg_size.yml");
    t.f.r = &t.r;
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.max_envelope_size = 32768;
    assert_int_equal(
        wr_session_open_with(&t.session, "http://127.0.0.1:5985", &so, fake_post, &t.f), 0);
    assert_int_equal(winrsh_runspace_open(&t.rs, t.session, NULL), 0);
    winrsh_pipeline *p = replay_pipeline(&t, 1);
    char *script = malloc(40001);
    assert_non_null(script);
    memset(script, 'a', 40000);
    script[40000] = 0;
    assert_int_equal(winrsh_pipeline_add_script(p, script), 0);
    free(script);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_send_input_string(p, "input", 5), 0);
    assert_int_equal(winrsh_pipeline_end_input(p), 0);

    /* Command: one Start fragment; the first Send: the End fragment of the
     * same object; every request within the envelope. */
    for (size_t i = 0; i < t.f.nrequests; i++)
        assert_true(t.f.requests[i].len <= 32768);
    const char *cmd = find_request(&t.f, "Command", 0);
    const char *b64 = strstr(cmd, "<rsp:Arguments>") + strlen("<rsp:Arguments>");
    wr_buf bin = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&bin, b64, strcspn(b64, "<")), 0);
    wr_psrp_fragment f;
    size_t used;
    assert_int_equal(wr_psrp_fragment_read(&f, bin.data, bin.len, &used), 0);
    assert_int_equal(used, bin.len);
    assert_int_equal(f.flags, WR_PSRP_FRAGMENT_START);
    uint64_t oid = f.object_id;
    wr_buf_clear(&bin);
    /* The rest follows in order, in Sends of whole fragments, up to End. */
    uint64_t next = 1;
    int ended = 0;
    for (size_t k = 0; !ended; k++) {
        const char *send = find_request(&t.f, "Send", k);
        assert_non_null(send);
        b64 = strchr(strstr(send, "<rsp:Stream"), '>') + 1;
        wr_buf_clear(&bin);
        assert_int_equal(wr_base64_decode(&bin, b64, strcspn(b64, "<")), 0);
        for (size_t off = 0; off < bin.len && !ended; off += used) {
            assert_int_equal(wr_psrp_fragment_read(&f, bin.data + off, bin.len - off, &used), 0);
            assert_int_equal(f.object_id, oid);
            assert_int_equal(f.fragment_id, next++);
            assert_int_equal(f.flags & WR_PSRP_FRAGMENT_START, 0);
            ended = (f.flags & WR_PSRP_FRAGMENT_END) != 0;
        }
    }
    assert_true(next >= 3); /* three fragments at least: Start, ..., End */
    wr_buf_free(&bin);

    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 3);
    assert_string_equal(t.s.outputs[0], "input");
    assert_int_equal(strlen(t.s.outputs[1]), 20000);
    assert_int_equal(strlen(t.s.outputs[2]), 10000);
    winrsh_pipeline_free(p);
    replay_close(&t);
}

/* ---- host calls through a scripted binding --------------------------------- */

/*
 * A binding that plays server messages we build here, to drive the host
 * code paths no recording covers: Write-Host lines, RawUI getters answered
 * on "pr", a method nobody implements answered with an error record, a
 * Broken pool.
 */
typedef struct script_binding {
    wr_psrp_binding base;
    wr_buf to_deliver[16];
    size_t n, next;
    wr_buf pr_sent; /* fragments sent on the PromptResponse stream */
    int stopped, released, closed;
} script_binding;

static size_t sb_max_blob(wr_psrp_binding *b)
{
    (void)b;
    return 32768;
}

static int sb_open_pool(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *f, size_t l)
{
    (void)b;
    (void)rpid;
    (void)f;
    (void)l;
    return 0;
}

static int sb_create(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *f, size_t l)
{
    (void)b;
    (void)pid;
    (void)f;
    (void)l;
    return 0;
}

static int sb_send(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *f, size_t l, int pr)
{
    (void)pid;
    script_binding *sb = (script_binding *)b;
    if (pr)
        wr_buf_append(&sb->pr_sent, f, l);
    return 0;
}

static int sb_receive(wr_psrp_binding *b, const wr_guid *pid, long timeout_ms, wr_psrp_data_cb cb,
                      void *payload, int *timed_out)
{
    (void)timeout_ms;
    script_binding *sb = (script_binding *)b;
    *timed_out = 0;
    if (sb->next >= sb->n) {
        *timed_out = 1;
        return 0;
    }
    wr_buf *d = &sb->to_deliver[sb->next++];
    if (!d->len) /* the transport's "this command is done" */
        return cb(pid, NULL, 0, payload);
    return cb(pid, d->data, d->len, payload);
}

static int sb_stop(wr_psrp_binding *b, const wr_guid *pid)
{
    (void)pid;
    ((script_binding *)b)->stopped++;
    return 0;
}

static int sb_close_pipeline(wr_psrp_binding *b, const wr_guid *pid)
{
    (void)pid;
    ((script_binding *)b)->released++;
    return 0;
}

static int sb_close_pool(wr_psrp_binding *b)
{
    ((script_binding *)b)->closed++;
    return 0;
}

static void sb_free(wr_psrp_binding *b)
{
    (void)b; /* owned by the test */
}

static const wr_psrp_binding_ops SB_OPS = {
    .name = "script",
    .max_blob = sb_max_blob,
    .open_pool = sb_open_pool,
    .create_pipeline = sb_create,
    .send = sb_send,
    .receive = sb_receive,
    .stop = sb_stop,
    .close_pipeline = sb_close_pipeline,
    .close_pool = sb_close_pool,
    .free = sb_free,
};

static uint64_t server_oid = 1;

/* Queue one receive's worth: one server message. */
static void sb_queue(script_binding *sb, uint32_t type, const wr_guid *pid, const char *xml)
{
    wr_buf msg = WR_BUF_INIT;
    wr_guid rp = {{0}};
    assert_int_equal(
        wr_psrp_message_write(&msg, WR_PSRP_DEST_CLIENT, type, &rp, pid, xml, strlen(xml)), 0);
    wr_psrp_fragmenter fr = {server_oid++};
    assert_true(sb->n < 16);
    memset(&sb->to_deliver[sb->n], 0, sizeof(wr_buf));
    assert_int_equal(
        wr_psrp_fragment_message(&fr, msg.data, msg.len, 1000, &sb->to_deliver[sb->n], NULL), 0);
    sb->n++;
    wr_buf_free(&msg);
}

/* Queue the transport's end of a command's output (CommandState Done). */
static void sb_queue_done(script_binding *sb)
{
    assert_true(sb->n < 16);
    memset(&sb->to_deliver[sb->n++], 0, sizeof(wr_buf));
}

static void sb_release(script_binding *sb)
{
    for (size_t i = 0; i < sb->n; i++)
        wr_buf_free(&sb->to_deliver[i]);
    wr_buf_free(&sb->pr_sent);
}

#define OPENED "<Obj RefId=\"0\"><MS><I32 N=\"RunspaceState\">2</I32></MS></Obj>"
#define COMPLETED "<Obj RefId=\"0\"><MS><I32 N=\"PipelineState\">4</I32></MS></Obj>"
#define HOST_CALL(ci, mi, name, mp)                                                                \
    "<Obj RefId=\"0\"><MS><I64 N=\"ci\">" ci "</I64><Obj N=\"mi\" RefId=\"1\"><TN RefId=\"0\">"    \
    "<T>System.Management.Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T>"            \
    "<T>System.ValueType</T><T>System.Object</T></TN><ToString>" name "</ToString><I32>" mi        \
    "</I32></Obj><Obj N=\"mp\" RefId=\"2\"><TN RefId=\"1\"><T>System.Collections.ArrayList</T>"    \
    "<T>System.Object</T></TN><LST>" mp "</LST></Obj></MS></Obj>"

/* The host responses sent on "pr", as "ci:mr-kind|me" strings. */
static void decode_responses(const wr_buf *pr, wr_buf *out)
{
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    size_t off = 0;
    while (off < pr->len) {
        wr_psrp_fragment f;
        size_t used;
        assert_int_equal(wr_psrp_fragment_read(&f, pr->data + off, pr->len - off, &used), 0);
        assert_int_equal(f.flags, 3);
        wr_psrp_message m;
        assert_int_equal(wr_psrp_message_parse(&m, f.blob, f.blob_len), 0);
        assert_int_equal(m.type, WR_PSRP_PIPELINE_HOST_RESPONSE);
        winrsh_psobject *o = NULL;
        assert_int_equal(winrsh_psobject_from_clixml(&o, m.data, m.len), 0);
        int64_t ci = 0;
        assert_int_equal(winrsh_psobject_get_int64(winrsh_psobject_prop(o, "ci"), &ci), 0);
        const winrsh_psobject *mr = winrsh_psobject_prop(o, "mr");
        const winrsh_psobject *me = winrsh_psobject_prop(o, "me");
        if (me) {
            wr_buf_printf(
                out, "%lld:me:%s|", (long long)ci,
                winrsh_psobject_text(winrsh_psobject_path(me, "Exception.Message"), NULL));
        } else {
            assert_non_null(mr);
            const winrsh_psobject *w = winrsh_psobject_prop(mr, "width");
            int32_t v = 0;
            if (w && winrsh_psobject_get_int32(w, &v) == 0)
                wr_buf_printf(out, "%lld:width=%d|", (long long)ci, (int)v);
            else
                wr_buf_printf(out, "%lld:%s|", (long long)ci, winrsh_psobject_text(mr, NULL));
        }
        winrsh_psobject_free(o);
        off += used;
    }
    wr_psrp_defrag_free(&d);
}

static void test_host_calls(void **state)
{
    (void)state;
    script_binding sb;
    memset(&sb, 0, sizeof sb);
    sb.base.ops = &SB_OPS;
    seen s;
    memset(&s, 0, sizeof s);
    sb_queue(&sb, WR_PSRP_RUNSPACEPOOL_STATE, NULL, OPENED);

    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro.width = 133;
    ro.height = 40;
    ro.host_write = on_host_write;
    ro.host_payload = &s;
    winrsh_runspace *rs = NULL;
    assert_int_equal(wr_runspace_open_binding(&rs, &sb.base, NULL, &ro, NULL), 0);

    winrsh_pipeline_options po;
    winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION);
    po.output = on_output;
    po.payload = &s;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, &po), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "x"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    wr_guid other = {{1, 2, 3}}; /* the header's PID does not matter */
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other,
             HOST_CALL("-100", "16", "WriteLine2", "<S>hello from Write-Host</S>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other,
             HOST_CALL("-100", "14", "Write2", "<I32>7</I32><I32>0</I32><S>no newline</S>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other,
             HOST_CALL("-100", "22", "WriteWarningLine", "<S>careful</S>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other, HOST_CALL("5", "37", "GetBufferSize", ""));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other, HOST_CALL("6", "1", "GetName", ""));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other, HOST_CALL("7", "11", "ReadLine", ""));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other,
             HOST_CALL("8", "26", "PromptForChoice", "<S>t</S><S>m</S>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other,
             HOST_CALL("9", "46", "ReadKey", "<I32>4</I32>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, &other,
             HOST_CALL("-100", "6", "SetShouldExit", "<I32>5</I32>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_STATE, &other, COMPLETED);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_string_equal(wr_buf_cstr(&s.host), "0:hello from Write-Host\n0:no newline2:careful\n");
    wr_buf resp = WR_BUF_INIT;
    decode_responses(&sb.pr_sent, &resp);
    assert_string_equal(wr_buf_cstr(&resp), "5:width=133|6:winrsh|"
                                            "7:me:the winrsh host cannot read input (no terminal)|"
                                            "8:me:the winrsh host cannot read input (no terminal)|"
                                            "9:me:the winrsh host does not implement ReadKey|");
    wr_buf_free(&resp);
    int code = 0;
    assert_int_equal(winrsh_pipeline_exit_code(p, &code), 1);
    assert_int_equal(code, 5);
    winrsh_pipeline_free(p);
    assert_int_equal(sb.released, 1);
    assert_int_equal(sb.stopped, 0);
    winrsh_runspace_free(rs);
    assert_int_equal(sb.closed, 1);
    sb_release(&sb);
    seen_free(&s);
}

static const char *const typed_lines[] = {"bob", "maybe", "n"};
static size_t typed_next;

static int on_read_line(char *buf, size_t size, void *payload)
{
    (void)payload;
    if (typed_next >= sizeof typed_lines / sizeof typed_lines[0])
        return -1;
    snprintf(buf, size, "%s", typed_lines[typed_next++]);
    return 0;
}

#define FIELD(name)                                                                                \
    "<Obj RefId=\"4\"><MS><S N=\"name\">" name "</S><S N=\"label\"></S>"                           \
    "<S N=\"parameterTypeFullName\">System.String</S></MS></Obj>"
#define CHOICE(label) "<Obj><MS><S N=\"label\">" label "</S><S N=\"helpMessage\"></S></MS></Obj>"

/* Prompt and PromptForChoice answered from host_read_line, as Read-Host
 * and confirmations need; PromptForCredential without a way to read a
 * secret gets an error; PUBLIC_KEY_REQUEST is answered (PUBLIC_KEY, see
 * test_securestring.c) and the pipeline goes on. */
static void test_prompts_and_key_request(void **state)
{
    (void)state;
    script_binding sb;
    memset(&sb, 0, sizeof sb);
    sb.base.ops = &SB_OPS;
    seen s;
    memset(&s, 0, sizeof s);
    typed_next = 0;
    sb_queue(&sb, WR_PSRP_RUNSPACEPOOL_STATE, NULL, OPENED);
    winrsh_runspace_options ro;
    winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION);
    ro.host_write = on_host_write;
    ro.host_read_line = on_read_line;
    ro.host_payload = &s;
    winrsh_runspace *rs = NULL;
    assert_int_equal(wr_runspace_open_binding(&rs, &sb.base, NULL, &ro, NULL), 0);
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "Read-Host 'Your name'"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, NULL,
             HOST_CALL("1", "23", "Prompt",
                       "<S></S><S></S><Obj RefId=\"3\"><LST>" FIELD("Your name") "</LST></Obj>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, NULL,
             HOST_CALL("2", "26", "PromptForChoice",
                       "<S>Cap</S><S>Msg</S><Obj RefId=\"3\"><LST>" CHOICE("&amp;Yes")
                           CHOICE("&amp;No") "</LST></Obj><I32>0</I32>"));
    sb_queue(&sb, WR_PSRP_PIPELINE_HOST_CALL, NULL,
             HOST_CALL("3", "24", "PromptForCredential1", "<S>c</S><S>m</S><S>u</S><S>t</S>"));
    sb_queue(&sb, WR_PSRP_PUBLIC_KEY_REQUEST, NULL, "<S></S>");
    sb_queue(&sb, WR_PSRP_PIPELINE_STATE, NULL, COMPLETED);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(sb.stopped, 0);
    /* "maybe" matched no choice: asked again, then "n". */
    assert_string_equal(wr_buf_cstr(&s.host), "0:Your name: 0:Cap\n0:Msg\n"
                                              "0:[Y] Yes  [N] No  [?] Help (default is \"Y\"): "
                                              "0:[Y] Yes  [N] No  [?] Help (default is \"Y\"): ");
    /* Answers: a Hashtable for Prompt, 1 for "n", an error for credentials. */
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    size_t off = 0, n = 0;
    while (off < sb.pr_sent.len) {
        wr_psrp_fragment f;
        size_t used;
        assert_int_equal(
            wr_psrp_fragment_read(&f, sb.pr_sent.data + off, sb.pr_sent.len - off, &used), 0);
        wr_psrp_message m;
        assert_int_equal(wr_psrp_message_parse(&m, f.blob, f.blob_len), 0);
        winrsh_psobject *o = NULL;
        assert_int_equal(winrsh_psobject_from_clixml(&o, m.data, m.len), 0);
        const winrsh_psobject *mr = winrsh_psobject_prop(o, "mr");
        if (n == 0) {
            assert_int_equal(winrsh_psobject_get_kind(mr), WINRSH_PSOBJ_DICT);
            assert_string_equal(
                winrsh_psobject_text(winrsh_psobject_dict_get(mr, "Your name"), NULL), "bob");
        } else if (n == 1) {
            int32_t v = -1;
            assert_int_equal(winrsh_psobject_get_int32(mr, &v), 0);
            assert_int_equal(v, 1);
        } else {
            assert_non_null(winrsh_psobject_prop(o, "me"));
        }
        winrsh_psobject_free(o);
        off += used;
        n++;
    }
    assert_int_equal(n, 3);
    wr_psrp_defrag_free(&d);
    winrsh_pipeline_free(p);
    winrsh_runspace_free(rs);
    sb_release(&sb);
    seen_free(&s);
}

static void test_broken_pool(void **state)
{
    (void)state;
    script_binding sb;
    memset(&sb, 0, sizeof sb);
    sb.base.ops = &SB_OPS;
    sb_queue(&sb, WR_PSRP_RUNSPACEPOOL_STATE, NULL,
             "<Obj RefId=\"0\"><MS><I32 N=\"RunspaceState\">5</I32>"
             "<Obj N=\"ExceptionAsErrorRecord\" RefId=\"1\"><MS><Obj N=\"Exception\" RefId=\"2\">"
             "<Props><S N=\"Message\">The session configuration is disabled.</S></Props></Obj>"
             "</MS></Obj></MS></Obj>");
    winrsh_runspace_options ro;
    winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION);
    winrsh_runspace *rs = NULL;
    assert_int_equal(wr_runspace_open_binding(&rs, &sb.base, NULL, &ro, NULL), WINRSH_EPROTO);
    assert_null(rs);
    assert_non_null(strstr(winrsh_error_last()->message, "The session configuration is disabled."));
    /* The half-made shell was deleted. */
    assert_int_equal(sb.closed, 1);
    sb_release(&sb);
}

static void test_stop_and_free_running(void **state)
{
    (void)state;
    script_binding sb;
    memset(&sb, 0, sizeof sb);
    sb.base.ops = &SB_OPS;
    sb_queue(&sb, WR_PSRP_RUNSPACEPOOL_STATE, NULL, OPENED);
    winrsh_runspace_options ro;
    winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION);
    winrsh_runspace *rs = NULL;
    assert_int_equal(wr_runspace_open_binding(&rs, &sb.base, NULL, &ro, NULL), 0);
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_command(p, "Start-Sleep"), 0);
    assert_int_equal(winrsh_pipeline_add_argument_string(p, "60"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    int done = 1;
    assert_int_equal(winrsh_pipeline_receive(p, 100, &done), 0); /* nothing: timed out */
    assert_int_equal(done, 0);
    assert_int_equal(winrsh_pipeline_stop(p), 0);
    assert_int_equal(winrsh_pipeline_stop(p), 0); /* once */
    assert_int_equal(sb.stopped, 1);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_STOPPING);
    sb_queue(&sb, WR_PSRP_PIPELINE_STATE, NULL,
             "<Obj RefId=\"0\"><MS><I32 N=\"PipelineState\">3</I32></MS></Obj>");
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_STOPPED);
    assert_int_equal(winrsh_pipeline_error_count(p), 0);
    winrsh_pipeline_free(p);
    assert_int_equal(sb.released, 1);

    /* A stop whose Stopped state was lost (a Receive abandoned after
     * Ctrl-C): the transport's Done ends the pipeline as Stopped. */
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "Start-Sleep 60"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_stop(p), 0);
    sb_queue_done(&sb);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_STOPPED);
    winrsh_pipeline_free(p);
    /* Without a stop, a Done with no state is the server's fault: an error,
     * and the pipeline is over. */
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "x"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    sb_queue_done(&sb);
    assert_int_equal(winrsh_pipeline_wait(p), WINRSH_EPROTO);
    assert_non_null(strstr(winrsh_error_last()->message, "without reporting its state"));
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_FAILED);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    winrsh_pipeline_free(p);
    assert_int_equal(sb.stopped, 2);
    assert_int_equal(sb.released, 3);

    /* Freeing a running pipeline stops it (bounded) and releases it. */
    p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "Start-Sleep 60"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    winrsh_pipeline_free(p);
    assert_int_equal(sb.stopped, 3);
    assert_int_equal(sb.released, 4);
    winrsh_runspace_free(rs);
    sb_release(&sb);
}

static void test_api_misuse(void **state)
{
    (void)state;
    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, 99), WINRSH_EINVAL);
    winrsh_runspace *rs = NULL;
    assert_int_equal(winrsh_runspace_open(&rs, NULL, NULL), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_open(NULL, NULL, NULL), WINRSH_EINVAL);
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, NULL, NULL), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_add_script(NULL, "x"), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_invoke(NULL), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_get_state(NULL), WINRSH_PIPELINE_NOT_STARTED);
    winrsh_pipeline_free(NULL);
    winrsh_runspace_free(NULL);

    script_binding sb;
    memset(&sb, 0, sizeof sb);
    sb.base.ops = &SB_OPS;
    sb_queue(&sb, WR_PSRP_RUNSPACEPOOL_STATE, NULL, OPENED);
    winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION);
    assert_int_equal(wr_runspace_open_binding(&rs, &sb.base, NULL, &ro, NULL), 0);
    assert_int_equal(winrsh_pipeline_new(&p, rs, NULL), 0);
    assert_int_equal(winrsh_pipeline_add_argument_string(p, "x"), WINRSH_EINVAL); /* no command */
    assert_int_equal(winrsh_pipeline_invoke(p), WINRSH_EINVAL);                   /* empty */
    assert_int_equal(winrsh_pipeline_add_command(p, "Get-Item"), 0);
    assert_int_equal(winrsh_pipeline_add_parameter_string(p, "Path", "C:\\"), 0);
    assert_int_equal(winrsh_pipeline_add_switch(p, "Force"), 0);
    assert_int_equal(winrsh_pipeline_send_input_string(p, "x", 1), WINRSH_EINVAL); /* no input */
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), WINRSH_EINVAL);
    assert_int_equal(winrsh_pipeline_add_command(p, "More"), WINRSH_EINVAL);
    winrsh_pipeline_free(p);
    winrsh_runspace_free(rs);
    sb_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_runspace),
        cmocka_unit_test(test_multiple_commands),
        cmocka_unit_test(test_long_running_timed_out),
        cmocka_unit_test(test_error_failed),
        cmocka_unit_test(test_pshost_set_should_exit),
        cmocka_unit_test(test_protocol_2_3_input_and_debug),
        cmocka_unit_test(test_small_envelope_splits_create),
        cmocka_unit_test(test_host_calls),
        cmocka_unit_test(test_prompts_and_key_request),
        cmocka_unit_test(test_broken_pool),
        cmocka_unit_test(test_stop_and_free_running),
        cmocka_unit_test(test_api_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
