/*
 * fuzz_outofproc_conn.c: the client side of an out-of-process connection
 * (transport/outofproc.c wr_oop_conn) reading what a server sends: the
 * waits for DataAck/CommandAck/SignalAck/CloseAck with server Data queued
 * meanwhile, the acks that come late or for another PSGuid, the packets
 * only a client may send, error lines, and the receive loop that hands the
 * queued and new Data out, whose payloads then go through the PSRP
 * defragmenter as the runspace does.
 *
 * The stream is one end of a socketpair whose other end already holds the
 * whole input and is shut down for writing: once the input is used up the
 * client sees the server hang up, so no wait ever runs into its timeout.
 * What the client writes is not read.
 *
 * Two connections run over each input. On the first the client does, in
 * order: Data(pool) + wait DataAck(pool), Command(P) + CommandAck(P),
 * Data(P, PromptResponse) + DataAck(P), Signal(P) + SignalAck(P), then
 * receives until an error or nothing is left. On the second it closes at
 * once, Close(P) + CloseAck(P), Close(pool) + CloseAck(pool), then
 * receives. P is the PSGuid of the seeds, 4a3b0f5e-2c1d-4e6f-8a9b-0c1d2e3f4a5b.
 *
 * Input: the server's byte stream. Seeds: those of fuzz_outofproc and one
 * whole conversation in the order above (make_corpus.py).
 */
#include "fuzz_common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/guid.h"
#include "psrp/fragment.h"
#include "transport/outofproc.h"
#include "transport/stream.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static int on_message(void *payload, uint64_t object_id, const unsigned char *msg, size_t len)
{
    unsigned *sum = payload;
    *sum += (unsigned)object_id;
    for (size_t i = 0; i < len; i++)
        *sum += msg[i];
    return 0;
}

typedef struct {
    wr_psrp_defrag pool, pipe;
    unsigned sum;
} sink;

static int on_data(const wr_guid *psguid, wr_oop_stream stream, const unsigned char *data,
                   size_t len, void *payload)
{
    sink *s = payload;
    s->sum += (unsigned)stream;
    wr_psrp_defrag *d = psguid ? &s->pipe : &s->pool;
    if (wr_psrp_defrag_feed(d, data, len, on_message, &s->sum) != 0)
        wr_psrp_defrag_reset(d);
    return 0;
}

/* One connection over the input. full: the whole client sequence above;
 * else only the two Closes, then receive (the end of a session). */
static void run(const uint8_t *data, size_t size, int full)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    /* As much of the input as the socket takes at once (all of it for the
     * sizes libFuzzer makes here). */
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);

    wr_stream *st = NULL;
    if (wr_stream_fd_adopt(&st, sv[0], sv[0]) != 0)
        abort();
    wr_oop_conn *c = NULL;
    if (wr_oop_conn_wrap(&c, st, NULL, 1000) != 0)
        abort();
    wr_oop_set_timeouts(c, 1000, 1000);

    wr_guid pid;
    if (wr_guid_parse(&pid, "4a3b0f5e-2c1d-4e6f-8a9b-0c1d2e3f4a5b") != 0)
        abort();
    sink s;
    memset(&s, 0, sizeof(s));
    wr_psrp_defrag_init(&s.pool, 4096, 4);
    wr_psrp_defrag_init(&s.pipe, 4096, 4);

    if (full) {
        (void)wr_oop_send_data(c, NULL, WR_OOP_STREAM_DEFAULT, "x", 1);
        (void)wr_oop_command(c, &pid);
        (void)wr_oop_send_data(c, &pid, WR_OOP_STREAM_PROMPT_RESPONSE, "y", 1);
        (void)wr_oop_signal(c, &pid);
    } else {
        (void)wr_oop_close(c, &pid);
        (void)wr_oop_close(c, NULL);
    }
    for (int i = 0; i < 64; i++) {
        int timed_out = 0;
        if (wr_oop_receive(c, 0, on_data, &s, &timed_out) != 0 || timed_out)
            break;
    }
    if (full) {
        (void)wr_oop_close(c, &pid); /* the stream has ended: raises it again */
    }

    wr_oop_conn_free(c); /* closes sv[0] */
    close(sv[1]);
    wr_psrp_defrag_free(&s.pool);
    wr_psrp_defrag_free(&s.pipe);
    winrsh_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 1);
    run(data, size, 0);
    return 0;
}
