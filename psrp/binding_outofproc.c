/*
 * binding_outofproc.c: wr_psrp_binding over the out-of-process framing
 * (the mapping is tabled in binding_outofproc.h; PROTOCOL.md 5).
 *
 * The engine hands over whole fragments, possibly several joined; each
 * goes in its own Data packet and waits for its DataAck, which is what
 * PowerShell's OutOfProcessClientSessionTransportManager does (it sends one
 * fragment per packet from its PrioritySendDataCollection). A pipeline's
 * PSGuid is its PID in text form; the pool's is the zero GUID.
 */
#include "psrp/binding_outofproc.h"

#include <stdlib.h>

#include "common/error.h"
#include "psrp/fragment.h"
#include "winrsh/errors.h"

typedef struct oop_binding {
    wr_psrp_binding base;
    wr_oop_conn *conn;
    long receive_timeout_ms; /* what a receive with timeout 0 waits */
} oop_binding;

static wr_oop_conn *conn_of(wr_psrp_binding *b)
{
    return ((oop_binding *)b)->conn;
}

static size_t oop_max_blob(wr_psrp_binding *b)
{
    (void)b;
    return WR_PSRP_OUTOFPROC_MAX_BLOB;
}

/* One Data packet per fragment, each acked. */
static int send_fragments(wr_psrp_binding *b, const wr_guid *psguid, wr_oop_stream stream,
                          const unsigned char *frags, size_t len)
{
    if (!frags || len == 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "no fragments to send");
    /* Check the whole buffer first: nothing goes out unless all of it can. */
    wr_psrp_fragment f;
    size_t used = 0;
    for (size_t off = 0; off < len; off += used) {
        if (wr_psrp_fragment_read(&f, frags + off, len - off, &used) != 0)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "out-of-process binding: the buffer does not hold whole "
                                "fragments (at byte %zu of %zu)",
                                off, len);
    }
    for (size_t off = 0; off < len; off += used) {
        wr_psrp_fragment_read(&f, frags + off, len - off, &used);
        int rc = wr_oop_send_data(conn_of(b), psguid, stream, frags + off, used);
        if (rc)
            return rc;
    }
    return 0;
}

static int oop_open_pool(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *frags,
                         size_t len)
{
    (void)rpid; /* the RPID travels inside the messages; packets use the zero GUID */
    return send_fragments(b, NULL, WR_OOP_STREAM_DEFAULT, frags, len);
}

static int oop_create_pipeline(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *frags,
                               size_t len)
{
    if (!pid)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "a pipeline needs a PID");
    int rc = wr_oop_command(conn_of(b), pid);
    return rc ? rc : send_fragments(b, pid, WR_OOP_STREAM_DEFAULT, frags, len);
}

static int oop_send(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *frags, size_t len,
                    int prompt_response)
{
    return send_fragments(b, pid,
                          prompt_response ? WR_OOP_STREAM_PROMPT_RESPONSE : WR_OOP_STREAM_DEFAULT,
                          frags, len);
}

typedef struct deliver_ctx {
    wr_psrp_data_cb cb;
    void *payload;
} deliver_ctx;

static int deliver(const wr_guid *psguid, wr_oop_stream stream, const unsigned char *data,
                   size_t len, void *payload)
{
    (void)stream;
    deliver_ctx *d = payload;
    return d->cb(psguid, data, len, d->payload);
}

static int oop_receive(wr_psrp_binding *b, const wr_guid *pid, long timeout_ms, wr_psrp_data_cb cb,
                       void *payload, int *timed_out)
{
    (void)pid; /* data for any pipeline comes on the one stream */
    /* As over WS-Man, 0 means the default wait (the session's operation
     * timeout), not a poll: the engine loops on receive(0) while it waits
     * for the pool to open. The wait ends as soon as data comes. */
    if (timeout_ms <= 0)
        timeout_ms = ((oop_binding *)b)->receive_timeout_ms;
    deliver_ctx d = {cb, payload};
    return wr_oop_receive(conn_of(b), timeout_ms, deliver, &d, timed_out);
}

static int oop_stop(wr_psrp_binding *b, const wr_guid *pid)
{
    if (!pid)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "stop needs a PID");
    return wr_oop_signal(conn_of(b), pid);
}

static int oop_close_pipeline(wr_psrp_binding *b, const wr_guid *pid)
{
    if (!pid)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "close_pipeline needs a PID");
    return wr_oop_close(conn_of(b), pid);
}

static int oop_close_pool(wr_psrp_binding *b)
{
    return wr_oop_close(conn_of(b), NULL);
}

static void oop_interrupt(wr_psrp_binding *b)
{
    wr_oop_interrupt(conn_of(b));
}

static void oop_free(wr_psrp_binding *b)
{
    if (!b)
        return;
    wr_oop_conn_free(conn_of(b));
    free(b);
}

static const wr_psrp_binding_ops oop_ops = {
    .name = "outofproc",
    .max_blob = oop_max_blob,
    .open_pool = oop_open_pool,
    .create_pipeline = oop_create_pipeline,
    .send = oop_send,
    .receive = oop_receive,
    .stop = oop_stop,
    .close_pipeline = oop_close_pipeline,
    .close_pool = oop_close_pool,
    .interrupt = oop_interrupt,
    .free = oop_free,
};

static int wrap(wr_psrp_binding **out, wr_oop_conn *conn, long timeout_ms)
{
    *out = NULL;
    oop_binding *b = calloc(1, sizeof(*b));
    if (!b) {
        wr_oop_conn_free(conn);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    b->base.ops = &oop_ops;
    b->conn = conn;
    b->receive_timeout_ms = timeout_ms > 0 ? timeout_ms : WR_PSRP_OUTOFPROC_RECEIVE_MS;
    *out = &b->base;
    return 0;
}

int wr_psrp_binding_outofproc_wrap(wr_psrp_binding **out, wr_oop_conn *conn)
{
    return wrap(out, conn, 0);
}

int wr_psrp_binding_outofproc_open(wr_psrp_binding **out, const char *target,
                                   const wr_tracer *tracer, long timeout_ms)
{
    *out = NULL;
    wr_oop_conn *conn = NULL;
    int rc = wr_oop_conn_open(&conn, target, tracer, timeout_ms);
    if (rc)
        return rc;
    return wrap(out, conn, timeout_ms);
}
