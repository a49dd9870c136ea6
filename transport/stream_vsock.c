/*
 * stream_vsock.c: vsock://CID:PORT over Linux AF_VSOCK (see stream_vsock.h).
 *
 * The connect is non-blocking and waited for with poll() within the
 * connect timeout: a CID nobody answers for can leave a blocking connect()
 * hanging for the kernel's own vsock timeout (2 s by default, longer where
 * it was raised), and a missing transport may never answer at all.
 */
#include "transport/stream_vsock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

#include "common/error.h"
#include "winrsh/errors.h"

#define DEFAULT_CONNECT_MS 30000L

static int parse_u32(const char *s, size_t n, uint32_t *out)
{
    if (n == 0 || n > 10)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > 0xffffffffu)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int wr_vsock_target_parse(const char *target, uint32_t *cid, uint32_t *port)
{
    static const char scheme[] = "vsock://";
    if (!target || strncmp(target, scheme, sizeof(scheme) - 1) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a vsock://CID:PORT target", target ? target : "(null)");
    const char *rest = target + sizeof(scheme) - 1;
    size_t len = strlen(rest);
    if (len && rest[len - 1] == '/')
        len--;
    const char *colon = memchr(rest, ':', len);
    if (!colon)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a vsock://CID:PORT target: no port", target);
    size_t cl = (size_t)(colon - rest);
    if (parse_u32(rest, cl, cid) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a vsock://CID:PORT target: the CID is not a decimal "
                            "number from 0 to 4294967295",
                            target);
    if (parse_u32(colon + 1, len - cl - 1, port) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a vsock://CID:PORT target: the port is not a decimal "
                            "number from 0 to 4294967295",
                            target);
    if (*cid == 0xffffffffu)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: CID 4294967295 is VMADDR_CID_ANY, not a peer", target);
    return 0;
}

typedef struct vsock_stream {
    wr_stream base;
    int fd;
} vsock_stream;

static int vs_read(wr_stream *s, void *buf, size_t len, size_t *got)
{
    return wr_stream_read_fd(((vsock_stream *)s)->fd, buf, len, got);
}

static int vs_write(wr_stream *s, const void *buf, size_t len, size_t *wrote)
{
    return wr_stream_write_fd(((vsock_stream *)s)->fd, buf, len, wrote);
}

static int vs_fd(const wr_stream *s, int for_write)
{
    (void)for_write;
    return ((const vsock_stream *)s)->fd;
}

static void vs_close(wr_stream *s)
{
    vsock_stream *v = (vsock_stream *)s;
    if (!v)
        return;
    if (v->fd >= 0)
        close(v->fd);
    free(v);
}

static int vsock_open(wr_stream **out, const char *target, const wr_stream_options *opts);

const wr_stream_type wr_stream_vsock = {"vsock", vsock_open, vs_read, vs_write, vs_fd, vs_close};

#ifdef __linux__

/* What a failed connect means, for the message. */
static const char *hint(int e, uint32_t cid)
{
    switch (e) {
    case ENODEV:
        return " (no vsock transport reaches that CID: is the VM running, and is this a "
               "VM guest or host with vsock?)";
    case EAFNOSUPPORT:
        return " (this kernel has no AF_VSOCK: load the vsock modules)";
    case ECONNRESET:
    case ECONNREFUSED:
        return cid == 2 ? " (nothing listens on that port of the host)"
                        : " (nothing listens on that port)";
    case EADDRNOTAVAIL:
        return " (no vsock loopback on this machine)";
    case ENETUNREACH:
    case EHOSTUNREACH:
        return " (no such VM)";
    default:
        return "";
    }
}

static int vsock_open(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    *out = NULL;
    uint32_t cid = 0, port = 0;
    int rc = wr_vsock_target_parse(target, &cid, &port);
    if (rc)
        return rc;
    long timeout_ms =
        opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
#ifdef SOCK_CLOEXEC
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
#endif
    if (fd < 0) {
        int e = errno;
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "%s: socket(AF_VSOCK): %s%s",
                            target, strerror(e), hint(e, cid));
    }
    if ((rc = wr_stream_fd_prepare(fd)) != 0) {
        close(fd);
        return rc;
    }
    struct sockaddr_vm sa;
    memset(&sa, 0, sizeof(sa));
    sa.svm_family = AF_VSOCK;
    sa.svm_cid = cid;
    sa.svm_port = port;
    long long deadline = wr_stream_now_ms() + timeout_ms;
    int r;
    do
        r = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
    while (r < 0 && errno == EINTR);
    int e = r < 0 ? errno : 0;
    if (r < 0 && (e == EINPROGRESS || e == EAGAIN)) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int pr;
        do
            pr = poll(&pfd, 1, wr_stream_ms_left(deadline));
        while (pr < 0 && errno == EINTR);
        if (pr == 0) {
            close(fd);
            return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                                "%s: connect timed out after %ld ms (no answer from CID %u)",
                                target, timeout_ms, cid);
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        e = soerr;
    }
    if (e) {
        close(fd);
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "%s: connect: %s%s", target,
                            strerror(e), hint(e, cid));
    }
    vsock_stream *v = calloc(1, sizeof(*v));
    if (!v) {
        close(fd);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    v->base.type = &wr_stream_vsock;
    v->fd = fd;
    *out = &v->base;
    return 0;
}

#else /* !__linux__ */

static int vsock_open(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    (void)opts;
    *out = NULL;
    uint32_t cid = 0, port = 0;
    int rc = wr_vsock_target_parse(target, &cid, &port);
    if (rc)
        return rc;
    return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "%s: vsock:// needs Linux (AF_VSOCK)",
                        target);
}

#endif
