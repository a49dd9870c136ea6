/*
 * trustedhosts.h: the TrustedHosts list, as PowerShell's WinRM client keeps
 * it. Over plain HTTP, credentials go with any mechanism but Kerberos only
 * to a host that matches a pattern in this list (names, addresses, `*`
 * wildcards such as `*.lab.example` or `192.168.1.*`, `*` alone for all).
 * The list does not authenticate the server; it records that the user
 * accepts the risk for those hosts.
 *
 * The list is the file `trustedhosts` in the configuration directory, one
 * pattern per line. `config_dir` NULL means the default directory:
 * $WINRSH_CONFIG_DIR, else $XDG_CONFIG_HOME/winrsh, else ~/.config/winrsh.
 */
#ifndef WINRSH_TRUSTEDHOSTS_H
#define WINRSH_TRUSTEDHOSTS_H

#include "common.h"

WINRSH_BEGIN_DECL

/**
 * Read the list: *patterns becomes a NULL-terminated array of *count
 * strings, freed with winrsh_trustedhosts_list_free(). A missing file is an
 * empty list.
 */
WINRSH_EXTERN(int) winrsh_trustedhosts_list(const char *config_dir, char ***patterns,
                                           size_t *count);
WINRSH_EXTERN(void) winrsh_trustedhosts_list_free(char **patterns);

/** Add comma-separated patterns (duplicates ignored; all or nothing). */
WINRSH_EXTERN(int) winrsh_trustedhosts_add(const char *config_dir, const char *patterns);

/** Remove exactly this pattern (case-insensitive); an error if absent. */
WINRSH_EXTERN(int) winrsh_trustedhosts_remove(const char *config_dir, const char *pattern);

/** Empty the list. */
WINRSH_EXTERN(int) winrsh_trustedhosts_clear(const char *config_dir);

/** *trusted becomes 1 if `host` matches a pattern of the list, else 0. */
WINRSH_EXTERN(int) winrsh_trustedhosts_match(const char *config_dir, const char *host,
                                            int *trusted);

WINRSH_END_DECL

#endif
