/*
 * repl_psrp.h: the interactive PowerShell session (`winrsh host` with no
 * COMMAND), as Enter-PSSession feels, and its parts:
 *
 *   repl_psrp.c  the loop: remote prompt, multi-line input, running each
 *                line (formatted remotely by Out-Default), Ctrl-C, exit
 *   host_tty.c   the terminal as the PowerShell host (host callbacks:
 *                Write*, ReadLine, secrets, RawUI, progress) and the
 *                line editor (readline's callback interface)
 *   complete.c   Tab: the remote TabExpansion2
 *   history.c    persistent history in the configuration directory
 *
 * cli_repl_psrp() itself is declared in run_psrp.h (main.c's entry).
 * Everything goes through the public API (include/winrsh/).
 */
#ifndef WINRSH_CLI_REPL_PSRP_H
#define WINRSH_CLI_REPL_PSRP_H

#include <stddef.h>

#include <winrsh/winrsh.h>

#include "run_psrp.h"

/* ---- host_tty.c ------------------------------------------------------------ */

struct cli_tty_host {
    int in_tty, out_tty, err_tty;
    int color;          /* stdout is a colour terminal (and NO_COLOR unset) */
    int progress_shown; /* a progress line is on stderr */
    int write_failed;   /* EPIPE or another error writing stdout */
    char partial[256];  /* stdout text after its last newline (a prompt) */
    size_t partial_len;
    int partial_overflow;
    char title[512];      /* what SetWindowTitle last set */
    int read_interrupted; /* Ctrl-C ended a host read (the line is ended) */
};

void cli_tty_host_init(struct cli_tty_host *h);

/* Point the runspace options' host callbacks at `h`: Write* to stdout and
 * stderr, and, when `interactive`, ReadLine / secrets / ReadKey from the
 * terminal. */
void cli_tty_host_options(struct cli_tty_host *h, winrsh_runspace_options *ro, int interactive);

/* Progress (a pipeline's progress callback; payload is the host). */
int cli_tty_progress(const winrsh_progress *p, void *payload);
void cli_tty_clear_progress(struct cli_tty_host *h);

/* Write text to stdout / stderr as the host does (tracks the prompt). */
void cli_tty_out(struct cli_tty_host *h, const char *text, size_t len);
void cli_tty_err(struct cli_tty_host *h, const char *prefix, const char *text, size_t len,
                 const char *color);

/* The terminal's size (stdout, else stdin, else 120 x 50). */
int cli_tty_width(void);
int cli_tty_height(void);

/* Read one line with readline's callback interface, watching for signals:
 * 0 and *line (malloc'd), 1 at EOF (Ctrl-D on an empty line), 2 after
 * Ctrl-C (the line is abandoned), 3 after SIGTERM/SIGHUP. `prompt` may
 * hold \001...\002 around invisible characters. */
#define CLI_RL_LINE 0
#define CLI_RL_EOF 1
#define CLI_RL_INTERRUPT 2
#define CLI_RL_TERMINATE 3
int cli_tty_readline(const char *prompt, char **line);

/* A SIGWINCH arrived since the last call (and readline was told). */
int cli_tty_resized(void);
void cli_tty_install_winch(void);

/* ---- history.c ------------------------------------------------------------- */

/* Entries kept, in memory and in the file. */
#define CLI_HISTORY_MAX 1000

/* Load $CONFIG/history into readline's history (creating nothing yet). */
void cli_history_open(void);
/* Add an entry (a whole multi-line block is one entry): to readline's
 * history and appended to the file (created 0600). Entries starting with
 * a space and repeats of the last entry are not recorded. */
void cli_history_add(const char *entry);
void cli_history_close(void);

/* Entry <-> file line: '\\' -> "\\\\", newline -> "\\n" (exposed for tests). */
char *cli_history_escape(const char *entry);
char *cli_history_unescape(const char *line);

/* ---- complete.c -------------------------------------------------------------- */

/* Install Tab completion through `rs` (NULL: uninstall). */
void cli_complete_install(winrsh_runspace *rs);

#endif
