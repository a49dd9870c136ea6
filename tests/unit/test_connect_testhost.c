/*
 * test_connect_testhost.c: disconnected runspace pools end to end, the
 * public API against tests/server/testhost with a real PowerShell (`pwsh
 * -s`) behind each WS-Man shell: winrsh_runspace_disconnect / _reconnect /
 * _list / _connect / _is_alive (MS-PSRP 3.1.4.9-3.1.4.11).
 *
 * The host answers Get and Enumerate of .../windows/shell, Disconnect,
 * Reconnect and Connect in the shapes Windows was recorded with
 * (tests/fixtures/pypsrp/responses/test_psrp_disconnect_runspaces.yml,
 * test_psrp_is_alive_*.yml); see tests/server/README.md.
 *
 * The story: open a pool, `$x = 42`, is_alive 1; start a pipeline that
 * writes after a pause and disconnect while it runs; the list shows the
 * pool Disconnected; reconnect and the pipeline's output, produced while
 * disconnected, arrives; `$x` is 42; disconnect again; a NEW session lists
 * the pool, connects to it by id and reads `$x` = 42; while it holds the
 * pool, a third session's connect is refused; it closes the pool (Delete);
 * the first handle's is_alive is then 0 and the pool Broken.
 *
 * Skipped, saying why, when no pwsh is found: $WINRSH_TEST_PWSH, then
 * ${XDG_CACHE_HOME:-$HOME/.cache}/winrsh/pwsh-7.6.9/pwsh, then
 * /root/.cache/winrsh/pwsh-7.6.9/pwsh, then pwsh on PATH. The host gets
 * the same pwsh through WINRSH_TEST_PWSH. WINRSH_TEST_TRACE=1 traces the
 * wire to stderr.
 */
#define _DEFAULT_SOURCE /* usleep */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "winrsh/errors.h"
#include "winrsh/psobject.h"
#include "winrsh/runspace.h"
#include "winrsh/session.h"

#include "find_pwsh.h"

extern char **environ;

#define WAIT_MS 30000L /* pwsh starts in 1-3 s; generous, never unbounded */

static char g_url[256];
static char g_log[64];
static pid_t g_host = -1;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the test host ------------------------------------------------------------------ */

static void host_dump_log(void)
{
    FILE *f = fopen(g_log, "r");
    if (!f)
        return;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) && n++ < 200)
        fprintf(stderr, "testhost| %s", line);
    fclose(f);
}

/* tests/server/testhost on a free loopback port, user u / password p over
 * Basic on plain HTTP, its pwsh the one found here; waits for READY. */
static void host_start(void)
{
    static char py[] = "/usr/bin/python3", dash_i[] = "-I", listen_[] = "--listen",
                addr[] = "127.0.0.1:0", user[] = "--user", up[] = "u:p",
                unenc[] = "--allow-unencrypted";
    static char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/tests/server/testhost", WINRSH_SOURCE_DIR);
    char *argv[] = {py, dash_i, script, listen_, addr, user, up, unenc, NULL};
    setenv("WINRSH_TEST_PWSH", g_pwsh, 1);
    snprintf(g_log, sizeof g_log, "/tmp/winrsh-connect-th-%ld.log", (long)getpid());
    int out[2];
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addopen(&fa, 2, g_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int e = posix_spawn(&g_host, py, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (e)
        fail_msg("cannot start the testhost: %s", strerror(e));
    char line[256];
    size_t have = 0;
    long long deadline = now_ms() + 20000;
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
    close(out[0]); /* the host writes nothing more to stdout */
    line[have] = 0;
    char *nl = strchr(line, '\n');
    if (!nl || strncmp(line, "READY ", 6) != 0) {
        host_dump_log();
        fail_msg("the testhost did not get ready: \"%s\"", line);
    }
    *nl = 0;
    snprintf(g_url, sizeof g_url, "%s", line + 6);
}

/* SIGTERM: the host kills every pwsh group it started, then exits. */
static void host_stop(void)
{
    if (g_host > 0) {
        kill(g_host, SIGTERM);
        int st = 0;
        for (int i = 0; i < 150 && waitpid(g_host, &st, WNOHANG) == 0; i++)
            usleep(100 * 1000);
        if (waitpid(g_host, &st, WNOHANG) == 0) {
            kill(g_host, SIGKILL);
            waitpid(g_host, &st, 0);
        }
        g_host = -1;
    }
    unlink(g_log);
}

/* ---- sessions, pipelines ------------------------------------------------------------- */

static void trace_cb(winrsh_trace_kind kind, const char *text, size_t len, void *payload)
{
    (void)payload;
    const char *dir = kind == WINRSH_TRACE_DATA_OUT  ? ">>"
                      : kind == WINRSH_TRACE_DATA_IN ? "<<"
                                                     : "--";
    fprintf(stderr, "%s %.*s\n", dir, (int)(len > 600 ? 600 : len), text);
}

static winrsh_session *session_new(void)
{
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.user = "u";
    so.password = "p";
    so.auth = WINRSH_AUTH_BASIC;
    so.allow_unencrypted = 1;
    so.operation_timeout_ms = 5000;
    so.trusted_hosts = "127.0.0.1"; /* Basic over loopback HTTP */
    if (getenv("WINRSH_TEST_TRACE")) {
        so.trace = trace_cb;
        so.trace_level = 2;
    }
    winrsh_session *s = NULL;
    if (winrsh_session_open(&s, g_url, &so))
        fail_msg("session %s: %s", g_url, winrsh_error_last()->message);
    return s;
}

static void rs_options(winrsh_runspace_options *ro)
{
    assert_int_equal(winrsh_runspace_options_init(ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro->open_timeout_ms = WAIT_MS;
}

typedef struct out {
    char text[8][128];
    size_t n;
    char errors[2048];
} out;

static int on_output(const winrsh_psobject *o, void *payload)
{
    out *r = payload;
    const char *t = winrsh_psobject_text(o, NULL);
    if (!t)
        t = winrsh_psobject_tostring(o);
    if (r->n < 8)
        snprintf(r->text[r->n], sizeof r->text[0], "%s", t ? t : "(null)");
    r->n++;
    return 0;
}

static int on_error(const winrsh_psobject *rec, const char *text, int terminating, void *payload)
{
    (void)rec;
    (void)terminating;
    out *r = payload;
    size_t l = strlen(r->errors);
    snprintf(r->errors + l, sizeof r->errors - l, "%s", text);
    return 0;
}

static winrsh_pipeline *start(winrsh_runspace *rs, const char *script, out *r)
{
    memset(r, 0, sizeof *r);
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.output = on_output;
    po.error = on_error;
    po.payload = r;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, rs, &po), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, script), 0);
    if (winrsh_pipeline_invoke(p))
        fail_msg("invoke %s: %s", script, winrsh_error_last()->message);
    return p;
}

static void finish(winrsh_pipeline *p, const char *script, out *r)
{
    int done = 0;
    long long deadline = now_ms() + WAIT_MS;
    while (!done && now_ms() < deadline)
        if (winrsh_pipeline_receive(p, 5000, &done))
            fail_msg("%s: %s", script, winrsh_error_last()->message);
    if (!done)
        fail_msg("%s did not end within %ld ms", script, WAIT_MS);
    if (winrsh_pipeline_get_state(p) != WINRSH_PIPELINE_COMPLETED)
        fail_msg("%s ended in state %d: %s", script, (int)winrsh_pipeline_get_state(p), r->errors);
    winrsh_pipeline_free(p);
}

static void expect(winrsh_runspace *rs, const char *script, const char *want)
{
    out r;
    finish(start(rs, script, &r), script, &r);
    if (want == NULL ? r.n != 0 : r.n != 1 || strcmp(r.text[0], want) != 0)
        fail_msg("%s gave %zu outputs, the first \"%s\"; wanted %s%s%s (%s)", script, r.n,
                 r.n ? r.text[0] : "", want ? "\"" : "", want ? want : "none", want ? "\"" : "",
                 r.errors);
}

/* The listed pool `id`, or NULL; fails on a list error. */
static const winrsh_runspace_info *find_listed(winrsh_session *s, winrsh_runspace_infos **l,
                                               const char *id)
{
    if (winrsh_runspace_list(l, s, NULL))
        fail_msg("list: %s", winrsh_error_last()->message);
    for (size_t i = 0; i < winrsh_runspace_infos_count(*l); i++) {
        const winrsh_runspace_info *info = winrsh_runspace_infos_get(*l, i);
        if (info->id && strcasecmp(info->id, id) == 0)
            return info;
    }
    return NULL;
}

/* ---- the test --------------------------------------------------------------------------- */

static void test_disconnect_reconnect_connect(void **state)
{
    (void)state;
    need_pwsh();
    host_start();

    /* Session A opens the pool. */
    winrsh_session *sa = session_new();
    winrsh_runspace_options ro;
    rs_options(&ro);
    winrsh_runspace *a = NULL;
    if (winrsh_runspace_open(&a, sa, &ro))
        fail_msg("open: %s", winrsh_error_last()->message);
    char id[64];
    snprintf(id, sizeof id, "%s", winrsh_runspace_id(a));
    expect(a, "$x = 42", NULL);
    int alive = -1;
    if (winrsh_runspace_is_alive(a, &alive))
        fail_msg("is_alive: %s", winrsh_error_last()->message);
    assert_int_equal(alive, 1);

    /* Disconnect while a pipeline runs; its output waits on the server. */
    out late;
    winrsh_pipeline *p = start(a, "Start-Sleep -Milliseconds 700; 'late'", &late);
    if (winrsh_runspace_disconnect(a, NULL))
        fail_msg("disconnect: %s", winrsh_error_last()->message);
    assert_int_equal(winrsh_runspace_get_state(a), WINRSH_RUNSPACE_DISCONNECTED);
    alive = -1;
    if (winrsh_runspace_is_alive(a, &alive))
        fail_msg("is_alive (disconnected): %s", winrsh_error_last()->message);
    assert_int_equal(alive, 1);

    winrsh_runspace_infos *l = NULL;
    const winrsh_runspace_info *info = find_listed(sa, &l, id);
    if (!info)
        fail_msg("the list does not have pool %s", id);
    print_message("listed %s: config %s, state %s, owner %s, idle %ld ms, %zu pipeline(s)\n",
                  info->id, info->config_name ? info->config_name : "(null)",
                  info->state ? info->state : "(null)", info->owner ? info->owner : "(null)",
                  info->idle_timeout_ms, info->pipeline_count);
    assert_non_null(info->state);
    assert_string_equal(info->state, "Disconnected");
    assert_int_equal(info->disconnected, 1);
    assert_non_null(info->config_name);
    assert_string_equal(info->config_name, "Microsoft.PowerShell");
    assert_int_equal(info->pipeline_count, 1); /* the sleeping one */
    winrsh_runspace_infos_free(l);

    usleep(1500 * 1000); /* 'late' is written while nobody is connected */
    if (winrsh_runspace_reconnect(a))
        fail_msg("reconnect: %s", winrsh_error_last()->message);
    assert_int_equal(winrsh_runspace_get_state(a), WINRSH_RUNSPACE_OPENED);
    finish(p, "the pipeline run across the disconnection", &late);
    if (late.n != 1 || strcmp(late.text[0], "late") != 0)
        fail_msg("buffered output: %zu objects, the first \"%s\"", late.n,
                 late.n ? late.text[0] : "");
    expect(a, "$x", "42");

    /* Disconnect again; session B attaches by id. */
    if (winrsh_runspace_disconnect(a, NULL))
        fail_msg("disconnect again: %s", winrsh_error_last()->message);
    winrsh_session *sb = session_new();
    l = NULL;
    info = find_listed(sb, &l, id);
    if (!info || !info->disconnected)
        fail_msg("session B does not see pool %s disconnected", id);
    winrsh_runspace_infos_free(l);
    winrsh_runspace *b = NULL;
    rs_options(&ro);
    if (winrsh_runspace_connect(&b, sb, id, &ro))
        fail_msg("connect from a new session: %s", winrsh_error_last()->message);
    assert_int_equal(winrsh_runspace_get_state(b), WINRSH_RUNSPACE_OPENED);
    assert_string_equal(winrsh_runspace_id(b), id);
    expect(b, "$x", "42");
    expect(b, "$x + 1", "43");

    /* Held connected by B: C is refused. */
    winrsh_session *sc = session_new();
    winrsh_runspace *c = NULL;
    int rc = winrsh_runspace_connect(&c, sc, id, &ro);
    assert_int_equal(rc, WINRSH_EFAULT);
    assert_null(c);
    print_message("connect while held: %s\n", winrsh_error_last()->message);
    winrsh_session_free(sc);

    /* B closes the pool (Delete); A's handle finds it gone. */
    assert_int_equal(winrsh_runspace_close(b), 0);
    winrsh_runspace_free(b);
    winrsh_session_free(sb);
    alive = -1;
    if (winrsh_runspace_is_alive(a, &alive))
        fail_msg("is_alive (deleted): %s", winrsh_error_last()->message);
    assert_int_equal(alive, 0);
    assert_int_equal(winrsh_runspace_get_state(a), WINRSH_RUNSPACE_BROKEN);
    winrsh_runspace_free(a); /* sends nothing more */
    winrsh_session_free(sa);

    host_stop();
}

/* A closed pool is gone for is_alive; the host's pwsh is gone too. */
static void test_alive_after_close(void **state)
{
    (void)state;
    need_pwsh();
    host_start();
    winrsh_session *s = session_new();
    winrsh_runspace_options ro;
    rs_options(&ro);
    winrsh_runspace *rs = NULL;
    if (winrsh_runspace_open(&rs, s, &ro))
        fail_msg("open: %s", winrsh_error_last()->message);
    char id[64];
    snprintf(id, sizeof id, "%s", winrsh_runspace_id(rs));
    assert_int_equal(winrsh_runspace_close(rs), 0);
    int alive = -1;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), 0);
    assert_int_equal(alive, 0);
    winrsh_runspace_free(rs);
    /* Nor can anyone connect to it. */
    winrsh_runspace *c = NULL;
    assert_int_not_equal(winrsh_runspace_connect(&c, s, id, &ro), 0);
    assert_null(c);
    print_message("connect to a deleted pool: %s\n", winrsh_error_last()->message);
    winrsh_session_free(s);
    host_stop();
}

static int teardown_test(void **state)
{
    (void)state;
    if (g_host > 0) {
        host_dump_log();
        host_stop();
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    find_pwsh();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_disconnect_reconnect_connect, teardown_test),
        cmocka_unit_test_teardown(test_alive_after_close, teardown_test),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
