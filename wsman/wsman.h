/*
 * wsman.h: one WS-Management endpoint: its URL, the per-session defaults
 * (OperationTimeout, MaxEnvelopeSize, locale, p:SessionId) and the
 * request/reply cycle: build, post, check a:RelatesTo, turn faults into
 * errors.
 *
 * The transport is a function pointer so that this layer never names
 * transport/http.c: the session plugs wr_http_post in, unit tests plug in a
 * fake that answers with recorded replies.
 */
#ifndef WR_WSMAN_WSMAN_H
#define WR_WSMAN_WSMAN_H

#include <signal.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/trace.h"
#include "envelope.h"

/* Same contract as wr_http_post(): 0 with *status 200 or 500 and the body in
 * `resp`, or a negative code with the error raised. */
typedef int (*wr_post_fn)(void *ctx, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                          long *status);

typedef struct wr_wsman_options {
    const char *url; /* a:To */
    wr_post_fn post;
    void *post_ctx;
    long operation_timeout_ms;       /* 0 = 20000 */
    unsigned long max_envelope_size; /* 0 = 512000 */
    const char *locale;              /* NULL = "en-US" */
    const wr_tracer *tracer;         /* borrowed, may be NULL */
    /* Borrowed; when set, the next request returns WINRSH_EINTR and the flag
     * is cleared (one interrupt, one EINTR). */
    volatile sig_atomic_t *interrupt;
} wr_wsman_options;

typedef struct wr_wsman wr_wsman;

/* HTTP timeout = OperationTimeout + this. The server may answer as late as
 * OperationTimeout plus its NetworkDelayms (5 s by default); the rest covers
 * connection set-up and authentication legs on a slow link. */
#define WR_WSMAN_HTTP_MARGIN_MS 30000L

int wr_wsman_open(wr_wsman **out, const wr_wsman_options *opts);
void wr_wsman_free(wr_wsman *w);

const char *wr_wsman_url(const wr_wsman *w);
long wr_wsman_operation_timeout(const wr_wsman *w);
unsigned long wr_wsman_max_envelope_size(const wr_wsman *w);

/* One request. */
typedef struct wr_wsman_call {
    const char *action;
    const char *resource_uri;
    const char *shell_id; /* NULL: no SelectorSet */
    const wr_option *options;
    size_t noptions;
    long timeout_ms;  /* OperationTimeout of this call; 0 = the default */
    const char *body; /* XML inside s:Body; NULL = empty */
    size_t body_len;
} wr_wsman_call;

/*
 * Send one request and parse the reply into `reply` (to be freed with
 * wr_reply_free in every case). Returns 0 for a non-fault reply to this
 * request; WINRSH_EFAULT with the fault in the error record (HTTP 500, or a
 * 200 whose body is a fault); WINRSH_EPROTO for a reply that is not XML, not
 * an envelope, or answers another message (a:RelatesTo); transport errors as
 * the transport raised them; WINRSH_EINTR after an interrupt.
 */
int wr_wsman_request(wr_wsman *w, const wr_wsman_call *call, wr_reply *reply);

/* The size in bytes of the envelope `call` would produce (for callers that
 * must fit data below MaxEnvelopeSize). */
int wr_wsman_envelope_size(wr_wsman *w, const wr_wsman_call *call, size_t *size);

/* What Identify reports (heap strings, NULL if absent). */
typedef struct wr_identity {
    char *protocol_version;
    char *product_vendor;
    char *product_version;
} wr_identity;

/* Identify (DSP0226 11, MS-WSMV 3.1.4.1.23). */
int wr_wsman_identify(wr_wsman *w, wr_identity *out);
void wr_identity_free(wr_identity *id);

#endif
