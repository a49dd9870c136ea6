/*
 * test_winrs.c: the public session/shell/command API (wsman/session.c,
 * wsman/winrs.c) replaying recorded Windows replies through a fake
 * transport: whole runs, Send splitting, interrupts, clean-up that keeps the
 * caller's error, URL and option validation, Identify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/error.h"
#include "recording.h"
#include "winrsh/winrsh.h"
#include "wsman/ns.h"
#include "wsman/session_internal.h"

#define OK_HEAD                                                                                    \
    "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:a=\"" WR_NS_ADDRESSING                           \
    "\" xmlns:rsp=\"" WR_NS_SHELL "\"><s:Header><a:RelatesTo>x</a:RelatesTo></s:Header><s:Body>"
#define OK_TAIL "</s:Body></s:Envelope>"

static const char SEND_OK[] = OK_HEAD "<rsp:SendResponse/>" OK_TAIL;
static const char SIGNAL_OK[] = OK_HEAD "<rsp:SignalResponse/>" OK_TAIL;
static const char DELETE_OK[] = OK_HEAD OK_TAIL;

typedef struct output {
    wr_buf out, err;
} output;

static int on_output(winrsh_stream stream, const unsigned char *data, size_t len, void *payload)
{
    output *o = payload;
    wr_buf_append(stream == WINRSH_STREAM_STDERR ? &o->err : &o->out, data, len);
    return 0;
}

static winrsh_session *open_session(rec_fake *fake, unsigned long max_env)
{
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.max_envelope_size = max_env;
    so.user = "vagrant";
    so.password = "s3cret";
    winrsh_session *s = NULL;
    assert_int_equal(
        wr_session_open_with(&s, "http://192.168.56.11:5985", &so, rec_fake_post, fake), 0);
    assert_string_equal(winrsh_session_url(s), "http://192.168.56.11:5985/wsman");
    return s;
}

/* Queue a recording's replies; `from`..`to` (exclusive) by index. */
static void push_recorded(rec_fake *fake, const recording *rec, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        rec_fake_push(fake, rec->msgs[i].response, rec->msgs[i].http_500 ? 500 : 200);
}

static void run_recorded(const char *file, const char *const *args, size_t nargs,
                         const char *want_out, const char *want_err, int want_code)
{
    recording rec = rec_load(file);
    rec_fake fake = {0};
    push_recorded(&fake, &rec, 0, 3); /* Create, Command, Receive */
    rec_fake_push(&fake, SIGNAL_OK, 200);
    rec_fake_push(&fake, DELETE_OK, 200);
    winrsh_session *s = open_session(&fake, 0);
    winrsh_shell *sh = NULL;
    assert_int_equal(winrsh_shell_open(&sh, s, NULL), 0);
    output o = {WR_BUF_INIT, WR_BUF_INIT};
    winrsh_command_options co;
    winrsh_command_options_init(&co, WINRSH_COMMAND_OPTIONS_VERSION);
    co.output = on_output;
    co.payload = &o;
    winrsh_command *cmd = NULL;
    assert_int_equal(winrsh_command_start(&cmd, sh, "cmd.exe", args, nargs, &co), 0);
    int code = -5;
    assert_int_equal(winrsh_command_done(cmd, &code), 0);
    assert_int_equal(winrsh_command_wait(cmd, &code), 0);
    assert_int_equal(code, want_code);
    assert_int_equal(winrsh_command_done(cmd, &code), 1);
    assert_string_equal(wr_buf_cstr(&o.out), want_out);
    assert_string_equal(wr_buf_cstr(&o.err), want_err);
    winrsh_command_free(cmd);
    winrsh_shell_free(sh);
    assert_int_equal(fake.nrequests, 5);
    assert_non_null(strstr(fake.requests[0], "<w:Option Name=\"WINRS_NOPROFILE\">FALSE</w:Option>"
                                             "<w:Option Name=\"WINRS_CODEPAGE\">65001</w:Option>"));
    assert_non_null(strstr(fake.requests[1], "<w:Option Name=\"WINRS_CONSOLEMODE_STDIN\">FALSE"));
    assert_non_null(strstr(fake.requests[3], "<rsp:Code>" WR_SIGNAL_TERMINATE "</rsp:Code>"));
    assert_non_null(strstr(fake.requests[4], WR_ACTION_DELETE));
    assert_int_equal(winrsh_session_request_count(s), 0); /* no HTTP in this test */
    winrsh_session_free(s);
    wr_buf_free(&o.out);
    wr_buf_free(&o.err);
    rec_fake_free(&fake);
    rec_free(&rec);
}

static void test_run_standard(void **state)
{
    (void)state;
    const char *args[] = {"/c", "echo", "hi"};
    run_recorded("test_winrs_standard.yml", args, 3, "hi\r\n", "", 0);
}

static void test_run_stderr_rc(void **state)
{
    (void)state;
    const char *args[] = {"/c echo out && echo err>&2 && exit 1"};
    run_recorded("test_winrs_stderr_rc.yml", args, 1, "out \r\n", "err \r\n", 1);
}

/* Large input is split below the Send envelope limit; only the last piece
 * carries End, and the pieces add up to the input. */
static void test_send_splits(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_send.yml");
    rec_fake fake = {0};
    push_recorded(&fake, &rec, 0, 2);
    for (int i = 0; i < 8; i++)
        rec_fake_push(&fake, SEND_OK, 200);
    rec_fake_push(&fake, SIGNAL_OK, 200);
    rec_fake_push(&fake, DELETE_OK, 200);
    winrsh_session *s = open_session(&fake, 512000);
    winrsh_shell *sh = NULL;
    assert_int_equal(winrsh_shell_open(&sh, s, NULL), 0);
    const char *args[] = {"-"};
    winrsh_command *cmd = NULL;
    assert_int_equal(winrsh_command_start(&cmd, sh, "powershell.exe", args, 1, NULL), 0);
    size_t len = 400000;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 31 + i / 7);
    assert_int_equal(winrsh_command_send(cmd, data, len, 1), 0);
    /* stdin is closed now */
    assert_int_equal(winrsh_command_send(cmd, "x", 1, 0), WINRSH_EINVAL);
    size_t nsend = fake.nrequests - 2;
    assert_true(nsend >= 3);
    wr_buf all = WR_BUF_INIT;
    for (size_t i = 0; i < nsend; i++) {
        const char *r = fake.requests[2 + i];
        assert_true(strlen(r) <= 153600);
        assert_int_equal(!!strstr(r, "End=\"true\""), i == nsend - 1);
        const char *b = strchr(strstr(r, "<rsp:Stream "), '>') + 1;
        assert_int_equal(wr_base64_decode(&all, b, strcspn(b, "<")), 0);
    }
    assert_int_equal(all.len, len);
    assert_memory_equal(all.data, data, len);
    winrsh_command_free(cmd);
    winrsh_shell_free(sh);
    winrsh_session_free(s);
    wr_buf_free(&all);
    free(data);
    rec_fake_free(&fake);
    rec_free(&rec);
}

/* winrsh_command_send_max bytes go in exactly one Send, within the envelope
 * limit; one byte more takes two. winrsh_command_free_nosignal sends no
 * terminate: the Delete that follows is the next request. */
static void test_send_max_and_free_nosignal(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_send.yml");
    rec_fake fake = {0};
    push_recorded(&fake, &rec, 0, 2);
    for (int i = 0; i < 3; i++)
        rec_fake_push(&fake, SEND_OK, 200);
    rec_fake_push(&fake, DELETE_OK, 200);
    winrsh_session *s = open_session(&fake, 512000);
    winrsh_shell *sh = NULL;
    assert_int_equal(winrsh_shell_open(&sh, s, NULL), 0);
    const char *args[] = {"-"};
    winrsh_command *cmd = NULL;
    assert_int_equal(winrsh_command_start(&cmd, sh, "powershell.exe", args, 1, NULL), 0);
    assert_int_equal(winrsh_command_send_max(NULL), 0);
    size_t max = winrsh_command_send_max(cmd);
    assert_true(max > 100000 && max < 153600 / 4 * 3);
    unsigned char *data = malloc(max + 1);
    memset(data, 'x', max + 1);
    assert_int_equal(winrsh_command_send(cmd, data, max, 0), 0);
    assert_int_equal(fake.nrequests, 3);
    assert_true(strlen(fake.requests[2]) <= 153600);
    assert_true(strlen(fake.requests[2]) > 153600 - 512); /* nearly full */
    assert_int_equal(winrsh_command_send(cmd, data, max + 1, 0) == 0 ? fake.nrequests : 0, 5);
    winrsh_command_free_nosignal(cmd);
    winrsh_command_free_nosignal(NULL);
    assert_int_equal(fake.nrequests, 5);
    winrsh_shell_free(sh);
    assert_int_equal(fake.nrequests, 6);
    assert_non_null(strstr(fake.requests[5], WR_ACTION_DELETE));
    for (int i = 0; i < 6; i++)
        assert_null(strstr(fake.requests[i], WR_ACTION_SIGNAL));
    winrsh_session_free(s);
    free(data);
    rec_fake_free(&fake);
    rec_free(&rec);
}

/* An interrupt turns the next request into EINTR without sending it, once;
 * clean-up still reaches the server. A TimedOut Receive is "not yet". */
static void test_interrupt_and_timeout(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_standard.yml");
    recording slow = rec_load("test_psrp_long_running_cmdlet.yml");
    const char *timeout = NULL;
    for (size_t i = 0; i < slow.n && !timeout; i++)
        if (slow.msgs[i].response && strstr(slow.msgs[i].response, "w:TimedOut"))
            timeout = slow.msgs[i].response;
    rec_fake fake = {0};
    push_recorded(&fake, &rec, 0, 2);
    rec_fake_push(&fake, timeout, 500);
    rec_fake_push(&fake, SIGNAL_OK, 200);
    rec_fake_push(&fake, DELETE_OK, 200);
    winrsh_session *s = open_session(&fake, 0);
    winrsh_shell *sh = NULL;
    assert_int_equal(winrsh_shell_open(&sh, s, NULL), 0);
    assert_string_equal(winrsh_shell_id(sh), "4283CBDC-3706-415B-88BD-B385F3E51A53");
    winrsh_command *cmd = NULL;
    assert_int_equal(winrsh_command_start(&cmd, sh, "cmd.exe", NULL, 0, NULL), 0);
    assert_string_equal(winrsh_command_id(cmd), "CF84C20A-0A35-43FA-AF78-0B4711DA5F30");
    winrsh_session_interrupt(s);
    int done = 7;
    assert_int_equal(winrsh_command_receive(cmd, 0, &done), WINRSH_EINTR);
    assert_int_equal(fake.nrequests, 2);
    assert_int_equal(winrsh_command_receive(cmd, 2000, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(fake.nrequests, 3);
    winrsh_session_interrupt(s);
    winrsh_command_free(cmd);
    winrsh_session_interrupt(s);
    winrsh_shell_free(sh);
    assert_int_equal(fake.nrequests, 5);
    winrsh_session_free(s);
    rec_fake_free(&fake);
    rec_free(&rec);
    rec_free(&slow);
}

/* The caller's error survives the terminate and Delete of clean-up, even
 * when those fail too. */
static void test_cleanup_keeps_error(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_standard.yml");
    recording bad = rec_load("test_winrs_bad_cmd_id.yml");
    const char *fault = NULL;
    for (size_t i = 0; i < bad.n; i++)
        if (bad.msgs[i].http_500)
            fault = bad.msgs[i].response;
    rec_fake fake = {0};
    push_recorded(&fake, &rec, 0, 2);
    rec_fake_push(&fake, "<html>proxy error</html>", 200); /* Receive */
    rec_fake_push(&fake, fault, 500);                      /* terminate */
    rec_fake_push(&fake, fault, 500);                      /* Delete */
    winrsh_session *s = open_session(&fake, 0);
    winrsh_shell *sh = NULL;
    assert_int_equal(winrsh_shell_open(&sh, s, NULL), 0);
    winrsh_command *cmd = NULL;
    assert_int_equal(winrsh_command_start(&cmd, sh, "cmd.exe", NULL, 0, NULL), 0);
    int code;
    assert_int_equal(winrsh_command_wait(cmd, &code), WINRSH_EPROTO);
    char before[1024];
    snprintf(before, sizeof(before), "%s", winrsh_error_last()->message);
    winrsh_command_free(cmd);
    winrsh_shell_free(sh);
    assert_int_equal(fake.nrequests, 5);
    assert_int_equal(winrsh_error_last()->code, WINRSH_EPROTO);
    assert_string_equal(winrsh_error_last()->message, before);

    /* ... and a fault as the caller's error comes back whole. */
    rec_fake fake2 = {0};
    push_recorded(&fake2, &rec, 0, 1);
    rec_fake_push(&fake2, fault, 500);  /* Command */
    rec_fake_push(&fake2, "junk", 200); /* Delete fails differently */
    winrsh_shell *sh2 = NULL;
    winrsh_session *s2 = open_session(&fake2, 0);
    assert_int_equal(winrsh_shell_open(&sh2, s2, NULL), 0);
    assert_int_equal(winrsh_command_start(&cmd, sh2, "x", NULL, 0, NULL), WINRSH_EFAULT);
    assert_null(cmd);
    winrsh_shell_free(sh2);
    const winrsh_error *e = winrsh_error_last();
    assert_int_equal(e->code, WINRSH_EFAULT);
    assert_int_equal(e->http_status, 500);
    assert_non_null(e->fault);
    assert_int_equal(e->fault->wsman_code, 2150858843u);
    assert_string_equal(e->fault->machine, "192.168.56.15");
    winrsh_session_free(s2);
    winrsh_session_free(s);
    rec_fake_free(&fake);
    rec_fake_free(&fake2);
    rec_free(&rec);
    rec_free(&bad);
}

static void test_urls_and_options(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } good[] = {
        {"http://host:5985/wsman", "http://host:5985/wsman"},
        {"HTTPS://Host.example.com", "https://Host.example.com/wsman"},
        {"http://[::1]:5985", "http://[::1]:5985/wsman"},
        {"http://10.0.0.1/custom/path", "http://10.0.0.1/custom/path"},
    };
    rec_fake fake = {0};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        winrsh_session *s = NULL;
        assert_int_equal(wr_session_open_with(&s, good[i].in, NULL, rec_fake_post, &fake), 0);
        assert_string_equal(winrsh_session_url(s), good[i].out);
        winrsh_session_free(s);
    }
    const char *bad[] = {"ftp://h/",        "http://",     "http://:5985/", "http://h:0/",
                         "http://h:65536/", "http://h:x/", "http://h /",    "http://h/?a=b",
                         "host:5985",       "http://[]/",  "http://h\x01/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        winrsh_session *s = (winrsh_session *)1;
        if (wr_session_open_with(&s, bad[i], NULL, rec_fake_post, &fake) != WINRSH_EINVAL)
            fail_msg("accepted bad URL %zu '%s'", i, bad[i]);
        assert_null(s);
        assert_int_equal(winrsh_error_last()->klass, WINRSH_ERRCLASS_INVALID);
    }
    winrsh_session *s = NULL;
    assert_int_equal(
        wr_session_open_with(&s, "http://admin:Pa55w0rd@h/", NULL, rec_fake_post, &fake),
        WINRSH_EINVAL);
    assert_null(strstr(winrsh_error_last()->message, "Pa55w0rd"));

    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, 99), WINRSH_EINVAL);
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.max_envelope_size = 1000;
    assert_int_equal(wr_session_open_with(&s, "http://h", &so, rec_fake_post, &fake),
                     WINRSH_EINVAL);
    so.max_envelope_size = 0;
    so.operation_timeout_ms = -1;
    assert_int_equal(wr_session_open_with(&s, "http://h", &so, rec_fake_post, &fake),
                     WINRSH_EINVAL);
    so.operation_timeout_ms = 0;
    so.version = 2;
    assert_int_equal(wr_session_open_with(&s, "http://h", &so, rec_fake_post, &fake),
                     WINRSH_EINVAL);

    winrsh_shell_options sho;
    assert_int_equal(winrsh_shell_options_init(&sho, 0), WINRSH_EINVAL);
    winrsh_command_options co;
    assert_int_equal(winrsh_command_options_init(&co, 5), WINRSH_EINVAL);
    assert_int_equal(winrsh_command_start(NULL, NULL, "x", NULL, 0, NULL), WINRSH_EINVAL);
    winrsh_command_free(NULL);
    winrsh_shell_free(NULL);
    winrsh_session_free(NULL);
    assert_string_equal(winrsh_version(), WINRSH_VERSION);
}

static void test_shell_options_on_the_wire(void **state)
{
    (void)state;
    recording rec = rec_load("test_winrs_standard.yml");
    rec_fake fake = {0};
    push_recorded(&fake, &rec, 0, 1);
    rec_fake_push(&fake, DELETE_OK, 200);
    winrsh_session *s = open_session(&fake, 0);
    winrsh_shell_options o;
    winrsh_shell_options_init(&o, WINRSH_SHELL_OPTIONS_VERSION);
    const char *env[] = {"FOO=bar baz", NULL};
    o.codepage = 437;
    o.no_profile = 1;
    o.working_directory = "C:\\Temp";
    o.environment = env;
    o.idle_timeout_s = 600;
    winrsh_shell *sh = NULL;
    assert_int_equal(winrsh_shell_open(&sh, s, &o), 0);
    assert_int_equal(winrsh_shell_close(sh), 0);
    assert_int_equal(winrsh_shell_close(sh), 0); /* twice: no-op */
    winrsh_shell_free(sh);
    assert_int_equal(fake.nrequests, 2);
    const char *r = fake.requests[0];
    assert_non_null(strstr(r, "<w:Option Name=\"WINRS_NOPROFILE\">TRUE</w:Option>"));
    assert_non_null(strstr(r, "<w:Option Name=\"WINRS_CODEPAGE\">437</w:Option>"));
    assert_non_null(strstr(r, "<rsp:WorkingDirectory>C:\\Temp</rsp:WorkingDirectory>"));
    assert_non_null(strstr(r, "<rsp:Variable Name=\"FOO\">bar baz</rsp:Variable>"));
    assert_non_null(strstr(r, "<rsp:IdleTimeOut>PT600.000S</rsp:IdleTimeOut>"));
    winrsh_session_free(s);
    rec_fake_free(&fake);
    rec_free(&rec);
}

static void test_identify(void **state)
{
    (void)state;
    const char *reply =
        "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:wsmid=\"" WR_NS_IDENTITY "\"><s:Header/>"
        "<s:Body><wsmid:IdentifyResponse><wsmid:ProtocolVersion>"
        "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>"
        "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
        "<wsmid:ProductVersion>OS: 10.0.17763 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>"
        "</wsmid:IdentifyResponse></s:Body></s:Envelope>";
    rec_fake fake = {0};
    rec_fake_push(&fake, reply, 200);
    rec_fake_push(&fake, "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\"><s:Body/></s:Envelope>", 200);
    winrsh_session *s = open_session(&fake, 0);
    char vendor[64], version[10];
    assert_int_equal(winrsh_session_identify(s, vendor, sizeof(vendor), version, sizeof(version)),
                     0);
    assert_string_equal(vendor, "Microsoft Corporation");
    assert_string_equal(version, "OS: 10.0."); /* truncated to the buffer */
    assert_non_null(strstr(fake.requests[0], "<wsmid:Identify/>"));
    assert_null(strstr(fake.requests[0], "a:MessageID"));
    assert_int_equal(winrsh_session_identify(s, NULL, 0, NULL, 0), WINRSH_EPROTO);
    winrsh_session_free(s);
    rec_fake_free(&fake);
}

static int setup_all(void **state)
{
    (void)state;
    return winrsh_global_init();
}

static int teardown_all(void **state)
{
    (void)state;
    winrsh_error_clear();
    winrsh_global_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_standard),
        cmocka_unit_test(test_run_stderr_rc),
        cmocka_unit_test(test_send_splits),
        cmocka_unit_test(test_send_max_and_free_nosignal),
        cmocka_unit_test(test_interrupt_and_timeout),
        cmocka_unit_test(test_cleanup_keeps_error),
        cmocka_unit_test(test_urls_and_options),
        cmocka_unit_test(test_shell_options_on_the_wire),
        cmocka_unit_test(test_identify),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
