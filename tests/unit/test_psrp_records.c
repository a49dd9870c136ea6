/* test_psrp_records.c: the server's records read from real recordings. */
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
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "psrp/records.h"
#include "winrsh/errors.h"
#include "winrsh/psobject.h"

typedef struct msgs {
    int n;
    uint32_t types[64];
    winrsh_psobject *objs[64];
} msgs;

static int keep(void *payload, uint64_t oid, const unsigned char *msg, size_t len)
{
    msgs *r = payload;
    (void)oid;
    wr_psrp_message m;
    assert_int_equal(wr_psrp_message_parse(&m, msg, len), 0);
    assert_true(r->n < 64);
    r->types[r->n] = m.type;
    assert_int_equal(winrsh_psobject_from_clixml(&r->objs[r->n], m.data, m.len), 0);
    r->n++;
    return 0;
}

/* Every message the server sent in one recording (PSRP shells only). */
static void load_server_messages(const char *name, msgs *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/pypsrp/responses/%s", WINRSH_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    memset(r, 0, sizeof *r);
    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    wr_buf rec = WR_BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int more = 1;
    while (more) {
        n = getline(&line, &cap, f);
        more = n > 0;
        if (more && n && line[n - 1] == '\n')
            line[--n] = 0;
        if (more && rec.len && strncmp(line, "    ", 4) == 0) {
            wr_buf_putc(&rec, ' ');
            wr_buf_puts(&rec, line + 4);
            continue;
        }
        if (rec.len) {
            const char *open = "<rsp:Stream ";
            for (char *p = strstr((char *)rec.data, open); p; p = strstr(p + 1, open)) {
                char *gt = strchr(p, '>');
                char *lt = gt ? strchr(gt, '<') : NULL;
                if (!lt || gt[-1] == '/' || lt == gt + 1)
                    continue;
                wr_buf bin = WR_BUF_INIT;
                assert_int_equal(wr_base64_decode(&bin, gt + 1, (size_t)(lt - gt - 1)), 0);
                assert_int_equal(wr_psrp_defrag_feed(&d, bin.data, bin.len, keep, r), 0);
                wr_buf_free(&bin);
            }
            wr_buf_clear(&rec);
        }
        if (more && strncmp(line, "  response: ", 12) == 0)
            wr_buf_puts(&rec, line);
    }
    free(line);
    fclose(f);
    wr_buf_free(&rec);
    wr_psrp_defrag_free(&d);
}

static void msgs_free(msgs *r)
{
    for (int i = 0; i < r->n; i++)
        winrsh_psobject_free(r->objs[i]);
}

static const winrsh_psobject *find(const msgs *r, uint32_t type, int nth)
{
    for (int i = 0; i < r->n; i++)
        if (r->types[i] == type && nth-- == 0)
            return r->objs[i];
    fail_msg("type 0x%x not found", type);
    return NULL;
}

static void test_streams(void **state)
{
    (void)state;
    msgs r;
    load_server_messages("test_psrp_stream_no_output_invocation.yml", &r);

    wr_psrp_error_record er;
    assert_int_equal(wr_psrp_error_record_read(find(&r, WR_PSRP_ERROR_RECORD, 0), &er), 0);
    assert_string_equal(er.message, "error stream");
    assert_string_equal(er.fqid, "Microsoft.PowerShell.Commands.WriteErrorException");
    assert_string_equal(er.category_info, "NotSpecified: (:) [Write-Error], WriteErrorException");
    assert_string_equal(er.exception_type, "Microsoft.PowerShell.Commands.WriteErrorException");
    assert_int_equal(er.category, 0);
    assert_string_equal(er.script_stack, "at <ScriptBlock>, <No file>: line 5");
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_psrp_error_record_format(&er, &out), 0);
    assert_string_equal(
        wr_buf_cstr(&out),
        "error stream\n"
        "    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\n"
        "    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\n");

    assert_string_equal(wr_psrp_informational_message(find(&r, WR_PSRP_WARNING_RECORD, 0)),
                        "warning stream");
    assert_string_equal(wr_psrp_informational_message(find(&r, WR_PSRP_VERBOSE_RECORD, 0)),
                        "verbose stream");
    assert_string_equal(wr_psrp_informational_message(find(&r, WR_PSRP_DEBUG_RECORD, 0)),
                        "debug stream");

    wr_psrp_information info;
    assert_int_equal(wr_psrp_information_read(find(&r, WR_PSRP_INFORMATION_RECORD, 0), &info), 0);
    assert_string_equal(info.text, "information stream");
    assert_string_equal(info.source, "Write-Information");
    assert_string_equal(info.time, "2018-06-13T23:46:12.1316332+00:00");
    assert_int_equal(info.is_host, 0);

    wr_psrp_progress p;
    assert_int_equal(wr_psrp_progress_read(find(&r, WR_PSRP_PROGRESS_RECORD, 0), &p), 0);
    assert_string_equal(p.activity, "Preparing modules for first use.");
    assert_int_equal(p.type, 1);
    assert_int_equal(p.percent_complete, -1);
    assert_int_equal(p.parent_activity_id, -1);
    assert_null(p.current_operation);

    wr_psrp_state s;
    assert_int_equal(wr_psrp_pipeline_state_read(find(&r, WR_PSRP_PIPELINE_STATE, 0), &s), 0);
    assert_int_equal(s.state, WR_PSRP_PIPE_COMPLETED);
    assert_null(s.error);
    assert_int_equal(wr_psrp_pool_state_read(find(&r, WR_PSRP_RUNSPACEPOOL_STATE, 0), &s), 0);
    assert_int_equal(s.state, WR_PSRP_POOL_OPENED);

    /* Wrong shapes are refused. */
    assert_int_equal(wr_psrp_pipeline_state_read(find(&r, WR_PSRP_RUNSPACEPOOL_STATE, 0), &s),
                     WINRSH_EPROTO);
    assert_int_equal(wr_psrp_progress_read(find(&r, WR_PSRP_PIPELINE_STATE, 0), &p), WINRSH_EPROTO);
    wr_psrp_host_call hc;
    assert_int_equal(wr_psrp_host_call_read(find(&r, WR_PSRP_PIPELINE_STATE, 0), &hc),
                     WINRSH_EPROTO);
    wr_buf_free(&out);
    msgs_free(&r);
}

static void test_failed_pipeline(void **state)
{
    (void)state;
    msgs r;
    load_server_messages("test_client_fetch_file_fail_dir.yml", &r);
    wr_psrp_state s;
    assert_int_equal(wr_psrp_pipeline_state_read(find(&r, WR_PSRP_PIPELINE_STATE, 0), &s), 0);
    assert_int_equal(s.state, WR_PSRP_PIPE_FAILED);
    assert_non_null(s.error);
    wr_psrp_error_record er;
    assert_int_equal(wr_psrp_error_record_read(s.error, &er), 0);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(wr_psrp_error_record_format(&er, &out), 0);
    assert_string_equal(wr_buf_cstr(&out),
                        "The path at 'C:\\Windows' is a directory, src must be a file\n"
                        "At line:9 char:1\n"
                        "+ throw \"The path at '$src_path' is a directory, src must be a file\"\n"
                        "+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
                        "    + CategoryInfo          : OperationStopped: (The path at 'C:... must "
                        "be a file:String) [], "
                        "RuntimeException\n"
                        "    + FullyQualifiedErrorId : The path at 'C:\\Windows' is a directory, "
                        "src must be a file\n");
    wr_buf_free(&out);
    msgs_free(&r);

    /* A cmdlet error names its command. */
    load_server_messages("test_psrp_with_jea_configuration.yml", &r);
    assert_int_equal(wr_psrp_error_record_read(find(&r, WR_PSRP_ERROR_RECORD, 0), &er), 0);
    assert_string_equal(er.command, "Get-Item");
    assert_int_equal(wr_psrp_error_record_format(&er, &out), 0);
    assert_true(strncmp(wr_buf_cstr(&out),
                        "Get-Item : Cannot find a provider with the name 'FileSystem'.\n",
                        62) == 0);
    assert_non_null(strstr(wr_buf_cstr(&out), "    + FullyQualifiedErrorId : ProviderNotFound,"
                                              "Microsoft.PowerShell.Commands.GetItemCommand\n"));
    wr_buf_free(&out);
    msgs_free(&r);
}

static void test_host_calls(void **state)
{
    (void)state;
    msgs r;
    load_server_messages("test_psrp_pshost_raw_ui_mocked_methods.yml", &r);
    int calls = 0, readkey = 0;
    for (int i = 0; i < r.n; i++) {
        if (r.types[i] != WR_PSRP_PIPELINE_HOST_CALL)
            continue;
        wr_psrp_host_call hc;
        assert_int_equal(wr_psrp_host_call_read(r.objs[i], &hc), 0);
        assert_string_equal(hc.method_name, wr_psrp_host_method_name(hc.method_id));
        calls++;
        if (hc.method_id == WR_PSRP_HOST_READ_KEY) {
            readkey++;
            assert_int_equal(hc.call_id, 1);
            assert_true(wr_psrp_host_method_returns(hc.method_id));
            int32_t opt;
            assert_int_equal(winrsh_psobject_list_count(hc.params), 1);
            assert_int_equal(
                winrsh_psobject_get_int32(winrsh_psobject_list_item(hc.params, 0), &opt), 0);
            assert_int_equal(opt, 4);
        } else {
            assert_int_equal(hc.call_id, -100);
            assert_false(wr_psrp_host_method_returns(hc.method_id));
        }
        if (hc.method_id == WR_PSRP_HOST_SET_WINDOW_TITLE)
            assert_string_equal(winrsh_psobject_text(winrsh_psobject_list_item(hc.params, 0), NULL),
                                "New Window Title");
    }
    assert_int_equal(calls, 14);
    assert_int_equal(readkey, 1);
    msgs_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_failed_pipeline),
        cmocka_unit_test(test_host_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
