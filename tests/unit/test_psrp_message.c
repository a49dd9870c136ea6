/*
 * test_psrp_message.c: PSRP message headers, type constants, and the
 * client message builders compared with what pypsrp sent in the
 * recordings (tests/fixtures/pypsrp/responses).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/guid.h"
#include "psrp/clixml.h"
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "winrsh/errors.h"
#include "winrsh/psobject.h"

/* ---- recorded client messages ----------------------------------------- */

typedef struct recorded {
    int n;
    uint32_t types[64];
    char *xml[64];
} recorded;

static int keep(void *payload, uint64_t oid, const unsigned char *msg, size_t len)
{
    recorded *r = payload;
    (void)oid;
    wr_psrp_message m;
    assert_int_equal(wr_psrp_message_parse(&m, msg, len), 0);
    assert_true(r->n < 64);
    r->types[r->n] = m.type;
    r->xml[r->n] = strndup(m.data, m.len);
    r->n++;
    return 0;
}

/* Every message pypsrp sent in one recording, in order. */
static void load_client_messages(const char *name, recorded *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/pypsrp/responses/%s", WINRSH_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    memset(r, 0, sizeof *r);
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (strncmp(line, "- request: ", 11) != 0)
            continue;
        static const char *const opens[] = {"<creationXml ", "<rsp:Arguments>", "<rsp:Stream "};
        for (size_t k = 0; k < 3; k++) {
            for (char *p = strstr(line, opens[k]); p; p = strstr(p + 1, opens[k])) {
                char *gt = strchr(p, '>');
                char *lt = gt ? strchr(gt, '<') : NULL;
                if (!lt || lt == gt + 1)
                    continue;
                wr_buf bin = WR_BUF_INIT;
                assert_int_equal(wr_base64_decode(&bin, gt + 1, (size_t)(lt - gt - 1)), 0);
                assert_int_equal(wr_psrp_defrag_feed(&d, bin.data, bin.len, keep, r), 0);
                wr_buf_free(&bin);
            }
        }
    }
    free(line);
    fclose(f);
    wr_psrp_defrag_free(&d);
}

static void recorded_free(recorded *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->xml[i]);
}

static const char *find(const recorded *r, uint32_t type, int nth)
{
    for (int i = 0; i < r->n; i++)
        if (r->types[i] == type && nth-- == 0)
            return r->xml[i];
    fail_msg("message type 0x%x not recorded", type);
    return NULL;
}

/* Same object tree (attribute order and RefId numbering may differ). */
static void assert_same_tree(const char *want, const char *got)
{
    winrsh_psobject *a = NULL, *b = NULL;
    assert_int_equal(winrsh_psobject_from_clixml(&a, want, strlen(want)), 0);
    int rc = winrsh_psobject_from_clixml(&b, got, strlen(got));
    if (rc)
        fprintf(stderr, "%s\n%s\n", winrsh_error_last()->message, got);
    assert_int_equal(rc, 0);
    if (!wr_psobject_equal(a, b))
        fprintf(stderr, "want: %s\ngot:  %s\n", want, got);
    assert_true(wr_psobject_equal(a, b));
    winrsh_psobject_free(a);
    winrsh_psobject_free(b);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_types(void **state)
{
    (void)state;
    static const struct {
        uint32_t v;
        const char *name;
    } want[] = {
        {0x00010002, "SESSION_CAPABILITY"},
        {0x00010004, "INIT_RUNSPACEPOOL"},
        {0x00010005, "PUBLIC_KEY"},
        {0x00010006, "ENCRYPTED_SESSION_KEY"},
        {0x00010007, "PUBLIC_KEY_REQUEST"},
        {0x00010008, "CONNECT_RUNSPACEPOOL"},
        {0x00021002, "SET_MAX_RUNSPACES"},
        {0x00021003, "SET_MIN_RUNSPACES"},
        {0x00021004, "RUNSPACE_AVAILABILITY"},
        {0x00021005, "RUNSPACEPOOL_STATE"},
        {0x00021006, "CREATE_PIPELINE"},
        {0x00021007, "GET_AVAILABLE_RUNSPACES"},
        {0x00021008, "USER_EVENT"},
        {0x00021009, "APPLICATION_PRIVATE_DATA"},
        {0x0002100A, "GET_COMMAND_METADATA"},
        {0x0002100B, "RUNSPACEPOOL_INIT_DATA"},
        {0x0002100C, "RESET_RUNSPACE_STATE"},
        {0x00021100, "RUNSPACEPOOL_HOST_CALL"},
        {0x00021101, "RUNSPACEPOOL_HOST_RESPONSE"},
        {0x00041002, "PIPELINE_INPUT"},
        {0x00041003, "END_OF_PIPELINE_INPUT"},
        {0x00041004, "PIPELINE_OUTPUT"},
        {0x00041005, "ERROR_RECORD"},
        {0x00041006, "PIPELINE_STATE"},
        {0x00041007, "DEBUG_RECORD"},
        {0x00041008, "VERBOSE_RECORD"},
        {0x00041009, "WARNING_RECORD"},
        {0x00041010, "PROGRESS_RECORD"},
        {0x00041011, "INFORMATION_RECORD"},
        {0x00041100, "PIPELINE_HOST_CALL"},
        {0x00041101, "PIPELINE_HOST_RESPONSE"},
    };
    size_t n;
    const uint32_t *all = wr_psrp_message_types(&n);
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(wr_psrp_message_type_name(want[i].v), want[i].name);
        int listed = 0;
        for (size_t k = 0; k < n; k++)
            listed += all[k] == want[i].v;
        assert_int_equal(listed, 1);
    }
    assert_int_equal(WR_PSRP_SESSION_CAPABILITY, 0x00010002);
    assert_int_equal(WR_PSRP_PIPELINE_HOST_RESPONSE, 0x00041101);
    assert_null(wr_psrp_message_type_name(0x00041012));

    /* Host methods: names, and which need a response. */
    assert_string_equal(wr_psrp_host_method_name(WR_PSRP_HOST_READ_KEY), "ReadKey");
    assert_string_equal(wr_psrp_host_method_name(28), "SetForegroundColor");
    assert_string_equal(wr_psrp_host_method_name(56), "PromptForChoiceMultipleSelection");
    assert_null(wr_psrp_host_method_name(0));
    assert_null(wr_psrp_host_method_name(57));
    static const int returns[] = {1,  2,  3,  4,  5,  11, 12, 23, 24, 25, 26, 27, 29, 31,
                                  33, 35, 37, 39, 41, 43, 44, 45, 46, 50, 54, 55, 56};
    for (int id = 1; id <= 56; id++) {
        int want_ret = 0;
        for (size_t k = 0; k < sizeof returns / sizeof returns[0]; k++)
            want_ret |= returns[k] == id;
        assert_int_equal(wr_psrp_host_method_returns(id), want_ret);
    }
}

static void test_header(void **state)
{
    (void)state;
    wr_guid rpid, pid;
    assert_int_equal(wr_guid_parse(&rpid, "0533352D-95C5-4715-BF50-1F449FF1FC9B"), 0);
    assert_int_equal(wr_guid_parse(&pid, "13E829FC-384D-41C8-88BF-933C03FC2C53"), 0);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_psrp_message_write(&out, WR_PSRP_DEST_SERVER, WR_PSRP_CREATE_PIPELINE,
                                           &rpid, &pid, "<S>x</S>", 8),
                     0);
    static const unsigned char hdr[40] = {
        0x02, 0x00, 0x00, 0x00,                         /* Destination: server, LE */
        0x06, 0x10, 0x02, 0x00,                         /* CREATE_PIPELINE 0x00021006, LE */
        0x2D, 0x35, 0x33, 0x05, 0xC5, 0x95, 0x15, 0x47, /* RPID, .NET layout */
        0xBF, 0x50, 0x1F, 0x44, 0x9F, 0xF1, 0xFC, 0x9B,
        0xFC, 0x29, 0xE8, 0x13, 0x4D, 0x38, 0xC8, 0x41, /* PID, .NET layout */
        0x88, 0xBF, 0x93, 0x3C, 0x03, 0xFC, 0x2C, 0x53,
    };
    assert_int_equal(out.len, 48);
    assert_memory_equal(out.data, hdr, 40);
    wr_psrp_message m;
    assert_int_equal(wr_psrp_message_parse(&m, out.data, out.len), 0);
    assert_int_equal(m.destination, 2);
    assert_int_equal(m.type, WR_PSRP_CREATE_PIPELINE);
    assert_memory_equal(m.rpid.b, rpid.b, 16);
    assert_memory_equal(m.pid.b, pid.b, 16);
    assert_int_equal(m.len, 8);
    assert_memory_equal(m.data, "<S>x</S>", 8);

    /* Pool-level: zero PID; the server's BOM is skipped. */
    wr_buf_clear(&out);
    assert_int_equal(wr_psrp_message_write(&out, WR_PSRP_DEST_CLIENT, WR_PSRP_RUNSPACEPOOL_STATE,
                                           &rpid, NULL, "\xEF\xBB\xBF<Nil />", 10),
                     0);
    assert_int_equal(wr_psrp_message_parse(&m, out.data, out.len), 0);
    static const unsigned char zero[16] = {0};
    assert_memory_equal(m.pid.b, zero, 16);
    assert_int_equal(m.len, 7);
    assert_memory_equal(m.data, "<Nil />", 7);

    /* Short or bad destination. */
    assert_int_equal(wr_psrp_message_parse(&m, out.data, 39), WINRSH_EPROTO);
    out.data[0] = 3;
    assert_int_equal(wr_psrp_message_parse(&m, out.data, out.len), WINRSH_EPROTO);
    /* An empty body (END_OF_PIPELINE_INPUT) is fine. */
    wr_buf_clear(&out);
    assert_int_equal(wr_psrp_message_write(&out, WR_PSRP_DEST_SERVER, WR_PSRP_END_OF_PIPELINE_INPUT,
                                           &rpid, &pid, "", 0),
                     0);
    assert_int_equal(wr_psrp_message_parse(&m, out.data, out.len), 0);
    assert_int_equal(m.len, 0);
    wr_buf_free(&out);
}

static void test_session_and_pool(void **state)
{
    (void)state;
    recorded r;
    load_client_messages("test_client_execute_ps.yml", &r);
    wr_buf x = WR_BUF_INIT;

    assert_int_equal(wr_psrp_build_session_capability(&x), 0);
    assert_string_equal(wr_buf_cstr(&x), find(&r, WR_PSRP_SESSION_CAPABILITY, 0));

    /* A null host: byte for byte what pypsrp sent. */
    wr_buf_clear(&x);
    wr_psrp_host_info h;
    wr_psrp_host_info_null(&h);
    assert_int_equal(wr_psrp_build_init_runspacepool(&x, 1, 1, &h, NULL), 0);
    assert_string_equal(wr_buf_cstr(&x), find(&r, WR_PSRP_INIT_RUNSPACEPOOL, 0));
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_init_runspacepool(&x, 1, 1, NULL, NULL), 0);
    assert_string_equal(wr_buf_cstr(&x), find(&r, WR_PSRP_INIT_RUNSPACEPOOL, 0));
    recorded_free(&r);

    /* A real host with _hostDefaultData (test_psrp_pshost_raw_ui_mocked_methods). */
    load_client_messages("test_psrp_pshost_raw_ui_mocked_methods.yml", &r);
    wr_psrp_host_info_console(&h, 80, 80, "pypsrp window");
    h.foreground_color = 15;
    h.background_color = 9;
    h.cursor_x = 1;
    h.cursor_y = 2;
    h.window_x = 3;
    h.window_y = 4;
    h.cursor_size = 50;
    h.buffer_height = 80;
    h.use_runspace_host = 0;
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_init_runspacepool(&x, 1, 1, &h, NULL), 0);
    assert_same_tree(find(&r, WR_PSRP_INIT_RUNSPACEPOOL, 0), wr_buf_cstr(&x));
    assert_string_equal(wr_buf_cstr(&x), find(&r, WR_PSRP_INIT_RUNSPACEPOOL, 0));

    /* The terminal width is the buffer width. */
    wr_buf_clear(&x);
    wr_psrp_host_info_console(&h, 132, 40, NULL);
    assert_int_equal(wr_psrp_build_init_runspacepool(&x, 1, 1, &h, NULL), 0);
    winrsh_psobject *o;
    assert_int_equal(winrsh_psobject_from_clixml(&o, (const char *)x.data, x.len), 0);
    const winrsh_psobject *data = winrsh_psobject_path(o, "HostInfo._hostDefaultData.data");
    assert_int_equal(winrsh_psobject_dict_count(data), 10);
    const winrsh_psobject *bs = winrsh_psobject_dict_get(data, "5");
    int32_t w;
    assert_int_equal(winrsh_psobject_get_int32(winrsh_psobject_path(bs, "V.width"), &w), 0);
    assert_int_equal(w, 132);
    assert_string_equal(winrsh_psobject_text(winrsh_psobject_prop(bs, "T"), NULL),
                        "System.Management.Automation.Host.Size");
    int b;
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_path(o, "HostInfo._isHostNull"), &b),
                     0);
    assert_int_equal(b, 0);
    winrsh_psobject_free(o);
    recorded_free(&r);
    wr_buf_free(&x);
}

static void test_create_pipeline(void **state)
{
    (void)state;
    recorded r;
    wr_buf x = WR_BUF_INIT;

    /* Invoke-Expression -Command '...' | Out-String -Stream (test_client_execute_ps). */
    load_client_messages("test_client_execute_ps.yml", &r);
    const char *script = "$serv = Get-Service -Name winrm; $serv.Name; $serv.Status; $serv";
    winrsh_psobject *sv;
    assert_int_equal(winrsh_psobject_new_string(&sv, script, strlen(script)), 0);
    wr_psrp_arg a1[] = {{"Command", sv}};
    wr_psrp_arg a2[] = {{"Stream", NULL}};
    wr_psrp_command cmds[2];
    wr_psrp_command_init(&cmds[0], "Invoke-Expression", 0);
    cmds[0].args = a1;
    cmds[0].nargs = 1;
    wr_psrp_command_init(&cmds[1], "Out-String", 0);
    cmds[1].args = a2;
    cmds[1].nargs = 1;
    wr_psrp_pipeline p;
    wr_psrp_pipeline_init(&p, cmds, 2);
    assert_int_equal(wr_psrp_build_create_pipeline(&x, &p), 0);
    assert_same_tree(find(&r, WR_PSRP_CREATE_PIPELINE, 0), wr_buf_cstr(&x));
    winrsh_psobject_free(sv);
    recorded_free(&r);

    /* A script with a host (test_psrp_pshost_raw_ui_mocked_methods). */
    load_client_messages("test_psrp_pshost_raw_ui_mocked_methods.yml", &r);
    const char *want = find(&r, WR_PSRP_CREATE_PIPELINE, 0);
    winrsh_psobject *rec;
    assert_int_equal(winrsh_psobject_from_clixml(&rec, want, strlen(want)), 0);
    const winrsh_psobject *cmd0 =
        winrsh_psobject_list_item(winrsh_psobject_path(rec, "PowerShell.Cmds"), 0);
    const char *text = winrsh_psobject_text(winrsh_psobject_prop(cmd0, "Cmd"), NULL);
    wr_psrp_command c;
    wr_psrp_command_init(&c, text, 1);
    wr_psrp_host_info h;
    wr_psrp_host_info_console(&h, 80, 80, "pypsrp window");
    h.foreground_color = 15;
    h.background_color = 9;
    h.cursor_x = 1;
    h.cursor_y = 2;
    h.window_x = 3;
    h.window_y = 4;
    h.cursor_size = 50;
    h.buffer_height = 80;
    wr_psrp_pipeline_init(&p, &c, 1);
    p.host = &h;
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_create_pipeline(&x, &p), 0);
    assert_same_tree(want, wr_buf_cstr(&x));
    winrsh_psobject_free(rec);
    recorded_free(&r);

    /* Every field of a REPL-style command ends up where PowerShell reads it. */
    wr_psrp_command_init(&c, "Get-ChildItem | Out-Default", 1);
    c.use_local_scope = 1;
    c.merge_my_result = WR_PSRP_RESULT_ERROR;
    c.merge_to_result = WR_PSRP_RESULT_OUTPUT;
    c.merge_error = WR_PSRP_RESULT_OUTPUT;
    winrsh_psobject *pos;
    assert_int_equal(winrsh_psobject_new_int32(&pos, 5), 0);
    wr_psrp_arg pa[] = {{NULL, pos}};
    c.args = pa;
    c.nargs = 1;
    wr_psrp_pipeline_init(&p, &c, 1);
    p.no_input = 0;
    p.add_to_history = 1;
    p.is_nested = 1;
    p.history = "Get-ChildItem";
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_create_pipeline(&x, &p), 0);
    winrsh_psobject *o;
    assert_int_equal(winrsh_psobject_from_clixml(&o, (const char *)x.data, x.len), 0);
    int b;
    int32_t v;
    const char *name;
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_prop(o, "NoInput"), &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_prop(o, "AddToHistory"), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_prop(o, "IsNested"), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_path(o, "PowerShell.IsNested"), &b),
                     0);
    assert_int_equal(b, 1);
    assert_string_equal(winrsh_psobject_text(winrsh_psobject_path(o, "PowerShell.History"), NULL),
                        "Get-ChildItem");
    assert_int_equal(
        winrsh_psobject_enum_value(winrsh_psobject_prop(o, "RemoteStreamOptions"), &v, &name), 0);
    assert_int_equal(v, 15);
    const winrsh_psobject *cmd =
        winrsh_psobject_list_item(winrsh_psobject_path(o, "PowerShell.Cmds"), 0);
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_prop(cmd, "IsScript"), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(winrsh_psobject_get_bool(winrsh_psobject_prop(cmd, "UseLocalScope"), &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(
        winrsh_psobject_enum_value(winrsh_psobject_prop(cmd, "MergeMyResult"), &v, &name), 0);
    assert_int_equal(v, 2);
    assert_string_equal(name, "Error");
    assert_int_equal(
        winrsh_psobject_enum_value(winrsh_psobject_prop(cmd, "MergeToResult"), &v, &name), 0);
    assert_string_equal(name, "Output");
    assert_int_equal(winrsh_psobject_enum_value(winrsh_psobject_prop(cmd, "MergeError"), &v, NULL),
                     0);
    assert_int_equal(v, 1);
    assert_int_equal(
        winrsh_psobject_enum_value(winrsh_psobject_prop(cmd, "MergeInformation"), &v, NULL), 0);
    assert_int_equal(v, 0);
    const winrsh_psobject *arg = winrsh_psobject_list_item(winrsh_psobject_prop(cmd, "Args"), 0);
    assert_int_equal(winrsh_psobject_get_kind(winrsh_psobject_prop(arg, "N")), WINRSH_PSOBJ_NULL);
    assert_int_equal(winrsh_psobject_get_int32(winrsh_psobject_prop(arg, "V"), &v), 0);
    assert_int_equal(v, 5);
    winrsh_psobject_free(o);
    winrsh_psobject_free(pos);

    /* Argument checks. */
    wr_psrp_pipeline_init(&p, NULL, 0);
    assert_int_equal(wr_psrp_build_create_pipeline(&x, &p), WINRSH_EINVAL);
    wr_buf_free(&x);
}

static void test_other_builders(void **state)
{
    (void)state;
    recorded r;
    wr_buf x = WR_BUF_INIT;

    /* PIPELINE_INPUT / END_OF_PIPELINE_INPUT (test_client_copy_file). */
    load_client_messages("test_client_copy_file.yml", &r);
    const char *in0 = find(&r, WR_PSRP_PIPELINE_INPUT, 0);
    assert_int_equal(wr_psrp_build_pipeline_input_string(&x, in0 + 3, strlen(in0) - 7), 0);
    assert_string_equal(wr_buf_cstr(&x), in0);
    assert_string_equal(find(&r, WR_PSRP_END_OF_PIPELINE_INPUT, 0), "");
    winrsh_psobject *s;
    assert_int_equal(winrsh_psobject_new_string(&s, "line\r\n", 6), 0);
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_pipeline_input(&x, s), 0);
    assert_string_equal(wr_buf_cstr(&x), "<S>line_x000D__x000A_</S>");
    winrsh_psobject_free(s);
    recorded_free(&r);

    /* PIPELINE_HOST_RESPONSE for ReadKey (test_psrp_pshost_raw_ui_mocked_methods). */
    load_client_messages("test_psrp_pshost_raw_ui_mocked_methods.yml", &r);
    const char *key_xml = "<Obj RefId=\"0\"><MS><I32 N=\"virtualKeyCode\">65</I32>"
                          "<C N=\"character\">97</C><I32 N=\"controlKeyState\">128</I32>"
                          "<B N=\"keyDown\">true</B></MS></Obj>";
    winrsh_psobject *key;
    assert_int_equal(winrsh_psobject_from_clixml(&key, key_xml, strlen(key_xml)), 0);
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_host_response(&x, 1, WR_PSRP_HOST_READ_KEY, key, NULL), 0);
    assert_string_equal(wr_buf_cstr(&x), find(&r, WR_PSRP_PIPELINE_HOST_RESPONSE, 0));
    winrsh_psobject_free(key);
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_host_response(&x, 1, 999, NULL, NULL), WINRSH_EINVAL);
    recorded_free(&r);

    /* PUBLIC_KEY (test_psrp_key_exchange_timeout). */
    load_client_messages("test_psrp_key_exchange_timeout.yml", &r);
    const char *pk = find(&r, WR_PSRP_PUBLIC_KEY, 0);
    winrsh_psobject *po;
    assert_int_equal(winrsh_psobject_from_clixml(&po, pk, strlen(pk)), 0);
    size_t n;
    const char *b64 = winrsh_psobject_text(winrsh_psobject_prop(po, "PublicKey"), &n);
    wr_buf blob = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&blob, b64, n), 0);
    assert_int_equal(blob.len, 276); /* 20-byte PUBLICKEYBLOB header + 256 modulus bytes */
    assert_memory_equal(blob.data, "\x06\x02\x00\x00\x00\xA4\x00\x00RSA1", 12);
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_public_key(&x, blob.data, blob.len), 0);
    assert_string_equal(wr_buf_cstr(&x), pk);
    wr_buf_free(&blob);
    winrsh_psobject_free(po);
    recorded_free(&r);

    /* GET_COMMAND_METADATA (test_psrp_get_command_metadata). */
    load_client_messages("test_psrp_get_command_metadata.yml", &r);
    const char *names[] = {"new-pssession*"};
    wr_buf_clear(&x);
    assert_int_equal(wr_psrp_build_get_command_metadata(&x, names, 1, 511), 0);
    assert_string_equal(wr_buf_cstr(&x), find(&r, WR_PSRP_GET_COMMAND_METADATA, 0));
    recorded_free(&r);
    wr_buf_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_session_and_pool),
        cmocka_unit_test(test_create_pipeline),
        cmocka_unit_test(test_other_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
