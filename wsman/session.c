/*
 * session.c: winrsh_session_* (include/winrsh/session.h): one endpoint, its
 * HTTP transport and its WS-Management defaults.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/trace.h"
#include "psrp/binding_target.h"
#include "psrp/binding_wsman.h"
#include "session_internal.h"
#include "transport/http.h"
#include "winrsh/errors.h"
#include "winrsh/session.h"
#include "wsman.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 30000L
/* Below this a Send could not carry useful data next to its headers. */
#define MIN_ENVELOPE_SIZE 8192UL

struct winrsh_session {
    char *url;
    wr_tracer tracer;
    wr_http *http;
    wr_wsman *ws;
    /* Set from a signal handler; read by the HTTP transport (to abandon a
     * request) and by wsman.c (to refuse the next one), cleared once an
     * EINTR has been returned for it. */
    volatile sig_atomic_t interrupt;
    /* What an interrupt does while a request waits (one shot): e.g. send the
     * running command's ctrl_c on the side connection. */
    wr_interrupt_action interrupt_action;
    void *interrupt_ctx;
    /* A second connection for requests that go while another waits. */
    wr_http *side_http;
    wr_wsman *side_ws;
    long operation_timeout_ms;
    unsigned long max_envelope_size;
    char *locale;
    /* Out-of-process targets (process://, ssh://, vmbus://...): no HTTP or
     * WS-Man; what the stream transports need is kept here instead. */
    int out_of_process;
    char *user;
    char *password; /* vmbus:// only; wiped on free */
    char **ssh_options;
    size_t ssh_option_count;
    long connect_timeout_ms;
    wr_psrp_binding *oop_binding; /* the one a runspace holds, for interrupts */
};

WINRSH_EXTERN(int) winrsh_session_options_init(winrsh_session_options *opts, unsigned int version)
{
    if (!opts)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "session options: NULL");
    if (version != WINRSH_SESSION_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "session options version %u is not supported (this library: %d)",
                            version, WINRSH_SESSION_OPTIONS_VERSION);
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return 0;
}

static int url_error(const char *url, const char *why)
{
    /* Never echo a URL that may hold credentials. */
    if (strchr(url, '@'))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "invalid URL: %s", why);
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "invalid URL '%.200s': %s", url,
                        why);
}

/*
 * Accept http(s)://HOST[:PORT][/PATH] with HOST a name, an IPv4 address or
 * a bracketed IPv6 address. An empty path becomes "/wsman" (the WinRM
 * listener's prefix), so "http://host:5985" works. The result is the URL we
 * post to and put in a:To.
 */
static int normalise_url(const char *url, char **out)
{
    *out = NULL;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return url_error(url, "it contains spaces or control characters");
    const char *scheme;
    const char *rest;
    if (wr_strncasecmp(url, "http://", 7) == 0) {
        scheme = "http://";
        rest = url + 7;
    } else if (wr_strncasecmp(url, "https://", 8) == 0) {
        scheme = "https://";
        rest = url + 8;
    } else {
        return url_error(url, "the scheme must be http:// or https://");
    }
    size_t alen = strcspn(rest, "/?#");
    const char *path = rest + alen;
    if (memchr(rest, '@', alen))
        return url_error(url, "credentials do not belong in the URL");
    const char *host_end;
    if (rest[0] == '[') {
        host_end = memchr(rest, ']', alen);
        if (!host_end || host_end == rest + 1)
            return url_error(url, "bad IPv6 address");
        host_end++;
    } else {
        host_end = memchr(rest, ':', alen);
        if (!host_end)
            host_end = rest + alen;
        if (host_end == rest)
            return url_error(url, "no host");
        for (const char *h = rest; h < host_end; h++)
            if (!(h[0] == '-' || h[0] == '.' || h[0] == '_' || (h[0] >= '0' && h[0] <= '9') ||
                  (h[0] >= 'a' && h[0] <= 'z') || (h[0] >= 'A' && h[0] <= 'Z')))
                return url_error(url, "bad character in the host name");
    }
    if (host_end < rest + alen) {
        if (*host_end != ':' || host_end + 1 == rest + alen)
            return url_error(url, "bad port");
        unsigned long port = 0;
        for (const char *p = host_end + 1; p < rest + alen; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
                return url_error(url, "bad port");
        }
        if (port == 0)
            return url_error(url, "bad port");
    }
    if (strpbrk(path, "?#"))
        return url_error(url, "a query or fragment is not allowed");
    wr_buf b = WR_BUF_INIT;
    int rc = wr_buf_printf(&b, "%s%.*s%s", scheme, (int)alen, rest, *path ? path : "/wsman");
    if (rc) {
        wr_buf_free(&b);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    *out = (char *)wr_buf_detach(&b, NULL);
    return 0;
}

static int check_options(const winrsh_session_options *o)
{
    if (o->version < 1 || o->version > WINRSH_SESSION_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "session options version %u is not supported (this library: %d)",
                            o->version, WINRSH_SESSION_OPTIONS_VERSION);
    if (o->connect_timeout_ms < 0 || o->operation_timeout_ms < 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "timeouts must not be negative");
    if (o->max_envelope_size && o->max_envelope_size < MIN_ENVELOPE_SIZE)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "max envelope size %lu is below the minimum of %lu bytes",
                            o->max_envelope_size, MIN_ENVELOPE_SIZE);
    return 0;
}

/* wr_http_post through the wsman layer's transport pointer. */
static int post_http(void *ctx, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                     long *status)
{
    return wr_http_post(ctx, body, len, timeout_ms, resp, status);
}
static const wr_post_fn post_http_fn = post_http;

/* Called by the HTTP wait loop when the user interrupts a waiting request:
 * run the registered action on the side connection, so that the waiting
 * request (a Receive) goes on and loses none of the output the server is
 * about to send. Returns 1 when handled; 0 lets the request be abandoned. */
static int session_on_interrupt(void *ctx)
{
    winrsh_session *s = ctx;
    wr_interrupt_action action = s->interrupt_action;
    if (!action || !s->http)
        return 0;
    s->interrupt_action = NULL; /* a second interrupt abandons the wait */
    if (!s->side_ws) {
        if (wr_http_clone(s->http, &s->side_http))
            return 0;
        wr_wsman_options wo = {
            .url = s->url,
            .post = post_http_fn,
            .post_ctx = s->side_http,
            .operation_timeout_ms = s->operation_timeout_ms,
            .max_envelope_size = s->max_envelope_size,
            .locale = s->locale,
            .tracer = &s->tracer,
        };
        if (wr_wsman_open(&s->side_ws, &wo)) {
            wr_http_free(s->side_http);
            s->side_http = NULL;
            return 0;
        }
    }
    wr_tracef(&s->tracer, "interrupt: acting on a second connection");
    return action(s->interrupt_ctx, s->side_ws) == 0;
}

void wr_session_set_interrupt_action(winrsh_session *s, wr_interrupt_action fn, void *ctx)
{
    s->interrupt_action = fn;
    s->interrupt_ctx = fn ? ctx : NULL;
}


/* An out-of-process target: keep what its stream transport will need. */
static int open_out_of_process(winrsh_session *s, const char *url,
                               const winrsh_session_options *opts)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return url_error(url, "it contains control characters");
    int rc = 0;
    s->out_of_process = 1;
    s->url = wr_strdup(url, &rc);
    s->user = wr_strdup(opts->user, &rc);
    s->password = wr_strdup(opts->password, &rc);
    s->tracer.cb = opts->trace;
    s->tracer.payload = opts->trace_payload;
    s->tracer.level = opts->trace ? opts->trace_level : 0;
    s->operation_timeout_ms = opts->operation_timeout_ms;
    s->connect_timeout_ms = opts->connect_timeout_ms;
    if (!rc && opts->ssh_option_count) {
        s->ssh_options = calloc(opts->ssh_option_count, sizeof(char *));
        if (!s->ssh_options)
            rc = WINRSH_ENOMEM;
        for (size_t i = 0; !rc && i < opts->ssh_option_count; i++) {
            s->ssh_options[i] = wr_strdup(opts->ssh_options[i], &rc);
            s->ssh_option_count = i + 1;
        }
    }
    if (rc || !s->url)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    return 0;
}

static int session_open(winrsh_session **out, const char *url, const winrsh_session_options *opts,
                        wr_post_fn post, void *post_ctx)
{
    if (!out)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "session: NULL out pointer");
    *out = NULL;
    if (!url)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "session: no URL");
    winrsh_session_options defaults;
    if (!opts) {
        winrsh_session_options_init(&defaults, WINRSH_SESSION_OPTIONS_VERSION);
        opts = &defaults;
    }
    int rc = check_options(opts);
    if (rc)
        return rc;
    winrsh_session *s = calloc(1, sizeof(*s));
    if (!s)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    if (wr_oop_target_is(url)) {
        rc = open_out_of_process(s, url, opts);
        if (rc) {
            winrsh_session_free(s);
            return rc;
        }
        *out = s;
        return 0;
    }
    rc = normalise_url(url, &s->url);
    if (rc) {
        free(s);
        return rc;
    }
    s->tracer.cb = opts->trace;
    s->tracer.payload = opts->trace_payload;
    s->tracer.level = opts->trace ? opts->trace_level : 0;

    wr_http_options ho = {
        .url = s->url,
        .user = opts->user,
        .password = opts->password,
        .auth = opts->auth,
        .allow_unencrypted = opts->allow_unencrypted,
        .connect_timeout_ms =
            opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS,
        .cacert = opts->cacert,
        .insecure = opts->insecure,
        .client_cert = opts->client_cert,
        .client_key = opts->client_key,
        .spn = opts->spn,
        .config_dir = opts->config_dir,
        .trusted_hosts = opts->trusted_hosts,
        .tracer = &s->tracer,
        .interrupt = &s->interrupt,
        .on_interrupt = session_on_interrupt,
        .on_interrupt_ctx = s,
    };
    s->operation_timeout_ms = opts->operation_timeout_ms;
    s->max_envelope_size = opts->max_envelope_size;
    if (opts->locale && !(s->locale = strdup(opts->locale))) {
        free(s->url);
        free(s);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    if (!post) {
        rc = wr_http_open(&s->http, &ho);
        post = post_http;
        post_ctx = s->http;
    }
    if (!rc) {
        wr_wsman_options wo = {
            .url = s->url,
            .post = post,
            .post_ctx = post_ctx,
            .operation_timeout_ms = opts->operation_timeout_ms,
            .max_envelope_size = opts->max_envelope_size,
            .locale = opts->locale,
            .tracer = &s->tracer,
            .interrupt = &s->interrupt,
        };
        rc = wr_wsman_open(&s->ws, &wo);
    }
    if (rc) {
        winrsh_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_session_open(winrsh_session **out, const char *url, const winrsh_session_options *opts)
{
    return session_open(out, url, opts, NULL, NULL);
}

int wr_session_open_with(winrsh_session **out, const char *url, const winrsh_session_options *opts,
                         wr_post_fn post, void *post_ctx)
{
    return session_open(out, url, opts, post, post_ctx);
}

WINRSH_EXTERN(void) winrsh_session_interrupt(winrsh_session *session)
{
    /* Async-signal-safe: one store to a volatile sig_atomic_t, and for an
     * out-of-process transport one write() to its self-pipe. */
    if (!session)
        return;
    session->interrupt = 1;
    wr_psrp_binding *b = session->oop_binding;
    if (b && b->ops->interrupt)
        b->ops->interrupt(b);
}

WINRSH_EXTERN(const char *) winrsh_session_url(const winrsh_session *session)
{
    return session ? session->url : NULL;
}

WINRSH_EXTERN(unsigned long) winrsh_session_request_count(const winrsh_session *session)
{
    return session && session->http ? wr_http_request_count(session->http) : 0;
}

static void copy_out(char *dst, size_t size, const char *src)
{
    if (dst && size)
        snprintf(dst, size, "%s", src ? src : "");
}

WINRSH_EXTERN(int)
winrsh_session_identify(winrsh_session *session, char *vendor, size_t vendor_size, char *version,
                        size_t version_size)
{
    if (!session)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "identify: NULL session");
    if (!session->ws)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "identify needs a WS-Management target, not %s", session->url);
    wr_identity id;
    int rc = wr_wsman_identify(session->ws, &id);
    if (rc)
        return rc;
    copy_out(vendor, vendor_size, id.product_vendor);
    copy_out(version, version_size, id.product_version);
    wr_identity_free(&id);
    return 0;
}

WINRSH_EXTERN(void) winrsh_session_free(winrsh_session *session)
{
    if (!session)
        return;
    wr_wsman_free(session->ws);
    wr_wsman_free(session->side_ws);
    /* The transports hold the only copies of the password and wipe them. */
    wr_http_free(session->http);
    wr_http_free(session->side_http);
    free(session->locale);
    free(session->user);
    wr_free_secret(session->password);
    for (size_t i = 0; i < session->ssh_option_count; i++)
        free(session->ssh_options[i]);
    free(session->ssh_options);
    free(session->url);
    free(session);
}

wr_wsman *wr_session_wsman(winrsh_session *s)
{
    return s->ws;
}

void wr_session_clear_interrupt(winrsh_session *s)
{
    s->interrupt = 0;
}

const wr_tracer *wr_session_tracer(winrsh_session *s)
{
    return &s->tracer;
}

int wr_session_psrp_binding(winrsh_session *s, const char *config, wr_psrp_binding **out)
{
    *out = NULL;
    /* Switch point: one case per kind of transport the session carries.
     * Today every session is WS-Man over HTTP(S) (or a test's fake post);
     * the out-of-process transports (process://, ssh://, vmbus://...) add
     * their case here and return their binding (psrp/binding_outofproc.c). */
    if (s->out_of_process) {
        /* "Microsoft.PowerShell" is the WS-Man default; out of process it
         * would be sent as an explicit configuration name (PowerShell
         * Direct's NONEMPTYCF), so only a name the user chose goes. */
        wr_oop_target_options o = {0};
        o.user = s->user;
        o.password = s->password;
        o.config_name = config && strcmp(config, "Microsoft.PowerShell") != 0 ? config : NULL;
        o.ssh_options = (const char *const *)s->ssh_options;
        o.ssh_option_count = s->ssh_option_count;
        o.connect_timeout_ms = s->connect_timeout_ms;
        o.operation_timeout_ms = s->operation_timeout_ms;
        o.tracer = &s->tracer;
        int rc = wr_psrp_binding_for_target(out, s->url, &o);
        if (!rc)
            s->oop_binding = *out;
        return rc;
    }
    return wr_psrp_binding_wsman_new(out, s, s->ws, config);
}

void wr_session_forget_binding(winrsh_session *s, const wr_psrp_binding *b)
{
    if (s && s->oop_binding == b)
        s->oop_binding = NULL;
}
