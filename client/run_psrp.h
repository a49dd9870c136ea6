/*
 * run_psrp.h: running PowerShell through PSRP (the default shell), for the
 * one-shot form (`winrsh host 'Get-Service'`) and the REPL.
 */
#ifndef WINRSH_CLI_RUN_PSRP_H
#define WINRSH_CLI_RUN_PSRP_H

#include <winrsh/winrsh.h>

#include "options.h"

/* One-shot: open a runspace pool, run o->command (with its args joined by
 * spaces, as ssh does) as a PowerShell script, close the pool. Returns the
 * exit status (ARCHITECTURE.md 4). */
int cli_run_psrp(winrsh_session *session, const struct cli_options *o);

/* The REPL (repl_psrp.c): an Enter-PSSession-like session on a terminal,
 * one script per line of stdin otherwise. */
int cli_repl_psrp(winrsh_session *session, const struct cli_options *o);

/* Append `| Out-String -Stream -Width width`: the remote side formats the
 * output as its console would, for our terminal's width. */
int cli_add_out_string(winrsh_pipeline *p, int width);

#endif
