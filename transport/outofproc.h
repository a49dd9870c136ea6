/*
 * outofproc.h: PowerShell's out-of-process framing (PROTOCOL.md 5), spoken
 * over any stream transport (transport/stream.h): `pwsh -s` over pipes,
 * `pwsh -sshs` over SSH, PowerShell Direct over a Hyper-V socket, named
 * pipes. The facts come from PowerShell's OutOfProcTransportManager.cs
 * (OutOfProcessUtils: the packet builders and ProcessData, the reader).
 *
 * Every packet is one line of UTF-8 XML ended by "\n" (PowerShell reads
 * with TextReader.ReadLine, so "\r\n" is accepted too). Attributes are
 * single-quoted; PSGuid is lower-case GUID text (Guid.ToString()), all
 * zeros for the runspace pool, the PowerShell (pipeline) id otherwise:
 *
 *   +------------+------------------------------------------------------+
 *   | packet     | line                                                 |
 *   +------------+------------------------------------------------------+
 *   | Data       | <Data Stream='Default' PSGuid='g'>BASE64</Data>      |
 *   |            | (Stream='PromptResponse' for host responses);        |
 *   |            | BASE64 is one or more whole PSRP fragments           |
 *   | DataAck    | <DataAck PSGuid='g' />                               |
 *   | Command    | <Command PSGuid='g' />                               |
 *   | CommandAck | <CommandAck PSGuid='g' />                            |
 *   | Signal     | <Signal PSGuid='g' />                                |
 *   | SignalAck  | <SignalAck PSGuid='g' />                             |
 *   | Close      | <Close PSGuid='g' />                                 |
 *   | CloseAck   | <CloseAck PSGuid='g' />                              |
 *   +------------+------------------------------------------------------+
 *
 * Sequencing (client side; every wait is bounded):
 *
 *   client                          server
 *   Data(0) SESSION_CAPABILITY  ->
 *                               <-  DataAck(0)
 *   Data(0) INIT_RUNSPACEPOOL   ->
 *                               <-  DataAck(0)
 *                               <-  Data(0) ... (unprompted, never acked)
 *   Command(P)                  ->
 *                               <-  CommandAck(P)
 *   Data(P) CREATE_PIPELINE     ->
 *                               <-  DataAck(P)
 *                               <-  Data(P) ... output, state
 *   Signal(P)  (stop)           ->
 *                               <-  SignalAck(P)      (60 s bound)
 *   Close(P)                    ->
 *                               <-  CloseAck(P)
 *   Close(0)                    ->
 *                               <-  CloseAck(0)
 *
 * The client sends one Data packet at a time and waits for its DataAck
 * before the next. Server Data that arrives while the client waits for an
 * ack is queued and handed out by the next receive.
 *
 * Lines that are not XML are errors the server could not frame: they
 * start with "__HyperVSocketError__:" (PowerShell Direct), or
 * "__NamedPipeError__:" (OutOfProcessTextWriter), or are plain text
 * (an SSH server's formatted error). They are raised as WINRSH_EPROTO with
 * the text in the message.
 */
#ifndef WR_TRANSPORT_OUTOFPROC_H
#define WR_TRANSPORT_OUTOFPROC_H

#include <stddef.h>

#include "common/buf.h"
#include "common/guid.h"
#include "common/trace.h"
#include "transport/stream.h"

/* The longest line accepted (a Data packet holds base64 fragments, which
 * are at most a few hundred KiB from PowerShell). */
#define WR_OOP_MAX_LINE (64u * 1024u * 1024u)
/* How long a Signal waits for its SignalAck (PowerShell's client: 60 s). */
#define WR_OOP_SIGNAL_TIMEOUT_MS 60000L
/* Default bound for other acks and writes. */
#define WR_OOP_DEFAULT_TIMEOUT_MS 60000L
/* Bound on server Data queued while we wait for an ack. */
#define WR_OOP_MAX_QUEUED (256u * 1024u * 1024u)

typedef enum wr_oop_kind {
    WR_OOP_DATA = 0,
    WR_OOP_DATA_ACK,
    WR_OOP_COMMAND,
    WR_OOP_COMMAND_ACK,
    WR_OOP_SIGNAL,
    WR_OOP_SIGNAL_ACK,
    WR_OOP_CLOSE,
    WR_OOP_CLOSE_ACK
} wr_oop_kind;

typedef enum wr_oop_stream {
    WR_OOP_STREAM_DEFAULT = 0,        /* "Default" */
    WR_OOP_STREAM_PROMPT_RESPONSE = 1 /* "PromptResponse": host responses */
} wr_oop_stream;

/* The element name ("DataAck"), or NULL for a bad kind. */
const char *wr_oop_kind_name(wr_oop_kind kind);

/* Append one packet line, "\n" included. psguid NULL means the zero GUID
 * (the pool). For WR_OOP_DATA, data/len are the bytes to base64 and
 * stream picks the Stream attribute; other kinds ignore them. */
int wr_oop_format(wr_buf *out, wr_oop_kind kind, const wr_guid *psguid, wr_oop_stream stream,
                  const void *data, size_t len);

/* One parsed packet; b64 points into the parsed line. */
typedef struct wr_oop_packet {
    wr_oop_kind kind;
    wr_oop_stream stream; /* Data only */
    wr_guid psguid;
    int is_pool;     /* PSGuid is the zero GUID */
    const char *b64; /* Data only: the base64 text (may be empty) */
    size_t b64_len;
} wr_oop_packet;

/*
 * Parse one line (without its "\n"; one trailing "\r" is allowed). Strict:
 * exactly one known element with exactly its attributes (PSGuid, plus
 * Stream on Data only, quoted with ' or "), Data content of base64
 * characters only, nothing but spaces after the element. An unknown element
 * or anything else malformed is WINRSH_EPROTO; an error line (see above) is
 * WINRSH_EPROTO with the server's text in the message.
 */
int wr_oop_parse(wr_oop_packet *p, const char *line, size_t len);

/* Splits incoming bytes into lines, bounded by max_line. */
typedef struct wr_oop_reader {
    wr_buf buf;
    size_t start;   /* first byte not yet handed out */
    size_t scanned; /* bytes from start already searched for "\n" */
    size_t max_line;
} wr_oop_reader;

/* max_line 0 takes WR_OOP_MAX_LINE. */
void wr_oop_reader_init(wr_oop_reader *r, size_t max_line);
/* Add bytes. */
int wr_oop_reader_feed(wr_oop_reader *r, const void *data, size_t len);
/* The next whole line: 1 with *line and *len (no "\n"; a "\r" before it
 * removed; valid until the next call), 0 if no whole line is buffered yet,
 * WINRSH_EPROTO when more than max_line bytes came without a "\n". */
int wr_oop_reader_next(wr_oop_reader *r, const char **line, size_t *len);
void wr_oop_reader_free(wr_oop_reader *r);

/* ---- a connection: the framing over a stream ------------------------------ */

typedef struct wr_oop_conn wr_oop_conn;

/* Data from the server: psguid NULL for the pool; the decoded bytes (whole
 * PSRP fragments). Return 0 to go on, negative to stop (returned as is). */
typedef int (*wr_oop_data_cb)(const wr_guid *psguid, wr_oop_stream stream,
                              const unsigned char *data, size_t len, void *payload);

/* Open the stream for target (process://..., unix://...) and wrap it.
 * timeout_ms bounds connecting, writes and ack waits (<= 0: 60 s). The
 * tracer is copied. */
int wr_oop_conn_open(wr_oop_conn **out, const char *target, const wr_tracer *tracer,
                     long timeout_ms);
/* Wrap an open stream (ownership passes, even on failure). */
int wr_oop_conn_wrap(wr_oop_conn **out, wr_stream *stream, const wr_tracer *tracer,
                     long timeout_ms);
/* Close the stream (a child process is reaped, bounded) and free. NULL-safe. */
void wr_oop_conn_free(wr_oop_conn *c);

/* Send a Data packet and wait for its DataAck. */
int wr_oop_send_data(wr_oop_conn *c, const wr_guid *psguid, wr_oop_stream stream, const void *data,
                     size_t len);
/* Command(P) and wait for CommandAck(P). */
int wr_oop_command(wr_oop_conn *c, const wr_guid *psguid);
/* Signal(P) and wait for SignalAck(P), at most WR_OOP_SIGNAL_TIMEOUT_MS. */
int wr_oop_signal(wr_oop_conn *c, const wr_guid *psguid);
/* Close(P) (NULL: the pool) and wait for CloseAck. */
int wr_oop_close(wr_oop_conn *c, const wr_guid *psguid);

/*
 * Deliver server Data through cb: first what was queued, then packets as
 * they come. Waits up to timeout_ms for the first one; once something was
 * delivered it also hands out what is already readable and returns without
 * waiting again. Nothing within timeout_ms: *timed_out = 1 and 0.
 * wr_oop_interrupt() makes it return WINRSH_EINTR.
 */
int wr_oop_receive(wr_oop_conn *c, long timeout_ms, wr_oop_data_cb cb, void *payload,
                   int *timed_out);

/* Make a blocking (or the next) wr_oop_receive return WINRSH_EINTR.
 * Async-signal-safe: it writes one byte to a self-pipe. */
void wr_oop_interrupt(wr_oop_conn *c);

/* The bounds for writes and ack waits, and for the SignalAck wait, in ms
 * (<= 0 leaves a bound as it is). */
void wr_oop_set_timeouts(wr_oop_conn *c, long timeout_ms, long signal_timeout_ms);

#endif
