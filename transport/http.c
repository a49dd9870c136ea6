/*
 * http.c: WS-Management's HTTP(S) transport over libcurl.
 *
 * One curl easy handle per session, so libcurl keeps one keep-alive
 * connection and reuses it. This file is the only place that knows about
 * HTTP headers and base64 auth tokens (RFC 4559: `Authorization: <scheme>
 * <base64>`); mechanisms in auth/ see raw bytes, encrypt.c builds bodies.
 *
 * Two kinds of mechanism (auth/auth.h):
 *   - stateless (Basic, certificate): the header goes with every request,
 *     preemptively, which saves the 401 round trip;
 *   - connection-bound (Negotiate, NTLM, Kerberos): a handshake of 401 legs
 *     on the keep-alive connection; afterwards requests go without a header
 *     until the server asks again (a new connection answers 401, and we
 *     authenticate once more). Over plain HTTP the bodies are then sealed
 *     (MS-WSMV 2.2.9.1): the handshake carries an empty body, and the
 *     request itself follows encrypted, as pypsrp and Windows' client do.
 *
 * Safety rules, checked before any credential leaves (PROTOCOL.md 6):
 * a mechanism that cannot seal (Basic) is refused over plain HTTP unless the
 * caller allows unencrypted traffic; any mechanism but Kerberos over plain
 * HTTP needs the host in TrustedHosts; TLS verification is on unless the
 * caller turns it off.
 */
#include "http.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "common/base64.h"
#include "common/error.h"
#include "common/mem.h"
#include "encrypt.h"
#include "trustedhosts.h"
#include "winrsh/session.h"

/* A single answer larger than this is refused whatever the caller allows:
 * WS-Man bounds replies by the MaxEnvelopeSize we ask for (hundreds of KB),
 * and wsman.c states that tighter bound in the response buffer's max_len
 * (see write_cb); this cap only stops a broken or hostile server from
 * exhausting memory where no tighter bound was given. */
#define WR_HTTP_MAX_RESPONSE (64u * 1024u * 1024u)
#define WR_HTTP_MAX_HEADER_BYTES (64u * 1024u)
/* Bound on 401 legs of one handshake (NTLM needs 2, Kerberos 1-2). */
#define WR_HTTP_MAX_LEGS 8

struct wr_http {
    CURL *curl;
    char *url;
    char *user;
    char *password;
    char *host;
    char *cacert;
    char *client_cert;
    char *client_key;
    char *spn;
    char *config_dir;
    char *trusted_hosts;
    int https;
    int insecure;
    unsigned int auth;
    int allow_unencrypted;
    long connect_timeout_ms;
    const wr_tracer *tracer;
    volatile sig_atomic_t *interrupt;
    int (*on_interrupt)(void *ctx);
    void *on_interrupt_ctx;
    unsigned int auth_requested; /* as given, for clones */
    long connect_timeout_given;
    int aborted;                 /* the wait loop gave up on an interrupt: 1 (only while
                                    no byte of the answer came) or 2 (at once) */
    int interrupt_handled;       /* on_interrupt handled an interrupt once: the
                                    next one is the user's second */

    CURLM *multi;
    const wr_auth_mech *mech; /* what the user asked for */
    wr_auth_ctx *ctx;         /* its context; ctx->mech is what runs (negotiate -> ntlm) */
    const char *scheme;       /* HTTP scheme in use (bare "NTLM" if that is all offered) */
    int authenticated;        /* connection-bound handshake done on this connection */
    int encrypt;              /* bodies are sealed */
    int trust_checked;
    wr_buf cbt;               /* RFC 5929 tls-server-end-point application data */
    unsigned long requests;

    /* Per exchange. */
    wr_buf *resp;
    size_t too_large; /* the limit an answer went over, or 0 */
    wr_buf www_authenticate; /* the final response's challenges, "\n"-separated */
    wr_buf content_type;     /* the final response's Content-Type */
    char errbuf[CURL_ERROR_SIZE];
};

/* --- URL ------------------------------------------------------------------ */

/* Pull the host out of the URL with curl's own parser, so that what we check
 * (for trust and SPNs) is what curl connects to. */
static int parse_url(wr_http *h)
{
    CURLU *u = curl_url();
    if (!u)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    int rc = 0;
    char *scheme = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, h->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "invalid URL '%s'", h->url);
        goto out;
    }
    if (strcasecmp(scheme, "http") == 0) {
        h->https = 0;
    } else if (strcasecmp(scheme, "https") == 0) {
        h->https = 1;
    } else {
        rc = wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                          "unsupported URL scheme '%s' in '%s' (expected http or https)", scheme,
                          h->url);
        goto out;
    }
    /* curl keeps the brackets of an IPv6 literal; names and patterns don't. */
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        h->host = strndup(host + 1, hl - 2);
    else
        h->host = strdup(host);
    if (!h->host)
        rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* --- tracing ---------------------------------------------------------------- */

/* Trace header blocks with any Authorization value replaced: the trace is
 * meant to be pasted into bug reports. */
static void trace_headers(wr_http *h, winrsh_trace_kind kind, const char *data, size_t len)
{
    wr_buf out = WR_BUF_INIT;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && data[j] != '\n')
            j++;
        size_t line_len = j - i + (j < len ? 1 : 0);
        static const char AUTH[] = "Authorization:";
        if (line_len >= sizeof(AUTH) - 1 &&
            wr_strncasecmp(data + i, AUTH, sizeof(AUTH) - 1) == 0) {
            /* Keep the scheme name, drop the credentials. */
            const char *p = data + i + sizeof(AUTH) - 1;
            const char *end = data + i + line_len;
            while (p < end && *p == ' ')
                p++;
            const char *q = p;
            while (q < end && *q != ' ' && *q != '\r' && *q != '\n')
                q++;
            wr_buf_printf(&out, "Authorization: %.*s <redacted>\r\n", (int)(q - p), p);
        } else {
            wr_buf_append(&out, data + i, line_len);
        }
        i += line_len;
    }
    wr_trace(h->tracer, kind, (const char *)out.data, out.len);
    wr_buf_free(&out);
}

static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *userp)
{
    (void)c;
    wr_http *h = userp;
    switch (type) {
    case CURLINFO_HEADER_OUT:
        trace_headers(h, WINRSH_TRACE_HEADER_OUT, data, size);
        break;
    case CURLINFO_HEADER_IN:
        trace_headers(h, WINRSH_TRACE_HEADER_IN, data, size);
        break;
    case CURLINFO_TEXT:
        wr_trace(h->tracer, WINRSH_TRACE_INFO, data, size);
        break;
    default:
        /* Bodies are traced by post_once() as plaintext SOAP: sealed bytes
         * would tell a reader nothing. */
        break;
    }
    return 0;
}

/* --- curl callbacks ------------------------------------------------------- */

/* The most bytes the answer may have: the response buffer's max_len (set by
 * wsman.c from MaxEnvelopeSize) if tighter than WR_HTTP_MAX_RESPONSE. */
static size_t response_limit(const wr_http *h)
{
    size_t cap = WR_HTTP_MAX_RESPONSE;
    if (h->resp && h->resp->max_len && h->resp->max_len < cap)
        cap = h->resp->max_len;
    return cap;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    wr_http *h = userp;
    size_t n = size * nmemb;
    size_t cap = response_limit(h);
    if (n > cap || h->resp->len > cap - n) {
        h->too_large = cap;
        return 0;
    }
    if (wr_buf_append(h->resp, ptr, n))
        return 0;
    return n;
}

static void header_value(const char *ptr, size_t n, size_t name_len, wr_buf *into)
{
    const char *v = ptr + name_len;
    size_t vl = n - name_len;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    wr_buf_append(into, v, vl);
}

/* Keep WWW-Authenticate and Content-Type of the last response only: curl
 * calls this for every header of every response it reads. */
static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    wr_http *h = userp;
    size_t n = size * nmemb;
    static const char WWW[] = "WWW-Authenticate:";
    static const char CT[] = "Content-Type:";
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        wr_buf_clear(&h->www_authenticate);
        wr_buf_clear(&h->content_type);
    } else if (n > sizeof(WWW) - 1 && wr_strncasecmp(ptr, WWW, sizeof(WWW) - 1) == 0 &&
               h->www_authenticate.len + n < WR_HTTP_MAX_HEADER_BYTES) {
        header_value(ptr, n, sizeof(WWW) - 1, &h->www_authenticate);
        wr_buf_putc(&h->www_authenticate, '\n');
    } else if (n > sizeof(CT) - 1 && wr_strncasecmp(ptr, CT, sizeof(CT) - 1) == 0 &&
               n < WR_HTTP_MAX_HEADER_BYTES) {
        wr_buf_clear(&h->content_type);
        header_value(ptr, n, sizeof(CT) - 1, &h->content_type);
    }
    return n;
}

/* Abandon a request the wait loop gave up on. After a first interrupt
 * (aborted == 1) only while nothing of the answer has arrived: cutting a
 * response in half could lose output the server has already handed over.
 * After the user's second interrupt (aborted == 2) at once, even in the
 * middle of a body: the user asked twice to leave, and a server that sends
 * its answer slowly (or a byte at a time) must not hold them until the
 * HTTP timeout. */
static int xferinfo_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    wr_http *h = userp;
    return h->aborted == 2 || (h->aborted && dlnow == 0);
}

/* --- open / free ------------------------------------------------------------ */

int wr_http_open(wr_http **out, const wr_http_options *opts)
{
    *out = NULL;
    wr_http *h = calloc(1, sizeof(*h));
    if (!h)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    int rc = 0;
    h->url = wr_strdup(opts->url, &rc);
    h->user = wr_strdup(opts->user, &rc);
    h->password = wr_strdup(opts->password, &rc);
    h->cacert = wr_strdup(opts->cacert, &rc);
    h->client_cert = wr_strdup(opts->client_cert, &rc);
    h->client_key = wr_strdup(opts->client_key, &rc);
    h->spn = wr_strdup(opts->spn, &rc);
    h->config_dir = wr_strdup(opts->config_dir, &rc);
    h->trusted_hosts = wr_strdup(opts->trusted_hosts, &rc);
    if (rc || !h->url) {
        wr_http_free(h);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    h->auth = opts->auth;
    h->insecure = opts->insecure;
    h->allow_unencrypted = opts->allow_unencrypted;
    h->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 30000;
    h->tracer = opts->tracer;
    h->interrupt = opts->interrupt;
    h->on_interrupt = opts->on_interrupt;
    h->on_interrupt_ctx = opts->on_interrupt_ctx;
    h->auth_requested = opts->auth;
    h->connect_timeout_given = opts->connect_timeout_ms;
    if ((rc = parse_url(h)) != 0) {
        wr_http_free(h);
        return rc;
    }
    h->curl = curl_easy_init();
    h->multi = curl_multi_init();
    if (!h->curl || !h->multi) {
        wr_http_free(h);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "curl_easy_init failed");
    }
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "winrsh/" WINRSH_VERSION);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    /* WinRM does not speak HTTP/2, and Windows answers 100-continue badly. */
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
    if (h->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
    if (h->client_cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (h->client_key) {
        curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    /* The server certificate feeds the channel binding (RFC 5929). */
    if (h->https)
        curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    if (h->tracer && h->tracer->level >= 2) {
        curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
        curl_easy_setopt(c, CURLOPT_DEBUGDATA, h);
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    }
    *out = h;
    return 0;
}

void wr_http_free(wr_http *h)
{
    if (!h)
        return;
    if (h->ctx)
        h->ctx->free(h->ctx);
    if (h->curl)
        curl_easy_cleanup(h->curl);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h->url);
    free(h->user);
    wr_free_secret(h->password);
    free(h->host);
    free(h->cacert);
    free(h->client_cert);
    free(h->client_key);
    free(h->spn);
    free(h->config_dir);
    free(h->trusted_hosts);
    wr_buf_free(&h->cbt);
    wr_buf_free(&h->www_authenticate);
    wr_buf_free(&h->content_type);
    free(h);
}

int wr_http_clone(const wr_http *h, wr_http **out)
{
    wr_http_options o = {0};
    o.url = h->url;
    o.user = h->user;
    o.password = h->password;
    o.auth = h->auth_requested;
    o.allow_unencrypted = h->allow_unencrypted;
    o.connect_timeout_ms = h->connect_timeout_given;
    o.cacert = h->cacert;
    o.insecure = h->insecure;
    o.client_cert = h->client_cert;
    o.client_key = h->client_key;
    o.spn = h->spn;
    o.config_dir = h->config_dir;
    o.trusted_hosts = h->trusted_hosts;
    o.tracer = h->tracer;
    return wr_http_open(out, &o);
}

unsigned long wr_http_request_count(const wr_http *h)
{
    return h ? h->requests : 0;
}

/* --- one HTTP exchange -------------------------------------------------------- */

static int map_curl_error(wr_http *h, CURLcode cc, long timeout_ms)
{
    const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot resolve host '%s': %s",
                            h->host, detail);
    case CURLE_COULDNT_CONNECT:
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot connect to %s: %s",
                            h->url, detail);
    case CURLE_OPERATION_TIMEDOUT: {
        /* Which of the two timeouts fired. While the connection (TCP, TLS)
         * is being set up curl applies the smaller of the connect timeout
         * and the request timeout; once the request went out, only the
         * request timeout. curl sets PRETRANSFER when the connection is
         * ready (also for a reused one), so 0 means "still connecting". */
        curl_off_t pre = 0;
        if (curl_easy_getinfo(h->curl, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK)
            pre = 1;
        if (pre == 0 && (timeout_ms <= 0 || h->connect_timeout_ms <= timeout_ms))
            return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_HTTP,
                                "no connection to %s within the connect timeout (%ld ms): %s",
                                h->url, h->connect_timeout_ms, detail);
        return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_HTTP,
                            "no answer from %s within the request timeout (%ld ms): %s",
                            h->url, timeout_ms, detail);
    }
    case CURLE_ABORTED_BY_CALLBACK:
        return wr_error_set(WINRSH_EINTR, WINRSH_ERRCLASS_HTTP, "interrupted");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return wr_error_set(WINRSH_ECERT, WINRSH_ERRCLASS_TLS,
                            "TLS certificate of %s not trusted: %s (give the CA with --cacert, "
                            "or skip the check with --insecure)",
                            h->host, detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
        return wr_error_set(WINRSH_ECERT, WINRSH_ERRCLASS_TLS, "TLS handshake with %s failed: %s",
                            h->host, detail);
    case CURLE_WRITE_ERROR:
        if (h->too_large) {
            /* Name the size when the server stated it, and the limit (the
             * caller's max_len is wsman.c's WR_WSMAN_REPLY_LIMIT). */
            curl_off_t cl = -1;
            if (curl_easy_getinfo(h->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
                cl = -1;
            const char *why =
                h->too_large < WR_HTTP_MAX_RESPONSE ? " (MaxEnvelopeSize + 25%)" : "";
            if (cl > 0 && (unsigned long long)cl > h->too_large)
                return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_HTTP,
                                    "answer from %s is %lld bytes, over the limit of %zu "
                                    "bytes%s",
                                    h->url, (long long)cl, h->too_large, why);
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_HTTP,
                                "answer from %s is larger than the limit of %zu bytes%s (cut "
                                "off there)",
                                h->url, h->too_large, why);
        }
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_HTTP, "connection to %s lost: %s",
                            h->url, detail);
    default:
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_HTTP, "HTTP request to %s failed: %s",
                            h->url, detail);
    }
}

/* Run the transfer through the multi handle so that the wait can look at
 * the interrupt flag between socket events and run the interrupt hook
 * outside curl's callbacks. */
static CURLcode perform(wr_http *h)
{
    h->aborted = 0;
    if (curl_multi_add_handle(h->multi, h->curl) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    CURLcode result = CURLE_OK;
    int running = 1;
    /* Bounded by CURLOPT_TIMEOUT_MS: curl ends the transfer itself. */
    while (running) {
        if (curl_multi_perform(h->multi, &running) != CURLM_OK) {
            result = CURLE_RECV_ERROR;
            break;
        }
        if (!running)
            break;
        if (h->interrupt && *h->interrupt && h->aborted < 2) {
            if (!h->aborted && h->on_interrupt && h->on_interrupt(h->on_interrupt_ctx) == 1) {
                /* First interrupt: handled on a second connection (ctrl_c,
                 * stop); this request goes on collecting the answer. */
                *h->interrupt = 0;
                h->interrupt_handled = 1;
            } else if (h->interrupt_handled || h->aborted) {
                /* The user's second interrupt: an earlier one was handled
                 * (on this request or an earlier one of this connection),
                 * or this request was already being abandoned. Leave now,
                 * mid-body if need be. */
                h->aborted = 2;
            } else {
                /* Abandoned once nothing of the answer came. The flag is
                 * lowered so that a further interrupt shows, and raised
                 * again below for the layers above. */
                h->aborted = 1;
                *h->interrupt = 0;
            }
        }
        if (curl_multi_poll(h->multi, NULL, 0, 100, NULL) != CURLM_OK) {
            result = CURLE_RECV_ERROR;
            break;
        }
    }
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE && m->easy_handle == h->curl && result == CURLE_OK)
            result = m->data.result;
    curl_multi_remove_handle(h->multi, h->curl);
    /* An interrupt that abandoned (or would have abandoned) this request
     * stays pending for the caller (wsman.c takes it). */
    if (h->aborted && h->interrupt)
        *h->interrupt = 1;
    return result;
}

/* Free a header list, wiping every line first: curl_slist_append keeps its
 * own copy of the Authorization line (base64 of Basic's "user:password", or
 * of a token), and curl_slist_free_all would free it as is.
 *
 * What libcurl itself keeps and we cannot wipe: while it sends the request
 * it assembles the header block (Authorization line included) in an internal
 * buffer that it frees unwiped after the send, and over HTTPS OpenSSL's
 * record buffers held the same bytes; the kernel's socket buffers too. Those
 * copies live only for the duration of one request, in curl/OpenSSL memory
 * we neither allocate nor free. */
static void free_headers(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        if (p->data)
            wr_wipe(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

/* Send one POST. `authz` is the whole Authorization line or NULL;
 * `content_type` the body's type. Sets *status; the body lands in `resp`. */
static int post_once(wr_http *h, const char *authz, const char *content_type, const void *body,
                     size_t len, long timeout_ms, wr_buf *resp, long *status)
{
    char ct[512];
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    /* "Expect:" stops curl's 100-continue dance, which WinRM does not do. */
    const char *lines[] = {ct, "Expect:", authz};
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i])
            continue;
        struct curl_slist *n = curl_slist_append(headers, lines[i]);
        if (!n) {
            free_headers(headers);
            return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        }
        headers = n;
    }
    wr_buf_clear(resp);
    h->resp = resp;
    h->too_large = 0;
    h->errbuf[0] = 0;
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, len ? body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    h->requests++;
    CURLcode cc = perform(h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    free_headers(headers); /* right after the transfer: curl holds no pointer to it now */
    h->resp = NULL;
    if (cc != CURLE_OK)
        return map_curl_error(h, cc, timeout_ms);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    *status = code;
    return 0;
}

/* --- challenges ----------------------------------------------------------------- */

/* Find `scheme` among the 401's challenges; its token (base64-decoded) goes
 * to `token` when there is one. Returns 1 if the scheme was offered. */
static int find_challenge(const wr_http *h, const char *scheme, wr_buf *token, int *bad)
{
    size_t sl = strlen(scheme);
    *bad = 0;
    for (const char *p = wr_buf_cstr(&h->www_authenticate); *p;) {
        size_t line = strcspn(p, "\n");
        size_t word = strcspn(p, " \n");
        if (word == sl && wr_strncasecmp(p, scheme, sl) == 0) {
            const char *v = p + word;
            size_t vl = line - word;
            while (vl && *v == ' ')
                v++, vl--;
            /* A token is bare base64; parameters (Basic's realm="...")
             * are not tokens. */
            if (token && vl && !memchr(v, '"', vl) && wr_strncasecmp(v, "realm", 5) != 0) {
                if (wr_base64_decode(token, v, vl))
                    *bad = 1;
            }
            return 1;
        }
        p += line;
        if (*p)
            p++;
    }
    return 0;
}

/* List the schemes a 401 offered, for error messages. */
static void offered_schemes(const wr_http *h, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (const char *p = wr_buf_cstr(&h->www_authenticate); *p;) {
        size_t line = strcspn(p, "\n");
        size_t word = strcspn(p, " \n");
        if (word) {
            int n = snprintf(out + used, size - used, "%s%.*s", used ? ", " : "", (int)word, p);
            if (n < 0 || (size_t)n >= size - used)
                break;
            used += (size_t)n;
        }
        p += line;
        if (*p)
            p++;
    }
    if (!used)
        snprintf(out, size, "nothing");
}

static int auth_refused(wr_http *h)
{
    char offered[256];
    offered_schemes(h, offered, sizeof(offered));
    int bad;
    int rc;
    if (find_challenge(h, h->scheme, NULL, &bad) || !h->www_authenticate.len)
        rc = wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                          "access denied by %s: the server refused the credentials of user '%s' "
                          "(%s authentication, HTTP 401)",
                          h->host, h->user ? h->user : "", h->ctx ? h->ctx->mech->name : h->mech->name);
    else
        rc = wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                          "%s does not accept %s authentication: it offers %s (choose another with -a)",
                          h->host, h->mech->name, offered);
    wr_error_set_http_status(401);
    return rc;
}

/* --- policy and mechanism ------------------------------------------------------- */

static unsigned int allowed_mechs(const wr_http *h)
{
    return h->auth ? h->auth : WINRSH_AUTH_NEGOTIATE;
}

/* Refuse, before any credential leaves, what would expose it. */
static int check_policy(const wr_http *h, const wr_auth_mech *m)
{
    if ((m->flags & WR_AUTH_NEEDS_TLS) && !h->https)
        return wr_error_set(WINRSH_ETRUST, WINRSH_ERRCLASS_AUTH,
                            "%s authentication needs HTTPS (use --https)", m->name);
    if (!h->https && !(m->flags & WR_AUTH_CAN_SEAL) && !h->allow_unencrypted)
        return wr_error_set(WINRSH_ETRUST, WINRSH_ERRCLASS_AUTH,
                            "refusing %s authentication over plain HTTP to %s: the password and "
                            "every message would travel unencrypted; use HTTPS (--https) or allow "
                            "it with --allow-unencrypted",
                            m->name, h->host);
    return 0;
}

/* TrustedHosts (PROTOCOL.md 6): over plain HTTP only Kerberos, which
 * authenticates the server, may go to a host the user did not list. */
static int check_trusted(wr_http *h)
{
    if (h->https || h->trust_checked)
        return 0;
    const wr_auth_mech *running = h->ctx->mech;
    if (running == &wr_auth_kerberos || running == &wr_auth_negotiate)
        return 0;
    int trusted = 0, rc;
    if (h->trusted_hosts) {
        wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
        rc = wr_trustedhosts_add(&th, h->trusted_hosts, NULL);
        if (!rc)
            trusted = wr_trustedhosts_match(&th, h->host);
        wr_trustedhosts_free(&th);
    } else {
        rc = wr_trustedhosts_is_trusted(h->config_dir, h->host, &trusted);
    }
    if (rc)
        return rc;
    if (!trusted)
        return wr_trustedhosts_refuse(h->host);
    h->trust_checked = 1;
    return 0;
}

/* RFC 5929 tls-server-end-point: "tls-server-end-point:" followed by the
 * hash of the server certificate, with the certificate's own signature hash
 * (SHA-256 when that is MD5 or SHA-1). Needs a completed TLS handshake. */
static int compute_cbt(wr_http *h)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(h->curl, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
        ci->num_of_certs < 1)
        return 0; /* no TLS yet: no bindings */
    const char *pem = NULL;
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
        if (strncmp(s->data, "Cert:", 5) == 0)
            pem = s->data + 5;
    if (!pem)
        return 0;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!cert)
        return wr_error_set(WINRSH_ECERT, WINRSH_ERRCLASS_TLS,
                            "cannot read the server certificate of %s", h->host);
    int md_nid = NID_sha256, pkey_nid;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pkey_nid) ||
        md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
        md_nid = NID_sha256;
    const EVP_MD *md = EVP_get_digestbynid(md_nid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok = md && X509_digest(cert, md, digest, &dlen);
    X509_free(cert);
    if (!ok)
        return wr_error_set(WINRSH_ECERT, WINRSH_ERRCLASS_TLS,
                            "cannot hash the server certificate of %s", h->host);
    wr_buf_clear(&h->cbt);
    if (wr_buf_puts(&h->cbt, "tls-server-end-point:") || wr_buf_append(&h->cbt, digest, dlen))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    return 0;
}

static const wr_auth_mech *pick_mech(const wr_http *h)
{
    unsigned int allowed = allowed_mechs(h);
    for (const wr_auth_mech *const *m = wr_auth_mechs(); *m; m++)
        if ((*m)->id & allowed)
            return *m;
    return NULL;
}

/* Create the context for the chosen mechanism, with the policy checks. */
static int start_mech(wr_http *h)
{
    if (!h->mech) {
        h->mech = pick_mech(h);
        if (!h->mech)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_AUTH,
                                "no authentication mechanism allowed");
        if (!h->scheme)
            h->scheme = h->mech->scheme;
    }
    int rc = check_policy(h, h->mech);
    if (rc)
        return rc;
    wr_auth_params p = {0};
    p.user = h->user;
    p.password = h->password;
    p.host = h->host;
    p.spn = h->spn;
    p.tracer = h->tracer;
    if (h->cbt.len) {
        p.channel_bindings = h->cbt.data;
        p.channel_bindings_len = h->cbt.len;
    }
    if ((rc = h->mech->create(&h->ctx, &p)) != 0)
        return rc;
    if ((rc = check_trusted(h)) != 0) {
        h->ctx->free(h->ctx);
        h->ctx = NULL;
        return rc;
    }
    h->encrypt = !h->https && h->ctx->wrap && h->ctx->encryption_protocol;
    wr_tracef(h->tracer, "authenticating with %s (%s scheme)%s", h->ctx->mech->name, h->scheme,
              h->encrypt ? ", message encryption on" : "");
    return 0;
}

static void drop_ctx(wr_http *h)
{
    if (h->ctx)
        h->ctx->free(h->ctx);
    h->ctx = NULL;
    h->authenticated = 0;
}

/* Build "Authorization: <scheme> <base64(token)>"; the scheme alone for an
 * empty token (certificate authentication names only its profile). */
static int auth_line(const wr_http *h, const wr_buf *token, wr_buf *line)
{
    wr_buf_clear(line);
    int rc = wr_buf_printf(line, "Authorization: %s", h->scheme);
    if (!rc && token->len) {
        rc = wr_buf_putc(line, ' ');
        if (!rc)
            rc = wr_base64_encode(line, token->data, token->len);
    }
    return rc ? wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory") : 0;
}

/* --- the handshake for connection-bound mechanisms ------------------------------ */

/* Run the 401 legs. When bodies are not sealed the real body travels with
 * each leg and *answered says the final response answers it. */
static int handshake(wr_http *h, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                     long *status, int *answered)
{
    /* Tokens and the Authorization line: secrets (wiped on growth and free). */
    wr_buf in = WR_BUF_SECRET_INIT, out = WR_BUF_SECRET_INIT, line = WR_BUF_SECRET_INIT;
    int rc = 0, have_in = 0;
    *answered = 0;
    const char *send_body = h->encrypt ? "" : body;
    size_t send_len = h->encrypt ? 0 : len;
    for (int leg = 0; leg < WR_HTTP_MAX_LEGS; leg++) {
        wr_buf_clear(&out);
        int step = h->ctx->step(h->ctx, have_in ? in.data : NULL, have_in ? in.len : 0, &out);
        if (step < 0) {
            rc = step;
            goto done;
        }
        if ((rc = auth_line(h, &out, &line)) != 0)
            goto done;
        rc = post_once(h, wr_buf_cstr(&line), "application/soap+xml;charset=UTF-8", send_body,
                       send_len, timeout_ms, resp, status);
        if (rc)
            goto done;
        wr_buf_clear(&in);
        int bad = 0;
        int offered = find_challenge(h, h->scheme, &in, &bad);
        if (bad) {
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_AUTH,
                              "%s sent a %s token that is not valid base64", h->host, h->scheme);
            goto done;
        }
        have_in = in.len > 0;
        if (*status == 401) {
            /* Windows offers only Negotiate; a server that offers only the
             * bare NTLM scheme gets NTLM under that name (once). */
            if (!offered && h->ctx->mech == &wr_auth_ntlm && leg == 0 &&
                strcmp(h->scheme, "NTLM") != 0 && find_challenge(h, "NTLM", NULL, &bad)) {
                h->scheme = "NTLM";
                rc = 1; /* restart with a fresh context */
                goto done;
            }
            if (!offered || !have_in || step == WR_AUTH_STEP_DONE) {
                rc = auth_refused(h);
                goto done;
            }
            continue;
        }
        /* Any other answer ends the handshake; a last token proves the
         * server (Kerberos mutual authentication). */
        if (step == WR_AUTH_STEP_CONTINUE) {
            if (!have_in) {
                rc = wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                                  "%s ended the %s handshake without proving its identity "
                                  "(HTTP %ld)",
                                  h->host, h->ctx->mech->name, *status);
                goto done;
            }
            wr_buf_clear(&out);
            step = h->ctx->step(h->ctx, in.data, in.len, &out);
            if (step < 0) {
                rc = step;
                goto done;
            }
            if (step != WR_AUTH_STEP_DONE) {
                rc = wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                                  "%s handshake with %s did not complete", h->ctx->mech->name,
                                  h->host);
                goto done;
            }
        }
        h->authenticated = 1;
        *answered = !h->encrypt;
        rc = 0;
        goto done;
    }
    rc = wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                      "%s authentication with %s did not finish in %d round trips",
                      h->ctx->mech->name, h->host, WR_HTTP_MAX_LEGS);
done:
    wr_buf_wipe_free(&in);
    wr_buf_wipe_free(&out);
    wr_buf_wipe_free(&line);
    return rc;
}

/* --- the request ------------------------------------------------------------------ */

/* A 200 or 500 answer: decrypt if sealed. */
static int finish_answer(wr_http *h, wr_buf *resp)
{
    const char *ct = wr_buf_cstr(&h->content_type);
    int sealed = wr_strncasecmp(ct, "multipart/encrypted", 19) == 0 ||
                 wr_strncasecmp(ct, "multipart/x-multi-encrypted", 27) == 0;
    if (sealed) {
        if (!h->ctx || !h->ctx->unwrap)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_HTTP,
                                "%s sent an encrypted answer to an unencrypted session", h->host);
        wr_buf plain = WR_BUF_INIT;
        plain.max_len = resp->max_len;     /* *resp becomes plain below: */
        plain.sensitive = resp->sensitive; /* keep what the caller set */
        int rc = wr_decrypt_body(h->ctx, ct, resp->data, resp->len, &plain);
        if (rc) {
            wr_buf_wipe_free(&plain);
            /* A context that failed to unseal is out of step for good. */
            drop_ctx(h);
            return rc;
        }
        wr_buf_wipe_free(resp);
        *resp = plain;
    } else if (h->encrypt && resp->len) {
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_HTTP,
                            "%s answered an encrypted request in plain text (Content-Type '%s')",
                            h->host, ct);
    }
    wr_trace(h->tracer, WINRSH_TRACE_DATA_IN, (const char *)resp->data, resp->len);
    return 0;
}

static int unexpected_status(wr_http *h, long code, const wr_buf *resp)
{
    int rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_HTTP, "HTTP %ld from %s%s%.*s", code,
                          h->url, resp->len ? ": " : "",
                          (int)(resp->len > 200 ? 200 : resp->len), wr_buf_cstr(resp));
    wr_error_set_http_status(code);
    return rc;
}

/* Send `body` sealed or plain on an authenticated connection. */
static int send_request(wr_http *h, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                        long *status)
{
    wr_buf line = WR_BUF_SECRET_INIT, token = WR_BUF_SECRET_INIT; /* Basic: user:password */
    wr_buf sealed = WR_BUF_INIT, ct = WR_BUF_INIT;
    int rc = 0;
    const char *authz = NULL;
    if (!(h->ctx->mech->flags & WR_AUTH_CONNECTION_BOUND)) {
        int step = h->ctx->step(h->ctx, NULL, 0, &token);
        if (step < 0) {
            rc = step;
            goto out;
        }
        if ((rc = auth_line(h, &token, &line)) != 0)
            goto out;
        authz = wr_buf_cstr(&line);
    }
    if (h->encrypt) {
        rc = wr_encrypt_body(h->ctx, NULL, (const unsigned char *)body, len, &sealed, &ct);
        if (rc)
            goto out;
        rc = post_once(h, authz, wr_buf_cstr(&ct), sealed.data, sealed.len, timeout_ms, resp,
                       status);
    } else {
        rc = post_once(h, authz, "application/soap+xml;charset=UTF-8", body, len, timeout_ms, resp,
                       status);
    }
out:
    wr_buf_wipe_free(&line);
    wr_buf_wipe_free(&token);
    wr_buf_free(&sealed);
    wr_buf_free(&ct);
    return rc;
}

int wr_http_post(wr_http *h, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                 long *status)
{
    *status = 0;
    int rc;
    wr_trace(h->tracer, WINRSH_TRACE_DATA_OUT, body, len);
    /* Two rounds at most: a connection-bound context may need to be redone
     * once when the server dropped the connection it belonged to. */
    for (int round = 0; round < 3; round++) {
        if (!h->ctx) {
            /* Over HTTPS, learn the certificate first so that the very first
             * token can carry the channel binding (Kerberos puts it in the
             * AP-REQ): an unauthenticated empty POST costs one round trip. */
            if (h->https && allowed_mechs(h) != WINRSH_AUTH_BASIC &&
                allowed_mechs(h) != WINRSH_AUTH_CERTIFICATE && !h->cbt.len) {
                rc = post_once(h, NULL, "application/soap+xml;charset=UTF-8", "", 0, timeout_ms,
                               resp, status);
                if (rc)
                    return rc;
                if ((rc = compute_cbt(h)) != 0)
                    return rc;
            }
            if ((rc = start_mech(h)) != 0)
                return rc;
        }
        int answered = 0;
        if ((h->ctx->mech->flags & WR_AUTH_CONNECTION_BOUND) && !h->authenticated) {
            rc = handshake(h, body, len, timeout_ms, resp, status, &answered);
            if (rc == 1) { /* retry under another scheme name */
                drop_ctx(h);
                continue;
            }
            if (rc) {
                drop_ctx(h);
                return rc;
            }
        }
        if (!answered) {
            rc = send_request(h, body, len, timeout_ms, resp, status);
            if (rc)
                return rc;
        }
        if (*status == 401) {
            if ((h->ctx->mech->flags & WR_AUTH_CONNECTION_BOUND) && round == 0) {
                /* New connection (the old one closed): authenticate again. */
                wr_tracef(h->tracer, "server asked to authenticate again");
                drop_ctx(h);
                continue;
            }
            rc = auth_refused(h);
            drop_ctx(h);
            return rc;
        }
        if (*status == 200 || *status == 500)
            return finish_answer(h, resp);
        return unexpected_status(h, *status, resp);
    }
    return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH,
                        "authentication with %s kept failing", h->host);
}
