/*
 * history.c: the REPL's history, kept across sessions in the file
 * `history` of the configuration directory ($WINRSH_CONFIG_DIR, else
 * $XDG_CONFIG_HOME/winrsh, else ~/.config/winrsh), mode 0600: it may hold
 * whatever was typed. One entry per line, so a multi-line block stays one
 * entry: '\' is written "\\" and a newline "\n". Each entry is appended as
 * it is added (a crash loses nothing; concurrent sessions interleave), and
 * the file is cut back to the last CLI_HISTORY_MAX entries (write a
 * temporary file, rename) once it holds twice that many.
 *
 * As in shells with ignorespace, a line that starts with a space is not
 * recorded anywhere, and neither is a repeat of the previous entry.
 */
#include "repl_psrp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "options.h"
#include "output.h"

static char hist_path[4096];
static int have_path;
static size_t file_lines; /* entries in the file, as far as we know */
static char *last_entry;

char *cli_history_escape(const char *entry)
{
    size_t n = 0;
    for (const char *p = entry; *p; p++)
        n += *p == '\\' || *p == '\n' ? 2 : 1;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = entry; *p; p++) {
        if (*p == '\\') {
            *o++ = '\\';
            *o++ = '\\';
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (*p != '\r') {
            *o++ = *p;
        }
    }
    *o = 0;
    return out;
}

char *cli_history_unescape(const char *line)
{
    char *out = malloc(strlen(line) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = line; *p; p++) {
        if (*p == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (*p == '\\' && p[1] == '\\') {
            *o++ = '\\';
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return out;
}

/* mkdir -p, new directories 0700 (the configuration is private). */
static int make_dirs(const char *path)
{
    char buf[sizeof hist_path];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int open_private(const char *path, int flags)
{
    int fd = open(path, flags | O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        (void)fchmod(fd, 0600);
    return fd;
}

static int write_line(int fd, const char *entry)
{
    char *e = cli_history_escape(entry);
    if (!e)
        return -1;
    size_t n = strlen(e);
    e[n] = '\n';
    int rc = cli_write_all(fd, e, n + 1);
    free(e);
    return rc;
}

/* Rewrite the file with the entries of readline's history (the last
 * CLI_HISTORY_MAX, as it is stifled). */
static void rewrite_file(void)
{
    char tmp[sizeof hist_path + 16];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", hist_path, (long)getpid());
    int fd = open_private(tmp, O_TRUNC);
    if (fd < 0)
        return;
    HIST_ENTRY **list = history_list();
    size_t n = 0;
    int ok = 1;
    for (size_t i = 0; list && list[i]; i++, n++)
        if (write_line(fd, list[i]->line) != 0)
            ok = 0;
    if (close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, hist_path) == 0)
        file_lines = n;
    else
        unlink(tmp);
}

void cli_history_open(void)
{
    using_history();
    stifle_history(CLI_HISTORY_MAX);
    char dir[sizeof hist_path - 16];
    if (winrsh_cli_config_dir(dir, sizeof dir) != 0)
        return;
    snprintf(hist_path, sizeof hist_path, "%s/history", dir);
    have_path = 1;
    FILE *f = fopen(hist_path, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    file_lines = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        file_lines++;
        if (!len)
            continue;
        char *e = cli_history_unescape(line);
        if (e) {
            add_history(e);
            free(last_entry);
            last_entry = e;
        }
    }
    free(line);
    fclose(f);
    if (file_lines > 2 * CLI_HISTORY_MAX)
        rewrite_file();
}

void cli_history_add(const char *entry)
{
    if (!entry || !*entry || entry[0] == ' ')
        return;
    if (last_entry && strcmp(last_entry, entry) == 0)
        return;
    char *copy = strdup(entry);
    if (!copy)
        return;
    free(last_entry);
    last_entry = copy;
    add_history(entry);
    if (!have_path)
        return;
    char dir[sizeof hist_path];
    snprintf(dir, sizeof dir, "%s", hist_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (make_dirs(dir) != 0)
            return;
    }
    int fd = open_private(hist_path, O_APPEND);
    if (fd < 0)
        return;
    int ok = write_line(fd, entry) == 0;
    close(fd);
    if (ok && ++file_lines > 2 * CLI_HISTORY_MAX)
        rewrite_file();
}

void cli_history_close(void)
{
    clear_history();
    free(last_entry);
    last_entry = NULL;
}
