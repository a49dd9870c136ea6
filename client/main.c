/*
 * main.c: the winrsh program. Parse, get the password, open the session,
 * run COMMAND or the REPL, and turn the outcome into the exit status of
 * ARCHITECTURE.md 4 (the remote code, 254 out of range, 255 our failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <winrsh/winrsh.h>

#include "options.h"
#include "trusted_hosts.h"
#include "output.h"
#include "password.h"
#include "run_psrp.h"
#include "run_winrs.h"
#include "signals.h"

static int open_session(const struct cli_options *o, const char *password, winrsh_session **out)
{
    winrsh_session_options sopts;
    winrsh_session_options_init(&sopts, WINRSH_SESSION_OPTIONS_VERSION);
    sopts.user = o->user;
    sopts.password = password;
    sopts.auth = o->auth;
    sopts.allow_unencrypted = o->allow_unencrypted;
    sopts.connect_timeout_ms = o->connect_timeout_ms;
    sopts.operation_timeout_ms = o->operation_timeout_ms;
    sopts.cacert = o->cacert;
    sopts.insecure = o->insecure;
    sopts.client_cert = o->cert;
    sopts.client_key = o->key;
    sopts.ssh_options = o->ssh_options;
    sopts.ssh_option_count = o->n_ssh_options;
    if (o->trace || o->verbose) {
        sopts.trace = cli_trace;
        sopts.trace_level = o->trace ? 2 : 1;
    }
    int rc = winrsh_session_open(out, o->url, &sopts);
    if (rc < 0)
        cli_lib_error(rc, "cannot open a session to %s", o->url);
    return rc;
}

static int run(const struct cli_options *o)
{
    char password[CLI_PASSWORD_MAX];
    int have_password = 0;
    winrsh_session *session = NULL;

    if (cli_password_get(o, password, &have_password) != 0)
        return CLI_EXIT_FAILURE;

    int rc = winrsh_global_init();
    if (rc < 0) {
        cli_wipe(password, sizeof(password));
        cli_lib_error(rc, "cannot initialise the library");
        return CLI_EXIT_FAILURE;
    }
    rc = open_session(o, have_password ? password : NULL, &session);
    cli_wipe(password, sizeof(password)); /* the session holds its own copy */

    int status = CLI_EXIT_FAILURE;
    if (rc == 0) {
        cli_signals_install();
        cli_signals_set_session(session);
        if (o->shell == CLI_SHELL_POWERSHELL)
            status = o->command ? cli_run_psrp(session, o) : cli_repl_psrp(session, o);
        else
            status = o->command ? cli_run_command(session, o) : cli_repl_cmd(session, o);
        cli_signals_set_session(NULL);
        winrsh_session_free(session);
    }
    winrsh_global_shutdown();
    if (status == CLI_EXIT_SIGPIPE)
        cli_signals_die_sigpipe();
    return status;
}

/* A closed fd 0, 1 or 2 gets /dev/null (as ssh does): otherwise the
 * library's socket could become fd 0 and be read as stdin, or remote output
 * could land in it. A closed stdin is then simply empty input. */
static void sanitise_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd >= 0 && nfd != fd) {
            dup2(nfd, fd);
            close(nfd);
        }
    }
}

int main(int argc, char **argv)
{
    struct cli_options o;
    char err[1024];

#ifdef __linux__
    /* We are about to hold a password (or keys): no core dump, no ptrace or
     * /proc/PID/{mem,environ} by other processes of the same user. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
    sanitise_std_fds();

    if (winrsh_cli_parse(argc, argv, &o, err, sizeof(err)) != 0) {
        cli_error("%s (see 'winrsh --help')", err);
        return CLI_EXIT_FAILURE;
    }
    switch (o.action) {
    case CLI_ACTION_HELP:
        fputs(winrsh_cli_usage, stdout);
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAILURE;
    case CLI_ACTION_VERSION:
        printf("winrsh %s (libwinrsh %s)\n", WINRSH_VERSION, winrsh_version());
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAILURE;
    case CLI_ACTION_TRUSTED_HOSTS:
        return cli_trusted_hosts(&o);
    case CLI_ACTION_RUN:
        break;
    }
    if (winrsh_cli_check_supported(&o, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return CLI_EXIT_FAILURE;
    }
    cli_verbose_enable(o.verbose || o.trace);
    if (o.insecure) /* on every run, as the contract says: it must not go unnoticed */
        cli_error("warning: --insecure: the server's TLS certificate is not verified");
    return run(&o);
}
