/*
 * repl_cmd.c: `winrsh HOST` with no COMMAND: a line-at-a-time cmd session.
 *
 * One WinRS shell serves the whole session; each line runs as one command
 * in it. On a terminal, GNU readline edits the line; it is driven through
 * its callback interface so that Ctrl-C at the prompt (which makes poll()
 * return EINTR under our handler) just drops the line, as in bash. Without
 * a terminal, lines are read plainly and no prompt is shown.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "output.h"
#include "run_winrs.h"
#include "signals.h"

/* Where readline's line handler leaves its result. */
static char *pending_line;
static int pending_eof;

static void on_line(char *line)
{
    /* Removed here, not after rl_callback_read_char() returns: readline
     * would print a fresh prompt first, ahead of the command's output. */
    rl_callback_handler_remove();
    if (line)
        pending_line = line;
    else
        pending_eof = 1;
}

/* Trim in place; returns the start of the trimmed text. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Run one line. Returns 1 to leave the REPL (status in *status), else 0. */
static int run_line(winrsh_shell *shell, const struct cli_options *o, char *raw, int *status)
{
    char *line = trim(raw);
    if (!*line)
        return 0;
    /* `exit` and `exit N` end the session as they would end cmd.exe; run
     * remotely they would only end that one command's process. */
    if (strncasecmp(line, "exit", 4) == 0 && (line[4] == '\0' || line[4] == ' ')) {
        char *end;
        long n = strtol(line + 4, &end, 10);
        if (*trim(end) == '\0' && n >= 0 && n <= 254) {
            *status = (int)n;
            return 1;
        }
    }
    /* The command gets an empty stdin (End at once): the terminal or the
     * script we read lines from is ours, and a command waiting for input
     * would otherwise hang. */
    int rc = cli_winrs_run(shell, o, line, NULL, 0, 0, 1);
    if (rc == CLI_EXIT_SIGPIPE) {
        *status = rc;
        return 1;
    }
    if (cli_signals_terminate()) {
        *status = 128 + cli_signals_terminate();
        return 1;
    }
    /* After Ctrl-C the prompt comes back with fresh handlers (a second
     * Ctrl-C had set SIGINT to its default). */
    cli_signals_install();
    cli_signals_reset();
    return 0;
}

static int repl_plain(winrsh_shell *shell, const struct cli_options *o)
{
    char *line = NULL;
    size_t cap = 0;
    int status = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR && !cli_signals_terminate()) {
                clearerr(stdin);
                cli_signals_reset();
                continue;
            }
            status = cli_signals_terminate() ? 128 + cli_signals_terminate() : 0;
            break;
        }
        if (run_line(shell, o, line, &status))
            break;
    }
    free(line);
    return status;
}

static int repl_readline(winrsh_shell *shell, const struct cli_options *o)
{
    char prompt[600];
    int status = 0;
    snprintf(prompt, sizeof(prompt), "winrsh %s> ", o->host);

    rl_catch_signals = 0; /* our handler sees SIGINT; see the top comment */
    rl_callback_handler_install(prompt, on_line);
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, -1) < 0) {
            if (errno != EINTR)
                break;
            if (cli_signals_terminate()) {
                status = 128 + cli_signals_terminate();
                break;
            }
            if (cli_signals_interrupts()) { /* Ctrl-C at the prompt: drop the line */
                cli_signals_reset();
                rl_free_line_state();
                rl_callback_sigcleanup();
                rl_crlf();
                rl_replace_line("", 0);
                rl_on_new_line();
                rl_redisplay();
            }
            continue;
        }
        rl_callback_read_char();
        if (pending_eof) {
            rl_crlf();
            return status;
        }
        if (!pending_line)
            continue;
        char *line = pending_line;
        pending_line = NULL;
        if (*line)
            add_history(line);
        int leave = run_line(shell, o, line, &status);
        free(line);
        if (leave)
            return status;
        rl_callback_handler_install(prompt, on_line);
    }
    rl_callback_handler_remove();
    return status;
}

int cli_repl_cmd(winrsh_session *session, const struct cli_options *o)
{
    winrsh_shell *shell = NULL;
    int status = cli_winrs_open_shell(session, o, &shell);
    if (status != 0)
        return status;

    if (o->no_stdin)
        status = 0; /* -n: no input, so no lines to run */
    else if (isatty(0))
        status = repl_readline(shell, o);
    else
        status = repl_plain(shell, o);

    cli_verbose("deleting shell %s", winrsh_shell_id(shell));
    winrsh_shell_free(shell);
    clear_history();
    return status;
}
