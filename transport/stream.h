/*
 * stream.h: stream transports (ARCHITECTURE.md 3): a byte pipe to a PSRP
 * server that speaks the out-of-process framing (transport/outofproc.h).
 *
 * A back-end is a `const wr_stream_type` named after its URL scheme:
 *
 *   +-----------+------------------------------+--------------------------+
 *   | name      | target                       | what it is               |
 *   +-----------+------------------------------+--------------------------+
 *   | "process" | process:///path/to/pwsh      | a local `pwsh -s` child  |
 *   |           | (or process://pwsh: PATH)    | over pipes (its stdin/   |
 *   |           |                              | stdout; stderr captured) |
 *   | "unix"    | unix:///path/to/socket       | a Unix stream socket     |
 *   |           |                              | (tests, socat bridges)   |
 *   +-----------+------------------------------+--------------------------+
 *
 * Later back-ends (ssh, vsock, hvsocket, tcp) plug in the same way.
 *
 * The model is non-blocking I/O around pollable descriptors: callers poll()
 * fd(s, 0) for POLLIN and fd(s, 1) for POLLOUT together with whatever else
 * they wait for (an interrupt self-pipe), then call read() or write(),
 * which never block. The caller keeps reading while it writes: a server
 * that cannot get rid of its output may stop reading its input (pwsh
 * writes each ack under the same lock as pipeline output), so a writer
 * that only waits for POLLOUT could deadlock with it. Writes never raise
 * SIGPIPE. A stream is used by one thread at a time.
 */
#ifndef WR_TRANSPORT_STREAM_H
#define WR_TRANSPORT_STREAM_H

#include <stddef.h>

#include "common/trace.h"

typedef struct wr_stream wr_stream;

typedef struct wr_stream_options {
    /* Bound for connecting / starting; <= 0 takes 30 s. */
    long connect_timeout_ms;
    /* Borrowed for the life of the stream; may be NULL. */
    const wr_tracer *tracer;
} wr_stream_options;

typedef struct wr_stream_type {
    /* The URL scheme, without "://". */
    const char *name;
    /* Connect to / start `target` (the full URL). Errors are raised with
     * wr_error_set: WINRSH_EINVAL for a malformed target, WINRSH_ECONNECT
     * when the peer cannot be reached or started. */
    int (*open)(wr_stream **out, const char *target, const wr_stream_options *opts);
    /* Read up to len bytes that are available now; never blocks.
     *   0, *got > 0      data
     *   0, *got == 0     nothing yet: poll fd() and call again
     *   WINRSH_ECLOSED   end of stream; the message says why (for a child
     *                    process: its exit status and the tail of its stderr)
     *   other < 0        an I/O error */
    int (*read)(wr_stream *s, void *buf, size_t len, size_t *got);
    /* Write what fits now; never blocks. 0 with *wrote <= len (0: no room,
     * poll fd(s, 1) for POLLOUT); WINRSH_ECLOSED when the peer went away
     * (with the same message as read's), WINRSH_EIO. */
    int (*write)(wr_stream *s, const void *buf, size_t len, size_t *wrote);
    /* The descriptor to poll: for POLLIN (for_write 0) before read(), for
     * POLLOUT (for_write 1) when write() took less than it was given. */
    int (*fd)(const wr_stream *s, int for_write);
    /* Shut down and free (NULL-safe). A child process gets EOF on its stdin,
     * then SIGTERM, then SIGKILL, each after a grace period, and is reaped:
     * close never leaves a zombie and never waits without bound. */
    void (*close)(wr_stream *s);
} wr_stream_type;

/* Every stream starts with this. */
struct wr_stream {
    const wr_stream_type *type;
};

extern const wr_stream_type wr_stream_process;
extern const wr_stream_type wr_stream_unix;

/* Wrap an already connected socket or pipe pair (ownership of both fds
 * passes, even on failure; rfd may equal wfd): for tests, which script a
 * fake server on the other end of a socketpair(). */
int wr_stream_fd_adopt(wr_stream **out, int rfd, int wfd);

/* ---- helpers for descriptor-based back-ends (in stream_unix.c) -------- */

/* CLOCK_MONOTONIC in milliseconds. */
long long wr_stream_now_ms(void);
/* Milliseconds left until deadline (>= 0), for poll(). */
int wr_stream_ms_left(long long deadline);
/* Make fd non-blocking and close-on-exec. 0 or WINRSH_EIO. */
int wr_stream_fd_prepare(int fd);
/* read() on a non-blocking fd with the read() convention above; EOF is
 * WINRSH_ECLOSED with a generic message that back-ends may replace. */
int wr_stream_read_fd(int fd, void *buf, size_t len, size_t *got);
/* write() on a non-blocking fd with the write() convention above. SIGPIPE
 * is blocked in the calling thread for the write and a SIGPIPE the write
 * raised is consumed, so a vanished peer is WINRSH_ECLOSED, never a dead
 * process; works for pipes and sockets alike. */
int wr_stream_write_fd(int fd, const void *buf, size_t len, size_t *wrote);
/* Write all of buf, waiting for room at most timeout_ms, reading nothing
 * meanwhile: for peers that are known to keep reading (tests, handshakes). */
int wr_stream_write_all(wr_stream *s, const void *buf, size_t len, long timeout_ms);

/* Close and free through the type; NULL-safe. */
static inline void wr_stream_close(wr_stream *s)
{
    if (s)
        s->type->close(s);
}

#endif
