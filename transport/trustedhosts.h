/*
 * trustedhosts.h: the TrustedHosts policy (ARCHITECTURE.md 3, PROTOCOL.md 6).
 *
 * Like the Windows WinRM client, winrsh refuses to send credentials with any
 * mechanism other than Kerberos over plain HTTP unless the destination
 * matches a pattern the user put in TrustedHosts. The list does not
 * authenticate the server; it only records that the user accepts the risk
 * for those hosts.
 *
 * The list is the file `trustedhosts` in the configuration directory, one
 * pattern per line. The core functions take the directory as a parameter so
 * that tests (and embedders) can point them anywhere; wr_config_dir() gives
 * the default.
 *
 * Patterns, as PowerShell takes them for WSMan:\localhost\Client\TrustedHosts:
 *   *                 every host
 *   *.lab.example     `*` is a wildcard anywhere in a pattern and also
 *   192.168.1.*       matches dots: a.lab.example, a.b.lab.example
 *   web*              (but not lab.example itself)
 *   10.0.0.5          an address matches only that address text
 *   ::1, [::1]        IPv6 addresses are compared in canonical form
 *   <local>           every name without a dot (WinRM's documented meaning)
 * Comparison is ASCII case-insensitive and a trailing dot of a name is
 * ignored. No name is ever resolved: a pattern is compared with the host as
 * the user wrote it, exactly as WinRM does.
 */
#ifndef WR_TRUSTEDHOSTS_H
#define WR_TRUSTEDHOSTS_H

#include <stddef.h>

#include "common/buf.h"

/* The longest pattern we accept: a DNS name is at most 253 characters, plus
 * room for brackets or a trailing dot. */
#define WR_TRUSTEDHOSTS_MAX_PATTERN 255

/* The list in memory: patterns as the user typed them (trimmed), in order,
 * no two equal ignoring case. */
typedef struct wr_trustedhosts {
    char **patterns;
    size_t count;
    size_t cap;
} wr_trustedhosts;

#define WR_TRUSTEDHOSTS_INIT                                                                       \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/*
 * The configuration directory: $WINRSH_CONFIG_DIR, else
 * $XDG_CONFIG_HOME/winrsh (only when absolute, as the XDG spec asks), else
 * $HOME/.config/winrsh (the password database when HOME is unset).
 * Replaces the contents of `out`. 0 or a negative WINRSH_E* code.
 */
int wr_config_dir(wr_buf *out);

/*
 * Read DIR/trustedhosts into `th` (which must be empty or initialised).
 * A missing file or directory is an empty list. Blank lines and lines
 * starting with '#' are skipped; a line may also hold a comma-separated
 * list. A bad pattern fails the load with its file and line named. A file
 * writable by group or others is refused (WINRSH_ETRUST), as ssh refuses a
 * loose authorized_keys: anyone who could write it could trust any host.
 */
int wr_trustedhosts_load(wr_trustedhosts *th, const char *dir);

/*
 * Write `th` to DIR/trustedhosts atomically: a temporary file in DIR
 * (mode 0600) is written, flushed and renamed over the old one, so a reader
 * sees the old list or the new one, never half. DIR (and missing parents)
 * are created with mode 0700.
 */
int wr_trustedhosts_save(const wr_trustedhosts *th, const char *dir);

/*
 * Add the comma-separated `list` ("a, b,c" as PowerShell takes it). Entries
 * are trimmed; one equal (ignoring case) to a pattern already present is
 * skipped. Every entry is checked first, so on error nothing is added.
 * `added` (may be NULL) receives the number of new patterns.
 */
int wr_trustedhosts_add(wr_trustedhosts *th, const char *list, size_t *added);

/* Remove the pattern equal to `pattern` (trimmed, ignoring case; no
 * wildcard expansion). WINRSH_EINVAL naming it when it is not there. */
int wr_trustedhosts_remove(wr_trustedhosts *th, const char *pattern);

/* Empty the list (keeps nothing; `th` stays usable). */
void wr_trustedhosts_clear(wr_trustedhosts *th);

void wr_trustedhosts_free(wr_trustedhosts *th);

/* 0 if `pattern` is acceptable, else WINRSH_EINVAL with the error raised
 * naming the pattern and what is wrong with it. */
int wr_trustedhosts_check_pattern(const char *pattern);

/* 1 if `host` (as in the URL: "name", "1.2.3.4", "[::1]") matches
 * `pattern`, else 0. An invalid pattern matches nothing. */
int wr_trustedhosts_pattern_match(const char *pattern, const char *host);

/* 1 if any pattern of the list matches `host`, else 0. */
int wr_trustedhosts_match(const wr_trustedhosts *th, const char *host);

/*
 * The policy question the HTTP transport asks: load DIR/trustedhosts (DIR
 * NULL: wr_config_dir()) and set *trusted to 1 if `host` matches. Returns 0
 * or the error of the load.
 */
int wr_trustedhosts_is_trusted(const char *dir, const char *host, int *trusted);

/*
 * The refusal, worded after the Windows client's ("...HTTPS transport must
 * be used or the destination machine must be added to the TrustedHosts
 * configuration setting"), one line, without the "winrsh: " the program
 * puts in front of every error. Appended to `out`.
 */
int wr_trustedhosts_refusal(const char *host, wr_buf *out);

/* Raise that refusal as WINRSH_ETRUST and return WINRSH_ETRUST. */
int wr_trustedhosts_refuse(const char *host);

#endif
