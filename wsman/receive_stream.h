/*
 * receive_stream.h: the hot path of Receive (MS-WSMV 3.1.4.14): a SAX pass
 * over a ReceiveResponse envelope that decodes each rsp:Stream's base64 as
 * libxml2 hands the text over (no DOM, no 500 KB text node, no second pass
 * over cold memory).
 *
 * It only takes replies it can read exactly as the DOM path would (wsman.c
 * wr_reply_parse + shell.c wr_shell_parse_receive): a well-formed SOAP 1.2
 * envelope without a DTD, whose first s:Header's first a:RelatesTo equals
 * our a:MessageID, whose first s:Body holds no s:Fault and has an
 * rsp:ReceiveResponse, and whose attributes we read hold no '&'. Anything
 * else (faults, w:TimedOut, malformed input, another conversation...) is
 * left to the DOM path, which then reports it as it always has.
 *
 * What the reply says is kept as a list of events in document order and
 * handed to the output callback only once the whole reply has been
 * accepted, so a reply that turns out malformed after its first stream
 * delivers nothing, as before.
 */
#ifndef WR_WSMAN_RECEIVE_STREAM_H
#define WR_WSMAN_RECEIVE_STREAM_H

#include <stddef.h>

#include "common/buf.h"

enum { WR_RS_STREAM = 1, WR_RS_STATE = 2 };

typedef struct wr_rs_event {
    int kind;
    /* WR_RS_STREAM: @Name, @CommandId, @End (NULL if absent); the decoded
     * bytes are data[off, off + len) of the wr_receive_stream; bad: the text
     * is not valid base64. */
    char *name, *command_id, *end;
    size_t off, len;
    int bad;
    /* WR_RS_STATE: @CommandId (in command_id), @State, and the trimmed text
     * of the first rsp:ExitCode (NULL if absent or empty). */
    char *state, *exit_code;
} wr_rs_event;

/* Reused from one Receive to the next (its buffers keep their memory). */
typedef struct wr_receive_stream {
    wr_buf data;
    wr_rs_event *ev;
    size_t nev, cap;
} wr_receive_stream;

#define WR_RECEIVE_STREAM_INIT {WR_BUF_INIT, NULL, 0, 0}

/*
 * Parse a whole reply body: `data[len]` must be 0 (as in a wr_buf). Returns
 * 1 if the reply was taken (the events are in `rs`), 0 if it must go the
 * DOM way (nothing raised; `rs` holds nothing useful). `message_id` is the
 * a:MessageID of our request.
 */
int wr_receive_stream_parse(wr_receive_stream *rs, const char *data, size_t len,
                            const char *message_id);

/* Forget the events (keeps the memory). */
void wr_receive_stream_reset(wr_receive_stream *rs);
void wr_receive_stream_free(wr_receive_stream *rs);

#endif
