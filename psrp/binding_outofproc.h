/*
 * binding_outofproc.h: PSRP over the out-of-process framing
 * (transport/outofproc.h) on a stream transport: a local `pwsh -s`
 * (process:///path/to/pwsh) or a Unix socket (unix:///path).
 *
 * How the binding operations map onto packets (PROTOCOL.md 5):
 *
 *   +-----------------+------------------------------------------------+
 *   | operation       | packets (each Data carries one whole fragment, |
 *   |                 | as PowerShell's client sends them)             |
 *   +-----------------+------------------------------------------------+
 *   | open_pool       | Data(0) -> DataAck(0) per fragment:            |
 *   |                 | SESSION_CAPABILITY, then INIT_RUNSPACEPOOL     |
 *   | create_pipeline | Command(P) -> CommandAck(P), then              |
 *   |                 | Data(P) -> DataAck(P) per CREATE_PIPELINE frag |
 *   | send            | Data(P or 0, Default|PromptResponse) -> DataAck|
 *   | receive         | server Data, unprompted; PSGuid 0 -> pid NULL; |
 *   |                 | timeout 0 waits the default (as over WS-Man)   |
 *   | stop            | Signal(P) -> SignalAck(P)  (60 s bound)        |
 *   | close_pipeline  | Close(P) -> CloseAck(P)                        |
 *   | close_pool      | Close(0) -> CloseAck(0)                        |
 *   | interrupt       | the connection's self-pipe                     |
 *   | free            | close the stream (a child pwsh is reaped)      |
 *   +-----------------+------------------------------------------------+
 */
#ifndef WR_PSRP_BINDING_OUTOFPROC_H
#define WR_PSRP_BINDING_OUTOFPROC_H

#include "common/trace.h"
#include "psrp/binding.h"
#include "transport/outofproc.h"

/* The largest fragment blob we send: PowerShell's default fragment size
 * (BaseTransportManager.DefaultFragmentSize, 32 KiB) less the header. */
#define WR_PSRP_OUTOFPROC_MAX_BLOB (32768u - 21u)
/* What receive(timeout 0) waits when the constructor got no timeout: the
 * WS-Man default OperationTimeout, so the engine behaves the same. */
#define WR_PSRP_OUTOFPROC_RECEIVE_MS 20000L

/*
 * Start or connect to target ("process:///path/to/pwsh", "process://pwsh"
 * to search PATH, or "unix:///path") and make a binding over it. Nothing
 * is sent until open_pool. timeout_ms bounds starting/connecting, every
 * write and every ack wait (<= 0: 60 s) and is what receive(timeout 0)
 * waits at most (<= 0: 20 s); pass the session's operation timeout. The
 * tracer is copied (NULL: none).
 * Free with b->ops->free(b).
 */
int wr_psrp_binding_outofproc_open(wr_psrp_binding **out, const char *target,
                                   const wr_tracer *tracer, long timeout_ms);

/* The same over an open connection (ownership passes, even on failure):
 * for tests and for transports that set the stream up themselves. */
int wr_psrp_binding_outofproc_wrap(wr_psrp_binding **out, wr_oop_conn *conn);

#endif
