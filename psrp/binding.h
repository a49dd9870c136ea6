/*
 * binding.h: how PSRP fragments travel. The runspace pool and pipeline code
 * (psrp/runspace.c, psrp/pipeline.c) is transport-agnostic: it fragments
 * messages and hands the bytes to a binding, which is either
 *
 *   - a WS-Man shell (psrp/binding_wsman.c): creationXml, Command with the
 *     first CREATE_PIPELINE fragment, Send on stdin/pr, Receive, Signal
 *     powershell/signal/crtl_c, Delete (MS-PSRP 3.1.5.3); or
 *   - the out-of-process framing (transport/outofproc.c) over a stream
 *     transport (process, ssh, hvsocket, vsock, unix): Data, Command, Signal,
 *     Close and their Acks (PROTOCOL.md 5).
 *
 * All fragment buffers are whole fragments (21-byte header + blob), possibly
 * several joined. `pid` NULL means the runspace pool itself.
 */
#ifndef WR_PSRP_BINDING_H
#define WR_PSRP_BINDING_H

#include <stddef.h>

#include "common/buf.h"
#include "common/guid.h"

typedef struct wr_psrp_binding wr_psrp_binding;

/* Delivers received fragments. `pid` is the pipeline the transport said the
 * data belongs to (NULL: the pool, or unknown: the engine reads the PID in
 * the message header anyway). Return 0 to go on, negative to stop.
 * frags NULL with len 0 says the transport saw the end of pipeline `pid`'s
 * output (WS-Man: CommandState Done); a pipeline that has not reported a
 * final PIPELINE_STATE by then never will (its state was lost, e.g. in a
 * Receive abandoned after Ctrl-C), and the engine ends it. */
typedef int (*wr_psrp_data_cb)(const wr_guid *pid, const unsigned char *frags, size_t len,
                               void *payload);

typedef struct wr_psrp_binding_ops {
    const char *name;
    /* Largest fragment blob this binding carries in one message. */
    size_t (*max_blob)(wr_psrp_binding *b);
    /* Create the pool on the server with the SESSION_CAPABILITY and
     * INIT_RUNSPACEPOOL fragments. */
    int (*open_pool)(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *frags,
                     size_t len);
    /* Create pipeline `pid` with its first fragment(s) of CREATE_PIPELINE
     * (over WS-Man only the first fragment may go in the Command). */
    int (*create_pipeline)(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *frags,
                           size_t len);
    /* More data for the pool or a pipeline; `prompt_response` selects the
     * PromptResponse stream ("pr") for host responses. */
    int (*send)(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *frags, size_t len,
                int prompt_response);
    /* Wait up to timeout_ms for data for `pid` (NULL: the pool) and deliver
     * it through cb. Over WS-Man this is one Receive; a w:TimedOut sets
     * *timed_out and returns 0. Out-of-process bindings may deliver data for
     * any pipeline. */
    int (*receive)(wr_psrp_binding *b, const wr_guid *pid, long timeout_ms, wr_psrp_data_cb cb,
                   void *payload, int *timed_out);
    /* Ask the server to stop pipeline `pid` (crtl_c signal / Signal packet). */
    int (*stop)(wr_psrp_binding *b, const wr_guid *pid);
    /* Release pipeline `pid` after it ended (terminate signal / Close). */
    int (*close_pipeline)(wr_psrp_binding *b, const wr_guid *pid);
    /* Close the pool (Delete / Close with the zero GUID). */
    int (*close_pool)(wr_psrp_binding *b);
    /* Abandon a blocking receive soon (async-signal-safe); may be NULL. */
    void (*interrupt)(wr_psrp_binding *b);
    void (*free)(wr_psrp_binding *b);
} wr_psrp_binding_ops;

/* Set by the engine before open_pool; bindings that cannot honour a flag
 * ignore it (out-of-process servers never load a profile, for one). */
#define WR_PSRP_BINDING_NO_PROFILE 1u

/*
 * Disconnected pools and liveness (MS-PSRP 3.1.4.9-3.1.4.11), in a table of
 * their own that a binding points to from wr_psrp_binding.conn, NULL when it
 * cannot (out-of-process transports end with their connection); the engine
 * then says so to the caller. Kept apart from wr_psrp_binding_ops so that
 * bindings written before them (tests initialise that table positionally)
 * stay complete.
 */
typedef struct wr_psrp_binding_conn_ops {
    /* Disconnect the open pool: it and its pipelines go on running on the
     * server. idle_timeout_ms > 0 replaces the server's idle timeout;
     * buffer_mode is WR_PSRP_BUFFER_* (0: the server's). */
    int (*disconnect)(wr_psrp_binding *b, long idle_timeout_ms, int buffer_mode);
    /* Take the pool this binding disconnected back. */
    int (*reconnect)(wr_psrp_binding *b);
    /* Attach to the existing pool `rpid` with the SESSION_CAPABILITY and
     * CONNECT_RUNSPACEPOOL fragments; the fragments the server answers with
     * (its SESSION_CAPABILITY, RUNSPACEPOOL_INIT_DATA) are appended to
     * `reply`. The binding then works on that pool as if it had opened it. */
    int (*connect_pool)(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *frags,
                        size_t len, wr_buf *reply);
    /* Ask the server whether the pool still exists: *alive 1 or 0; an error
     * only when the server could not say. */
    int (*is_alive)(wr_psrp_binding *b, int *alive);
} wr_psrp_binding_conn_ops;

/* Output buffering of a disconnected pool (MS-WSMV 2.2.5.10). */
#define WR_PSRP_BUFFER_DEFAULT 0
#define WR_PSRP_BUFFER_BLOCK 1
#define WR_PSRP_BUFFER_DROP 2

struct wr_psrp_binding {
    const wr_psrp_binding_ops *ops;
    unsigned int flags;
    const wr_psrp_binding_conn_ops *conn; /* NULL: no disconnected pools */
};

#endif
