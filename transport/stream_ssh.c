/*
 * stream_ssh.c: ssh://[USER@]HOST[:PORT] through OpenSSH's client (see
 * stream_ssh.h). The child is run by transport/spawn.c in winrsh's process
 * group with SIGINT/SIGQUIT ignored: it may have to prompt on the terminal
 * (passphrase, password, an unknown host key), and Ctrl-C must reach only
 * winrsh, which stops the pipeline with a Signal packet rather than
 * dropping the connection.
 *
 * The remote side: sshd runs the `powershell` subsystem (sshd_config:
 * `Subsystem powershell /path/to/pwsh -sshs -NoLogo -NoProfile`), whose
 * stdin/stdout carry the framing. When ssh ends, EOF of its stdout becomes
 * WINRSH_ECLOSED with ssh's exit status and the tail of its stderr.
 */
#include "transport/stream_ssh.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/url.h"
#include "common/trace.h"
#include "transport/spawn.h"
#include "winrsh/errors.h"

#define SSH_SUBSYSTEM "powershell"
#define DEFAULT_CONNECT_MS 30000L

static int bad_target(const char *target, const char *why)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "%s: not an ssh://[USER@]HOST[:PORT] target: %s", target, why);
}



void wr_ssh_target_free(wr_ssh_target *t)
{
    if (!t)
        return;
    free(t->user);
    free(t->host);
    t->user = t->host = NULL;
    t->port = 0;
}

int wr_ssh_target_parse(wr_ssh_target *t, const char *target)
{
    memset(t, 0, sizeof(*t));
    static const char scheme[] = "ssh://";
    if (!target || strncmp(target, scheme, sizeof(scheme) - 1) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not an ssh://[USER@]HOST[:PORT] target",
                            target ? target : "(null)");
    const char *rest = target + sizeof(scheme) - 1;
    size_t rlen = strlen(rest);
    if (rlen && rest[rlen - 1] == '/')
        rlen--; /* ssh://host/ */
    if (memchr(rest, '/', rlen) || memchr(rest, '?', rlen) || memchr(rest, '#', rlen))
        return bad_target(target, "no path, query or fragment may follow the host");

    /* USER@: up to the last '@' (a user may be user@REALM). */
    const char *hostpart = rest;
    size_t hlen = rlen;
    const char *at = NULL;
    for (size_t i = 0; i < rlen; i++)
        if (rest[i] == '@')
            at = rest + i;
    int nomem = 0;
    if (at) {
        size_t ulen = (size_t)(at - rest);
        if (ulen == 0)
            return bad_target(target, "an empty user name");
        t->user = wr_pct_decode(rest, ulen, &nomem);
        if (!t->user) {
            if (nomem)
                return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
            return bad_target(target, "a bad %-escape or a control character in the user name");
        }
        if (t->user[0] == '-') {
            wr_ssh_target_free(t);
            return bad_target(target, "a user name may not start with '-'");
        }
        hostpart = at + 1;
        hlen = rlen - ulen - 1;
    }

    /* HOST, [v6], then :PORT. */
    const char *h = hostpart;
    size_t hl;
    const char *after;
    if (hlen && h[0] == '[') {
        const char *close = memchr(h, ']', hlen);
        if (!close) {
            wr_ssh_target_free(t);
            return bad_target(target, "an unterminated [IPv6 address]");
        }
        h++;
        hl = (size_t)(close - h);
        after = close + 1;
    } else {
        const char *colon = memchr(h, ':', hlen);
        hl = colon ? (size_t)(colon - h) : hlen;
        after = h + hl;
    }
    size_t alen = hlen - (size_t)(after - hostpart);
    if (hl == 0) {
        wr_ssh_target_free(t);
        return bad_target(target, "no host");
    }
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= 0x20 || c == 0x7f || c == '%' || c == '@' || c == '[' || c == ']') {
            wr_ssh_target_free(t);
            return bad_target(target, "a character that cannot be in a host name");
        }
    }
    if (h[0] == '-') {
        wr_ssh_target_free(t);
        return bad_target(target, "a host may not start with '-'");
    }
    if (alen) {
        if (after[0] != ':' || alen == 1) {
            wr_ssh_target_free(t);
            return bad_target(target, "junk after the host");
        }
        unsigned long port = 0;
        for (size_t i = 1; i < alen; i++) {
            if (after[i] < '0' || after[i] > '9' || port > 65535) {
                wr_ssh_target_free(t);
                return bad_target(target, "the port is not a number from 1 to 65535");
            }
            port = port * 10 + (unsigned long)(after[i] - '0');
        }
        if (port == 0 || port > 65535) {
            wr_ssh_target_free(t);
            return bad_target(target, "the port is not a number from 1 to 65535");
        }
        t->port = (unsigned)port;
    }
    t->host = malloc(hl + 1);
    if (!t->host) {
        wr_ssh_target_free(t);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    memcpy(t->host, h, hl);
    t->host[hl] = 0;
    return 0;
}

static int ssh_open(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    return wr_stream_ssh_open(out, target, NULL, opts);
}

/* ssh exits 255 for its own errors (and says why on its stderr); any
 * other status is the remote subsystem's, whose stderr sshd discards
 * (seen with OpenSSH 9.2), so a subsystem that could not start at all
 * (126, 127) gets a hint instead. */
static int subsystem_hint(wr_stream *s, int rc)
{
    if (rc != WINRSH_ECLOSED)
        return rc;
    int st = wr_spawn_exit_status(s);
    if (st == 126 || st == 127) {
        char m[1024];
        snprintf(m, sizeof(m), "%s", winrsh_error_last()->message);
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                            "%s (the server's `" SSH_SUBSYSTEM "` subsystem could not be started: "
                            "check its Subsystem line in sshd_config)",
                            m);
    }
    return rc;
}

static int ssh_read(wr_stream *s, void *buf, size_t len, size_t *got)
{
    return subsystem_hint(s, wr_spawn_read(s, buf, len, got));
}

static int ssh_write(wr_stream *s, const void *buf, size_t len, size_t *wrote)
{
    return subsystem_hint(s, wr_spawn_write(s, buf, len, wrote));
}

const wr_stream_type wr_stream_ssh = {"ssh",     ssh_open,    ssh_read,
                                      ssh_write, wr_spawn_fd, wr_spawn_close};

/* Find the ssh program: a path with '/' as is, else on PATH. */
static int find_ssh(const char *prog, char **path)
{
    *path = NULL;
    if (strchr(prog, '/')) {
        struct stat st;
        if (stat(prog, &st) < 0 || access(prog, X_OK) < 0)
            return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot run %s: %s", prog,
                                strerror(errno));
        if (!S_ISREG(st.st_mode))
            return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                                "cannot run %s: not a regular file", prog);
        *path = strdup(prog);
    } else {
        *path = wr_spawn_search_path(prog);
        if (!*path)
            return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                                "cannot run %s: not found on PATH (ssh:// targets need "
                                "OpenSSH's client)",
                                prog);
        return 0;
    }
    if (!*path)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    return 0;
}

int wr_stream_ssh_open(wr_stream **out, const char *target, const wr_ssh_options *ssh_opts,
                       const wr_stream_options *opts)
{
    *out = NULL;
    wr_ssh_target t;
    int rc = wr_ssh_target_parse(&t, target);
    if (rc)
        return rc;
    size_t nopt = ssh_opts ? ssh_opts->noptions : 0;
    for (size_t i = 0; i < nopt; i++) {
        const char *o = ssh_opts->options[i];
        if (!o || !*o || o[0] == '-' || strchr(o, '\n')) {
            wr_ssh_target_free(&t);
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "bad ssh option \"%s\": expected KEY=VALUE as for ssh -o",
                                o ? o : "(null)");
        }
    }
    char *path = NULL;
    rc = find_ssh(ssh_opts && ssh_opts->program ? ssh_opts->program : "ssh", &path);
    if (rc) {
        wr_ssh_target_free(&t);
        return rc;
    }

    long cto = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
    long cto_s = (cto + 999) / 1000;
    char port_s[16] = "", cto_opt[48], label[600];
    snprintf(cto_opt, sizeof(cto_opt), "ConnectTimeout=%ld", cto_s);
    char *dest = NULL;
    size_t dlen = (t.user ? strlen(t.user) + 1 : 0) + strlen(t.host) + 1;
    dest = malloc(dlen);
    /* argv: ssh [-p P] (-o OPT)* [-o BatchMode=yes] -o ConnectTimeout=S -s DEST powershell,
     * and the NULL */
    char **argv = calloc(1 + 2 + 2 * nopt + 2 + 2 + 3 + 1, sizeof(*argv));
    if (!dest || !argv) {
        free(dest);
        free(argv);
        free(path);
        wr_ssh_target_free(&t);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    if (t.user)
        snprintf(dest, dlen, "%s@%s", t.user, t.host);
    else
        snprintf(dest, dlen, "%s", t.host);
    static char arg_p[] = "-p", arg_o[] = "-o", arg_s[] = "-s", batch[] = "BatchMode=yes",
                subsystem[] = SSH_SUBSYSTEM;
    size_t n = 0;
    argv[n++] = path;
    if (t.port) {
        snprintf(port_s, sizeof(port_s), "%u", t.port);
        argv[n++] = arg_p;
        argv[n++] = port_s;
    }
    for (size_t i = 0; i < nopt; i++) {
        argv[n++] = arg_o;
        argv[n++] = (char *)ssh_opts->options[i];
    }
    if (ssh_opts && ssh_opts->batch_mode) {
        argv[n++] = arg_o;
        argv[n++] = batch;
    }
    argv[n++] = arg_o;
    argv[n++] = cto_opt;
    argv[n++] = arg_s;
    argv[n++] = dest;
    argv[n++] = subsystem;
    argv[n] = NULL;

    if (t.port)
        snprintf(label, sizeof(label), "ssh to %s port %u", dest, t.port);
    else
        snprintf(label, sizeof(label), "ssh to %s", dest);
    const wr_tracer *tracer = opts ? opts->tracer : NULL;
    if (tracer && tracer->level > 0) {
        char line[1024];
        size_t o = 0;
        for (size_t i = 0; argv[i] && o + 2 < sizeof(line); i++) {
            int w = snprintf(line + o, sizeof(line) - o, "%s%s", i ? " " : "", argv[i]);
            if (w < 0)
                break;
            o += (size_t)w;
            if (o >= sizeof(line))
                o = sizeof(line) - 1;
        }
        wr_tracef(tracer, "ssh: running %s", line);
    }
    wr_spawn_spec spec = {path, argv, NULL, label, 0};
    rc = wr_spawn_stream_open(out, &wr_stream_ssh, &spec, tracer);
    free(argv);
    free(dest);
    free(path);
    wr_ssh_target_free(&t);
    return rc;
}
