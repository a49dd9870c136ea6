/*
 * password.h: where the password comes from (ARCHITECTURE.md 4).
 *
 * First found wins: --password-file FILE (its first line, line ending
 * removed), $WINRSH_PASSWORD, a no-echo prompt on the terminal. Never argv.
 */
#ifndef WINRSH_CLI_PASSWORD_H
#define WINRSH_CLI_PASSWORD_H

#include <stddef.h>

#include "options.h"

#define CLI_PASSWORD_MAX 1024

/*
 * Fill `buf` (CLI_PASSWORD_MAX bytes) and set *have to 1, or *have = 0 when
 * no password applies (no user, or Kerberos/certificate with no file or
 * variable). Returns 0, or -1 after printing one "winrsh: ..." line.
 * The caller wipes `buf` with cli_wipe() once the library has copied it.
 */
int cli_password_get(const struct cli_options *o, char *buf, int *have);

/* Overwrite secrets in a way the compiler may not drop. */
void cli_wipe(void *p, size_t n);

#endif
