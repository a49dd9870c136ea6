/*
 * stream_unix.c: the Unix socket stream (target unix:///path), the adopted
 * descriptor stream for tests (wr_stream_fd_adopt), and the descriptor
 * helpers every fd-based back-end shares (transport/stream.h).
 *
 * unix:///path is the path after "unix://" taken literally (no percent
 * decoding); it must fit sun_path (107 bytes and a NUL on Linux).
 */
#include "transport/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "winrsh/errors.h"

/* ---- shared helpers ----------------------------------------------------- */

long long wr_stream_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wr_stream_ms_left(long long deadline)
{
    long long left = deadline - wr_stream_now_ms();
    if (left < 0)
        return 0;
    if (left > 0x7fffffff)
        return 0x7fffffff;
    return (int)left;
}

int wr_stream_fd_prepare(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "fcntl(O_NONBLOCK): %s",
                            strerror(errno));
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "fcntl(FD_CLOEXEC): %s",
                            strerror(errno));
    return 0;
}

int wr_stream_read_fd(int fd, void *buf, size_t len, size_t *got)
{
    *got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n > 0) {
            *got = (size_t)n;
            return 0;
        }
        if (n == 0)
            return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                                "the connection was closed by the peer");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == ECONNRESET)
            return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                                "the connection was reset by the peer");
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "read: %s", strerror(errno));
    }
}

/* One write() that cannot kill us with SIGPIPE: block it for this thread,
 * and if the write raised it (EPIPE) and it was not pending before, take
 * it off the pending set again before unblocking. This works for pipes,
 * where MSG_NOSIGNAL does not exist. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

int wr_stream_write_fd(int fd, const void *buf, size_t len, size_t *wrote)
{
    *wrote = 0;
    for (;;) {
        ssize_t n = write_nosigpipe(fd, buf, len);
        if (n >= 0) {
            *wrote = (size_t)n;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EPIPE || errno == ECONNRESET)
            return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                                "the peer closed the connection while we were writing");
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "write: %s", strerror(errno));
    }
}

int wr_stream_write_all(wr_stream *s, const void *buf, size_t len, long timeout_ms)
{
    const unsigned char *p = buf;
    long long deadline = wr_stream_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    while (len > 0) {
        size_t w = 0;
        int rc = s->type->write(s, p, len, &w);
        if (rc)
            return rc;
        p += w;
        len -= w;
        if (!len)
            break;
        if (w)
            continue;
        int left = wr_stream_ms_left(deadline);
        if (left == 0)
            return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS,
                                "the peer did not take our data within %ld ms", timeout_ms);
        struct pollfd pfd = {s->type->fd(s, 1), POLLOUT, 0};
        if (poll(&pfd, 1, left) < 0 && errno != EINTR)
            return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "poll: %s", strerror(errno));
    }
    return 0;
}

/* ---- the descriptor stream ---------------------------------------------- */

typedef struct fd_stream {
    wr_stream base;
    int rfd, wfd; /* equal for a socket */
} fd_stream;

static int fd_read(wr_stream *s, void *buf, size_t len, size_t *got)
{
    return wr_stream_read_fd(((fd_stream *)s)->rfd, buf, len, got);
}

static int fd_write(wr_stream *s, const void *buf, size_t len, size_t *wrote)
{
    return wr_stream_write_fd(((fd_stream *)s)->wfd, buf, len, wrote);
}

static int fd_fd(const wr_stream *s, int for_write)
{
    const fd_stream *f = (const fd_stream *)s;
    return for_write ? f->wfd : f->rfd;
}

static void fd_close(wr_stream *s)
{
    fd_stream *f = (fd_stream *)s;
    if (!f)
        return;
    if (f->wfd >= 0 && f->wfd != f->rfd)
        close(f->wfd);
    if (f->rfd >= 0)
        close(f->rfd);
    free(f);
}

static int fd_open_unsupported(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    (void)opts;
    *out = NULL;
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "%s: descriptor streams are only made by wr_stream_fd_adopt", target);
}

static const wr_stream_type fd_type = {"fd",    fd_open_unsupported, fd_read, fd_write, fd_fd,
                                       fd_close};

static int adopt(wr_stream **out, int rfd, int wfd, const wr_stream_type *type)
{
    *out = NULL;
    int rc = wr_stream_fd_prepare(rfd);
    if (!rc && wfd != rfd)
        rc = wr_stream_fd_prepare(wfd);
    fd_stream *f = rc ? NULL : calloc(1, sizeof(*f));
    if (!f) {
        if (!rc)
            rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return rc;
    }
    f->base.type = type;
    f->rfd = rfd;
    f->wfd = wfd;
    *out = &f->base;
    return 0;
}

int wr_stream_fd_adopt(wr_stream **out, int rfd, int wfd)
{
    if (!out || rfd < 0 || wfd < 0) {
        if (rfd >= 0)
            close(rfd);
        if (wfd >= 0 && wfd != rfd)
            close(wfd);
        if (out)
            *out = NULL;
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad descriptors");
    }
    return adopt(out, rfd, wfd, &fd_type);
}

/* ---- unix:///path --------------------------------------------------------- */

static int unix_open(wr_stream **out, const char *target, const wr_stream_options *opts);

const wr_stream_type wr_stream_unix = {"unix", unix_open, fd_read, fd_write, fd_fd, fd_close};

static int unix_open(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    *out = NULL;
    static const char scheme[] = "unix://";
    if (!target || strncmp(target, scheme, sizeof(scheme) - 1) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "%s: not a unix:///path target",
                            target ? target : "(null)");
    const char *path = target + sizeof(scheme) - 1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t plen = strlen(path);
    if (plen == 0 || path[0] != '/')
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: the socket path must be absolute (unix:///path)", target);
    if (plen >= sizeof(sa.sun_path))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: the socket path is longer than %zu bytes", target,
                            sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, plen);

#ifdef SOCK_CLOEXEC
    /* Close-on-exec from the start: a child another thread spawns meanwhile
     * must not inherit the socket. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
#endif
    if (fd < 0)
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "socket(AF_UNIX): %s", strerror(errno));
    int rc = wr_stream_fd_prepare(fd);
    if (rc) {
        close(fd);
        return rc;
    }
    long timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 30000;
    long long deadline = wr_stream_now_ms() + timeout_ms;
    int r;
    do
        r = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EINPROGRESS || errno == EAGAIN)) {
        /* A full backlog: wait for the server to accept, within the bound. */
        struct pollfd pfd = {fd, POLLOUT, 0};
        int pr;
        do
            pr = poll(&pfd, 1, wr_stream_ms_left(deadline));
        while (pr < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (pr == 0) {
            close(fd);
            return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                                "%s: connect timed out after %ld ms", target, timeout_ms);
        }
        if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        r = soerr ? -1 : 0;
        errno = soerr;
    }
    if (r < 0) {
        int e = errno;
        close(fd);
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "%s: connect: %s", target,
                            strerror(e));
    }
    return adopt(out, fd, fd, &wr_stream_unix);
}
