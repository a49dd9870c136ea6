/*
 * hvsocket_sock_win.c: the wr_hvsock layer (hvsocket.h) on Windows:
 * Winsock with AF_HYPERV (34), SOCK_STREAM, HV_PROTOCOL_RAW (1) and the
 * 36-byte SOCKADDR_HV built by wr_hvsocket_sockaddr():
 *
 *   +--------+------+-----------------------------------------------+
 *   | offset | size | field                                         |
 *   +--------+------+-----------------------------------------------+
 *   | 0      | 2    | Family = 34                                   |
 *   | 2      | 2    | Reserved = 0                                  |
 *   | 4      | 16   | VmId (GUID, Data1-3 little-endian)            |
 *   | 20     | 16   | ServiceId (GUID)                              |
 *   +--------+------+-----------------------------------------------+
 *
 * The connect is bounded with the HVSOCKET_CONNECT_TIMEOUT socket option
 * (level HV_PROTOCOL_RAW, name 1, a u32 of milliseconds, at most 300000);
 * sends and replies with select(). After the handshake the socket is made
 * non-blocking and becomes a wr_stream whose fd() is the SOCKET (poll it
 * with WSAPoll). Connecting needs the caller to be an administrator or in
 * "Hyper-V Administrators" on the host.
 *
 * Only compiled on Windows (tests/windows/check_mingw.sh checks that it
 * does); this file needs nothing but Winsock and the registry API.
 */
#ifdef _WIN32

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/hvsocket.h"
#include "winrsh/errors.h"

#define HV_CONNECT_TIMEOUT_MAX_MS 300000L

struct wr_hvsock {
    SOCKET s;
    int wsa; /* WSAStartup succeeded: WSACleanup on close */
};

/* ---- errors ------------------------------------------------------------------- */

static const char *wsa_hint(int e)
{
    switch (e) {
    case WSAEAFNOSUPPORT:
    case WSAEPROTONOSUPPORT:
    case WSAESOCKTNOSUPPORT:
        return " (Hyper-V sockets are not available: is Hyper-V installed on this host?)";
    case WSAEACCES:
        return " (run as an administrator or a member of Hyper-V Administrators)";
    case WSAECONNREFUSED:
        return " (is the VM running, with the Guest Service Interface / PowerShell Direct "
               "service on?)";
    case WSAETIMEDOUT:
        return " (the VM did not answer)";
    case WSAENETUNREACH:
    case WSAEHOSTUNREACH:
    case WSAEADDRNOTAVAIL:
        return " (no VM with that Id on this host)";
    default:
        return "";
    }
}

static int wsa_error(int code, const char *what, int e)
{
    char text[256] = "";
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                             (DWORD)e, 0, text, (DWORD)sizeof(text), NULL);
    while (n > 0 &&
           (text[n - 1] == '\r' || text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '.'))
        text[--n] = 0;
    return wr_error_set(code, WINRSH_ERRCLASS_OS, "%s: %s (WSA error %d)%s", what,
                        n ? text : "error", e, wsa_hint(e));
}

/* ---- policy --------------------------------------------------------------------- */

int wr_hvsock_require_modern_policy(void)
{
    DWORD value = 0, size = sizeof(value);
    LSTATUS st = RegGetValueA(HKEY_LOCAL_MACHINE, "SOFTWARE\\Microsoft\\PowerShell",
                              "RequirePsDirectAuthentication",
                              RRF_RT_REG_DWORD | RRF_SUBKEY_WOW6464KEY, NULL, &value, &size);
    return st == ERROR_SUCCESS && value != 0;
}

/* ---- the socket ----------------------------------------------------------------- */

int wr_hvsock_connect(wr_hvsock **out, const wr_guid *vm, const wr_guid *service, long timeout_ms)
{
    *out = NULL;
    wr_hvsock *h = calloc(1, sizeof(*h));
    if (!h)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    h->s = INVALID_SOCKET;
    WSADATA wd;
    int e = WSAStartup(MAKEWORD(2, 2), &wd);
    if (e) {
        free(h);
        return wsa_error(WINRSH_ECONNECT, "WSAStartup", e);
    }
    h->wsa = 1;
    h->s = WSASocketW(WR_HV_AF_HYPERV, SOCK_STREAM, WR_HV_PROTOCOL_RAW, NULL, 0,
                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (h->s == INVALID_SOCKET) {
        int err = WSAGetLastError();
        wr_hvsock_close(h);
        return wsa_error(WINRSH_ECONNECT, "socket(AF_HYPERV)", err);
    }
    if (timeout_ms > 0) {
        DWORD ms = (DWORD)(timeout_ms < HV_CONNECT_TIMEOUT_MAX_MS ? timeout_ms
                                                                  : HV_CONNECT_TIMEOUT_MAX_MS);
        /* Best effort: without it the system default (90 s) applies. */
        (void)setsockopt(h->s, WR_HV_PROTOCOL_RAW, WR_HV_OPT_CONNECT_TIMEOUT, (const char *)&ms,
                         (int)sizeof(ms));
    }
    /* Aligned storage for the 36 bytes. */
    union {
        struct sockaddr sa;
        unsigned char b[WR_HV_SOCKADDR_SIZE];
        unsigned long long align;
    } addr;
    wr_hvsocket_sockaddr(addr.b, vm, service);
    if (connect(h->s, &addr.sa, WR_HV_SOCKADDR_SIZE) == SOCKET_ERROR) {
        int err = WSAGetLastError();
        wr_hvsock_close(h);
        return wsa_error(WINRSH_ECONNECT, "connect(AF_HYPERV)", err);
    }
    *out = h;
    return 0;
}

/* Wait until the socket is readable (for_write 0) or writable; 1 ready,
 * 0 timed out, -1 error (WSAGetLastError). */
static int wait_ready(SOCKET s, int for_write, long timeout_ms)
{
    fd_set set;
    FD_ZERO(&set);
    FD_SET(s, &set);
    struct timeval tv;
    tv.tv_sec = (long)(timeout_ms / 1000);
    tv.tv_usec = (long)((timeout_ms % 1000) * 1000);
    int r = select(0, for_write ? NULL : &set, for_write ? &set : NULL, NULL, &tv);
    if (r == SOCKET_ERROR)
        return -1;
    return r > 0 ? 1 : 0;
}

int wr_hvsock_send(wr_hvsock *h, const void *buf, size_t len, long timeout_ms)
{
    const char *p = buf;
    while (len > 0) {
        int r = wait_ready(h->s, 1, timeout_ms);
        if (r < 0)
            return wsa_error(WINRSH_EIO, "select", WSAGetLastError());
        if (r == 0)
            return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS,
                                "the peer did not take our data within %ld ms", timeout_ms);
        int chunk = len > 0x7fffffff ? 0x7fffffff : (int)len;
        int n = send(h->s, p, chunk, 0);
        if (n == SOCKET_ERROR) {
            int e = WSAGetLastError();
            if (e == WSAEWOULDBLOCK || e == WSAEINTR)
                continue;
            if (e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAESHUTDOWN)
                return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                                    "the peer closed the connection");
            return wsa_error(WINRSH_EIO, "send", e);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int wr_hvsock_recv(wr_hvsock *h, void *buf, size_t cap, size_t *got, long timeout_ms)
{
    *got = 0;
    int r = wait_ready(h->s, 0, timeout_ms);
    if (r < 0)
        return wsa_error(WINRSH_EIO, "select", WSAGetLastError());
    if (r == 0)
        return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_OS, "no answer within %ld ms",
                            timeout_ms);
    int n = recv(h->s, buf, cap > 0x7fffffff ? 0x7fffffff : (int)cap, 0);
    if (n == 0)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS, "the peer closed the connection");
    if (n == SOCKET_ERROR) {
        int e = WSAGetLastError();
        if (e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAESHUTDOWN)
            return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                                "the connection was reset by the peer");
        return wsa_error(WINRSH_EIO, "recv", e);
    }
    *got = (size_t)n;
    return 0;
}

void wr_hvsock_close(wr_hvsock *h)
{
    if (!h)
        return;
    if (h->s != INVALID_SOCKET)
        closesocket(h->s);
    if (h->wsa)
        WSACleanup();
    free(h);
}

/* ---- the stream over the server connection --------------------------------------- */

typedef struct win_stream {
    wr_stream base;
    wr_hvsock *h;
} win_stream;

static int ws_read(wr_stream *st, void *buf, size_t len, size_t *got)
{
    win_stream *w = (win_stream *)st;
    *got = 0;
    int n = recv(w->h->s, buf, len > 0x7fffffff ? 0x7fffffff : (int)len, 0);
    if (n > 0) {
        *got = (size_t)n;
        return 0;
    }
    if (n == 0)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                            "the connection was closed by the peer");
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK || e == WSAEINTR)
        return 0;
    if (e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAESHUTDOWN)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                            "the connection was reset by the peer");
    return wsa_error(WINRSH_EIO, "recv", e);
}

static int ws_write(wr_stream *st, const void *buf, size_t len, size_t *wrote)
{
    win_stream *w = (win_stream *)st;
    *wrote = 0;
    int n = send(w->h->s, buf, len > 0x7fffffff ? 0x7fffffff : (int)len, 0);
    if (n >= 0) {
        *wrote = (size_t)n;
        return 0;
    }
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK || e == WSAEINTR)
        return 0;
    if (e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAESHUTDOWN)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS,
                            "the peer closed the connection while we were writing");
    return wsa_error(WINRSH_EIO, "send", e);
}

static int ws_fd(const wr_stream *st, int for_write)
{
    (void)for_write;
    /* Socket handles fit in 32 bits (they are kernel handles). */
    return (int)((const win_stream *)st)->h->s;
}

static void ws_close(wr_stream *st)
{
    win_stream *w = (win_stream *)st;
    if (!w)
        return;
    wr_hvsock_close(w->h);
    free(w);
}

static int ws_open_unsupported(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    (void)opts;
    *out = NULL;
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "%s: Hyper-V socket streams are made by wr_hvsocket_open", target);
}

static const wr_stream_type win_hv_type = {
    "hvsocket", ws_open_unsupported, ws_read, ws_write, ws_fd, ws_close};

int wr_hvsock_to_stream(wr_hvsock *h, wr_stream **out)
{
    *out = NULL;
    u_long nonblocking = 1;
    if (ioctlsocket(h->s, (long)FIONBIO, &nonblocking) == SOCKET_ERROR) {
        int e = WSAGetLastError();
        wr_hvsock_close(h);
        return wsa_error(WINRSH_EIO, "ioctlsocket(FIONBIO)", e);
    }
    win_stream *w = calloc(1, sizeof(*w));
    if (!w) {
        wr_hvsock_close(h);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    w->base.type = &win_hv_type;
    w->h = h;
    *out = &w->base;
    return 0;
}

#else
typedef int wr_hvsocket_sock_win_empty; /* ISO C wants something in every file */
#endif
