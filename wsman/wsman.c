/*
 * wsman.c: the request/reply cycle of one WS-Management endpoint
 * (MS-WSMV 3.1.4; PROTOCOL.md 1).
 */
#include "wsman.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/guid.h"
#include "common/mem.h"
#include "fault.h"
#include "ns.h"
#include "xml.h"

#define DEFAULT_OPERATION_TIMEOUT_MS 20000L
#define DEFAULT_MAX_ENVELOPE_SIZE 512000UL

struct wr_wsman {
    char *url;
    char *locale;
    wr_post_fn post;
    void *post_ctx;
    long operation_timeout_ms;
    unsigned long max_envelope_size;
    const wr_tracer *tracer;
    volatile sig_atomic_t *interrupt;
    /* p:SessionId: one GUID for the life of the handle, as Windows clients
     * send, so the server can tie our requests together in its logs. */
    char session_id[48];
};

static int new_uuid(char out[48])
{
    wr_guid g;
    if (wr_guid_random(&g))
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "cannot read random bytes for a GUID");
    memcpy(out, "uuid:", 5);
    /* Upper case, as Windows' own client writes message ids. */
    wr_guid_format(&g, 1, out + 5);
    return 0;
}

int wr_wsman_open(wr_wsman **out, const wr_wsman_options *o)
{
    *out = NULL;
    if (!o || !o->url || !o->post)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "wsman: an endpoint URL and a transport are required");
    wr_wsman *w = calloc(1, sizeof(*w));
    if (!w)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    int rc = 0;
    w->url = wr_strdup(o->url, &rc);
    w->locale = wr_strdup(o->locale ? o->locale : "en-US", &rc);
    if (rc) {
        wr_wsman_free(w);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    w->post = o->post;
    w->post_ctx = o->post_ctx;
    w->operation_timeout_ms =
        o->operation_timeout_ms > 0 ? o->operation_timeout_ms : DEFAULT_OPERATION_TIMEOUT_MS;
    w->max_envelope_size = o->max_envelope_size ? o->max_envelope_size : DEFAULT_MAX_ENVELOPE_SIZE;
    w->tracer = o->tracer;
    w->interrupt = o->interrupt;
    rc = new_uuid(w->session_id);
    if (rc) {
        wr_wsman_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void wr_wsman_free(wr_wsman *w)
{
    if (!w)
        return;
    free(w->url);
    free(w->locale);
    free(w);
}

const char *wr_wsman_url(const wr_wsman *w)
{
    return w->url;
}

long wr_wsman_operation_timeout(const wr_wsman *w)
{
    return w->operation_timeout_ms;
}

unsigned long wr_wsman_max_envelope_size(const wr_wsman *w)
{
    return w->max_envelope_size;
}

/* The last path segment of an action URI, for messages: ".../Receive". */
static const char *short_action(const char *action)
{
    const char *slash = action ? strrchr(action, '/') : NULL;
    return slash ? slash + 1 : (action ? action : "Identify");
}

static int take_interrupt(wr_wsman *w)
{
    if (w->interrupt && *w->interrupt) {
        *w->interrupt = 0;
        return 1;
    }
    return 0;
}

/* Post `req` and parse what comes back; faults become errors here. */
static int exchange(wr_wsman *w, const char *what, const wr_buf *req, long timeout_ms,
                    wr_reply *reply, const wr_reply_reader *rd, const char *message_id,
                    int *taken)
{
    if (take_interrupt(w))
        return wr_error_set(WINRSH_EINTR, WINRSH_ERRCLASS_NONE, "%s: interrupted", what);
    wr_buf resp = WR_BUF_INIT;
    /* The transport stops reading past this (transport/http.c write_cb). */
    size_t limit = WR_WSMAN_REPLY_LIMIT(w->max_envelope_size);
    resp.max_len = limit;
    long status = 0;
    int rc = w->post(w->post_ctx, (const char *)req->data, req->len,
                     timeout_ms + WR_WSMAN_HTTP_MARGIN_MS, &resp, &status);
    if (!rc && resp.len > limit) {
        /* A transport that does not honour max_len (unit-test fakes). */
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                          "%s: reply of %zu bytes is over the limit of %zu bytes "
                          "(MaxEnvelopeSize %lu + 25%%)",
                          what, resp.len, limit, w->max_envelope_size);
        wr_error_set_http_status(status);
        wr_buf_free(&resp);
        return rc;
    }
    if (rc) {
        /* The transport raised the error; an interrupt is consumed by it. */
        if (rc == WINRSH_EINTR && w->interrupt)
            *w->interrupt = 0;
        wr_buf_free(&resp);
        return rc;
    }
    if (resp.len == 0) {
        wr_buf_free(&resp);
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP, "%s: HTTP %ld with an empty body",
                          what, status);
        wr_error_set_http_status(status);
        return rc;
    }
    if (rd && status == 200 &&
        rd->read(rd->ctx, (const char *)resp.data, resp.len, message_id) == 1) {
        /* Checked by the reader: an envelope without a fault answering
         * message_id; nothing else to do here. */
        *taken = 1;
        wr_buf_free(&resp);
        return 0;
    }
    rc = wr_reply_parse(reply, (const char *)resp.data, resp.len);
    wr_buf_free(&resp);
    if (rc) {
        wr_error_prefix("%s", what);
        wr_error_set_http_status(status);
        return rc;
    }
    xmlNodePtr fault_node = wr_fault_find(reply->body);
    if (fault_node) {
        wr_fault *f;
        if (wr_fault_parse(fault_node, &f))
            return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        return wr_fault_raise(f, status);
    }
    if (status != 200) {
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP, "%s: HTTP %ld without a SOAP fault",
                          what, status);
        wr_error_set_http_status(status);
        return rc;
    }
    return 0;
}

static int build(wr_wsman *w, const wr_wsman_call *c, const char *message_id, wr_buf *req)
{
    long timeout = c->timeout_ms > 0 ? c->timeout_ms : w->operation_timeout_ms;
    wr_envelope e = {
        .to = w->url,
        .resource_uri = c->resource_uri,
        .action = c->action,
        .message_id = message_id,
        .max_envelope_size = w->max_envelope_size,
        .locale = w->locale,
        .operation_timeout_ms = timeout,
        .session_id = w->session_id,
        .options = c->options,
        .noptions = c->noptions,
        .shell_id = c->shell_id,
    };
    return wr_envelope_build(req, &e, c->body, c->body_len);
}

int wr_wsman_envelope_size(wr_wsman *w, const wr_wsman_call *c, size_t *size)
{
    /* A message id of the real length: the size is exact. */
    wr_buf req = WR_BUF_INIT;
    int rc = build(w, c, "uuid:00000000-0000-0000-0000-000000000000", &req);
    *size = req.len;
    wr_buf_free(&req);
    return rc;
}

int wr_wsman_request(wr_wsman *w, const wr_wsman_call *c, wr_reply *reply)
{
    return wr_wsman_request_read(w, c, reply, NULL, NULL);
}

int wr_wsman_request_read(wr_wsman *w, const wr_wsman_call *c, wr_reply *reply,
                          const wr_reply_reader *rd, int *taken)
{
    memset(reply, 0, sizeof(*reply));
    int dummy = 0;
    if (!taken)
        taken = &dummy;
    *taken = 0;
    char message_id[48];
    int rc = new_uuid(message_id);
    if (rc)
        return rc;
    long timeout = c->timeout_ms > 0 ? c->timeout_ms : w->operation_timeout_ms;
    wr_buf req = WR_BUF_INIT;
    rc = build(w, c, message_id, &req);
    if (rc) {
        wr_buf_free(&req);
        return rc;
    }
    const char *what = short_action(c->action);
    if (c->shell_id)
        wr_tracef(w->tracer, "wsman: %s (shell %s)", what, c->shell_id);
    else
        wr_tracef(w->tracer, "wsman: %s", what);
    rc = exchange(w, what, &req, timeout, reply, rd, message_id, taken);
    wr_buf_free(&req);
    /* A reply to some other message means we and the server disagree about
     * the conversation; nothing in it can be trusted, fault or not. A fault
     * without a:RelatesTo (some gateways) is still reported as the fault. */
    if (reply->doc && (rc == 0 || rc == WINRSH_EFAULT)) {
        if (reply->relates_to && strcasecmp(reply->relates_to, message_id) != 0)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                                "%s: the reply answers message %.60s, not ours (%s)", what,
                                reply->relates_to, message_id);
        if (!reply->relates_to && rc == 0)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                                "%s: the reply has no a:RelatesTo header", what);
    }
    return rc;
}

int wr_wsman_identify(wr_wsman *w, wr_identity *out)
{
    memset(out, 0, sizeof(*out));
    wr_buf req = WR_BUF_INIT;
    int rc = wr_envelope_build_identify(&req);
    wr_reply reply = WR_REPLY_INIT;
    if (!rc) {
        wr_tracef(w->tracer, "wsman: Identify");
        rc = exchange(w, "Identify", &req, w->operation_timeout_ms, &reply, NULL, NULL, NULL);
    }
    wr_buf_free(&req);
    /*
     * | s:Body/wsmid:IdentifyResponse/ | (DSP0226 11)                |
     * |--------------------------------|-----------------------------|
     * | wsmid:ProtocolVersion          | the WS-Man namespace URI    |
     * | wsmid:ProductVendor            | e.g. "Microsoft Corporation"|
     * | wsmid:ProductVersion           | "OS: ... SP: ... Stack: 3.0"|
     */
    if (!rc) {
        xmlNodePtr r = wr_xml_child(reply.body, WR_NS_IDENTITY, "IdentifyResponse");
        if (!r) {
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                              "Identify: the reply has no wsmid:IdentifyResponse");
        } else {
            out->protocol_version =
                wr_xml_text(wr_xml_child(r, WR_NS_IDENTITY, "ProtocolVersion"), &rc);
            out->product_vendor =
                wr_xml_text(wr_xml_child(r, WR_NS_IDENTITY, "ProductVendor"), &rc);
            out->product_version =
                wr_xml_text(wr_xml_child(r, WR_NS_IDENTITY, "ProductVersion"), &rc);
            if (rc)
                rc = wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        }
    }
    wr_reply_free(&reply);
    if (rc)
        wr_identity_free(out);
    return rc;
}

void wr_identity_free(wr_identity *id)
{
    if (!id)
        return;
    free(id->protocol_version);
    free(id->product_vendor);
    free(id->product_version);
    memset(id, 0, sizeof(*id));
}
