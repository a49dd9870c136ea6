/*
 * http.h: WS-Management's HTTP(S) transport over libcurl.
 *
 * One keep-alive connection per wr_http. wr_http_post() sends one SOAP
 * request and returns the answer body: 200 and 500 (a SOAP fault) are both
 * "answers" here, and the caller parses the body. Authentication (401
 * handling) and message encryption happen inside, through the mechanism
 * interface in auth/auth.h; the caller only sees plaintext SOAP.
 */
#ifndef WR_HTTP_H
#define WR_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/trace.h"

typedef struct wr_http wr_http;

typedef struct wr_http_options {
    const char *url;          /* http(s)://host:port/wsman */
    const char *user;
    const char *password;     /* copied, wiped on free */
    unsigned int auth;        /* WINRSH_AUTH_* bits allowed; 0 = default set */
    int allow_unencrypted;    /* unencrypted bodies over plain HTTP allowed */
    long connect_timeout_ms;
    const char *cacert;       /* CA bundle, NULL = system store */
    int insecure;             /* no TLS verification */
    const char *client_cert;  /* PEM certificate and key for certificate auth */
    const char *client_key;
    const char *spn;          /* Kerberos service name, NULL = HTTP@host */
    const char *config_dir;   /* TrustedHosts directory, NULL = default */
    const char *trusted_hosts; /* patterns overriding the file, or NULL */
    const wr_tracer *tracer;  /* borrowed; lives as long as the session */
    /* Set asynchronously (signal handler) while a request waits; borrowed.
     * The wait loop then calls on_interrupt (outside any curl callback, so it
     * may use another connection): if it returns 1 the interrupt is handled
     * (e.g. a stop signal went out on a second connection), the flag is
     * cleared and the request goes on waiting for its answer, so nothing the
     * server sends is lost. Otherwise a request that has not started to
     * receive its answer is abandoned with WINRSH_EINTR. */
    volatile sig_atomic_t *interrupt;
    int (*on_interrupt)(void *ctx);
    void *on_interrupt_ctx;
} wr_http_options;

int wr_http_open(wr_http **out, const wr_http_options *opts);

/*
 * POST `body` (SOAP, plaintext). `timeout_ms` bounds the whole exchange
 * (the caller makes it longer than the WS-Man OperationTimeout). On return 0,
 * *status is 200 or 500 and `resp` holds the plaintext body. Any other status,
 * connection failure, timeout or auth failure returns a negative code with
 * the error raised (class HTTP/TLS/AUTH/OS) and the status attached.
 */
int wr_http_post(wr_http *h, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                 long *status);

/* A second transport to the same endpoint with the same credentials and
 * settings (its own connection, authenticated on first use), for requests
 * that must go while this one waits. No interrupt hook. */
int wr_http_clone(const wr_http *h, wr_http **out);

/* Number of HTTP requests sent so far (including authentication legs). */
unsigned long wr_http_request_count(const wr_http *h);

void wr_http_free(wr_http *h);

#endif
