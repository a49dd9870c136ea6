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

/* HTTP timeout = OperationTimeout + this. WinRM answers a Receive that has
 * nothing to say with w:TimedOut at OperationTimeout, and every other
 * request well before it; it may be late by its NetworkDelayms (5 s by
 * default). The other 5 s cover authentication legs and a slow link (the
 * TCP/TLS set-up has its own connect timeout). A server that never answers
 * thus costs OperationTimeout + 10 s (30 s at the defaults), not more. */
#define WR_WSMAN_HTTP_MARGIN_MS 10000L

/* The largest reply accepted: MaxEnvelopeSize plus a quarter. Windows never
 * sends an envelope larger than the MaxEnvelopeSize of the request (it splits
 * Receive output to fit, MS-WSMV 3.1.4.1.7); the slack covers the framing of
 * a sealed reply, which the limit meets on the wire before it is unsealed
 * (MIME part headers, a 16-byte signature and length per part, the chunks of
 * multipart/x-multi-encrypted: well under 1 % of the envelope), and a server
 * counting its envelope in characters where we count UTF-8 bytes. Anything
 * bigger is refused (WINRSH_EPROTO), as soon as it passes the bound. */
#define WR_WSMAN_REPLY_LIMIT(max_envelope_size)                                                    \
    ((size_t)(max_envelope_size) + (size_t)(max_envelope_size) / 4)

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

/*
 * A reader that may take a reply instead of the DOM (the Receive hot path,
 * receive_stream.h). It is called with the whole plaintext body of an HTTP
 * 200 answer (data[len] == 0) and the a:MessageID of the request, and returns
 * 1 only if the reply is a SOAP envelope without a fault whose a:RelatesTo
 * equals message_id and it has read what it needs from it; 0 lets the reply
 * go the usual way (wr_reply_parse, faults, a:RelatesTo), with every error
 * reported as wr_wsman_request reports it.
 */
typedef struct wr_reply_reader {
    int (*read)(void *ctx, const char *data, size_t len, const char *message_id);
    void *ctx;
} wr_reply_reader;

/* wr_wsman_request, offering the reply to `rd` first (may be NULL). On 0
 * with *taken set, the reader has the reply and `reply` is empty. */
int wr_wsman_request_read(wr_wsman *w, const wr_wsman_call *call, wr_reply *reply,
                          const wr_reply_reader *rd, int *taken);

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
