/*
 * soak.c: long sessions through the public API, watching resident memory.
 *
 * usage: WINRSH_PASSWORD=... soak [--winrs N] [--psrp N] [--warmup N]
 *                                 [--bound-kb KB] URL USER
 *
 * Phase 1 opens one WinRS shell and runs N commands in it (`echo I`, each
 * output and exit code checked); phase 2 opens one runspace pool on the same
 * session and runs N pipelines in it (`I + 1`, each output checked). Basic
 * authentication over plain HTTP (the test host with --allow-unencrypted).
 *
 * For each phase it prints VmRSS and VmHWM (/proc/self/status) after the
 * warm-up (default 100 commands: caches, connection, allocator arenas have
 * settled) and at the end, and fails when the end VmRSS exceeds the
 * warm-up VmRSS by more than the bound (default 4096 kB): memory that grows
 * with the number of commands is a leak, even one that is freed at exit
 * (which valgrind would not call a leak).
 *
 * Exit status: 0 within bounds, 1 over a bound, 2 usage, 3 a request failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winrsh/winrsh.h>

typedef struct {
    long rss_kb, hwm_kb;
} mem_figures;

static mem_figures mem_now(void)
{
    mem_figures m = {-1, -1};
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return m;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            m.rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            m.hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return m;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, long i, int rc)
{
    const winrsh_error *e = winrsh_error_last();
    fprintf(stderr, "soak: %s (iteration %ld) failed: %s (%d)\n", what, i,
            e && e->message ? e->message : "?", rc);
    return 3;
}

/* ---- phase 1: WinRS --------------------------------------------------------- */

typedef struct {
    char buf[64];
    size_t len;
    int overflow;
} collected;

static int collect(winrsh_stream stream, const unsigned char *data, size_t len, void *payload)
{
    collected *c = payload;
    if (stream != WINRSH_STREAM_STDOUT || c->len + len >= sizeof(c->buf)) {
        c->overflow = 1;
        return 0;
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return 0;
}

static int report(const char *phase, long n, long warmup, mem_figures start, mem_figures end,
                  long bound_kb, double seconds)
{
    long growth = end.rss_kb - start.rss_kb;
    int over = growth > bound_kb;
    printf("soak: %s: %ld iterations in %.1f s; VmRSS after %ld: %ld kB (VmHWM %ld kB); at end: "
           "%ld kB (VmHWM %ld kB); growth %ld kB, bound %ld kB: %s\n",
           phase, n, seconds, warmup, start.rss_kb, start.hwm_kb, end.rss_kb, end.hwm_kb, growth,
           bound_kb, over ? "OVER" : "ok");
    fflush(stdout);
    return over;
}

static int soak_winrs(winrsh_session *session, long n, long warmup, long bound_kb, int *over)
{
    winrsh_shell_options shopts;
    winrsh_shell_options_init(&shopts, WINRSH_SHELL_OPTIONS_VERSION);
    winrsh_shell *shell = NULL;
    int rc = winrsh_shell_open(&shell, session, &shopts);
    if (rc < 0)
        return fail("winrsh_shell_open", 0, rc);
    mem_figures start = mem_now();
    double t0 = now_s();
    int status = 0;
    for (long i = 0; i < n; i++) {
        if (i == warmup) {
            start = mem_now();
            t0 = now_s();
        }
        collected out = {{0}, 0, 0};
        winrsh_command_options copts;
        winrsh_command_options_init(&copts, WINRSH_COMMAND_OPTIONS_VERSION);
        copts.output = collect;
        copts.payload = &out;
        char word[32];
        snprintf(word, sizeof(word), "%ld", i);
        const char *args[] = {word};
        winrsh_command *cmd = NULL;
        int code = -1;
        rc = winrsh_command_start(&cmd, shell, "echo", args, 1, &copts);
        if (rc == 0)
            rc = winrsh_command_send(cmd, NULL, 0, 1);
        if (rc == 0)
            rc = winrsh_command_wait(cmd, &code);
        winrsh_command_free(cmd);
        if (rc < 0) {
            status = fail("WinRS command", i, rc);
            break;
        }
        char want[40];
        int wl = snprintf(want, sizeof(want), "%ld\n", i);
        if (code != 0 || out.overflow || out.len != (size_t)wl || memcmp(out.buf, want, out.len)) {
            fprintf(stderr, "soak: WinRS command %ld: exit %d, output '%.*s'\n", i, code,
                    (int)out.len, out.buf);
            status = 3;
            break;
        }
    }
    if (status == 0)
        *over |=
            report("winrs", n, n > warmup ? warmup : 0, start, mem_now(), bound_kb, now_s() - t0);
    rc = winrsh_shell_close(shell);
    winrsh_shell_free(shell);
    if (status == 0 && rc < 0)
        status = fail("winrsh_shell_close", n, rc);
    return status;
}

/* ---- phase 2: PSRP ------------------------------------------------------------ */

typedef struct {
    long outputs;
    char text[32];
} ps_collected;

static int ps_output(const winrsh_psobject *obj, void *payload)
{
    ps_collected *c = payload;
    size_t len = 0;
    const char *t = winrsh_psobject_text(obj, &len);
    if (c->outputs++ == 0 && t)
        snprintf(c->text, sizeof(c->text), "%.*s", (int)(len < 31 ? len : 31), t);
    return 0;
}

static int soak_psrp(winrsh_session *session, long n, long warmup, long bound_kb, int *over)
{
    winrsh_runspace_options ropts;
    winrsh_runspace_options_init(&ropts, WINRSH_RUNSPACE_OPTIONS_VERSION);
    winrsh_runspace *rs = NULL;
    int rc = winrsh_runspace_open(&rs, session, &ropts);
    if (rc < 0)
        return fail("winrsh_runspace_open", 0, rc);
    mem_figures start = mem_now();
    double t0 = now_s();
    int status = 0;
    for (long i = 0; i < n; i++) {
        if (i == warmup) {
            start = mem_now();
            t0 = now_s();
        }
        ps_collected out = {0, {0}};
        winrsh_pipeline_options popts;
        winrsh_pipeline_options_init(&popts, WINRSH_PIPELINE_OPTIONS_VERSION);
        popts.output = ps_output;
        popts.payload = &out;
        char script[48];
        snprintf(script, sizeof(script), "%ld + 1", i);
        winrsh_pipeline *p = NULL;
        rc = winrsh_pipeline_new(&p, rs, &popts);
        if (rc == 0)
            rc = winrsh_pipeline_add_script(p, script);
        if (rc == 0)
            rc = winrsh_pipeline_invoke(p);
        if (rc == 0)
            rc = winrsh_pipeline_wait(p);
        winrsh_pipeline_state st = p ? winrsh_pipeline_get_state(p) : WINRSH_PIPELINE_FAILED;
        winrsh_pipeline_free(p);
        if (rc < 0) {
            status = fail("PSRP pipeline", i, rc);
            break;
        }
        char want[32];
        snprintf(want, sizeof(want), "%ld", i + 1);
        if (st != WINRSH_PIPELINE_COMPLETED || out.outputs != 1 || strcmp(out.text, want) != 0) {
            fprintf(stderr, "soak: pipeline %ld: state %d, %ld outputs, first '%s'\n", i, (int)st,
                    out.outputs, out.text);
            status = 3;
            break;
        }
    }
    if (status == 0)
        *over |=
            report("psrp", n, n > warmup ? warmup : 0, start, mem_now(), bound_kb, now_s() - t0);
    rc = winrsh_runspace_close(rs);
    winrsh_runspace_free(rs);
    if (status == 0 && rc < 0)
        status = fail("winrsh_runspace_close", n, rc);
    return status;
}

/* ---- main ------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr, "usage: WINRSH_PASSWORD=... soak [--winrs N] [--psrp N] [--warmup N] "
                    "[--bound-kb KB] URL USER\n");
    return 2;
}

static int number(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long n_winrs = 1000, n_psrp = 300, warmup = 100, bound_kb = 4096;
    const char *url = NULL, *user = NULL;
    for (int i = 1; i < argc; i++) {
        long *slot = NULL;
        if (strcmp(argv[i], "--winrs") == 0)
            slot = &n_winrs;
        else if (strcmp(argv[i], "--psrp") == 0)
            slot = &n_psrp;
        else if (strcmp(argv[i], "--warmup") == 0)
            slot = &warmup;
        else if (strcmp(argv[i], "--bound-kb") == 0)
            slot = &bound_kb;
        if (slot) {
            if (i + 1 >= argc || number(argv[++i], slot) != 0)
                return usage();
        } else if (!url) {
            url = argv[i];
        } else if (!user) {
            user = argv[i];
        } else {
            return usage();
        }
    }
    if (!url || !user)
        return usage();

    if (winrsh_global_init() < 0)
        return 3;
    winrsh_session_options sopts;
    winrsh_session_options_init(&sopts, WINRSH_SESSION_OPTIONS_VERSION);
    sopts.user = user;
    sopts.password = getenv("WINRSH_PASSWORD");
    sopts.auth = WINRSH_AUTH_BASIC;
    sopts.allow_unencrypted = 1;
    winrsh_session *session = NULL;
    int rc = winrsh_session_open(&session, url, &sopts);
    if (rc < 0) {
        int st = fail("winrsh_session_open", 0, rc);
        winrsh_global_shutdown();
        return st;
    }
    int over = 0, status = 0;
    if (n_winrs > 0)
        status = soak_winrs(session, n_winrs, warmup, bound_kb, &over);
    if (status == 0 && n_psrp > 0)
        status = soak_psrp(session, n_psrp, warmup, bound_kb, &over);
    printf("soak: %lu HTTP requests in the session\n", winrsh_session_request_count(session));
    winrsh_session_free(session);
    winrsh_global_shutdown();
    if (status)
        return status;
    return over ? 1 : 0;
}
