/*
 * run.c: the smallest program that embeds libwinrsh.
 * usage: WINRSH_PASSWORD=... example_run URL USER COMMAND [ARG...]
 * Runs COMMAND in a WinRS cmd shell with Basic auth over plain HTTP (a lab
 * setup), prints its output and exits with its exit code.
 */
#include <stdio.h>
#include <stdlib.h>

#include <winrsh/winrsh.h>

static int print_output(winrsh_stream stream, const unsigned char *data, size_t len, void *payload)
{
    (void)payload;
    FILE *f = stream == WINRSH_STREAM_STDERR ? stderr : stdout;
    return fwrite(data, 1, len, f) == len ? 0 : 1;
}

int main(int argc, char **argv)
{
    winrsh_session_options sopts;
    winrsh_shell_options shopts; /* defaults: cmd, code page 65001 */
    winrsh_command_options copts;
    winrsh_session *session = NULL;
    winrsh_shell *shell = NULL;
    winrsh_command *cmd = NULL;
    int code = 255, rc;
    if (argc < 4) {
        fprintf(stderr, "usage: %s URL USER COMMAND [ARG...]\n", argv[0]);
        return 255;
    }
    winrsh_session_options_init(&sopts, WINRSH_SESSION_OPTIONS_VERSION);
    winrsh_shell_options_init(&shopts, WINRSH_SHELL_OPTIONS_VERSION);
    winrsh_command_options_init(&copts, WINRSH_COMMAND_OPTIONS_VERSION);
    sopts.user = argv[2];
    sopts.password = getenv("WINRSH_PASSWORD");
    sopts.auth = WINRSH_AUTH_BASIC;
    sopts.allow_unencrypted = 1;
    copts.output = print_output;

    if (winrsh_global_init() < 0)
        return 255;
    if ((rc = winrsh_session_open(&session, argv[1], &sopts)) == 0 &&
        (rc = winrsh_shell_open(&shell, session, &shopts)) == 0 &&
        (rc = winrsh_command_start(&cmd, shell, argv[3], (const char *const *)argv + 4,
                                   (size_t)(argc - 4), &copts)) == 0)
        rc = winrsh_command_wait(cmd, &code);
    if (rc < 0) {
        fprintf(stderr, "example_run: %s\n", winrsh_error_last()->message);
        code = 255;
    }
    winrsh_command_free(cmd);
    winrsh_shell_free(shell); /* deletes the remote shell */
    winrsh_session_free(session);
    winrsh_global_shutdown();
    return code;
}
