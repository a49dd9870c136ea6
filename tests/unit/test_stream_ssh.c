/*
 * test_stream_ssh.c: ssh://[USER@]HOST[:PORT] (transport/stream_ssh.c)
 * with stand-in `ssh` programs (shell scripts put first on PATH) that show
 * how they were run: the argument list, ssh's stderr in the error, the
 * signal dispositions and process group it runs with, the data path, and
 * bad targets. The real OpenSSH path is in tests/integration/test_transports.py.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "transport/outofproc.h"
#include "transport/stream.h"
#include "transport/stream_ssh.h"
#include "winrsh/errors.h"

static char g_tmp[64];
static char *g_old_path;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int msg_has(const char *needle)
{
    const char *m = winrsh_error_last()->message;
    if (strstr(m, needle))
        return 1;
    print_message("error message \"%s\" lacks \"%s\"\n", m, needle);
    return 0;
}

/* Write g_tmp/ssh with the given body. */
static void fake_ssh(const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "%s/ssh", g_tmp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
}

/* Read until EOF (or 5 s); the rc of the last read. */
static int read_all(wr_stream *s, wr_buf *out)
{
    long long deadline = now_ms() + 5000;
    for (;;) {
        struct pollfd pf = {s->type->fd(s, 0), POLLIN, 0};
        int left = wr_stream_ms_left(deadline);
        if (left == 0)
            return WINRSH_ETIMEOUT;
        poll(&pf, 1, left);
        char buf[4096];
        size_t got = 0;
        int rc = s->type->read(s, buf, sizeof buf, &got);
        if (rc)
            return rc;
        wr_buf_append(out, buf, got);
    }
}

static void test_target_parse(void **state)
{
    (void)state;
    wr_ssh_target t;
    assert_int_equal(wr_ssh_target_parse(&t, "ssh://host"), 0);
    assert_null(t.user);
    assert_string_equal(t.host, "host");
    assert_int_equal(t.port, 0);
    wr_ssh_target_free(&t);
    assert_int_equal(wr_ssh_target_parse(&t, "ssh://bars@127.0.0.1:2222"), 0);
    assert_string_equal(t.user, "bars");
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 2222);
    wr_ssh_target_free(&t);
    assert_int_equal(wr_ssh_target_parse(&t, "ssh://LAB%5Cbars@user@REALM@[::1]:22/"), 0);
    assert_string_equal(t.user, "LAB\\bars@user@REALM");
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 22);
    wr_ssh_target_free(&t);

    static const char *const bad[] = {
        "ssh://",
        "ssh://@host",
        "ssh://host:",
        "ssh://host:0",
        "ssh://host:65536",
        "ssh://host:22x",
        "ssh://-oProxyCommand=x",
        "ssh://-x@host",
        "ssh://host/path",
        "ssh://[::1",
        "ssh://ho st",
        "ssh://a%zz@host",
        "ssh://a%0a@host",
        "ssh://host?x=1",
        "sshx://host",
        "ssh://[::1]x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (wr_ssh_target_parse(&t, bad[i]) != WINRSH_EINVAL)
            fail_msg("%s was accepted", bad[i]);
        assert_null(t.user);
        assert_null(t.host);
    }
}

/* The command line: ssh [-p P] (-o OPT)* [-o BatchMode=yes]
 * -o ConnectTimeout=S -s [USER@]HOST powershell, and the data path. */
static void test_argv_and_data(void **state)
{
    (void)state;
    fake_ssh("printf '%s|' \"$@\"; echo; read line; echo \"got: $line\"");
    const char *opts[] = {"IdentityFile=/k/id", "UserKnownHostsFile=/dev/null"};
    wr_ssh_options so = {opts, 2, 1, NULL};
    wr_stream_options o = {4500, NULL};
    wr_stream *s = NULL;
    if (wr_stream_ssh_open(&s, "ssh://bars@127.0.0.1:2222", &so, &o) != 0)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_string_equal(s->type->name, "ssh");
    assert_int_equal(wr_stream_write_all(s, "hello\n", 6, 1000), 0);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_string_equal(wr_buf_cstr(&out),
                        "-p|2222|-o|IdentityFile=/k/id|-o|UserKnownHostsFile=/dev/null|-o|"
                        "BatchMode=yes|-o|ConnectTimeout=5|-s|bars@127.0.0.1|powershell|\n"
                        "got: hello\n");
    assert_true(msg_has("ssh to bars@127.0.0.1 port 2222 exited with status 0"));
    wr_stream_close(s);

    /* No user, no port, no options, ssh found on PATH. */
    wr_buf_clear(&out);
    s = NULL;
    if (wr_stream_ssh.open(&s, "ssh://winhost", NULL) != 0)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_int_equal(wr_stream_write_all(s, "x\n", 2, 1000), 0);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_string_equal(wr_buf_cstr(&out), "-o|ConnectTimeout=30|-s|winhost|powershell|\ngot: x\n");
    wr_stream_close(s);

    /* Through the scheme table. */
    wr_oop_conn *c = NULL;
    if (wr_oop_conn_open(&c, "ssh://winhost", NULL, 2000) != 0)
        fail_msg("wr_oop_conn_open: %s", winrsh_error_last()->message);
    wr_oop_conn_free(c);
    wr_buf_free(&out);
}

/* ssh's stderr is the error when it exits. */
static void test_stderr_in_error(void **state)
{
    (void)state;
    fake_ssh("echo 'Warning: Permanently added [127.0.0.1]:2222 to the list of known hosts.' >&2\n"
             "echo 'bars@127.0.0.1: Permission denied (publickey).' >&2\nexit 255");
    wr_stream *s = NULL;
    wr_ssh_options so = {NULL, 0, 1, NULL};
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://bars@127.0.0.1:2222", &so, NULL), 0);
    wr_buf out = WR_BUF_INIT;
    /* A write may still succeed (the pipe buffers it) or see the exit. */
    int wrc = wr_stream_write_all(s, "<Data/>\n", 8, 1000);
    assert_true(wrc == 0 || wrc == WINRSH_ECLOSED);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_true(
        msg_has("ssh to bars@127.0.0.1 port 2222 exited with status 255; its stderr says: "));
    assert_true(msg_has("Permission denied (publickey)."));
    wr_stream_close(s);

    /* Another status is the remote subsystem's; 127: it could not start,
     * and sshd drops a subsystem's stderr, so a hint says where to look. */
    fake_ssh("exit 127");
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://host", NULL, NULL), 0);
    wr_buf_clear(&out);
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    assert_true(msg_has("ssh to host exited with status 127"));
    assert_true(msg_has("`powershell` subsystem could not be started"));
    wr_stream_close(s);
    wr_buf_free(&out);
}

/* ssh stays in our process group (it may prompt on the terminal) with
 * SIGINT and SIGQUIT ignored (Ctrl-C is for winrsh); its stdin is ours to
 * close, and close() reaps it. */
static void test_signals_and_group(void **state)
{
    (void)state;
    fake_ssh("ps -o pgid= -p $$ | tr -d ' '; grep '^SigIgn:' /proc/$$/status | cut -f2");
    wr_stream *s = NULL;
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://host", NULL, NULL), 0);
    wr_buf out = WR_BUF_INIT;
    assert_int_equal(read_all(s, &out), WINRSH_ECLOSED);
    int pgid = 0;
    unsigned long long ign = 0;
    if (sscanf(wr_buf_cstr(&out), "%d %llx", &pgid, &ign) != 2)
        fail_msg("unexpected output: %s", wr_buf_cstr(&out));
    assert_int_equal(pgid, (int)getpgrp());
    assert_true(ign & (1ull << (2 - 1)));   /* SIGINT */
    assert_true(ign & (1ull << (3 - 1)));   /* SIGQUIT */
    assert_false(ign & (1ull << (15 - 1))); /* SIGTERM still ends it */
    wr_stream_close(s);
    wr_buf_free(&out);

    /* A child that ignores EOF: SIGTERM ends it, within the grace period. */
    fake_ssh("while :; do sleep 1; done");
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://host", NULL, NULL), 0);
    long long t0 = now_ms();
    wr_stream_close(s);
    long long took = now_ms() - t0;
    assert_true(took >= 1500 && took < 4500);
}

static void test_errors(void **state)
{
    (void)state;
    wr_stream *s = (wr_stream *)1;
    const char *bad_opt[] = {"-oProxyCommand=evil"};
    wr_ssh_options so = {bad_opt, 1, 0, NULL};
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://host", &so, NULL), WINRSH_EINVAL);
    assert_null(s);
    assert_true(msg_has("bad ssh option"));
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://-oProxyCommand=evil", NULL, NULL),
                     WINRSH_EINVAL);
    assert_true(msg_has("may not start with '-'"));

    wr_ssh_options prog = {NULL, 0, 0, "/nonexistent/ssh"};
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://host", &prog, NULL), WINRSH_ECONNECT);
    assert_true(msg_has("cannot run /nonexistent/ssh"));

    /* No ssh on PATH at all. */
    char *p = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/nonexistent-dir", 1);
    assert_int_equal(wr_stream_ssh_open(&s, "ssh://host", NULL, NULL), WINRSH_ECONNECT);
    assert_true(msg_has("not found on PATH"));
    if (p)
        setenv("PATH", p, 1);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/winrsh-ssh-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    const char *old = getenv("PATH");
    g_old_path = strdup(old ? old : "/usr/bin:/bin");
    char np[PATH_MAX * 2];
    snprintf(np, sizeof np, "%s:%s", g_tmp, g_old_path);
    setenv("PATH", np, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/ssh", g_tmp);
    unlink(path);
    rmdir(g_tmp);
    setenv("PATH", g_old_path, 1);
    free(g_old_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_parse),    cmocka_unit_test(test_argv_and_data),
        cmocka_unit_test(test_stderr_in_error), cmocka_unit_test(test_signals_and_group),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
