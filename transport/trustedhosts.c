/*
 * trustedhosts.c: the TrustedHosts list (see trustedhosts.h for the rules).
 *
 * Three jobs: checking and matching patterns (pure functions), keeping the
 * list in memory (add/remove/clear), and the file (load/save). The wording
 * of the refusal lives here too, so the HTTP transport and the program say
 * the same thing.
 */
#include "trustedhosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/error.h"
#include "common/mem.h"

#define TRUSTEDHOSTS_FILE "trustedhosts"
/* Far more than any real list; bounds what a damaged file can make us read. */
#define TRUSTEDHOSTS_MAX_FILE (1024 * 1024)
/* Hosts longer than this match nothing (fail closed): no DNS name or
 * address literal comes near it. */
#define HOST_MAX 512

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static int os_error(int err, const char *what, const char *path)
{
    char msg[256];
    if (strerror_r(err, msg, sizeof(msg)) != 0)
        snprintf(msg, sizeof(msg), "error %d", err);
    return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "cannot %s %s: %s", what, path, msg);
}

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int equal_nocase(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && wr_strncasecmp(a, b, alen) == 0;
}

/* Trim blanks from both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
    while (*n && is_blank((unsigned char)**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n && is_blank((unsigned char)(*p)[*n - 1]))
        (*n)--;
}

/* A pattern as it may appear in a message: printable, bounded, one line. */
static void describe(const char *p, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        /* Each step writes at most 4 bytes; keep room for "..." and NUL. */
        if (size - o < 8) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = 0;
}

/* ------------------------------------------------------------------ */
/* Checking patterns                                                    */

static int bad_pattern(const char *p, size_t n, const char *why)
{
    char shown[96];
    describe(p, n, shown, sizeof(shown));
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "invalid TrustedHosts pattern '%s': %s", shown, why);
}

/* What is wrong with one pattern (already trimmed), or NULL. Commas never
 * get here from add (it splits on them) but can from check_pattern, where
 * they mean a list was given where one pattern belongs. Kept apart from
 * raising the error so that matching can ask without touching the
 * thread's error record. */
static const char *entry_problem(const char *p, size_t n)
{
    if (n == 0)
        return "it is empty";
    if (n > WR_TRUSTEDHOSTS_MAX_PATTERN)
        return "longer than 255 characters";
    int is_local = equal_nocase(p, n, "<local>");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            return "it contains a control character";
        if (c == ' ')
            return "it contains a space";
        if (c == ',')
            return "it contains a comma (one pattern expected here)";
        if ((c == '<' || c == '>') && !is_local)
            return "'<' and '>' appear only in <local>";
    }
    return NULL;
}

static int check_entry(const char *p, size_t n)
{
    const char *why = entry_problem(p, n);
    return why ? bad_pattern(p, n, why) : 0;
}

int wr_trustedhosts_check_pattern(const char *pattern)
{
    if (!pattern)
        return bad_pattern("", 0, "it is empty");
    return check_entry(pattern, strlen(pattern));
}

/* ------------------------------------------------------------------ */
/* Matching                                                             */

/*
 * Bring a host (or a pattern without wildcards) to the form we compare:
 * lower case; "[...]" unwrapped; an IPv6 address in the canonical text of
 * RFC 5952 (what inet_ntop writes), keeping a "%zone" suffix; one trailing
 * dot of a name dropped. IPv4 text is left as written: WinRM compares
 * address text, and so do we. Returns 0, or -1 when `in` is empty or too
 * long to be a host.
 */
static int normalize(const char *in, char out[HOST_MAX], int *is_name)
{
    size_t n = strlen(in);
    if (n == 0 || n >= HOST_MAX)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = ascii_lower(in[i]);
    if (n >= 2 && out[0] == '[' && out[n - 1] == ']') {
        memmove(out, out + 1, n - 2);
        n -= 2;
        out[n] = 0;
    }
    *is_name = 0;

    char addr[HOST_MAX];
    memcpy(addr, out, n + 1);
    char *zone = strchr(addr, '%');
    if (zone)
        *zone++ = 0;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, addr, &a6) == 1) {
        char canon[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, &a6, canon, sizeof(canon)))
            return -1;
        int w = snprintf(out, HOST_MAX, "%s%s%s", canon, zone ? "%" : "", zone ? zone : "");
        return (w < 0 || w >= HOST_MAX) ? -1 : 0;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, out, &a4) == 1)
        return 0;

    *is_name = 1;
    if (n > 1 && out[n - 1] == '.')
        out[n - 1] = 0;
    return out[0] ? 0 : -1;
}

/* '*' matches any run of characters, dots included, as WinRM's wildcards
 * do. Greedy with one backtrack point: linear enough for 255 characters
 * and free of the exponential blow-up of a recursive matcher. */
static int glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

int wr_trustedhosts_pattern_match(const char *pattern, const char *host)
{
    if (!pattern || !host)
        return 0;
    size_t plen = strlen(pattern);
    if (entry_problem(pattern, plen))
        return 0;
    char h[HOST_MAX];
    int host_is_name;
    if (normalize(host, h, &host_is_name) != 0)
        return 0;

    if (strcmp(pattern, "*") == 0)
        return 1;
    /* <local>: "the local intranet", names without a dot. An IPv6 literal
     * has no dot either, so the kind of host matters, not just the text. */
    if (equal_nocase(pattern, plen, "<local>"))
        return host_is_name && !strchr(h, '.');

    char p[HOST_MAX];
    if (!strchr(pattern, '*')) {
        int pattern_is_name;
        if (normalize(pattern, p, &pattern_is_name) != 0)
            return 0;
        return strcmp(p, h) == 0;
    }
    /* A wildcard pattern is text: lower case, brackets and a trailing dot
     * dropped as for hosts, then matched against the host's canonical form
     * ("fe80::*" matches "[FE80::1]"). */
    size_t n = plen;
    for (size_t i = 0; i <= n; i++)
        p[i] = ascii_lower(pattern[i]);
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
        memmove(p, p + 1, n - 2);
        n -= 2;
        p[n] = 0;
    }
    if (n > 1 && p[n - 1] == '.')
        p[--n] = 0;
    return glob_match(p, h);
}

int wr_trustedhosts_match(const wr_trustedhosts *th, const char *host)
{
    for (size_t i = 0; th && i < th->count; i++)
        if (wr_trustedhosts_pattern_match(th->patterns[i], host))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The list in memory                                                   */

static int list_has(const wr_trustedhosts *th, const char *p, size_t n)
{
    for (size_t i = 0; i < th->count; i++)
        if (equal_nocase(p, n, th->patterns[i]))
            return 1;
    return 0;
}

static int list_push(wr_trustedhosts *th, char *owned)
{
    if (th->count == th->cap) {
        size_t cap = th->cap ? th->cap * 2 : 8;
        char **np = realloc(th->patterns, cap * sizeof(*np));
        if (!np)
            return oom();
        th->patterns = np;
        th->cap = cap;
    }
    th->patterns[th->count++] = owned;
    return 0;
}

/* Add the comma-separated list [list, list + len). */
static int add_span(wr_trustedhosts *th, const char *list, size_t len, size_t *added)
{
    if (added)
        *added = 0;
    /* Collect into a scratch list first so that one bad entry leaves `th`
     * untouched: "add a,b c" must not add "a" and then fail. */
    wr_trustedhosts fresh = WR_TRUSTEDHOSTS_INIT;
    const char *s = list, *end = list + len;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t n = comma ? (size_t)(comma - s) : (size_t)(end - s);
        const char *p = s;
        trim(&p, &n);
        int rc = check_entry(p, n);
        if (rc) {
            wr_trustedhosts_free(&fresh);
            return rc;
        }
        if (!list_has(th, p, n) && !list_has(&fresh, p, n)) {
            char *copy = malloc(n + 1);
            if (!copy) {
                wr_trustedhosts_free(&fresh);
                return oom();
            }
            memcpy(copy, p, n);
            copy[n] = 0;
            if ((rc = list_push(&fresh, copy)) != 0) {
                free(copy);
                wr_trustedhosts_free(&fresh);
                return rc;
            }
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    /* Make room for all of them before moving any. */
    if (th->cap - th->count < fresh.count) {
        size_t cap = th->count + fresh.count;
        char **np = realloc(th->patterns, cap * sizeof(*np));
        if (!np) {
            wr_trustedhosts_free(&fresh);
            return oom();
        }
        th->patterns = np;
        th->cap = cap;
    }
    for (size_t i = 0; i < fresh.count; i++)
        th->patterns[th->count++] = fresh.patterns[i];
    if (added)
        *added = fresh.count;
    free(fresh.patterns);
    return 0;
}

int wr_trustedhosts_add(wr_trustedhosts *th, const char *list, size_t *added)
{
    if (!list)
        list = "";
    return add_span(th, list, strlen(list), added);
}

int wr_trustedhosts_remove(wr_trustedhosts *th, const char *pattern)
{
    const char *p = pattern ? pattern : "";
    size_t n = strlen(p);
    trim(&p, &n);
    for (size_t i = 0; i < th->count; i++) {
        if (equal_nocase(p, n, th->patterns[i])) {
            free(th->patterns[i]);
            memmove(th->patterns + i, th->patterns + i + 1,
                    (th->count - i - 1) * sizeof(*th->patterns));
            th->count--;
            return 0;
        }
    }
    char shown[96];
    describe(p, n, shown, sizeof(shown));
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "'%s' is not in the TrustedHosts list", shown);
}

void wr_trustedhosts_clear(wr_trustedhosts *th)
{
    for (size_t i = 0; i < th->count; i++)
        free(th->patterns[i]);
    th->count = 0;
}

void wr_trustedhosts_free(wr_trustedhosts *th)
{
    if (!th)
        return;
    wr_trustedhosts_clear(th);
    free(th->patterns);
    th->patterns = NULL;
    th->cap = 0;
}

/* ------------------------------------------------------------------ */
/* The configuration directory and the file                             */

int wr_config_dir(wr_buf *out)
{
    wr_buf_clear(out);
    const char *d = getenv("WINRSH_CONFIG_DIR");
    if (d && *d)
        return wr_buf_puts(out, d) ? oom() : 0;
    /* XDG Base Directory: a relative XDG_CONFIG_HOME is invalid and ignored. */
    d = getenv("XDG_CONFIG_HOME");
    if (d && d[0] == '/')
        return wr_buf_printf(out, "%s/winrsh", d) ? oom() : 0;
    d = getenv("HOME");
    if (d && *d)
        return wr_buf_printf(out, "%s/.config/winrsh", d) ? oom() : 0;

    struct passwd pw, *res = NULL;
    char scratch[4096];
    if (getpwuid_r(getuid(), &pw, scratch, sizeof(scratch), &res) != 0 || !res || !pw.pw_dir ||
        !*pw.pw_dir)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "cannot find the configuration directory: set HOME or "
                            "WINRSH_CONFIG_DIR");
    return wr_buf_printf(out, "%s/.config/winrsh", pw.pw_dir) ? oom() : 0;
}

static int file_path(const char *dir, wr_buf *out)
{
    if (!dir || !*dir)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "no configuration directory given");
    return wr_buf_printf(out, "%s/%s", dir, TRUSTEDHOSTS_FILE) ? oom() : 0;
}

/* Read the whole file into `data`; *missing = 1 when it does not exist. */
static int read_file(const char *path, wr_buf *data, int *missing)
{
    *missing = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *missing = 1;
            return 0;
        }
        return os_error(errno, "open", path);
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = os_error(errno, "stat", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "%s is not a regular file", path);
    } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        rc = wr_error_set(WINRSH_ETRUST, WINRSH_ERRCLASS_OS,
                          "refusing %s: it is writable by group or others, so anyone could "
                          "trust any host (chmod 600 %s)",
                          path, path);
    }
    while (!rc) {
        if (wr_buf_reserve(data, 4096)) {
            rc = oom();
            break;
        }
        ssize_t got = read(fd, data->data + data->len, data->cap - data->len - 1);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = os_error(errno, "read", path);
            break;
        }
        if (got == 0)
            break;
        data->len += (size_t)got;
        data->data[data->len] = 0;
        if (data->len > TRUSTEDHOSTS_MAX_FILE)
            rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS,
                              "%s is larger than %d bytes; not a TrustedHosts list", path,
                              TRUSTEDHOSTS_MAX_FILE);
    }
    close(fd);
    return rc;
}

int wr_trustedhosts_load(wr_trustedhosts *th, const char *dir)
{
    wr_buf path = WR_BUF_INIT, data = WR_BUF_INIT;
    wr_trustedhosts fresh = WR_TRUSTEDHOSTS_INIT;
    int missing = 0;
    int rc = file_path(dir, &path);
    if (!rc)
        rc = read_file(wr_buf_cstr(&path), &data, &missing);

    const char *s = (const char *)data.data;
    size_t left = data.len, lineno = 0;
    while (!rc && !missing && left) {
        const char *nl = memchr(s, '\n', left);
        size_t n = nl ? (size_t)(nl - s) : left;
        size_t next = nl ? n + 1 : n;
        const char *p = s;
        lineno++;
        trim(&p, &n);
        if (n && p[0] != '#') {
            rc = add_span(&fresh, p, n, NULL);
            if (rc)
                wr_error_prefix("%s:%zu", wr_buf_cstr(&path), lineno);
        }
        s += next;
        left -= next;
    }
    if (!rc) {
        wr_trustedhosts_free(th);
        *th = fresh;
    } else {
        wr_trustedhosts_free(&fresh);
    }
    wr_buf_free(&path);
    wr_buf_free(&data);
    return rc;
}

/* mkdir -p with mode 0700 for what we create; existing directories (say
 * ~/.config) are left as they are. */
static int make_dirs(const char *dir)
{
    wr_buf b = WR_BUF_INIT;
    if (wr_buf_puts(&b, dir))
        return oom();
    char *p = (char *)b.data;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != 0)
            continue;
        char saved = *q;
        *q = 0;
        struct stat st;
        if ((stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) && mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = os_error(errno, "create directory", p);
            break;
        }
        *q = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (!rc && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "%s is not a directory", dir);
    wr_buf_free(&b);
    return rc;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int wr_trustedhosts_save(const wr_trustedhosts *th, const char *dir)
{
    wr_buf path = WR_BUF_INIT, tmp = WR_BUF_INIT, text = WR_BUF_INIT;
    int rc = file_path(dir, &path);
    if (!rc)
        rc = make_dirs(dir);
    if (!rc && wr_buf_printf(&tmp, "%s/.%s.XXXXXX", dir, TRUSTEDHOSTS_FILE))
        rc = oom();
    for (size_t i = 0; !rc && i < th->count; i++)
        if (wr_buf_puts(&text, th->patterns[i]) || wr_buf_putc(&text, '\n'))
            rc = oom();
    if (rc)
        goto out;

    /* mkstemp creates the file 0600 and O_EXCL: nobody else's file is ever
     * overwritten, and the list is never readable by others, even briefly. */
    int fd = mkstemp((char *)tmp.data);
    if (fd < 0) {
        rc = os_error(errno, "create a temporary file in", dir);
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, text.data, text.len) != 0 || fsync(fd) != 0) {
        rc = os_error(errno, "write", wr_buf_cstr(&tmp));
        close(fd);
        unlink(wr_buf_cstr(&tmp));
        goto out;
    }
    if (close(fd) != 0) {
        rc = os_error(errno, "write", wr_buf_cstr(&tmp));
        unlink(wr_buf_cstr(&tmp));
        goto out;
    }
    if (rename(wr_buf_cstr(&tmp), wr_buf_cstr(&path)) != 0) {
        rc = os_error(errno, "replace", wr_buf_cstr(&path));
        unlink(wr_buf_cstr(&tmp));
        goto out;
    }
    /* Make the rename itself durable; failing here loses nothing already
     * written, so it is best effort. */
    int dfd = open(dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    wr_buf_free(&path);
    wr_buf_free(&tmp);
    wr_buf_free(&text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The policy question and the refusal                                  */

int wr_trustedhosts_is_trusted(const char *dir, const char *host, int *trusted)
{
    *trusted = 0;
    wr_buf d = WR_BUF_INIT;
    int rc = 0;
    if (!dir) {
        if ((rc = wr_config_dir(&d)) != 0) {
            wr_buf_free(&d);
            return rc;
        }
        dir = wr_buf_cstr(&d);
    }
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    rc = wr_trustedhosts_load(&th, dir);
    if (!rc)
        *trusted = wr_trustedhosts_match(&th, host);
    wr_trustedhosts_free(&th);
    wr_buf_free(&d);
    return rc;
}

int wr_trustedhosts_refusal(const char *host, wr_buf *out)
{
    /* The Windows client says: the request cannot be processed; unless
     * Kerberos is used, HTTPS must be used or the destination added to
     * TrustedHosts. Same idea, one line, with the command that fixes it. */
    char shown[HOST_MAX + 16];
    const char *h = host ? host : "";
    describe(h, strlen(h), shown, sizeof(shown));
    return wr_buf_printf(out,
                         "cannot send credentials to %s over HTTP: the destination is not in "
                         "TrustedHosts. Use HTTPS (--https), or add the host with: winrsh "
                         "--trusted-hosts add %s",
                         shown, shown)
               ? oom()
               : 0;
}

int wr_trustedhosts_refuse(const char *host)
{
    wr_buf msg = WR_BUF_INIT;
    int rc = wr_trustedhosts_refusal(host, &msg);
    if (rc)
        return rc;
    rc = wr_error_set(WINRSH_ETRUST, WINRSH_ERRCLASS_AUTH, "%s", wr_buf_cstr(&msg));
    wr_buf_free(&msg);
    return rc;
}
