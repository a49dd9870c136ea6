/*
 * run_winrs.h: running commands in a WinRS cmd shell, for the one-shot form
 * (`winrsh host dir`) and the REPL.
 */
#ifndef WINRSH_CLI_RUN_WINRS_H
#define WINRSH_CLI_RUN_WINRS_H

#include <winrsh/winrsh.h>

#include "options.h"

/* Exit statuses beyond the remote ones (ARCHITECTURE.md 4). */
#define CLI_EXIT_REMOTE_RANGE 254 /* the remote code did not fit 0-254 */
#define CLI_EXIT_FAILURE 255      /* winrsh itself failed */
#define CLI_EXIT_INTERRUPTED 130  /* a second Ctrl-C */
#define CLI_EXIT_SIGPIPE (-1)     /* stdout closed: leave as if killed by SIGPIPE */

/* Open the cmd shell (code page, no profile). Returns 0, or an exit status
 * (255 after printing the error, 130 if Ctrl-C cut it short). */
int cli_winrs_open_shell(winrsh_session *session, const struct cli_options *o, winrsh_shell **out);

/*
 * Run one command in `shell`, stream its output to fd 1 and fd 2 as it
 * arrives, and feed it fd 0 if `feed_stdin` (else, if `send_end`, close its
 * stdin at once; else send nothing). Returns the exit status to use: the
 * remote code (254 if outside 0-254), 255, 130, 128+N for SIGTERM/SIGHUP, or
 * CLI_EXIT_SIGPIPE. Errors are printed.
 */
int cli_winrs_run(winrsh_shell *shell, const struct cli_options *o, const char *command,
                  const char *const *args, size_t nargs, int feed_stdin, int send_end);

/* One-shot: open the shell, run o->command, delete the shell. */
int cli_run_command(winrsh_session *session, const struct cli_options *o);

/* The REPL: one command per line in one shell (repl_cmd.c). */
int cli_repl_cmd(winrsh_session *session, const struct cli_options *o);

#endif
