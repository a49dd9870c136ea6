/*
 * test_receive.c: ReceiveResponse parsing (wsman/shell.c) on recorded
 * Windows replies, and the Receive cycle: w:TimedOut is not an error, a
 * callback can stop, bad base64 is a protocol error.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "common/error.h"
#include "recording.h"
#include "wsman/envelope.h"
#include "wsman/fault.h"
#include "wsman/ns.h"
#include "wsman/shell.h"
#include "wsman/wsman.h"

/* What the callback saw, as "name[cid]:bytes|" entries plus per-stream data. */
typedef struct seen {
    wr_buf log;
    wr_buf out, err;
    int calls;
    int stop_after; /* stop (non-zero return) on this call; 0 = never */
} seen;

static int on_stream(const char *stream, const char *command_id, const unsigned char *data,
                     size_t len, int end, void *payload)
{
    seen *s = payload;
    s->calls++;
    wr_buf_printf(&s->log, "%s%s%.8s:%zu%s|", stream, command_id ? "@" : "",
                  command_id ? command_id : "", len, end ? ":end" : "");
    wr_buf_append(strcmp(stream, "stderr") == 0 ? &s->err : &s->out, data, len);
    return s->stop_after && s->calls >= s->stop_after;
}

static void seen_free(seen *s)
{
    wr_buf_free(&s->log);
    wr_buf_free(&s->out);
    wr_buf_free(&s->err);
}

/* Parse the ReceiveResponse (the response to a Receive request) at index i
 * of a recording. */
static int parse_recorded(const char *file, const char *command_id, seen *s, wr_receive_result *res)
{
    recording rec = rec_load(file);
    const char *resp = NULL;
    for (size_t i = 0; i < rec.n && !resp; i++)
        if (rec.msgs[i].response && strstr(rec.msgs[i].response, "<rsp:ReceiveResponse>"))
            resp = rec.msgs[i].response;
    assert_non_null(resp);
    wr_reply r = WR_REPLY_INIT;
    assert_int_equal(wr_reply_parse(&r, resp, strlen(resp)), 0);
    int rc = wr_shell_parse_receive(r.body, command_id, on_stream, s, res);
    wr_reply_free(&r);
    rec_free(&rec);
    return rc;
}

static void test_standard(void **state)
{
    (void)state;
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    wr_receive_result res;
    assert_int_equal(
        parse_recorded("test_winrs_standard.yml", "CF84C20A-0A35-43FA-AF78-0B4711DA5F30", &s, &res),
        0);
    assert_string_equal(wr_buf_cstr(&s.log), "stdout@CF84C20A:4|stdout@CF84C20A:0:end|"
                                             "stderr@CF84C20A:0:end|");
    assert_string_equal(wr_buf_cstr(&s.out), "hi\r\n");
    assert_int_equal(s.err.len, 0);
    assert_true(res.done);
    assert_true(res.have_exit_code);
    assert_int_equal(res.exit_code, 0);
    assert_false(res.timed_out);
    seen_free(&s);
}

static void test_stderr_and_exit_code(void **state)
{
    (void)state;
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    wr_receive_result res;
    assert_int_equal(parse_recorded("test_winrs_stderr_rc.yml",
                                    "D37A8327-79AD-452F-BE0D-4B99A96B4A0B", &s, &res),
                     0);
    assert_string_equal(wr_buf_cstr(&s.out), "out \r\n");
    assert_string_equal(wr_buf_cstr(&s.err), "err \r\n");
    assert_string_equal(wr_buf_cstr(&s.log), "stdout@D37A8327:6|stderr@D37A8327:6|"
                                             "stdout@D37A8327:0:end|stderr@D37A8327:0:end|");
    assert_true(res.done);
    assert_int_equal(res.exit_code, 1);
    seen_free(&s);
}

static void test_send_several_chunks(void **state)
{
    (void)state;
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    wr_receive_result res;
    assert_int_equal(parse_recorded("test_winrs_send.yml", NULL, &s, &res), 0);
    assert_string_equal(wr_buf_cstr(&s.out), "output 1\noutput 2\n");
    assert_int_equal(s.calls, 5);
    assert_true(res.done);
    assert_int_equal(res.exit_code, 0);
    seen_free(&s);
}

/* The CommandState of another command does not finish ours. */
static void test_other_command_state(void **state)
{
    (void)state;
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    wr_receive_result res;
    assert_int_equal(
        parse_recorded("test_winrs_standard.yml", "11111111-0000-0000-0000-000000000000", &s, &res),
        0);
    assert_false(res.done);
    /* Ids compare without regard to case. */
    seen_free(&s);
    seen t = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    assert_int_equal(
        parse_recorded("test_winrs_standard.yml", "cf84c20a-0a35-43fa-af78-0b4711da5f30", &t, &res),
        0);
    assert_true(res.done);
    seen_free(&t);
}

/* PSRP's shell-level streams carry no CommandId. */
static void test_psrp_streams(void **state)
{
    (void)state;
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    wr_receive_result res;
    assert_int_equal(parse_recorded("test_psrp_open_runspace.yml", NULL, &s, &res), 0);
    assert_true(s.calls >= 1);
    assert_true(strncmp(wr_buf_cstr(&s.log), "stdout:", 7) == 0);
    /* A PSRP fragment: ObjectId 1, FragmentId 0, flags S|E. */
    assert_true(s.out.len > 21);
    assert_int_equal(s.out.data[7], 1);
    assert_int_equal(s.out.data[16], 3);
    assert_false(res.done);
    seen_free(&s);
}

static int parse_text(const char *xml, const char *cid, seen *s, wr_receive_result *res)
{
    wr_reply r = WR_REPLY_INIT;
    assert_int_equal(wr_reply_parse(&r, xml, strlen(xml)), 0);
    int rc = wr_shell_parse_receive(r.body, cid, on_stream, s, res);
    wr_reply_free(&r);
    return rc;
}

#define RR_OPEN                                                                                    \
    "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:rsp=\"" WR_NS_SHELL "\"><s:Body>"                \
    "<rsp:ReceiveResponse>"
#define RR_CLOSE "</rsp:ReceiveResponse></s:Body></s:Envelope>"

static void test_edge_cases(void **state)
{
    (void)state;
    wr_receive_result res;
    /* Exit codes: NTSTATUS-sized and negative; text split by a comment and
     * a character reference still decodes as one stream. */
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    assert_int_equal(
        parse_text(
            RR_OPEN
            "<rsp:Stream Name=\"stdout\" CommandId=\"C\">aG<!-- x -->k&#78;"
            "Cg==</rsp:Stream><rsp:CommandState CommandId=\"C\" State=\"" WR_COMMAND_STATE_DONE
            "\"><rsp:ExitCode> 3221225786 "
            "</rsp:ExitCode></rsp:CommandState>" RR_CLOSE,
            "C", &s, &res),
        0);
    assert_string_equal(wr_buf_cstr(&s.out), "hi\r\n");
    assert_int_equal(s.calls, 1);
    assert_true(res.done);
    assert_int_equal(res.exit_code, 3221225786LL);
    seen_free(&s);

    /* Running: not done, no exit code. */
    seen r = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    assert_int_equal(parse_text(RR_OPEN "<rsp:CommandState CommandId=\"C\" State=\"http://schemas."
                                        "microsoft.com/wbem/wsman/1/windows/shell/CommandState/"
                                        "Running\"/>" RR_CLOSE,
                                "C", &r, &res),
                     0);
    assert_false(res.done);
    assert_false(res.have_exit_code);
    seen_free(&r);

    /* Bad base64 and a bad exit code are protocol errors. */
    seen b = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    assert_int_equal(parse_text(RR_OPEN "<rsp:Stream Name=\"stdout\">a!!=</rsp:Stream>" RR_CLOSE,
                                NULL, &b, &res),
                     WINRSH_EPROTO);
    assert_string_equal(winrsh_error_last()->message,
                        "Receive: stream stdout holds invalid base64");
    assert_int_equal(parse_text(RR_OPEN
                                "<rsp:CommandState State=\"" WR_COMMAND_STATE_DONE
                                "\"><rsp:ExitCode>zero</rsp:ExitCode></rsp:CommandState>" RR_CLOSE,
                                NULL, &b, &res),
                     WINRSH_EPROTO);
    assert_int_equal(
        parse_text("<s:Envelope xmlns:s=\"" WR_NS_SOAP "\"><s:Body/></s:Envelope>", NULL, &b, &res),
        WINRSH_EPROTO);
    seen_free(&b);

    /* The callback can stop the walk. */
    seen st = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 1};
    assert_int_equal(parse_text(RR_OPEN "<rsp:Stream Name=\"stdout\">aGk=</rsp:Stream>"
                                        "<rsp:Stream Name=\"stdout\">aGk=</rsp:Stream>" RR_CLOSE,
                                NULL, &st, &res),
                     WINRSH_EUSER);
    assert_int_equal(st.calls, 1);
    seen_free(&st);
}

/* Through the request cycle: TimedOut is "nothing yet", then the output. */
static void test_timed_out_then_output(void **state)
{
    (void)state;
    recording slow = rec_load("test_psrp_long_running_cmdlet.yml");
    const char *timeout = NULL;
    for (size_t i = 0; i < slow.n && !timeout; i++)
        if (slow.msgs[i].response && strstr(slow.msgs[i].response, "w:TimedOut"))
            timeout = slow.msgs[i].response;
    assert_non_null(timeout);
    recording std = rec_load("test_winrs_standard.yml");
    rec_fake fake = {0};
    rec_fake_push(&fake, timeout, 500);
    rec_fake_push(&fake, std.msgs[2].response, 200);
    wr_wsman_options o = {.url = "http://h/wsman", .post = rec_fake_post, .post_ctx = &fake};
    wr_wsman *w = NULL;
    assert_int_equal(wr_wsman_open(&w, &o), 0);
    wr_shell *sh = NULL;
    assert_int_equal(wr_shell_attach(&sh, w, WR_URI_SHELL_CMD, "4283CBDC"), 0);
    seen s = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, 0};
    wr_shell_receive_args a = {.streams = "stdout stderr",
                               .command_id = "CF84C20A-0A35-43FA-AF78-0B4711DA5F30",
                               .timeout_ms = 1500,
                               .cb = on_stream,
                               .payload = &s};
    wr_receive_result res;
    assert_int_equal(wr_shell_receive(sh, &a, &res), 0);
    assert_true(res.timed_out);
    assert_false(res.done);
    assert_int_equal(s.calls, 0);
    assert_int_equal(winrsh_error_last()->code, 0);
    assert_null(winrsh_error_last()->fault);
    /* This call's OperationTimeout went on the wire; KEEPALIVE too. */
    assert_non_null(strstr(fake.requests[0], "<w:OperationTimeout>PT1.500S</w:OperationTimeout>"));
    assert_non_null(strstr(fake.requests[0], "<w:Option Name=\"WSMAN_CMDSHELL_OPTION_KEEPALIVE\">"
                                             "TRUE</w:Option>"));
    assert_int_equal(wr_shell_receive(sh, &a, &res), 0);
    assert_false(res.timed_out);
    assert_true(res.done);
    assert_string_equal(wr_buf_cstr(&s.out), "hi\r\n");
    seen_free(&s);
    wr_shell_free(sh);
    wr_wsman_free(w);
    rec_fake_free(&fake);
    rec_free(&slow);
    rec_free(&std);
}

/* Other faults on Receive stay errors (shell gone). */
static void test_receive_fault_is_error(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_bad_cmd_id.yml");
    const char *fault = NULL;
    for (size_t i = 0; i < rec.n; i++)
        if (rec.msgs[i].http_500)
            fault = rec.msgs[i].response;
    rec_fake fake = {0};
    rec_fake_push(&fake, fault, 500);
    wr_wsman_options o = {.url = "http://h/wsman", .post = rec_fake_post, .post_ctx = &fake};
    wr_wsman *w = NULL;
    assert_int_equal(wr_wsman_open(&w, &o), 0);
    wr_shell *sh = NULL;
    assert_int_equal(wr_shell_attach(&sh, w, WR_URI_SHELL_CMD, "S"), 0);
    wr_shell_receive_args a = {.streams = "stdout stderr", .command_id = "C"};
    wr_receive_result res;
    assert_int_equal(wr_shell_receive(sh, &a, &res), WINRSH_EFAULT);
    assert_int_equal(winrsh_error_last()->fault->wsman_code, WR_WSMAN_CODE_SHELL_NOT_FOUND);
    assert_false(res.timed_out);
    wr_shell_free(sh);
    wr_wsman_free(w);
    rec_fake_free(&fake);
    rec_free(&rec);
}

/* ---- The streaming reader (wsman/receive_stream.c) against the DOM walk -- */

/* Everything a walk tells: callbacks, result, error. */
static void transcript(wr_buf *t, int rc, const seen *s, const wr_receive_result *res)
{
    wr_buf_printf(t, "rc=%d done=%d have=%d exit=%lld calls=%d log=%s out=", rc, res->done,
                  res->have_exit_code, (long long)res->exit_code, s->calls, wr_buf_cstr(&s->log));
    wr_buf_append(t, s->out.data, s->out.len);
    wr_buf_puts(t, " err=");
    wr_buf_append(t, s->err.data, s->err.len);
    wr_buf_printf(t, " msg=%s", rc ? winrsh_error_last()->message : "");
}

/* Compare both readers on one reply; returns whether the stream reader took
 * it. `id`: our a:MessageID (NULL: the reply's own a:RelatesTo). */
static int compare_readers(const char *xml, const char *id, const char *cid, int stop_after)
{
    wr_reply r = WR_REPLY_INIT;
    int prc = wr_reply_parse(&r, xml, strlen(xml));
    if (!id)
        id = r.relates_to;
    seen a = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, stop_after};
    seen b = {WR_BUF_INIT, WR_BUF_INIT, WR_BUF_INIT, 0, stop_after};
    wr_receive_result ra, rb;
    wr_buf ta = WR_BUF_INIT, tb = WR_BUF_INIT;
    int brc = wr_shell_parse_receive_text(xml, strlen(xml), id, cid, on_stream, &b, &rb);
    if (brc != -1)
        transcript(&tb, brc, &b, &rb);
    if (brc != -1) {
        /* Taken: the DOM path must see a non-fault reply answering id. */
        assert_int_equal(prc, 0);
        assert_null(wr_fault_find(r.body));
        assert_non_null(r.relates_to);
        assert_int_equal(strcasecmp(r.relates_to, id), 0);
        int arc = wr_shell_parse_receive(r.body, cid, on_stream, &a, &ra);
        transcript(&ta, arc, &a, &ra);
        assert_string_equal(wr_buf_cstr(&ta), wr_buf_cstr(&tb));
    }
    wr_reply_free(&r);
    seen_free(&a);
    seen_free(&b);
    wr_buf_free(&ta);
    wr_buf_free(&tb);
    winrsh_error_clear();
    return brc != -1;
}

/* Every recorded ReceiveResponse reads the same both ways. */
static void test_stream_reader_recordings(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/pypsrp/responses", WINRSH_FIXTURES);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int taken = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".yml") != 0)
            continue;
        recording rec = rec_load(de->d_name);
        for (size_t i = 0; i < rec.n; i++) {
            const char *resp = rec.msgs[i].response;
            if (!resp || !strstr(resp, "ReceiveResponse"))
                continue;
            int t = compare_readers(resp, NULL, NULL, 0);
            taken += t;
            if (t) {
                compare_readers(resp, NULL, "11111111-0000-0000-0000-000000000000", 0);
                compare_readers(resp, NULL, NULL, 1);
            }
            /* Another conversation: left to the DOM path. */
            assert_false(compare_readers(resp, "uuid:not-ours", NULL, 0));
        }
        rec_free(&rec);
    }
    closedir(d);
    assert_true(taken > 20);
}

#define HDR_OPEN(id)                                                                               \
    "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:a=\"" WR_NS_ADDRESSING                           \
    "\" xmlns:rsp=\"" WR_NS_SHELL "\"><s:Header><a:RelatesTo>" id "</a:RelatesTo></s:Header>"
#define ST_DONE "\"" WR_COMMAND_STATE_DONE "\""

/* Edge cases: the same answer both ways, and which ones the stream reader
 * leaves to the DOM path. */
static void test_stream_reader_edges(void **state)
{
    (void)state;
    static const struct {
        const char *xml;
        int taken;
    } cases[] = {
        /* Comments, character and predefined references, CDATA, blanks. */
        {HDR_OPEN(" uuid:M ") "<s:Body><rsp:ReceiveResponse><rsp:Stream Name=\"stdout\" "
                              "CommandId=\"C\">aG<!-- x -->k&#78;\n Cg==<x>QUFB</x></rsp:Stream>"
                              "<rsp:Stream Name='stderr' End='true'><![CDATA[aGk=]]></rsp:Stream>"
                              "<rsp:CommandState CommandId=\"c\" State=" ST_DONE
                              "><rsp:ExitCode> 7 </rsp:ExitCode><rsp:ExitCode>8</rsp:ExitCode>"
                              "</rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>",
         1},
        /* Bad base64 after good output; a bad exit code; an empty name. */
        {HDR_OPEN("uuid:m") "<s:Body><rsp:ReceiveResponse><rsp:Stream Name=\"stdout\">aGk=</rsp:Stream>"
                            "<rsp:Stream Name=\"\">a!!=</rsp:Stream></rsp:ReceiveResponse>"
                            "</s:Body></s:Envelope>",
         1},
        {HDR_OPEN("uuid:M") "<s:Body><rsp:ReceiveResponse><rsp:Stream>aGk</rsp:Stream>"
                            "</rsp:ReceiveResponse></s:Body></s:Envelope>",
         1},
        {HDR_OPEN("uuid:M") "<s:Body><rsp:ReceiveResponse><rsp:CommandState State=" ST_DONE
                            "><rsp:ExitCode>x</rsp:ExitCode></rsp:CommandState><rsp:Stream "
                            "Name=\"stdout\">aGk=</rsp:Stream></rsp:ReceiveResponse></s:Body>"
                            "</s:Envelope>",
         1},
        /* Second Body, second ReceiveResponse, second RelatesTo: ignored. */
        {HDR_OPEN("uuid:M") "<s:Body><rsp:ReceiveResponse/><rsp:ReceiveResponse><rsp:Stream "
                            "Name=\"x\">aGk=</rsp:Stream></rsp:ReceiveResponse></s:Body><s:Body>"
                            "<s:Fault/></s:Body></s:Envelope>",
         1},
        /* Prefixed and namespaced look-alikes are not ours to read. */
        {HDR_OPEN("uuid:M") "<s:Body><rsp:ReceiveResponse xmlns:q=\"urn:q\"><rsp:Stream "
                            "q:Name=\"a\" Name=\"b\"><q:x>QUFB</q:x>aGk=</rsp:Stream><q:Stream "
                            "Name=\"c\">aGk=</q:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>",
         1},
        /* Left to the DOM path: */
        {HDR_OPEN("uuid:M") "<s:Body><s:Fault/><rsp:ReceiveResponse/></s:Body></s:Envelope>", 0},
        {HDR_OPEN("uuid:M") "<s:Body><rsp:ReceiveResponse><rsp:Stream Name=\"a&amp;b\">aGk="
                            "</rsp:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>",
         0},
        {"<!DOCTYPE s:Envelope [<!ENTITY e \"aGk=\">]>" HDR_OPEN(
             "uuid:M") "<s:Body><rsp:ReceiveResponse><rsp:Stream Name=\"a\">&e;</rsp:Stream>"
                       "</rsp:ReceiveResponse></s:Body></s:Envelope>",
         0},
        {HDR_OPEN("uuid:M") "<s:Body><rsp:ReceiveResponse><rsp:Stream Name=\"a\">aGk=</rsp:Stream>"
                            "</rsp:ReceiveResponse></s:Body></s:Envelope><x/>",
         0},
        {HDR_OPEN("uuid:N") "<s:Body><rsp:ReceiveResponse/></s:Body></s:Envelope>", 0},
        {HDR_OPEN("") "<s:Body><rsp:ReceiveResponse/></s:Body></s:Envelope>", 0},
        {HDR_OPEN("uuid:M") "<s:Body/></s:Envelope>", 0},
        {HDR_OPEN("uuid:M") "</s:Envelope>", 0},
        {"<x/>", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int stop = 0; stop < 3; stop++) {
            int t = compare_readers(cases[i].xml, "uuid:M", NULL, stop);
            if (t != cases[i].taken)
                fail_msg("case %zu: taken %d, expected %d", i, t, cases[i].taken);
            compare_readers(cases[i].xml, "uuid:M", "C", stop);
        }
    }
}

static int teardown_all(void **state)
{
    (void)state;
    winrsh_error_clear();
    xmlCleanupParser();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard),
        cmocka_unit_test(test_stderr_and_exit_code),
        cmocka_unit_test(test_send_several_chunks),
        cmocka_unit_test(test_other_command_state),
        cmocka_unit_test(test_psrp_streams),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_timed_out_then_output),
        cmocka_unit_test(test_receive_fault_is_error),
        cmocka_unit_test(test_stream_reader_recordings),
        cmocka_unit_test(test_stream_reader_edges),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
