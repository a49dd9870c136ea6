/*
 * test_pool_pwsh.c: the pool calls and GET_COMMAND_METADATA
 * (psrp/runspace_admin.c, psrp/pipeline.c) through the public API against
 * a real PowerShell over the out-of-process binding (a session on
 * process:///path/to/pwsh): the pool's size, available runspaces,
 * RESET_RUNSPACE_STATE, the session key exchange on demand, and command
 * metadata for Get-Item*.
 *
 * pwsh is looked for as test_outofproc_pwsh.c does; the tests are skipped
 * (saying why) only when none is found:
 *   1. $WINRSH_TEST_PWSH (if set, it must work: a wrong path fails the test)
 *   2. ${XDG_CACHE_HOME:-$HOME/.cache}/winrsh/pwsh-7.6.9/pwsh
 *   3. /root/.cache/winrsh/pwsh-7.6.9/pwsh
 *   4. pwsh on PATH
 * WINRSH_TEST_TRACE=1 prints the packets on stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "winrsh/winrsh.h"

#include "find_pwsh.h"

#define WAIT_MS 20000L /* pwsh starts in 1-2 s; generous, never unbounded */


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
        char *rp = strrchr(buf, ')');
        char st;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == (int)getpid())
            n++;
    }
    closedir(d);
    return n;
}

static void trace_cb(winrsh_trace_kind kind, const char *text, size_t len, void *payload)
{
    (void)payload;
    const char *dir = kind == WINRSH_TRACE_DATA_OUT  ? ">>"
                      : kind == WINRSH_TRACE_DATA_IN ? "<<"
                                                     : "--";
    fprintf(stderr, "%s %.*s\n", dir, (int)(len > 300 ? 300 : len), text);
}

typedef struct pwsh {
    winrsh_session *session;
    winrsh_runspace *rs;
    int children_before;
} pwsh;

static void pwsh_open_size(pwsh *t, int min_runspaces, int max_runspaces)
{
    memset(t, 0, sizeof *t);
    t->children_before = count_children();
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.operation_timeout_ms = WAIT_MS;
    if (getenv("WINRSH_TEST_TRACE")) {
        so.trace = trace_cb;
        so.trace_level = 2;
    }
    char url[PATH_MAX + 16];
    snprintf(url, sizeof url, "process://%s", g_pwsh);
    if (winrsh_session_open(&t->session, url, &so))
        fail_msg("session %s: %s", url, winrsh_error_last()->message);
    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro.open_timeout_ms = WAIT_MS;
    ro.min_runspaces = min_runspaces;
    ro.max_runspaces = max_runspaces;
    if (winrsh_runspace_open(&t->rs, t->session, &ro))
        fail_msg("open the pool on %s: %s", url, winrsh_error_last()->message);
}

static void pwsh_open(pwsh *t)
{
    pwsh_open_size(t, 0, 0);
}

static void pwsh_close(pwsh *t)
{
    winrsh_runspace_free(t->rs);
    winrsh_session_free(t->session);
    /* pwsh is gone and reaped. */
    if (t->children_before >= 0)
        assert_int_equal(count_children(), t->children_before);
}

/* ---- running a script, collecting its output as text ------------------------- */

typedef struct out {
    char text[8][128];
    size_t n;
    char errors[2048];
} out;

static int on_output(const winrsh_psobject *o, void *payload)
{
    out *r = payload;
    const char *t = winrsh_psobject_text(o, NULL);
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

static void run(pwsh *t, const char *script, out *r)
{
    memset(r, 0, sizeof *r);
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.output = on_output;
    po.error = on_error;
    po.payload = r;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, t->rs, &po), 0);
    assert_int_equal(winrsh_pipeline_add_script(p, script), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    int done = 0;
    for (int i = 0; i < 10 && !done; i++)
        if (winrsh_pipeline_receive(p, WAIT_MS / 10, &done))
            fail_msg("%s: %s", script, winrsh_error_last()->message);
    if (!done)
        fail_msg("%s did not end within %ld ms", script, WAIT_MS);
    if (winrsh_pipeline_get_state(p) != WINRSH_PIPELINE_COMPLETED)
        fail_msg("%s ended in state %d: %s", script, (int)winrsh_pipeline_get_state(p), r->errors);
    winrsh_pipeline_free(p);
}

static void expect_one(pwsh *t, const char *script, const char *want)
{
    out r;
    run(t, script, &r);
    if (r.n != 1 || strcmp(r.text[0], want) != 0)
        fail_msg("%s gave %zu outputs, the first \"%s\"; wanted \"%s\" (%s)", script, r.n,
                 r.n ? r.text[0] : "", want, r.errors);
}

/* ---- the tests ---------------------------------------------------------------------- */

/* $x = 1 survives between pipelines until RESET_RUNSPACE_STATE. */
static void test_pwsh_reset_state(void **state)
{
    (void)state;
    need_pwsh();
    pwsh t;
    pwsh_open(&t);
    const char *probe = "if (Test-Path variable:x) { \"x=$x\" } else { 'gone' }";
    expect_one(&t, "$x = 1; 'set'", "set");
    expect_one(&t, probe, "x=1");
    int reset = -1;
    if (winrsh_runspace_reset_state(t.rs, WAIT_MS, &reset))
        fail_msg("reset: %s", winrsh_error_last()->message);
    assert_int_equal(reset, 1);
    expect_one(&t, probe, "gone");
    pwsh_close(&t);
}

/* The pool grows to 2, refuses impossible sizes, and counts free runspaces. */
static void test_pwsh_pool_size(void **state)
{
    (void)state;
    need_pwsh();
    pwsh t;
    pwsh_open(&t);
    long long n = -1;
    int ok = -1;
    if (winrsh_runspace_available(t.rs, WAIT_MS, &n))
        fail_msg("available: %s", winrsh_error_last()->message);
    assert_int_equal(n, 1); /* opened 1..1 */

    assert_int_equal(winrsh_runspace_set_max_runspaces(t.rs, 2, WAIT_MS, &ok), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(winrsh_runspace_available(t.rs, WAIT_MS, &n), 0);
    assert_int_equal(n, 2);

    /* Above the maximum, below 1: refused, and nothing changes. */
    ok = -1;
    assert_int_equal(winrsh_runspace_set_min_runspaces(t.rs, 3, WAIT_MS, &ok), 0);
    assert_int_equal(ok, 0);
    ok = -1;
    assert_int_equal(winrsh_runspace_set_max_runspaces(t.rs, 0, WAIT_MS, &ok), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(winrsh_runspace_set_min_runspaces(t.rs, 2, WAIT_MS, &ok), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(winrsh_runspace_available(t.rs, WAIT_MS, &n), 0);
    assert_int_equal(n, 2);

    /* The pool still runs pipelines. */
    expect_one(&t, "1+1", "2");
    pwsh_close(&t);

    /* A pool opened with 1..3 (options version 3) has three free. */
    pwsh_open_size(&t, 1, 3);
    assert_int_equal(winrsh_runspace_available(t.rs, WAIT_MS, &n), 0);
    assert_int_equal(n, 3);
    pwsh_close(&t);
}

/* PUBLIC_KEY on demand: real PowerShell answers ENCRYPTED_SESSION_KEY. */
static void test_pwsh_exchange_key(void **state)
{
    (void)state;
    need_pwsh();
    pwsh t;
    pwsh_open(&t);
    if (winrsh_runspace_exchange_key(t.rs, WAIT_MS))
        fail_msg("key exchange: %s", winrsh_error_last()->message);
    /* Done once: a second call returns at once, without asking again. */
    assert_int_equal(winrsh_runspace_exchange_key(t.rs, 1), 0);
    expect_one(&t, "'after'", "after");
    pwsh_close(&t);
}

typedef struct meta {
    char names[64][64];
    size_t n;
    size_t cmdlets;
    char errors[1024];
} meta;

static int on_metadata(const winrsh_psobject *o, void *payload)
{
    meta *m = payload;
    const char *name = winrsh_psobject_text(winrsh_psobject_prop(o, "Name"), NULL);
    int32_t type = 0;
    if (winrsh_psobject_enum_value(winrsh_psobject_prop(o, "CommandType"), &type, NULL) == 0 &&
        type == WINRSH_COMMAND_TYPE_CMDLET)
        m->cmdlets++;
    if (m->n < 64)
        snprintf(m->names[m->n], sizeof m->names[0], "%s", name ? name : "(no name)");
    m->n++;
    return 0;
}

static int on_meta_error(const winrsh_psobject *rec, const char *text, int terminating,
                         void *payload)
{
    (void)rec;
    (void)terminating;
    meta *m = payload;
    size_t l = strlen(m->errors);
    snprintf(m->errors + l, sizeof m->errors - l, "%s", text);
    return 0;
}

static int has(const meta *m, const char *name)
{
    for (size_t i = 0; i < m->n && i < 64; i++)
        if (strcmp(m->names[i], name) == 0)
            return 1;
    return 0;
}

static void test_pwsh_command_metadata(void **state)
{
    (void)state;
    need_pwsh();
    pwsh t;
    pwsh_open(&t);
    /* The server answers from Get-Command over the modules already
     * imported (a fresh pwsh -s has not loaded Microsoft.PowerShell.
     * Management yet): using Get-Item loads it. */
    expect_one(&t, "(Get-Item /).FullName", "/");
    meta m;
    memset(&m, 0, sizeof m);
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.output = on_metadata;
    po.error = on_meta_error;
    po.payload = &m;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, t.rs, &po), 0);
    const char *names[] = {"Get-Item*"};
    assert_int_equal(
        winrsh_pipeline_get_command_metadata(p, names, 1, WINRSH_COMMAND_TYPE_CMDLET, NULL, 0), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    int done = 0;
    for (int i = 0; i < 10 && !done; i++)
        if (winrsh_pipeline_receive(p, WAIT_MS / 10, &done))
            fail_msg("metadata: %s", winrsh_error_last()->message);
    assert_true(done);
    if (winrsh_pipeline_get_state(p) != WINRSH_PIPELINE_COMPLETED)
        fail_msg("metadata ended in state %d: %s", (int)winrsh_pipeline_get_state(p), m.errors);
    long long count = -1;
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 1);
    /* Get-Item, Get-ItemProperty, Get-ItemPropertyValue: all cmdlets. */
    assert_int_equal((size_t)count, m.n);
    assert_true(m.n >= 3);
    assert_int_equal(m.cmdlets, m.n);
    assert_true(has(&m, "Get-Item"));
    assert_true(has(&m, "Get-ItemProperty"));
    assert_true(has(&m, "Get-ItemPropertyValue"));
    for (size_t i = 0; i < m.n && i < 64; i++)
        assert_int_equal(strncmp(m.names[i], "Get-Item", 8), 0);
    print_message("GET_COMMAND_METADATA Get-Item*: %lld commands\n", count);
    winrsh_pipeline_free(p);

    /* A pattern that matches nothing: a count of 0 and no objects. */
    memset(&m, 0, sizeof m);
    assert_int_equal(winrsh_pipeline_new(&p, t.rs, &po), 0);
    const char *none[] = {"No-SuchCommandAnywhere*"};
    assert_int_equal(winrsh_pipeline_get_command_metadata(p, none, 1, 0, NULL, 0), 0);
    assert_int_equal(winrsh_pipeline_invoke(p), 0);
    done = 0;
    for (int i = 0; i < 10 && !done; i++)
        assert_int_equal(winrsh_pipeline_receive(p, WAIT_MS / 10, &done), 0);
    assert_true(done);
    assert_int_equal(winrsh_pipeline_command_metadata_count(p, &count), 1);
    assert_int_equal(count, 0);
    assert_int_equal(m.n, 0);
    winrsh_pipeline_free(p);

    /* The pool still runs ordinary pipelines. */
    expect_one(&t, "'still here'", "still here");
    pwsh_close(&t);
}

int main(void)
{
    if (!find_pwsh())
        fprintf(stderr, "test_pool_pwsh: SKIPPING: %s\n", g_why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pwsh_reset_state),
        cmocka_unit_test(test_pwsh_pool_size),
        cmocka_unit_test(test_pwsh_exchange_key),
        cmocka_unit_test(test_pwsh_command_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
