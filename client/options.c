/*
 * options.c: parse the winrsh command line (ARCHITECTURE.md 4).
 *
 * Like ssh, options may stand before and after TARGET; the first word after
 * TARGET that is not an option starts COMMAND and everything after it is
 * COMMAND's, so `winrsh host ls -l` runs `ls -l`. `--` ends the options.
 */
#include "options.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <winrsh/session.h>

enum opt_id {
    OPT_USER,
    OPT_AUTH,
    OPT_PORT,
    OPT_HTTPS,
    OPT_SHELL,
    OPT_NO_STDIN,
    OPT_ALLOW_UNENCRYPTED,
    OPT_PASSWORD_FILE,
    OPT_CODEPAGE,
    OPT_OPERATION_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_VERBOSE,
    OPT_TRACE,
    OPT_CONFIG_NAME,
    OPT_OUTPUT,
    OPT_CACERT,
    OPT_INSECURE,
    OPT_CERT,
    OPT_KEY,
    OPT_SSH_OPTION,
    OPT_TRUSTED_HOSTS,
    OPT_HELP,
    OPT_VERSION
};

struct opt_def {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 if none */
    int has_value;
    enum opt_id id;
};

static const struct opt_def opt_defs[] = {
    {"user", 'u', 1, OPT_USER},
    {"auth", 'a', 1, OPT_AUTH},
    {"port", 'p', 1, OPT_PORT},
    {"https", 0, 0, OPT_HTTPS},
    {"shell", 0, 1, OPT_SHELL},
    {NULL, 'n', 0, OPT_NO_STDIN},
    {"allow-unencrypted", 0, 0, OPT_ALLOW_UNENCRYPTED},
    {"password-file", 0, 1, OPT_PASSWORD_FILE},
    {"codepage", 0, 1, OPT_CODEPAGE},
    {"operation-timeout", 0, 1, OPT_OPERATION_TIMEOUT},
    {"connect-timeout", 0, 1, OPT_CONNECT_TIMEOUT},
    {"verbose", 'v', 0, OPT_VERBOSE},
    {"trace", 0, 0, OPT_TRACE},
    {"config-name", 0, 1, OPT_CONFIG_NAME},
    {"output", 0, 1, OPT_OUTPUT},
    {"cacert", 0, 1, OPT_CACERT},
    {"insecure", 0, 0, OPT_INSECURE},
    {"cert", 0, 1, OPT_CERT},
    {"key", 0, 1, OPT_KEY},
    {"ssh-option", 0, 1, OPT_SSH_OPTION},
    {"trusted-hosts", 0, 1, OPT_TRUSTED_HOSTS},
    {"help", 'h', 0, OPT_HELP},
    {"version", 0, 0, OPT_VERSION},
};

#define N_OPT_DEFS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static const struct {
    const char *name;
    unsigned int bit;
} auth_names[] = {
    {"negotiate", WINRSH_AUTH_NEGOTIATE}, {"ntlm", WINRSH_AUTH_NTLM},
    {"kerberos", WINRSH_AUTH_KERBEROS},   {"basic", WINRSH_AUTH_BASIC},
    {"credssp", WINRSH_AUTH_CREDSSP},     {"certificate", WINRSH_AUTH_CERTIFICATE},
};

/* Schemes of a URL TARGET (ARCHITECTURE.md 4). */
static const struct {
    const char *prefix;
    enum cli_transport transport;
} schemes[] = {
    {"http://", CLI_TRANSPORT_HTTP},   {"https://", CLI_TRANSPORT_HTTPS},
    {"ssh://", CLI_TRANSPORT_SSH},     {"vmbus://", CLI_TRANSPORT_VMBUS},
    {"vsock://", CLI_TRANSPORT_VSOCK}, {"process://", CLI_TRANSPORT_PROCESS},
    {"unix://", CLI_TRANSPORT_UNIX},
};

#define N_SCHEMES (sizeof(schemes) / sizeof(schemes[0]))

static int opt_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int opt_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A decimal integer in [min, max] with nothing after it. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return -1;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

/* Seconds, with up to three decimals ("20", "0.5"), as milliseconds > 0.
 * Done by hand: strtod depends on the locale's decimal point. */
static int parse_seconds(const char *s, long *ms_out)
{
    long ms = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        ms = ms * 10 + (*s - '0');
        if (ms > 24L * 3600L) /* a day bounds every wait */
            return -1;
    }
    ms *= 1000;
    if (*s == '.') {
        long scale = 100;
        s++;
        for (; *s >= '0' && *s <= '9'; s++, digits++) {
            if (scale == 0)
                return -1; /* finer than a millisecond */
            ms += (*s - '0') * scale;
            scale /= 10;
        }
    }
    if (*s || !digits || ms <= 0)
        return -1;
    *ms_out = ms;
    return 0;
}

static int copy_str(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* A host name or address must be non-empty and free of URL syntax. */
static int host_ok(const char *h, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '/' || c == '@' || c == '?' || c == '#' || c == '[' || c == ']' || c == ' ' ||
            c == '\t' || (unsigned char)c < 0x20)
            return 0;
    }
    return 1;
}

/* An IPv6 literal: hex digits, ':' and '.' (embedded IPv4), then an optional
 * "%zone". Not a full check: the resolver has the last word. */
static int ipv6_ok(const char *h, size_t n)
{
    size_t i = 0;
    for (; i < n && h[i] != '%'; i++)
        if (!strchr("0123456789abcdefABCDEF:.", h[i]))
            return 0;
    return i == n || i + 1 < n;
}

/*
 * Split "HOST[:PORT]" (IPv6 as "[ADDR][:PORT]", or a bare IPv6 address with
 * two or more colons and no port) into out->host and *port (0 if absent).
 */
static int parse_hostport(const char *s, size_t n, struct cli_options *out, unsigned long *port,
                          const char *what, char *err, size_t errlen)
{
    const char *host = s;
    size_t hlen = n;
    const char *portstr = NULL;
    size_t plen = 0;
    *port = 0;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return opt_error(err, errlen, "missing ']' after IPv6 address in %s '%s'", what,
                             out->target);
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':')
                return opt_error(err, errlen, "unexpected text after ']' in %s '%s'", what,
                                 out->target);
            portstr = close + 2;
            plen = rest - 1;
        }
        if (hlen == 0 || memchr(host, ':', hlen) == NULL)
            return opt_error(err, errlen, "'[...]' must hold an IPv6 address in %s '%s'", what,
                             out->target);
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) == NULL) {
            hlen = (size_t)(colon - s);
            portstr = colon + 1;
            plen = n - hlen - 1;
        }
        /* Two or more colons without brackets: a bare IPv6 address. */
    }
    if (!host_ok(host, hlen) || (memchr(host, ':', hlen) && !ipv6_ok(host, hlen)))
        return opt_error(err, errlen, "no valid host name in %s '%s'", what, out->target);
    if (copy_str(out->host, sizeof(out->host), host, hlen) != 0)
        return opt_error(err, errlen, "host name too long in %s", what);
    if (portstr) {
        char buf[8];
        if (plen == 0 || plen >= sizeof(buf) || copy_str(buf, sizeof(buf), portstr, plen) != 0 ||
            parse_uint(buf, 1, 65535, port) != 0)
            return opt_error(err, errlen, "bad port '%.*s' in %s '%s' (expected 1-65535)",
                             (int)plen, portstr, what, out->target);
    }
    return 0;
}

/* Take "USER@" off the front of an authority (the last '@' wins, so
 * "user@REALM@host" is user "user@REALM"). Returns where the host starts. */
static const char *take_user(const char *s, size_t n, struct cli_options *out, char *err,
                             size_t errlen, int *failed)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@')
            at = s + i;
    *failed = 0;
    if (!at)
        return s;
    size_t ulen = (size_t)(at - s);
    if (ulen == 0) {
        *failed = opt_error(err, errlen, "empty user name before '@' in TARGET '%s'", out->target);
        return s;
    }
    if (copy_str(out->user_buf, sizeof(out->user_buf), s, ulen) != 0) {
        *failed = opt_error(err, errlen, "user name too long in TARGET");
        return s;
    }
    return at + 1;
}

/* Build the WS-Man URL from the host, port and path. */
static int make_url(struct cli_options *out, const char *path, char *err, size_t errlen)
{
    int v6 = strchr(out->host, ':') != NULL;
    int n = snprintf(out->url, sizeof(out->url), "%s://%s%s%s:%u%s",
                     out->transport == CLI_TRANSPORT_HTTPS ? "https" : "http", v6 ? "[" : "",
                     out->host, v6 ? "]" : "", out->port, path);
    if (n < 0 || (size_t)n >= sizeof(out->url))
        return opt_error(err, errlen, "URL too long for TARGET '%s'", out->target);
    return 0;
}

/* http(s)://[USER@]HOST[:PORT][/path]; a missing path means /wsman. */
static int parse_http_url(struct cli_options *out, const char *rest, char *err, size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *path = rest + alen;
    int failed;
    const char *hp = take_user(rest, alen, out, err, errlen, &failed);
    if (failed)
        return -1;
    unsigned long port;
    if (parse_hostport(hp, alen - (size_t)(hp - rest), out, &port, "URL", err, errlen) != 0)
        return -1;
    if (out->https && out->transport == CLI_TRANSPORT_HTTP)
        return opt_error(err, errlen, "--https conflicts with the http:// URL '%s'", out->target);
    if (port && out->port_opt && port != out->port_opt)
        return opt_error(err, errlen, "--port %u conflicts with port %lu in URL '%s'",
                         out->port_opt, port, out->target);
    out->port = port                                    ? (unsigned int)port
                : out->port_opt                         ? out->port_opt
                : out->transport == CLI_TRANSPORT_HTTPS ? CLI_PORT_HTTPS
                                                        : CLI_PORT_HTTP;
    return make_url(out, *path ? path : "/wsman", err, errlen);
}

/* out->host for messages and the REPL prompt ("[HOST]: PS ...>") of an
 * ssh://[USER@]HOST[:PORT] or vmbus://[USER@]VMID[/CONFIG] target: HOST
 * (an IPv6 address without its brackets) or VMID. Lenient: the transport
 * parses and checks the target itself, so a part that does not look like a
 * host leaves out->host empty (shown as "localhost") instead of failing. */
static void set_display_host(struct cli_options *out, const char *rest)
{
    size_t alen = strcspn(rest, "/?#");
    const char *h = rest;
    for (size_t i = 0; i < alen; i++)
        if (rest[i] == '@')
            h = rest + i + 1;
    size_t n = alen - (size_t)(h - rest);
    if (out->transport == CLI_TRANSPORT_SSH) {
        if (n > 0 && h[0] == '[') {
            const char *close = memchr(h, ']', n);
            if (!close)
                return;
            h++;
            n = (size_t)(close - h);
        } else {
            const char *colon = memchr(h, ':', n);
            if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - h)))
                n = (size_t)(colon - h); /* HOST:PORT, not a bare IPv6 address */
        }
    }
    if (host_ok(h, n))
        (void)copy_str(out->host, sizeof(out->host), h, n);
}

/* Resolve out->target once all options are known (--https and -p may come
 * after it). */
/* Whether TARGET carries a password (USER:PASSWORD@HOST, a habit from other
 * tools): a ':' between the start of the authority and its last '@'. */
static int target_has_password(const char *t)
{
    const char *sep = strstr(t, "://");
    const char *start = sep ? sep + 3 : t;
    const char *at = strrchr(start, '@');
    return at && memchr(start, ':', (size_t)(at - start)) != NULL;
}

static int resolve_target(struct cli_options *out, char *err, size_t errlen)
{
    const char *t = out->target;
    const char *sep = strstr(t, "://");
    out->user_buf[0] = '\0';

    /* Refused without quoting TARGET: the password would end up in process
     * lists, traces and the user name sent to the server. */
    if (target_has_password(t))
        return opt_error(err, errlen,
                         "TARGET must not contain a password (USER:PASSWORD@HOST); use "
                         "--password-file FILE or WINRSH_PASSWORD");

    if (sep) {
        for (size_t i = 0; i < N_SCHEMES; i++) {
            size_t plen = strlen(schemes[i].prefix);
            if (strncmp(t, schemes[i].prefix, plen) != 0)
                continue;
            out->transport = schemes[i].transport;
            if (out->transport == CLI_TRANSPORT_HTTP || out->transport == CLI_TRANSPORT_HTTPS)
                return parse_http_url(out, t + plen, err, errlen);
            /* Recognised, not spoken yet: keep the URL for the message. */
            if (copy_str(out->url, sizeof(out->url), t, strlen(t)) != 0)
                return opt_error(err, errlen, "TARGET too long");
            out->host[0] = '\0';
            if (out->transport == CLI_TRANSPORT_SSH || out->transport == CLI_TRANSPORT_VMBUS)
                set_display_host(out, t + plen);
            return 0;
        }
        return opt_error(err, errlen, "unknown scheme '%.*s://' in TARGET '%s'", (int)(sep - t), t,
                         t);
    }

    /* [USER@]HOST[:PORT] */
    size_t n = strlen(t);
    int failed;
    const char *hp = take_user(t, n, out, err, errlen, &failed);
    if (failed)
        return -1;
    unsigned long port;
    if (parse_hostport(hp, n - (size_t)(hp - t), out, &port, "TARGET", err, errlen) != 0)
        return -1;
    if (port && out->port_opt && port != out->port_opt)
        return opt_error(err, errlen, "--port %u conflicts with port %lu in TARGET '%s'",
                         out->port_opt, port, t);
    out->transport = out->https ? CLI_TRANSPORT_HTTPS : CLI_TRANSPORT_HTTP;
    out->port = port            ? (unsigned int)port
                : out->port_opt ? out->port_opt
                : out->https    ? CLI_PORT_HTTPS
                                : CLI_PORT_HTTP;
    return make_url(out, "/wsman", err, errlen);
}

static const struct opt_def *find_long(const char *name, size_t n)
{
    for (size_t i = 0; i < N_OPT_DEFS; i++)
        if (opt_defs[i].name && strlen(opt_defs[i].name) == n &&
            strncmp(opt_defs[i].name, name, n) == 0)
            return &opt_defs[i];
    return NULL;
}

static const struct opt_def *find_short(char c)
{
    for (size_t i = 0; i < N_OPT_DEFS; i++)
        if (opt_defs[i].short_name == c)
            return &opt_defs[i];
    return NULL;
}

/* Apply one option. `spelt` is how the user wrote it, for messages. `argv`
 * and `*i` let --trusted-hosts add/remove take their pattern argument. */
static int apply(struct cli_options *out, const struct opt_def *d, const char *spelt,
                 const char *val, int argc, char **argv, int *i, char *err, size_t errlen)
{
    unsigned long u;
    switch (d->id) {
    case OPT_USER:
        if (!*val)
            return opt_error(err, errlen, "empty user name for %s", spelt);
        out->user = val;
        return 0;
    case OPT_AUTH:
        for (size_t k = 0; k < sizeof(auth_names) / sizeof(auth_names[0]); k++)
            if (strcmp(val, auth_names[k].name) == 0) {
                out->auth = auth_names[k].bit;
                out->auth_name = auth_names[k].name;
                return 0;
            }
        return opt_error(
            err, errlen,
            "unknown mechanism '%s' for %s (expected negotiate, ntlm, kerberos, basic, "
            "credssp or certificate)",
            val, spelt);
    case OPT_PORT:
        if (parse_uint(val, 1, 65535, &u) != 0)
            return opt_error(err, errlen, "bad port '%s' for %s (expected 1-65535)", val, spelt);
        out->port_opt = (unsigned int)u;
        return 0;
    case OPT_HTTPS:
        out->https = 1;
        return 0;
    case OPT_SHELL:
        if (strcmp(val, "cmd") == 0)
            out->shell = CLI_SHELL_CMD;
        else if (strcmp(val, "powershell") == 0)
            out->shell = CLI_SHELL_POWERSHELL;
        else
            return opt_error(err, errlen, "unknown shell '%s' for %s (expected powershell or cmd)",
                             val, spelt);
        return 0;
    case OPT_NO_STDIN:
        out->no_stdin = 1;
        return 0;
    case OPT_ALLOW_UNENCRYPTED:
        out->allow_unencrypted = 1;
        return 0;
    case OPT_PASSWORD_FILE:
        if (!*val)
            return opt_error(err, errlen, "empty file name for %s", spelt);
        out->password_file = val;
        return 0;
    case OPT_CODEPAGE:
        if (parse_uint(val, 1, 65535, &u) != 0)
            return opt_error(err, errlen, "bad code page '%s' for %s (expected 1-65535)", val,
                             spelt);
        out->codepage = (unsigned int)u;
        return 0;
    case OPT_OPERATION_TIMEOUT:
    case OPT_CONNECT_TIMEOUT: {
        long ms;
        if (parse_seconds(val, &ms) != 0)
            return opt_error(err, errlen, "bad timeout '%s' for %s (expected seconds > 0, e.g. 20)",
                             val, spelt);
        if (d->id == OPT_OPERATION_TIMEOUT)
            out->operation_timeout_ms = ms;
        else
            out->connect_timeout_ms = ms;
        return 0;
    }
    case OPT_VERBOSE:
        out->verbose = 1;
        return 0;
    case OPT_TRACE:
        out->trace = 1;
        return 0;
    case OPT_CONFIG_NAME:
        if (!*val)
            return opt_error(err, errlen, "empty configuration name for %s", spelt);
        out->config_name = val;
        return 0;
    case OPT_OUTPUT:
        if (strcmp(val, "text") == 0)
            out->output = CLI_OUTPUT_TEXT;
        else if (strcmp(val, "json") == 0)
            out->output = CLI_OUTPUT_JSON;
        else
            return opt_error(err, errlen,
                             "unknown output format '%s' for %s (expected text or json)", val,
                             spelt);
        return 0;
    case OPT_CACERT:
        out->cacert = val;
        return 0;
    case OPT_INSECURE:
        out->insecure = 1;
        return 0;
    case OPT_CERT:
        out->cert = val;
        return 0;
    case OPT_KEY:
        out->key = val;
        return 0;
    case OPT_SSH_OPTION:
        if (out->n_ssh_options >= CLI_MAX_SSH_OPTIONS)
            return opt_error(err, errlen, "too many %s (at most %d)", spelt, CLI_MAX_SSH_OPTIONS);
        out->ssh_options[out->n_ssh_options++] = val;
        return 0;
    case OPT_TRUSTED_HOSTS:
        if (strcmp(val, "list") == 0)
            out->th_op = CLI_TH_LIST;
        else if (strcmp(val, "clear") == 0)
            out->th_op = CLI_TH_CLEAR;
        else if (strcmp(val, "add") == 0 || strcmp(val, "remove") == 0) {
            out->th_op = val[0] == 'a' ? CLI_TH_ADD : CLI_TH_REMOVE;
            if (*i + 1 >= argc || !*argv[*i + 1])
                return opt_error(err, errlen, "%s %s needs a pattern", spelt, val);
            out->th_arg = argv[++*i];
        } else
            return opt_error(err, errlen,
                             "unknown action '%s' for %s (expected list, add, remove or clear)",
                             val, spelt);
        out->action = CLI_ACTION_TRUSTED_HOSTS;
        return 0;
    case OPT_HELP:
        out->action = CLI_ACTION_HELP;
        return 0;
    case OPT_VERSION:
        out->action = CLI_ACTION_VERSION;
        return 0;
    }
    return opt_error(err, errlen, "internal error: option %s has no handler", spelt);
}

/* "--name" or "--name=value". */
static int parse_long(struct cli_options *out, int argc, char **argv, int *i, char *err,
                      size_t errlen)
{
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    const struct opt_def *d = find_long(name, n);
    char spelt[64];
    snprintf(spelt, sizeof(spelt), "--%.*s", (int)n, name);

    if (!d) {
        if (n == 8 && strncmp(name, "password", 8) == 0)
            return opt_error(err, errlen,
                             "there is no --password: a password on the command line leaks; use "
                             "--password-file, WINRSH_PASSWORD or the prompt");
        return opt_error(err, errlen, "unknown option '%s'", spelt);
    }
    const char *val = NULL;
    if (d->has_value) {
        if (eq)
            val = eq + 1;
        else if (*i + 1 < argc)
            val = argv[++*i];
        else
            return opt_error(err, errlen, "option %s needs a value", spelt);
    } else if (eq) {
        return opt_error(err, errlen, "option %s takes no value", spelt);
    }
    return apply(out, d, spelt, val, argc, argv, i, err, errlen);
}

/* "-nv", "-u USER", "-uUSER", "-p5985". */
static int parse_short(struct cli_options *out, int argc, char **argv, int *i, char *err,
                       size_t errlen)
{
    const char *arg = argv[*i];
    for (size_t k = 1; arg[k]; k++) {
        const struct opt_def *d = find_short(arg[k]);
        char spelt[3] = {'-', arg[k], '\0'};
        if (!d)
            return opt_error(err, errlen, "unknown option '%s'", spelt);
        if (!d->has_value) {
            if (apply(out, d, spelt, NULL, argc, argv, i, err, errlen) != 0)
                return -1;
            continue;
        }
        const char *val;
        if (arg[k + 1])
            val = arg + k + 1;
        else if (*i + 1 < argc)
            val = argv[++*i];
        else
            return opt_error(err, errlen, "option %s needs a value", spelt);
        return apply(out, d, spelt, val, argc, argv, i, err, errlen);
    }
    return 0;
}

static void set_defaults(struct cli_options *out)
{
    memset(out, 0, sizeof(*out));
    out->action = CLI_ACTION_RUN;
    out->auth = WINRSH_AUTH_NEGOTIATE;
    out->auth_name = "negotiate";
    out->shell = CLI_DEFAULT_SHELL;
    out->codepage = CLI_DEFAULT_CODEPAGE;
    out->output = CLI_OUTPUT_TEXT;
}

int winrsh_cli_parse(int argc, char **argv, struct cli_options *out, char *err, size_t errlen)
{
    static const char *const no_args[] = {NULL};
    int i;
    int options_done = 0;

    set_defaults(out);
    out->args = no_args;
    if (err && errlen)
        err[0] = '\0';

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            int rc = arg[1] == '-' ? parse_long(out, argc, argv, &i, err, errlen)
                                   : parse_short(out, argc, argv, &i, err, errlen);
            if (rc != 0)
                return -1;
            /* --help and --version win over anything after them. */
            if (out->action == CLI_ACTION_HELP || out->action == CLI_ACTION_VERSION)
                return 0;
            continue;
        }
        if (!out->target) {
            if (!*arg)
                return opt_error(err, errlen, "empty TARGET");
            out->target = arg;
            continue;
        }
        break; /* the first word after TARGET starts COMMAND */
    }

    if (i < argc) {
        out->command = argv[i];
        out->args = (const char *const *)(argv + i + 1);
        out->nargs = (size_t)(argc - i - 1);
    }

    if (out->action == CLI_ACTION_TRUSTED_HOSTS) {
        if (out->target)
            return opt_error(err, errlen, "--trusted-hosts takes no TARGET (got '%s')",
                             out->target);
        return 0;
    }
    if (!out->target)
        return opt_error(err, errlen, "no TARGET given");
    if (resolve_target(out, err, errlen) != 0)
        return -1;
    if (out->user_buf[0]) {
        if (out->user && strcmp(out->user, out->user_buf) != 0)
            return opt_error(err, errlen, "two user names: '%s' from --user and '%s' from TARGET",
                             out->user, out->user_buf);
        out->user = out->user_buf;
    }
    if ((out->cert == NULL) != (out->key == NULL))
        return opt_error(err, errlen, "--cert and --key must be given together");
    return 0;
}

int winrsh_cli_check_supported(const struct cli_options *o, char *err, size_t errlen)
{
    static const char *const transport_names[] = {"http://",  "https://",   "ssh://", "vmbus://",
                                                  "vsock://", "process://", "unix://"};
    int wsman = o->transport == CLI_TRANSPORT_HTTP || o->transport == CLI_TRANSPORT_HTTPS;
    if (!wsman && o->shell == CLI_SHELL_CMD)
        return opt_error(err, errlen,
                         "--shell cmd needs WinRM (an http:// or https:// target); %s targets "
                         "carry PowerShell only",
                         transport_names[o->transport]);
    if (o->n_ssh_options && o->transport != CLI_TRANSPORT_SSH)
        return opt_error(err, errlen, "--ssh-option only applies to ssh:// targets");
    if (o->shell == CLI_SHELL_CMD && o->output == CLI_OUTPUT_JSON)
        return opt_error(err, errlen, "--output json needs PowerShell (not --shell cmd)");
    if (o->shell == CLI_SHELL_CMD && o->config_name)
        return opt_error(err, errlen, "--config-name needs PowerShell (not --shell cmd)");
    /* A client certificate only authenticates with the certificate mechanism
     * (MS-WSMV 3.1.4.1.29.2); say so rather than send it unused. */
    if (o->cert && o->auth != WINRSH_AUTH_CERTIFICATE)
        return opt_error(err, errlen, "--cert/--key need -a certificate");
    if (!o->cert && o->auth == WINRSH_AUTH_CERTIFICATE && o->action == CLI_ACTION_RUN)
        return opt_error(err, errlen, "-a certificate needs --cert FILE and --key FILE");
    return 0;
}

/* The same rules as the library's wr_config_dir() (transport/trustedhosts.h),
 * so the program and the library agree on where TrustedHosts lives. */
int winrsh_cli_config_dir(char *out, size_t outlen)
{
    const char *dir = getenv("WINRSH_CONFIG_DIR");
    int n;
    if (dir && *dir) {
        n = snprintf(out, outlen, "%s", dir);
    } else if ((dir = getenv("XDG_CONFIG_HOME")) && dir[0] == '/') {
        n = snprintf(out, outlen, "%s/winrsh", dir); /* relative values are ignored (XDG spec) */
    } else {
        dir = getenv("HOME");
        if (!dir || !*dir) {
            const struct passwd *pw = getpwuid(getuid());
            dir = pw ? pw->pw_dir : NULL;
        }
        if (!dir || !*dir)
            return -1;
        n = snprintf(out, outlen, "%s/.config/winrsh", dir);
    }
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

const char winrsh_cli_usage[] =
    "usage: winrsh [OPTIONS] TARGET [COMMAND [ARG...]]\n"
    "\n"
    "Run COMMAND on a Windows host over WinRM, or start an interactive session.\n"
    "\n"
    "TARGET: [USER@]HOST[:PORT]  (http://HOST:5985/wsman, https and 5986 with --https;\n"
    "        IPv6 as [::1]:5985) or a URL http://HOST:PORT/wsman, https://HOST:PORT/wsman.\n"
    "        ssh://[USER@]HOST[:PORT] (OpenSSH's powershell subsystem), vmbus://VMID\n"
    "        (PowerShell Direct, Windows), vsock://CID:PORT, process:///path/to/pwsh\n"
    "        (a local pwsh -s) and unix:///path carry PowerShell only.\n"
    "\n"
    "Options may stand before and after TARGET; the first word after TARGET that is\n"
    "not an option starts COMMAND. -- ends the options.\n"
    "\n"
    "  -u, --user USER            user name (DOMAIN\\user, user@REALM)\n"
    "  -a, --auth M               negotiate (default), ntlm, kerberos, basic, credssp,\n"
    "                             certificate\n"
    "      --https                use HTTPS (default port 5986)\n"
    "  -p, --port N               port (default 5985, or 5986 with --https)\n"
    "      --shell powershell|cmd the remote shell (default powershell)\n"
    "  -n                         send no stdin\n"
    "      --allow-unencrypted    permit an unencrypted body over HTTP\n"
    "      --password-file FILE   read the password from FILE's first line\n"
    "      --codepage N           WinRS code page (default 65001, UTF-8)\n"
    "      --operation-timeout S  WS-Man operation timeout in seconds\n"
    "      --connect-timeout S    connection timeout in seconds\n"
    "  -v, --verbose              progress on stderr\n"
    "      --trace                wire trace on stderr (secrets redacted)\n"
    "      --config-name NAME     PowerShell configuration (default Microsoft.PowerShell)\n"
    "      --output text|json     how PowerShell output objects are printed\n"
    "      --cacert FILE          TLS trust anchors\n"
    "      --insecure             skip TLS verification\n"
    "      --cert FILE --key FILE client certificate authentication\n"
    "      --ssh-option OPT       passed to ssh as -o OPT (repeatable)\n"
    "      --trusted-hosts list|add P[,P...]|remove P|clear\n"
    "                             manage the TrustedHosts list\n"
    "  -h, --help                 this text\n"
    "      --version              print the version\n"
    "\n"
    "The password comes from --password-file, else $WINRSH_PASSWORD, else a prompt\n"
    "on the terminal; never from the command line.\n"
    "\n"
    "Exit status: the remote command's; 254 if it was outside 0-254 (the full code\n"
    "goes to stderr); 255 if winrsh itself failed; 130 after a second Ctrl-C.\n";
