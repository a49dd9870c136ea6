/*
 * many_commands.c: bench case 2, many commands in one session (bench/run).
 *
 *     many_commands URL USER AUTH N [COMMAND]
 *
 * AUTH is basic (unencrypted HTTP, lab mode) or ntlm (message encryption).
 * The password comes from $WINRSH_PASSWORD, TrustedHosts from
 * $WINRSH_CONFIG_DIR. Opens one session and one cmd shell, then runs
 * COMMAND (default "echo hi") N times on that connection: start, wait for
 * Done, free (which sends the terminate signal the server wants before it
 * forgets a command). Prints one JSON line on stdout:
 *
 *     {"n":N,"setup_s":..,"loop_s":..,"per_cmd_ms":..,"loop_cpu_s":..,
 *      "requests_setup":..,"requests_loop":..,"bytes":..,"failures":..}
 *
 * Only the loop is timed (wall, and this process's user+system CPU); the request counts are the library's own
 * (winrsh_session_request_count), which bench/run checks against the test
 * host's request log. Exit status 0 if every command exited 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <winrsh/winrsh.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int count_output(winrsh_stream stream, const unsigned char *data, size_t len,
                        void *payload)
{
    (void)stream;
    (void)data;
    *(unsigned long long *)payload += len;
    return 0;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "many_commands: %s: %s (%s)\n", what, winrsh_error_last()->message,
            winrsh_error_name(rc));
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s URL USER basic|ntlm N [COMMAND]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    const char *auth = argv[3];
    long n = strtol(argv[4], NULL, 10);
    const char *command = argc > 5 ? argv[5] : "echo hi";
    if (n <= 0)
        n = 1;

    winrsh_session_options so;
    winrsh_shell_options sho;
    winrsh_command_options co;
    winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION);
    winrsh_shell_options_init(&sho, WINRSH_SHELL_OPTIONS_VERSION);
    winrsh_command_options_init(&co, WINRSH_COMMAND_OPTIONS_VERSION);
    so.user = argv[2];
    so.password = getenv("WINRSH_PASSWORD");
    so.config_dir = getenv("WINRSH_CONFIG_DIR");
    if (strcmp(auth, "basic") == 0) {
        so.auth = WINRSH_AUTH_BASIC;
        so.allow_unencrypted = 1;
    } else if (strcmp(auth, "ntlm") == 0) {
        so.auth = WINRSH_AUTH_NTLM;
    } else {
        fprintf(stderr, "many_commands: AUTH must be basic or ntlm\n");
        return 2;
    }
    unsigned long long bytes = 0;
    co.output = count_output;
    co.payload = &bytes;

    if (winrsh_global_init() < 0)
        return 2;
    winrsh_session *session = NULL;
    winrsh_shell *shell = NULL;
    int rc, status = 0;
    long failures = 0;
    double t0 = now_s();
    if ((rc = winrsh_session_open(&session, url, &so)) < 0) {
        status = fail("session", rc);
        goto out;
    }
    if ((rc = winrsh_shell_open(&shell, session, &sho)) < 0) {
        status = fail("shell", rc);
        goto out;
    }
    double t1 = now_s(), c1 = cpu_s();
    unsigned long req0 = winrsh_session_request_count(session);
    for (long i = 0; i < n; i++) {
        winrsh_command *cmd = NULL;
        int code = -1;
        if ((rc = winrsh_command_start(&cmd, shell, command, NULL, 0, &co)) < 0 ||
            (rc = winrsh_command_wait(cmd, &code)) < 0) {
            winrsh_command_free(cmd);
            status = fail("command", rc);
            goto out;
        }
        if (code != 0)
            failures++;
        winrsh_command_free(cmd);
    }
    double t2 = now_s(), c2 = cpu_s();
    unsigned long req1 = winrsh_session_request_count(session);
    printf("{\"n\":%ld,\"setup_s\":%.6f,\"loop_s\":%.6f,\"per_cmd_ms\":%.4f,"
           "\"loop_cpu_s\":%.6f,\"requests_setup\":%lu,\"requests_loop\":%lu,"
           "\"bytes\":%llu,\"failures\":%ld}\n",
           n, t1 - t0, t2 - t1, (t2 - t1) * 1000.0 / (double)n, c2 - c1, req0, req1 - req0,
           bytes, failures);
    fflush(stdout);
    if (failures)
        status = 1;
out:
    winrsh_shell_free(shell);
    winrsh_session_free(session);
    winrsh_global_shutdown();
    return status;
}
