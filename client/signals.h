/*
 * signals.h: Ctrl-C and friends.
 *
 * The handler only counts and, while a wait may be cut short, asks the
 * library to stop waiting (winrsh_session_interrupt() is async-signal-safe).
 * Everything else (sending ctrl_c or terminate, deleting the shell) happens
 * in the main loop, which polls the counts.
 */
#ifndef WINRSH_CLI_SIGNALS_H
#define WINRSH_CLI_SIGNALS_H

#include <winrsh/winrsh.h>

/* Install the handlers (SIGINT, SIGTERM, SIGHUP) and ignore SIGPIPE so a
 * closed stdout is an EPIPE we can clean up after. */
void cli_signals_install(void);

/* The session whose waits a signal interrupts; NULL for none. */
void cli_signals_set_session(winrsh_session *session);

/* While on, a signal calls winrsh_session_interrupt(). Turned on only around
 * waits that are safe to abandon (Receive, shell and command creation), never
 * around Send, Signal or Delete. */
void cli_signals_interruptible(int on);

/* SIGINTs received since the last cli_signals_reset(). */
int cli_signals_interrupts(void);

/* SIGTERM or SIGHUP if one arrived (we leave as after a second Ctrl-C), else 0. */
int cli_signals_terminate(void);

void cli_signals_reset(void);

/* Give SIGINT back its default action: after a second Ctrl-C, while we clean
 * up, a third one kills winrsh at once, as the user clearly wants. */
void cli_signals_default_int(void);

/* Leave as if killed by SIGPIPE (what cat or ssh do when stdout closes). */
void cli_signals_die_sigpipe(void) __attribute__((noreturn));

#endif
