/*
 * test_transports_e2e.c: the stream transports end to end, with the PSRP
 * engine (psrp/runspace.h) running real pipelines in a real PowerShell.
 *
 * Without arguments (ctest): PowerShell Direct against the stand-in
 * (tests/server/psdirect_broker, bridging to `pwsh -s`), through
 * WINRSH_HVSOCKET_DIR: both handshakes running Get-Date, the URL-only entry
 * of the scheme table, a wrong password, an expired token, a broker that
 * hangs up mid-handshake, and a pwsh that exits mid-pipeline. Skipped
 * (saying why) only when no pwsh is found (see find_pwsh).
 *
 * With arguments it is the small driver tests/integration/test_transports.py
 * runs (ssh:// through a real sshd, and the rest):
 *
 *   test_transports_e2e run [--user U] [--password-env VAR] [--config NAME]
 *       [--ssh-option OPT]... [--batch] [--timeout MS] [--step-timeout MS]
 *       [--trace] TARGET SCRIPT
 *
 * It opens TARGET (vmbus:// with the credentials, ssh:// with the options,
 * anything else through the scheme table), runs SCRIPT, prints each output
 * object's string form on a line of stdout and error records on stderr,
 * and exits 0 (Completed, no errors), 1 (the pipeline failed or wrote
 * errors), or 255 with "winrsh-e2e: WINRSH_Exxx: message" on stderr when
 * the transport or the engine failed.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/trace.h"
#include "psrp/binding_outofproc.h"
#include "psrp/runspace.h"
#include "transport/hvsocket.h"
#include "transport/outofproc.h"
#include "transport/stream.h"
#include "transport/stream_ssh.h"
#include "winrsh/errors.h"
#include "winrsh/psobject.h"
#include "winrsh/runspace.h"

#include "find_pwsh.h"

extern char **environ;

#define VMID "6f0a4b2c-1d2e-4f30-8a41-52b6c7d8e9f0"
#define WAIT_MS 30000L

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void trace_cb(winrsh_trace_kind kind, const char *text, size_t len, void *payload)
{
    (void)payload;
    const char *dir = kind == WINRSH_TRACE_DATA_OUT  ? ">>"
                      : kind == WINRSH_TRACE_DATA_IN ? "<<"
                                                     : "--";
    fprintf(stderr, "%s %.*s\n", dir, (int)(len > 300 ? 300 : len), text);
}

/* ---- running a script over a binding ------------------------------------------------ */

typedef struct result {
    char out[8192];
    char err[4096];
    int state;
    size_t errors;
} result;

static void append(char *buf, size_t sz, const char *text, size_t len)
{
    size_t l = strlen(buf);
    if (l + 1 >= sz)
        return;
    if (len > sz - l - 2)
        len = sz - l - 2;
    memcpy(buf + l, text, len);
    buf[l + len] = '\n';
    buf[l + len + 1] = 0;
}

static int on_output(const winrsh_psobject *obj, void *payload)
{
    result *r = payload;
    const char *t = winrsh_psobject_tostring(obj);
    size_t len = 0;
    if (!t)
        t = winrsh_psobject_text(obj, &len);
    if (!t)
        t = winrsh_psobject_kind_name(winrsh_psobject_get_kind(obj));
    append(r->out, sizeof r->out, t, len ? len : strlen(t));
    return 0;
}

static int on_error(const winrsh_psobject *record, const char *text, int terminating, void *payload)
{
    (void)record;
    (void)terminating;
    result *r = payload;
    append(r->err, sizeof r->err, text, strlen(text));
    return 0;
}

/* Open a runspace on `b` (taken over) and run script; 0 or the failing rc. */
static int run_script(wr_psrp_binding *b, const char *script, result *r)
{
    memset(r, 0, sizeof *r);
    r->state = -1;
    winrsh_runspace_options ro = WINRSH_RUNSPACE_OPTIONS_INIT;
    ro.open_timeout_ms = WAIT_MS;
    winrsh_runspace *rs = NULL;
    int rc = wr_runspace_open_binding(&rs, b, NULL, &ro, NULL);
    if (rc)
        return rc;
    winrsh_pipeline_options po = WINRSH_PIPELINE_OPTIONS_INIT;
    po.output = on_output;
    po.error = on_error;
    po.payload = r;
    winrsh_pipeline *p = NULL;
    rc = winrsh_pipeline_new(&p, rs, &po);
    if (!rc)
        rc = winrsh_pipeline_add_script(p, script);
    if (!rc)
        rc = winrsh_pipeline_invoke(p);
    if (!rc)
        rc = winrsh_pipeline_wait(p);
    if (p) {
        r->state = (int)winrsh_pipeline_get_state(p);
        r->errors = winrsh_pipeline_error_count(p);
    }
    /* Keep the first error's message across the clean-up. */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rc ? winrsh_error_last()->message : "");
    winrsh_error_class klass = winrsh_error_last()->klass;
    winrsh_pipeline_free(p);
    winrsh_runspace_free(rs);
    if (rc)
        wr_error_set(rc, klass, "%s", msg);
    return rc;
}

/* ---- the driver ---------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: test_transports_e2e run [--user U] [--password-env VAR] "
                    "[--config NAME] [--ssh-option OPT]... [--batch] [--timeout MS] "
                    "[--step-timeout MS] [--trace] TARGET SCRIPT\n");
    return 2;
}

static int driver_fail(int rc)
{
    fprintf(stderr, "winrsh-e2e: %s: %s\n", winrsh_error_name(rc), winrsh_error_last()->message);
    return 255;
}

static int driver(int argc, char **argv)
{
    const char *user = NULL, *password = NULL, *config = NULL;
    const char *ssh_opts[32];
    size_t nssh = 0;
    int batch = 0;
    long timeout = WAIT_MS, step = 0;
    wr_tracer tr = {trace_cb, NULL, 0};
    int i = 2;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--batch")) {
            batch = 1;
            continue;
        }
        if (!strcmp(o, "--trace")) {
            tr.level = 2;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (!strcmp(o, "--user"))
            user = v;
        else if (!strcmp(o, "--password-env"))
            password = getenv(v);
        else if (!strcmp(o, "--config"))
            config = v;
        else if (!strcmp(o, "--ssh-option") && nssh < 32)
            ssh_opts[nssh++] = v;
        else if (!strcmp(o, "--timeout"))
            timeout = atol(v);
        else if (!strcmp(o, "--step-timeout"))
            step = atol(v);
        else
            return usage();
    }
    if (argc - i != 2)
        return usage();
    const char *target = argv[i], *script = argv[i + 1];

    wr_psrp_binding *b = NULL;
    int rc;
    if (!strncmp(target, "vmbus://", 8) || !strncmp(target, "ssh://", 6)) {
        wr_stream *s = NULL;
        if (target[0] == 'v') {
            wr_hvsocket_options ho;
            memset(&ho, 0, sizeof ho);
            ho.user = user;
            ho.password = password;
            ho.config_name = config;
            ho.step_timeout_ms = step;
            ho.connect_timeout_ms = timeout;
            ho.tracer = &tr;
            rc = wr_hvsocket_open(&s, target, &ho, NULL);
        } else {
            wr_ssh_options so = {ssh_opts, nssh, batch, NULL};
            wr_stream_options sto = {timeout, &tr};
            rc = wr_stream_ssh_open(&s, target, &so, &sto);
        }
        wr_oop_conn *c = NULL;
        if (!rc)
            rc = wr_oop_conn_wrap(&c, s, &tr, timeout);
        if (!rc)
            rc = wr_psrp_binding_outofproc_wrap(&b, c);
    } else {
        rc = wr_psrp_binding_outofproc_open(&b, target, &tr, timeout);
    }
    if (rc)
        return driver_fail(rc);
    result r;
    rc = run_script(b, script, &r);
    fputs(r.out, stdout);
    fputs(r.err, stderr);
    fflush(stdout);
    if (rc)
        return driver_fail(rc);
    return r.state == WINRSH_PIPELINE_COMPLETED && r.errors == 0 ? 0 : 1;
}

/* ---- the stand-in broker ------------------------------------------------------------------- */

static char g_tmp[64];

typedef struct broker {
    pid_t pid;
    char dir[PATH_MAX];
    char log[PATH_MAX];
} broker;

/* Start tests/server/psdirect_broker with extra arguments (NULL-ended);
 * waits for READY and points WINRSH_HVSOCKET_DIR at it. */
static void broker_start(broker *b, ...)
{
    char *argv[40];
    size_t n = 0;
    static char py[] = "/usr/bin/python3", dash_i[] = "-I", opt_pwsh[] = "--pwsh",
                opt_log[] = "--log";
    static char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/tests/server/psdirect_broker", WINRSH_SOURCE_DIR);
    snprintf(b->log, sizeof b->log, "%s/broker-%ld.log", g_tmp, (long)now_ms());
    argv[n++] = py;
    argv[n++] = dash_i;
    argv[n++] = script;
    argv[n++] = opt_pwsh;
    argv[n++] = g_pwsh;
    argv[n++] = opt_log;
    argv[n++] = b->log;
    va_list ap;
    va_start(ap, b);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 38)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int out[2];
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    int e = posix_spawn(&b->pid, py, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (e)
        fail_msg("cannot start the broker: %s", strerror(e));
    char line[PATH_MAX + 16];
    size_t have = 0;
    long long deadline = now_ms() + 10000;
    while (have < sizeof line - 1 && !memchr(line, '\n', have)) {
        struct pollfd pf = {out[0], POLLIN, 0};
        long long left = deadline - now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        ssize_t r = read(out[0], line + have, sizeof line - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    close(out[0]);
    line[have] = 0;
    char *nl = strchr(line, '\n');
    if (!nl || strncmp(line, "READY ", 6) != 0)
        fail_msg("the broker did not get ready: \"%s\"", line);
    *nl = 0;
    size_t dl = strlen(line + 6);
    if (dl >= sizeof b->dir)
        fail_msg("the broker's directory name is too long: \"%s\"", line + 6);
    memcpy(b->dir, line + 6, dl + 1);
    setenv("WINRSH_HVSOCKET_DIR", b->dir, 1);
}

/* Stop it; fail if it logged a protocol violation. */
static void broker_stop(broker *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        int st;
        waitpid(b->pid, &st, 0);
        b->pid = -1;
    }
    unsetenv("WINRSH_HVSOCKET_DIR");
    FILE *f = fopen(b->log, "r");
    if (!f)
        return;
    char line[4096];
    int violated = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"violation\"")) {
            print_message("broker: %s", line);
            violated = 1;
        }
    }
    fclose(f);
    unlink(b->log);
    if (violated)
        fail_msg("the client broke the PowerShell Direct protocol (see above)");
}

static int log_has(const broker *b, const char *needle)
{
    FILE *f = fopen(b->log, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static int open_vmbus(wr_psrp_binding **b, const char *target, const char *user,
                      const char *password, const char *config, int *legacy)
{
    wr_hvsocket_options ho;
    memset(&ho, 0, sizeof ho);
    ho.user = user;
    ho.password = password;
    ho.config_name = config;
    ho.step_timeout_ms = 5000;
    ho.connect_timeout_ms = 5000;
    wr_stream *s = NULL;
    int rc = wr_hvsocket_open(&s, target, &ho, legacy);
    wr_oop_conn *c = NULL;
    if (!rc)
        rc = wr_oop_conn_wrap(&c, s, NULL, WAIT_MS);
    if (!rc)
        rc = wr_psrp_binding_outofproc_wrap(b, c);
    return rc;
}

static int msg_has(const char *needle)
{
    const char *m = winrsh_error_last()->message;
    if (strstr(m, needle))
        return 1;
    print_message("error message \"%s\" lacks \"%s\"\n", m, needle);
    return 0;
}

/* Get-Date comes back as a DateTime whose string form has the year in it. */
static void check_get_date(const result *r)
{
    char year[16];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(year, sizeof year, "%d", tm.tm_year + 1900);
    if (r->state != WINRSH_PIPELINE_COMPLETED || !strstr(r->out, year))
        fail_msg("Get-Date: state %d, output \"%s\", errors \"%s\"", r->state, r->out, r->err);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_modern(void **state)
{
    (void)state;
    need_pwsh();
    broker b;
    static char u1[] = "--user", v1[] = "LAB\\admin:Pa55w\xc3\xb6rd", u2[] = "--user",
                v2[] = "bars:secret", vm[] = "--vm", vmid[] = VMID;
    broker_start(&b, u1, v1, u2, v2, vm, vmid, (char *)NULL);
    wr_psrp_binding *bd = NULL;
    int legacy = -1;
    long long t0 = now_ms();
    int rc =
        open_vmbus(&bd, "vmbus://" VMID, "LAB\\admin", "Pa55w\xc3\xb6rd", "Custom.Config", &legacy);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_int_equal(legacy, 0);
    result r;
    rc = run_script(bd, "Get-Date", &r);
    if (rc)
        fail_msg("Get-Date: %s", winrsh_error_last()->message);
    check_get_date(&r);
    print_message("modern: Get-Date -> %s (%lld ms with pwsh start)", r.out, now_ms() - t0);
    assert_true(log_has(&b, "\"config\": \"Custom.Config\""));
    assert_true(log_has(&b, "\"legacy\": false"));

    /* Second session on the same broker: a new token. */
    rc = open_vmbus(&bd, "vmbus://" VMID, "bars", "secret", NULL, &legacy);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    rc = run_script(bd, "$PSVersionTable.PSEdition", &r);
    if (rc)
        fail_msg("PSEdition: %s", winrsh_error_last()->message);
    assert_string_equal(r.out, "Core\n");
    broker_stop(&b);
}

static void test_legacy(void **state)
{
    (void)state;
    need_pwsh();
    broker b;
    static char u1[] = "--user", v1[] = "bars:secret", leg[] = "--legacy";
    broker_start(&b, u1, v1, leg, (char *)NULL);
    wr_psrp_binding *bd = NULL;
    int legacy = -1;
    int rc = open_vmbus(&bd, "vmbus://" VMID, "bars", "secret", NULL, &legacy);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_int_equal(legacy, 1);
    result r;
    rc = run_script(bd, "Get-Date", &r);
    if (rc)
        fail_msg("Get-Date: %s", winrsh_error_last()->message);
    check_get_date(&r);
    assert_true(log_has(&b, "legacy probe"));
    assert_true(log_has(&b, "\"legacy\": true"));
    broker_stop(&b);
}

/* The scheme table's entry: vmbus://USER@VMID with an empty password,
 * through wr_psrp_binding_outofproc_open. */
static void test_url_only(void **state)
{
    (void)state;
    need_pwsh();
    broker b;
    static char u1[] = "--user", v1[] = "guest:";
    broker_start(&b, u1, v1, (char *)NULL);
    wr_psrp_binding *bd = NULL;
    int rc = wr_psrp_binding_outofproc_open(&bd, "vmbus://guest@" VMID, NULL, WAIT_MS);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    result r;
    rc = run_script(bd, "Get-Date", &r);
    if (rc)
        fail_msg("Get-Date: %s", winrsh_error_last()->message);
    check_get_date(&r);
    broker_stop(&b);
}

static void test_failures(void **state)
{
    (void)state;
    need_pwsh();
    broker b;
    static char u1[] = "--user", v1[] = "bars:secret";
    broker_start(&b, u1, v1, (char *)NULL);
    wr_psrp_binding *bd = NULL;
    long long t0 = now_ms();
    int rc = open_vmbus(&bd, "vmbus://" VMID, "bars", "wrong", NULL, NULL);
    long long took = now_ms() - t0;
    assert_int_equal(rc, WINRSH_EAUTH);
    assert_string_equal(winrsh_error_last()->message, "invalid credentials for bars on VM " VMID);
    assert_true(took < 1000);
    assert_true(log_has(&b, "bad credentials"));
    broker_stop(&b);

    /* Expired token: the server hangs up on it. */
    static char lt[] = "--token-lifetime", zero[] = "0";
    broker_start(&b, u1, v1, lt, zero, (char *)NULL);
    t0 = now_ms();
    rc = open_vmbus(&bd, "vmbus://" VMID, "bars", "secret", NULL, NULL);
    assert_int_equal(rc, WINRSH_ECLOSED);
    assert_true(msg_has("PowerShell server of VM " VMID " closed the connection"));
    assert_true(msg_has("10 minutes"));
    assert_true(now_ms() - t0 < 1000);
    assert_true(log_has(&b, "token expired"));
    broker_stop(&b);

    /* A broker that dies after the user name. */
    static char ca[] = "--close-after", four[] = "4";
    broker_start(&b, u1, v1, ca, four, (char *)NULL);
    t0 = now_ms();
    rc = open_vmbus(&bd, "vmbus://" VMID, "bars", "secret", NULL, NULL);
    assert_int_equal(rc, WINRSH_ECLOSED);
    assert_true(msg_has("the broker of VM " VMID " closed the connection after we sent the user "
                        "name"));
    assert_true(now_ms() - t0 < 1000);
    broker_stop(&b);

    /* A broker that stops answering: bounded by the step timeout. */
    static char sa[] = "--stall-after", three[] = "3";
    broker_start(&b, u1, v1, sa, three, (char *)NULL);
    wr_hvsocket_options ho;
    memset(&ho, 0, sizeof ho);
    ho.user = "bars";
    ho.password = "secret";
    ho.step_timeout_ms = 400;
    wr_stream *s = NULL;
    t0 = now_ms();
    rc = wr_hvsocket_open(&s, "vmbus://" VMID, &ho, NULL);
    assert_int_equal(rc, WINRSH_ETIMEOUT);
    assert_true(now_ms() - t0 < 1000);
    broker_stop(&b);
}

/* pwsh exits in the middle of a pipeline: a clear error, no hang. */
static void test_server_exits(void **state)
{
    (void)state;
    need_pwsh();
    broker b;
    static char u1[] = "--user", v1[] = "bars:secret";
    broker_start(&b, u1, v1, (char *)NULL);
    wr_psrp_binding *bd = NULL;
    int rc = open_vmbus(&bd, "vmbus://" VMID, "bars", "secret", NULL, NULL);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    result r;
    long long t0 = now_ms();
    rc = run_script(bd, "'before'; [Environment]::Exit(3)", &r);
    long long took = now_ms() - t0;
    assert_int_equal(rc, WINRSH_ECLOSED);
    assert_true(msg_has("PowerShell Direct (VM " VMID ")"));
    print_message("pwsh exit: %s (%lld ms)\n", winrsh_error_last()->message, took);
    assert_true(took < 15000);
    broker_stop(&b);
}

static int setup(void **state)
{
    (void)state;
    find_pwsh();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/winrsh-e2e-XXXXXX");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rmdir(g_tmp);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "run") != 0)
            return usage();
        return driver(argc, argv);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modern),       cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_url_only),     cmocka_unit_test(test_failures),
        cmocka_unit_test(test_server_exits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
