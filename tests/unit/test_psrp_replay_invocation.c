/*
 * test_psrp_replay_invocation.c: runspace and pipeline options, every
 * stream, nested pipelines, RawUI host calls and an old (2.1) server,
 * replayed from real recorded Windows sessions through the public API (the
 * harness: psrp_replay_harness.h). Each test checks what we sent (decoded
 * from the requests) as well as what we made of the server's answers.
 */
#include "psrp_replay_harness.h"

/* ---- helpers ---------------------------------------------------------------- */

/* The idx-th PSRP message in the base64 content of the first element that
 * starts with `open` in `request`, as an object; *type gets its type. */
static winrsh_psobject *sent_message(const char *request, const char *open, size_t idx,
                                     uint32_t *type)
{
    const char *b64 = strstr(request, open);
    assert_non_null(b64);
    b64 = strchr(b64, '>') + 1;
    wr_buf bin = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&bin, b64, strcspn(b64, "<")), 0);
    size_t off = 0;
    winrsh_psobject *o = NULL;
    for (size_t n = 0; off < bin.len; n++) {
        wr_psrp_fragment f;
        size_t used;
        assert_int_equal(wr_psrp_fragment_read(&f, bin.data + off, bin.len - off, &used), 0);
        assert_int_equal(f.flags, WR_PSRP_FRAGMENT_START | WR_PSRP_FRAGMENT_END);
        off += used;
        if (n != idx)
            continue;
        wr_psrp_message m;
        assert_int_equal(wr_psrp_message_parse(&m, f.blob, f.blob_len), 0);
        *type = m.type;
        if (m.len == 0) /* END_OF_PIPELINE_INPUT and the like carry no data */
            assert_int_equal(winrsh_psobject_new_null(&o), 0);
        else
            assert_int_equal(winrsh_psobject_from_clixml(&o, m.data, m.len), 0);
        break;
    }
    wr_buf_free(&bin);
    assert_non_null(o);
    return o;
}

/* The CREATE_PIPELINE of the k-th Command we sent. */
static winrsh_psobject *sent_create_pipeline(const fake *f, size_t k)
{
    const char *cmd = find_request(f, "Command", k);
    assert_non_null(cmd);
    uint32_t type = 0;
    winrsh_psobject *o = sent_message(cmd, "<rsp:Arguments>", 0, &type);
    assert_int_equal(type, WR_PSRP_CREATE_PIPELINE);
    return o;
}

static int get_bool(const winrsh_psobject *o, const char *path)
{
    int b = -1;
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_path(o, path), &b), 0);
    return b;
}

static const char *get_text(const winrsh_psobject *o, const char *path)
{
    const char *t = winrsh_psobject_text(winrsh_psobject_path(o, path), NULL);
    assert_non_null(t);
    return t;
}

/* replay_open with options the test sets up. */
static void replay_open_opts(replay *t, const char *name, winrsh_runspace_options *ro)
{
    memset(t, 0, sizeof *t);
    rec_load_file(&t->r, name);
    t->f.r = &t->r;
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.user = "vagrant";
    so.password = "vagrant";
    assert_int_equal(
        wr_session_open_with(&t->session, "http://127.0.0.1:5985", &so, fake_post, &t->f), 0);
    ro->host_write = on_host_write;
    ro->host_payload = &t->s;
    int rc = winrsh_runspace_open(&t->rs, t->session, ro);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_int_equal(winrsh_runspace_get_state(t->rs), WINRSH_RUNSPACE_OPENED);
}

static void init_ro(winrsh_runspace_options *ro)
{
    assert_int_equal(winrsh_runspace_options_init(ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro->width = 100;
}

/* Runs one pipeline of `script` to its end and returns its state. */
static winrsh_pipeline_state run_script(replay *t, const char *script, winrsh_pipeline **out)
{
    winrsh_pipeline *p = replay_pipeline(t, 0);
    assert_int_equal(winrsh_pipeline_add_script(p, script), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    winrsh_pipeline_state st = winrsh_pipeline_get_state(p);
    if (out)
        *out = p;
    else
        winrsh_pipeline_free(p);
    return st;
}

/* ---- the tests ------------------------------------------------------------------- */

static winrsh_psobject *kept_output;

static int keep_first_output(const winrsh_psobject *o, void *payload)
{
    (void)payload;
    if (!kept_output)
        kept_output = winrsh_psobject_ref(o);
    return 0;
}

/* $PSSenderInfo.ApplicationArguments comes back as the dictionary we sent. */
static void test_application_arguments(void **state)
{
    (void)state;
    winrsh_psobject *args = NULL, *k = NULL, *v = NULL;
    assert_int_equal(winrsh_psobject_new_dict(&args), 0);
    assert_int_equal(winrsh_psobject_new_string(&k, "test_var", 8), 0);
    assert_int_equal(winrsh_psobject_new_string(&v, "abcdef12345", 11), 0);
    assert_int_equal(winrsh_psobject_dict_add(args, k, v), 0);
    winrsh_runspace_options ro;
    init_ro(&ro);
    ro.application_arguments = args;
    replay t;
    replay_open_opts(&t, "test_psrp_application_args.yml", &ro);
    winrsh_psobject_free(args); /* the runspace holds its own reference */

    /* INIT_RUNSPACEPOOL carries them. */
    uint32_t type = 0;
    winrsh_psobject *init =
        sent_message(find_request(&t.f, "Create", 0), "<creationXml", 1, &type);
    assert_int_equal(type, WR_PSRP_INIT_RUNSPACEPOOL);
    const winrsh_psobject *sent = winrsh_psobject_path(init, "ApplicationArguments");
    assert_int_equal(winrsh_psobject_get_kind(sent), WINRSH_PSOBJ_DICT);
    assert_int_equal(winrsh_psobject_dict_count(sent), 1);
    assert_string_equal(winrsh_psobject_text(winrsh_psobject_dict_get(sent, "test_var"), NULL),
                        "abcdef12345");
    winrsh_psobject_free(init);

    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.output = keep_first_output;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, t.rs, &po), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, "$PSSenderInfo.ApplicationArguments"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_non_null(kept_output);
    assert_int_equal(winrsh_psobject_get_kind(kept_output), WINRSH_PSOBJ_DICT);
    assert_int_equal(winrsh_psobject_is_type(kept_output,
                                             "System.Management.Automation.PSPrimitiveDictionary"),
                     1);
    assert_string_equal(
        winrsh_psobject_text(winrsh_psobject_dict_get(kept_output, "test_var"), NULL),
        "abcdef12345");
    winrsh_psobject_free(kept_output);
    kept_output = NULL;
    winrsh_pipeline_free(p);
    replay_close(&t);
}

/* Arguments that are not a dictionary, or a pool smaller than its minimum,
 * are refused before anything is sent. */
static void test_bad_runspace_options(void **state)
{
    (void)state;
    replay t;
    memset(&t, 0, sizeof t);
    rec_load_file(&t.r, "test_psrp_application_args.yml");
    t.f.r = &t.r;
    assert_int_equal(
        wr_session_open_with(&t.session, "http://127.0.0.1:5985", NULL, fake_post, &t.f), 0);
    winrsh_runspace_options ro;
    init_ro(&ro);
    winrsh_psobject *s = NULL;
    assert_int_equal(winrsh_psobject_new_string(&s, "x", 1), 0);
    ro.application_arguments = s;
    assert_int_equal(winrsh_runspace_open(&t.rs, t.session, &ro), WINRSH_EINVAL);
    assert_non_null(strstr(winrsh_error_last()->message, "application_arguments"));
    winrsh_psobject_free(s);
    init_ro(&ro);
    ro.min_runspaces = 3;
    ro.max_runspaces = 2;
    assert_int_equal(winrsh_runspace_open(&t.rs, t.session, &ro), WINRSH_EINVAL);
    assert_non_null(strstr(winrsh_error_last()->message, "min_runspaces"));
    assert_int_equal(t.f.nrequests, 0);
    winrsh_session_free(t.session);
    fake_free(&t.f);
    rec_release(&t.r);
}

/* WINRS_NOPROFILE on the Create, as pypsrp sent it; the server ran without
 * the user's profile (USERPROFILE is the system profile). */
static void test_no_profile(void **state)
{
    (void)state;
    winrsh_runspace_options ro;
    init_ro(&ro);
    ro.no_profile = 1;
    ro.min_runspaces = 1;
    ro.max_runspaces = 2;
    replay t;
    replay_open_opts(&t, "test_psrp_no_profile.yml", &ro);
    const char *create = find_request(&t.f, "Create", 0);
    assert_non_null(
        strstr(create, "<w:Option Name=\"WINRS_NOPROFILE\" MustComply=\"true\">TRUE</w:Option>"));
    uint32_t type = 0;
    winrsh_psobject *init = sent_message(create, "<creationXml", 1, &type);
    int32_t n = 0;
    assert_int_equal(winrsh_psobject_get_int32(winrsh_psobject_path(init, "MinRunspaces"), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(winrsh_psobject_get_int32(winrsh_psobject_path(init, "MaxRunspaces"), &n), 0);
    assert_int_equal(n, 2);
    winrsh_psobject_free(init);
    assert_int_equal(run_script(&t, "$env:USERPROFILE.ToUpperInvariant()", NULL),
                     WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "C:\\WINDOWS\\SYSTEM32\\CONFIG\\SYSTEMPROFILE");
    replay_close(&t);
}

/* Without no_profile the Create has no WINRS_NOPROFILE option at all. */
static void test_profile_by_default(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_no_profile.yml");
    assert_null(strstr(find_request(&t.f, "Create", 0), "WINRS_NOPROFILE"));
    replay_close(&t);
}

/* A pipeline built of one command with an argument: CREATE_PIPELINE holds
 * exactly that command (pypsrp's clear_commands left only "echo new"). */
static void test_single_command_pipeline(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_clear_commands.yml");
    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_command(p, "echo"), 0);
    assert_int_equal(winrsh_pipeline_add_argument_string(p, "new"), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "new");
    assert_int_equal(t.s.nprogress, 1); /* "Preparing modules for first use." */

    winrsh_psobject *cp = sent_create_pipeline(&t.f, 0);
    const winrsh_psobject *cmds = winrsh_psobject_path(cp, "PowerShell.Cmds");
    assert_int_equal(winrsh_psobject_list_count(cmds), 1);
    const winrsh_psobject *c0 = winrsh_psobject_list_item(cmds, 0);
    assert_string_equal(get_text(c0, "Cmd"), "echo");
    assert_int_equal(get_bool(c0, "IsScript"), 0);
    const winrsh_psobject *args = winrsh_psobject_path(c0, "Args");
    assert_int_equal(winrsh_psobject_list_count(args), 1);
    /* Positional: no name (Nil). */
    assert_int_equal(
        winrsh_psobject_get_kind(winrsh_psobject_path(winrsh_psobject_list_item(args, 0), "N")),
        WINRSH_PSOBJ_NULL);
    assert_string_equal(get_text(winrsh_psobject_list_item(args, 0), "V"), "new");
    winrsh_psobject_free(cp);
    winrsh_pipeline_free(p);
    replay_close(&t);
}

/* AddToHistory false (the default) on both pipelines; Get-History then has
 * nothing to show. */
static void test_no_history(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_with_no_history.yml");
    assert_int_equal(run_script(&t, "Write-Output 1; Write-Output 2", NULL),
                     WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 2);
    assert_int_equal(t.s.output_kinds[0], WINRSH_PSOBJ_INT32);
    assert_string_equal(t.s.outputs[0], "1");
    assert_string_equal(t.s.outputs[1], "2");
    assert_int_equal(run_script(&t, "Get-History", NULL), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 2);
    for (size_t k = 0; k < 2; k++) {
        winrsh_psobject *cp = sent_create_pipeline(&t.f, k);
        assert_int_equal(get_bool(cp, "AddToHistory"), 0);
        assert_int_equal(get_bool(cp, "IsNested"), 0);
        assert_int_equal(get_bool(cp, "NoInput"), 1);
        winrsh_psobject_free(cp);
    }
    replay_close(&t);
}

/* A JEA endpoint: the configuration name picks the resource URI; the
 * endpoint's first three Receives each bring one pool message; a script in
 * no-language mode fails with the server's reason. */
static void test_jea_configuration(void **state)
{
    (void)state;
    winrsh_runspace_options ro;
    init_ro(&ro);
    ro.config_name = "JEARole";
    replay t;
    replay_open_opts(&t, "test_psrp_with_jea_configuration.yml", &ro);
    for (size_t i = 0; i < t.f.nrequests; i++)
        assert_non_null(strstr(wr_buf_cstr(&t.f.requests[i]),
                               ">http://schemas.microsoft.com/powershell/JEARole</"));
    assert_int_equal(count_requests(&t.f, "Receive"), 3);
    assert_string_equal(winrsh_runspace_protocol_version(t.rs), "2.3");

    winrsh_pipeline *p = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_command(p, "Get-Item"), 0);
    assert_int_equal(
        winrsh_pipeline_add_parameter_string(p, "Path", "WSMan:\\localhost\\Service\\AllowUnencrypted"),
        0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 1);
    assert_int_equal(t.s.output_kinds[0], WINRSH_PSOBJ_OBJECT);
    winrsh_pipeline_free(p);

    assert_int_equal(run_script(&t, "Set-Item -Path WSMan:\\localhost\\Service\\AllowUnencrypted "
                                    "-Value $false; Get-Item -Path C:\\Windows",
                                &p),
                     WINRSH_PIPELINE_FAILED);
    assert_int_equal(t.s.nerrors, 2); /* the error record, then the failure */
    assert_int_equal(t.s.nterminating, 1);
    const char *e = wr_buf_cstr(&t.s.errors);
    assert_non_null(strstr(e, "Cannot find a provider with the name 'FileSystem'."));
    assert_non_null(strstr(e, "The syntax is not supported by this runspace."));
    const winrsh_psobject *failure = winrsh_pipeline_failure(p);
    assert_non_null(failure);
    assert_non_null(strstr(winrsh_psobject_tostring(failure), "no-language mode"));
    winrsh_pipeline_free(p);
    replay_close(&t);
}

/* Every stream of one invocation, in the order the server wrote them. */
static void test_every_stream(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_stream_no_output_invocation.yml");
    assert_int_equal(run_script(&t,
                                "$DebugPreference = 'Continue'\n$VerbosePreference = 'Continue'\n"
                                "Write-Debug 'debug stream'\nWrite-Verbose 'verbose stream'\n"
                                "Write-Error 'error stream'\nWrite-Output 'output stream'\n"
                                "Write-Warning 'warning stream'\n"
                                "Write-Information 'information stream'\n",
                                NULL),
                     WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 1);
    assert_string_equal(t.s.outputs[0], "output stream");
    assert_int_equal(t.s.nerrors, 1);
    assert_int_equal(t.s.nterminating, 0);
    assert_non_null(strstr(wr_buf_cstr(&t.s.errors), "error stream"));
    assert_string_equal(wr_buf_cstr(&t.s.messages), "5:debug stream\n"
                                                    "4:verbose stream\n"
                                                    "3:warning stream\n"
                                                    "6:information stream\n");
    assert_int_equal(t.s.nprogress, 1);
    replay_close(&t);
}

/* A server of protocol 2.1 (Windows 7 / 2008 R2): input, merged errors and
 * debug records as with 2.3; its version is reported; its own CommandId is
 * used. */
static void test_protocol_2_1(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_run_protocol_version_2.1.yml");
    assert_string_equal(winrsh_runspace_protocol_version(t.rs), "2.1");
    winrsh_pipeline *p = replay_pipeline(&t, 1);
    assert_int_equal(winrsh_pipeline_add_script(p, "begin {} process { $input } end {}"), 0);
    assert_int_equal(winrsh_pipeline_merge_errors(p), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    assert_int_equal(winrsh_pipeline_send_input_string(p, "message 1", 9), 0);
    winrsh_psobject *two = NULL;
    assert_int_equal(winrsh_psobject_new_int32(&two, 2), 0);
    assert_int_equal(winrsh_pipeline_send_input(p, two), 0);
    winrsh_psobject_free(two);
    winrsh_psobject *arr = NULL, *s3 = NULL, *i3 = NULL;
    assert_int_equal(winrsh_psobject_new_list(&arr), 0);
    assert_int_equal(winrsh_psobject_new_string(&s3, "3", 1), 0);
    assert_int_equal(winrsh_psobject_new_int32(&i3, 3), 0);
    assert_int_equal(winrsh_psobject_list_append(arr, s3), 0);
    assert_int_equal(winrsh_psobject_list_append(arr, i3), 0);
    assert_int_equal(winrsh_pipeline_send_input(p, arr), 0);
    winrsh_psobject_free(arr);
    assert_int_equal(winrsh_pipeline_end_input(p), 0);
    const char *send = find_request(&t.f, "Send", 0);
    uint32_t type = 0;
    winrsh_psobject *third = sent_message(send, "<rsp:Stream", 2, &type);
    assert_int_equal(type, WR_PSRP_PIPELINE_INPUT);
    assert_int_equal(winrsh_psobject_list_count(third), 2);
    winrsh_psobject_free(third);
    winrsh_psobject *end = sent_message(send, "<rsp:Stream", 3, &type);
    assert_int_equal(type, WR_PSRP_END_OF_PIPELINE_INPUT);
    winrsh_psobject_free(end);

    assert_int_equal(winrsh_pipeline_wait(p), 0);
    assert_int_equal(winrsh_pipeline_get_state(p), WINRSH_PIPELINE_COMPLETED);
    assert_int_equal(t.s.noutputs, 4);
    assert_string_equal(t.s.outputs[0], "error");
    assert_string_equal(t.s.outputs[1], "message 1");
    assert_string_equal(t.s.outputs[2], "2");
    assert_int_equal(t.s.output_kinds[3], WINRSH_PSOBJ_LIST);
    assert_string_equal(wr_buf_cstr(&t.s.messages), "5:Start Block\n5:End Block\n");
    /* WinRM 2.0 ignored the CommandId we proposed and chose its own: the
     * Send, the Receive and the release name that one. */
    static const char server_id[] = "24864ED3-8FB4-4934-AD7D-B29723D4681F";
    assert_non_null(strstr(find_request(&t.f, "Command", 0), winrsh_pipeline_id(p)));
    assert_non_null(strstr(send, server_id));
    const char *recv = find_request(&t.f, "Receive", 2);
    assert_non_null(strstr(recv, server_id));
    assert_null(strstr(recv, winrsh_pipeline_id(p)));
    winrsh_pipeline_free(p);
    assert_non_null(strstr(find_request(&t.f, "Signal", 0), server_id));
    replay_close(&t);
}

/* A nested pipeline reads a variable of the busy one, which is then stopped
 * with the PowerShell stop signal. */
static void test_nested_pipeline(void **state)
{
    (void)state;
    replay t;
    replay_open(&t, "test_psrp_nested_command.yml");
    winrsh_pipeline *busy = replay_pipeline(&t, 0);
    assert_int_equal(winrsh_pipeline_add_script(busy, "$i = 0; while ($true) { $i++ }"), 0);
    assert_int_equal(winrsh_pipeline_invoke(busy), 0);

    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.nested = 1;
    po.output = keep_first_output;
    winrsh_pipeline *nested = NULL;
    assert_int_equal(winrsh_pipeline_new(&nested, t.rs, &po), 0);
    assert_int_equal(winrsh_pipeline_add_command(nested, "Get-Variable"), 0);
    assert_int_equal(winrsh_pipeline_add_parameter_string(nested, "Name", "i"), 0);
    assert_int_equal(winrsh_pipeline_invoke(nested), 0);
    assert_int_equal(winrsh_pipeline_wait(nested), 0);
    assert_int_equal(winrsh_pipeline_get_state(nested), WINRSH_PIPELINE_COMPLETED);
    assert_non_null(kept_output);
    assert_int_equal(winrsh_psobject_is_type(kept_output, "System.Management.Automation.PSVariable"),
                     1);
    assert_string_equal(get_text(kept_output, "Name"), "i");
    int32_t i = 0;
    assert_int_equal(winrsh_psobject_get_int32(winrsh_psobject_prop(kept_output, "Value"), &i), 0);
    assert_int_equal(i, 376241);
    winrsh_psobject_free(kept_output);
    kept_output = NULL;

    winrsh_psobject *cp = sent_create_pipeline(&t.f, 0);
    assert_int_equal(get_bool(cp, "IsNested"), 0);
    assert_int_equal(get_bool(cp, "PowerShell.IsNested"), 0);
    winrsh_psobject_free(cp);
    cp = sent_create_pipeline(&t.f, 1);
    assert_int_equal(get_bool(cp, "IsNested"), 1);
    assert_int_equal(get_bool(cp, "PowerShell.IsNested"), 1);
    winrsh_psobject_free(cp);

    assert_int_equal(winrsh_pipeline_stop(busy), 0);
    assert_int_equal(winrsh_pipeline_get_state(busy), WINRSH_PIPELINE_STOPPING);
    const char *sig = find_request(&t.f, "Signal", 0);
    assert_non_null(sig);
    assert_non_null(strstr(sig, "<rsp:Code>http://schemas.microsoft.com/powershell/signal/crtl_c<"));
    assert_non_null(strstr(sig, winrsh_pipeline_id(busy)));
    /* As pypsrp did: no wait for Stopped, the pool goes at once (freeing
     * the busy pipeline first would wait a few rounds for its state). */
    assert_int_equal(winrsh_runspace_close(t.rs), 0);
    winrsh_pipeline_free(nested);
    winrsh_pipeline_free(busy);
    assert_int_equal(count_requests(&t.f, "Receive"), 3);
    replay_close(&t);
}

/* RawUI setters reach host_call as void calls with their values; ReadKey is
 * answered with what host_call returns, sent on "pr" as a host response. */
typedef struct rawui_seen {
    wr_buf calls; /* "name(arg)" for each call */
    int readkeys;
} rawui_seen;

static int rawui_host_call(int method_id, const char *method_name, const winrsh_psobject *params,
                           winrsh_psobject **result, void *payload)
{
    rawui_seen *s = payload;
    wr_buf_printf(&s->calls, "%d:%s", method_id, method_name);
    const winrsh_psobject *a0 = winrsh_psobject_list_item(params, 0);
    if (a0 && winrsh_psobject_get_kind(a0) == WINRSH_PSOBJ_INT32)
        wr_buf_printf(&s->calls, "(%s)", winrsh_psobject_text(a0, NULL));
    else if (a0 && winrsh_psobject_path(a0, "x"))
        wr_buf_printf(&s->calls, "(%s,%s)", get_text(a0, "x"), get_text(a0, "y"));
    else if (a0 && winrsh_psobject_path(a0, "width"))
        wr_buf_printf(&s->calls, "(%s,%s)", get_text(a0, "width"), get_text(a0, "height"));
    else if (a0 && winrsh_psobject_get_kind(a0) == WINRSH_PSOBJ_STRING)
        wr_buf_printf(&s->calls, "(%s)", winrsh_psobject_text(a0, NULL));
    wr_buf_putc(&s->calls, '\n');
    if (method_id != 46)
        return 1; /* not handled here: the library's default (nothing for a void call) */
    s->readkeys++;
    static const char key[] = "<Obj RefId=\"0\"><MS><I32 N=\"virtualKeyCode\">65</I32>"
                              "<C N=\"character\">97</C><I32 N=\"controlKeyState\">128</I32>"
                              "<B N=\"keyDown\">true</B></MS></Obj>";
    return winrsh_psobject_from_clixml(result, key, sizeof key - 1);
}

static void test_rawui_host_calls(void **state)
{
    (void)state;
    rawui_seen rs = {WR_BUF_INIT, 0};
    winrsh_runspace_options ro;
    init_ro(&ro);
    replay t;
    ro.host_call = rawui_host_call;
    memset(&t, 0, sizeof t);
    rec_load_file(&t.r, "test_psrp_pshost_raw_ui_mocked_methods.yml");
    t.f.r = &t.r;
    assert_int_equal(
        wr_session_open_with(&t.session, "http://127.0.0.1:5985", NULL, fake_post, &t.f), 0);
    ro.host_payload = &rs;
    assert_int_equal(winrsh_runspace_open(&t.rs, t.session, &ro), 0);
    assert_int_equal(run_script(&t, "$host.UI.RawUI...", NULL), WINRSH_PIPELINE_COMPLETED);

    const char *calls = wr_buf_cstr(&rs.calls);
    assert_non_null(strstr(calls, "28:SetForegroundColor(10)\n"));
    assert_non_null(strstr(calls, "30:SetBackgroundColor(12)\n"));
    assert_non_null(strstr(calls, "32:SetCursorPosition(11,12)\n"));
    assert_non_null(strstr(calls, "34:SetWindowPosition(13,14)\n"));
    assert_non_null(strstr(calls, "36:SetCursorSize(25)\n"));
    assert_non_null(strstr(calls, "38:SetBufferSize(8,9)\n"));
    assert_non_null(strstr(calls, "40:SetWindowSize(8,9)\n"));
    assert_non_null(strstr(calls, "42:SetWindowTitle(New Window Title)\n"));
    assert_non_null(strstr(calls, "46:ReadKey(4)\n"));
    assert_non_null(strstr(calls, "47:FlushInputBuffer\n"));
    assert_non_null(strstr(calls, "48:SetBufferContents1"));
    assert_non_null(strstr(calls, "49:SetBufferContents2"));
    assert_non_null(strstr(calls, "51:ScrollBufferContents"));
    assert_int_equal(rs.readkeys, 1);

    /* One answer went back, on "pr" for the pipeline: ReadKey's call id 1
     * and the KeyInfo. */
    assert_int_equal(count_requests(&t.f, "Send"), 1);
    const char *send = find_request(&t.f, "Send", 0);
    assert_non_null(strstr(send, "Name=\"pr\""));
    uint32_t type = 0;
    winrsh_psobject *resp = sent_message(send, "<rsp:Stream", 0, &type);
    assert_int_equal(type, WR_PSRP_PIPELINE_HOST_RESPONSE);
    int64_t ci = 0;
    assert_int_equal(winrsh_psobject_get_int64(winrsh_psobject_path(resp, "ci"), &ci), 0);
    assert_int_equal(ci, 1);
    int32_t mi = 0;
    assert_int_equal(winrsh_psobject_get_int32(winrsh_psobject_path(resp, "mi"), &mi), 0);
    assert_int_equal(mi, 46);
    assert_string_equal(get_text(resp, "mr.virtualKeyCode"), "65");
    assert_int_equal(get_bool(resp, "mr.keyDown"), 1);
    winrsh_psobject_free(resp);

    /* The outputs are the server's own values (it answered the getters from
     * the HostInfo we sent, and kept what the setters set). */
    assert_int_equal(t.s.noutputs, 17);
    /* An enum's text is its value: ConsoleColor Green is 10. */
    assert_string_equal(t.s.outputs[1], "10");
    assert_string_equal(t.s.outputs[14], "pypsrp window");
    assert_string_equal(t.s.outputs[15], "New Window Title");
    wr_buf_free(&rs.calls);
    replay_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_arguments),
        cmocka_unit_test(test_bad_runspace_options),
        cmocka_unit_test(test_no_profile),
        cmocka_unit_test(test_profile_by_default),
        cmocka_unit_test(test_single_command_pipeline),
        cmocka_unit_test(test_no_history),
        cmocka_unit_test(test_jea_configuration),
        cmocka_unit_test(test_every_stream),
        cmocka_unit_test(test_protocol_2_1),
        cmocka_unit_test(test_nested_pipeline),
        cmocka_unit_test(test_rawui_host_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
