/*
 * password.c: --password-file, $WINRSH_PASSWORD, or a no-echo prompt.
 */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <winrsh/session.h>

#include "output.h"

void cli_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* Read the first line of `path` into buf, without its line ending. */
static int read_file_line(const char *path, char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open password file '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t len = 0;
    int too_long = 0;
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("cannot read password file '%s': %s", path, strerror(errno));
            close(fd);
            cli_wipe(buf, CLI_PASSWORD_MAX);
            return -1;
        }
        if (n == 0 || c == '\n')
            break;
        if (len + 1 < CLI_PASSWORD_MAX)
            buf[len++] = c;
        else
            too_long = 1;
    }
    close(fd);
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (too_long) {
        cli_wipe(buf, CLI_PASSWORD_MAX);
        cli_error("password in '%s' is longer than %d bytes", path, CLI_PASSWORD_MAX - 1);
        return -1;
    }
    return 0;
}

/* The prompt: echo off on /dev/tty, restored even if a signal ends us. */
static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_signal;

static void on_prompt_signal(int sig)
{
    int saved = errno;
    if (tty_fd >= 0)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    tty_signal = sig;
    errno = saved;
}

static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU};
#define N_PROMPT_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/* Read one line with echo off. Returns 0, 1 for "stopped by a job-control
 * signal, ask again", or a signal number > 1 that must be re-raised. */
static int prompt_once(int fd, const char *prompt, char *buf, int *too_long)
{
    struct sigaction sa, old[N_PROMPT_SIGNALS];
    struct termios noecho;
    size_t len = 0;
    int result = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_prompt_signal;
    sigemptyset(&sa.sa_mask);
    tty_signal = 0;
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
        sigaction(prompt_signals[i], &sa, &old[i]);

    noecho = tty_saved;
    noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    noecho.c_lflag |= ECHONL;
    tcsetattr(fd, TCSAFLUSH, &noecho);
    (void)cli_write_all(fd, prompt, strlen(prompt));

    *too_long = 0;
    while (!tty_signal) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == '\n' || c == '\r')
            break;
        if (len + 1 < CLI_PASSWORD_MAX)
            buf[len++] = c;
        else
            *too_long = 1;
    }
    buf[len] = '\0';
    tcsetattr(fd, TCSAFLUSH, &tty_saved);
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
        sigaction(prompt_signals[i], &old[i], NULL);

    if (tty_signal) {
        int sig = tty_signal;
        cli_wipe(buf, CLI_PASSWORD_MAX);
        (void)cli_write_all(fd, "\n", 1);
        if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
            raise(sig == SIGTSTP ? SIGSTOP : sig); /* stop now; ask again on resume */
            result = 1;
        } else {
            result = sig;
        }
    }
    return result;
}

static int prompt_password(const struct cli_options *o, char *buf)
{
    char prompt[700];
    int too_long = 0;
    snprintf(prompt, sizeof(prompt), "%s@%s's password: ", o->user, o->host);

    tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty_fd < 0 || tcgetattr(tty_fd, &tty_saved) != 0) {
        if (tty_fd >= 0)
            close(tty_fd);
        tty_fd = -1;
        return 1; /* no terminal */
    }
    int rc;
    while ((rc = prompt_once(tty_fd, prompt, buf, &too_long)) == 1)
        ;
    close(tty_fd);
    tty_fd = -1;
    if (rc > 1) {
        raise(rc); /* the original disposition is back: end as the user asked */
        return -1;
    }
    if (too_long) {
        cli_wipe(buf, CLI_PASSWORD_MAX);
        cli_error("password is longer than %d bytes", CLI_PASSWORD_MAX - 1);
        return -1;
    }
    return 0;
}

int cli_password_get(const struct cli_options *o, char *buf, int *have)
{
    *have = 0;
    buf[0] = '\0';
    if (o->password_file) {
        if (read_file_line(o->password_file, buf) != 0)
            return -1;
        *have = 1;
        return 0;
    }
    const char *env = getenv("WINRSH_PASSWORD");
    if (env) {
        size_t n = strlen(env);
        if (n >= CLI_PASSWORD_MAX) {
            cli_error("WINRSH_PASSWORD is longer than %d bytes", CLI_PASSWORD_MAX - 1);
            return -1;
        }
        memcpy(buf, env, n + 1);
        /* Children (ssh, a local pwsh) must not inherit it, and
         * /proc/PID/environ should not show it: wipe it in place, then drop
         * the variable. */
        cli_wipe((char *)env, n);
        unsetenv("WINRSH_PASSWORD");
        *have = 1;
        return 0;
    }
    /* Kerberos uses the credential cache and certificates need no password:
     * prompt only when a user is named for a mechanism that needs one. A
     * user@REALM with Negotiate means Kerberos first: like kinit users
     * expect from ssh, the ticket in the cache is used without asking (and
     * the library's error says to run kinit if there is none). */
    if (!o->user || o->auth == WINRSH_AUTH_KERBEROS || o->auth == WINRSH_AUTH_CERTIFICATE)
        return 0;
    /* ssh authenticates itself (keys, agent, its own prompt); a local pwsh
     * or a socket needs nothing. Only WinRM and PowerShell Direct take a
     * password from us. */
    if (o->transport != CLI_TRANSPORT_HTTP && o->transport != CLI_TRANSPORT_HTTPS &&
        o->transport != CLI_TRANSPORT_VMBUS)
        return 0;
    if (o->auth == WINRSH_AUTH_NEGOTIATE && strchr(o->user, '@'))
        return 0;
    int rc = prompt_password(o, buf);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        cli_error("no password for '%s': no terminal to ask on; use --password-file FILE or "
                  "set WINRSH_PASSWORD",
                  o->user);
        return -1;
    }
    *have = 1;
    return 0;
}
