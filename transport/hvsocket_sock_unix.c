/*
 * hvsocket_sock_unix.c: the wr_hvsock layer (hvsocket.h) outside Windows.
 *
 * A host-to-guest VMBus socket does not exist outside Windows: Linux
 * AF_VSOCK over hv_sock works only inside a guest, talking to its host,
 * and cannot name the PowerShell Direct services (PROTOCOL.md 5). So here
 * a "Hyper-V socket" is a Unix socket of a stand-in, when the environment
 * says where:
 *
 *   WINRSH_HVSOCKET_DIR=/dir   service G of VM V is /dir/V/G.sock when the
 *                              directory /dir/V exists, else /dir/G.sock
 *                              (GUIDs as lower-case text)
 *
 * (tests/server/psdirect_broker listens on /dir/999e53d4-....sock and
 * /dir/a5201c21-....sock.) Unset, connecting fails and says so. The socket
 * is a unix:// stream (stream_unix.c); the handshake reads and writes it
 * directly, then the framing takes it over as is.
 */
#ifndef _WIN32

#include "transport/hvsocket.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "winrsh/errors.h"

#define DIR_ENV "WINRSH_HVSOCKET_DIR"

struct wr_hvsock {
    wr_stream *s;
};

int wr_hvsock_require_modern_policy(void)
{
    return 0;
}

static int wrap(wr_hvsock **out, wr_stream *s)
{
    wr_hvsock *h = calloc(1, sizeof(*h));
    if (!h) {
        wr_stream_close(s);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    h->s = s;
    *out = h;
    return 0;
}

int wr_hvsock_adopt(wr_hvsock **out, int fd)
{
    *out = NULL;
    wr_stream *s = NULL;
    int rc = wr_stream_fd_adopt(&s, fd, fd);
    if (rc)
        return rc;
    return wrap(out, s);
}

int wr_hvsock_connect(wr_hvsock **out, const wr_guid *vm, const wr_guid *service, long timeout_ms)
{
    *out = NULL;
    const char *dir = getenv(DIR_ENV);
    if (!dir || !*dir)
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                            "PowerShell Direct needs Windows (AF_HYPERV); set " DIR_ENV
                            " to test against a stand-in");
    char vm_text[37], svc_text[37];
    wr_guid_format(vm, 0, vm_text);
    wr_guid_format(service, 0, svc_text);
    char url[4200];
    char vm_dir[4100];
    snprintf(vm_dir, sizeof(vm_dir), "%s/%s", dir, vm_text);
    struct stat st;
    int per_vm = stat(vm_dir, &st) == 0 && S_ISDIR(st.st_mode);
    int n = snprintf(url, sizeof(url), "unix://%s/%s.sock", per_vm ? vm_dir : dir, svc_text);
    if (n < 0 || (size_t)n >= sizeof(url))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, DIR_ENV " is too long");
    wr_stream_options so = {timeout_ms, NULL};
    wr_stream *s = NULL;
    int rc = wr_stream_unix.open(&s, url, &so);
    if (rc)
        return rc;
    return wrap(out, s);
}

int wr_hvsock_send(wr_hvsock *h, const void *buf, size_t len, long timeout_ms)
{
    return wr_stream_write_all(h->s, buf, len, timeout_ms);
}

int wr_hvsock_recv(wr_hvsock *h, void *buf, size_t cap, size_t *got, long timeout_ms)
{
    *got = 0;
    long long deadline = wr_stream_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        struct pollfd pfd = {h->s->type->fd(h->s, 0), POLLIN, 0};
        int pr = poll(&pfd, 1, wr_stream_ms_left(deadline));
        if (pr < 0 && errno != EINTR)
            return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "poll: %s", strerror(errno));
        if (pr > 0) {
            int rc = h->s->type->read(h->s, buf, cap, got);
            if (rc || *got)
                return rc;
        }
        if (wr_stream_ms_left(deadline) == 0)
            return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS, "no answer within %ld ms",
                                timeout_ms);
    }
}

int wr_hvsock_to_stream(wr_hvsock *h, wr_stream **out)
{
    *out = h->s;
    free(h);
    return 0;
}

void wr_hvsock_close(wr_hvsock *h)
{
    if (!h)
        return;
    wr_stream_close(h->s);
    free(h);
}

#else
typedef int wr_hvsocket_sock_unix_empty; /* ISO C wants something in every file */
#endif
