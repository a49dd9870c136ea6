/*
 * hvsocket.h: PowerShell Direct, the client (target vmbus://VMID[/CONFIG];
 * PROTOCOL.md 5; PowerShell's RemoteSessionHyperVSocket.cs).
 *
 * PowerShell Direct reaches a PowerShell in a Hyper-V VM over two Hyper-V
 * socket (AF_HYPERV) connections from the host, addressed by the VM's id
 * and a service GUID:
 *
 *   +---+--------------------------------------+---------------------------+
 *   | # | service                              | peer                      |
 *   +---+--------------------------------------+---------------------------+
 *   | 1 | 999e53d4-3d5c-4c3e-8779-bed06ec056e1 | the broker (vmicvmsession)|
 *   |   |                                      | checks the credentials,   |
 *   |   |                                      | starts the server, hands  |
 *   |   |                                      | out a token               |
 *   | 2 | a5201c21-2770-4c11-a68e-f182edb29220 | the PowerShell server:    |
 *   |   |                                      | token, then the framing   |
 *   +---+--------------------------------------+---------------------------+
 *
 * Connection 1, modern flow (a VERSION_2 broker). Keywords are ASCII;
 * domain, user, password and configuration name are UTF-16LE without a
 * terminator. Every token goes in one send; every reply is read with one
 * recv (16 bytes; 1024 for the token), as ASCII with trailing NULs trimmed:
 *
 *   client                            broker
 *   "VERSION"                    ->
 *                                <-   "VERSION_2" (any "VERSION_...")
 *   "VERSION_2"                  ->
 *                                <-   "PASS"
 *   domain ("localhost" if none) ->
 *                                <-   "PASS"
 *   user                         ->
 *                                <-   "PASS"
 *   "EMPTYPW"                    ->                  (empty password), or
 *   "NONEMPTYPW"                 ->
 *                                <-   "PASS"
 *   password                     ->
 *                                <-   "CONF" | "PASS" | "FAIL"
 *   FAIL: "FAIL"                 ->   and stop: invalid credentials
 *   CONF: "EMPTYCF"              ->                  (no configuration), or
 *         "NONEMPTYCF"           ->
 *                                <-   "PASS"
 *         config name            ->
 *   PASS: "PASS"                 ->                  (TP4-era guest)
 *                                <-   "TOKEN <token>"
 *   "PASS"                       ->
 *
 * A reply to "VERSION" that does not start with "VERSION_" is an old
 * broker that took "VERSION" for the domain: the client finishes that
 * conversation (user "?<PSDirectVMLegacy>" -> reply, "EMPTYPW" -> reply,
 * "FAIL", close), connects again and runs the legacy flow: the same from
 * the domain on, with no token at the end.
 *
 * Connection 2, modern: "VERSION" -> "VERSION_..." (16), "VERSION_2" ->
 * "PASS" (16), "TOKEN <token>" -> "PASS" (256); the guest refuses a token
 * older than 10 minutes. Legacy: nothing. Then the connection carries the
 * out-of-process framing (transport/outofproc.h) like any stream.
 *
 * Every send and every reply is bounded by the step timeout (default
 * 10 s); connects by the connect timeout. The broker answering "FAIL" is
 * WINRSH_EAUTH "invalid credentials for USER on VM VMID"; a broker or
 * server that closes mid-handshake is WINRSH_ECLOSED, one that stops
 * answering WINRSH_ETIMEOUT, an unexpected reply WINRSH_EPROTO; each
 * message says which step it was.
 *
 * The socket itself is per platform (wr_hvsock below):
 *   hvsocket_sock_win.c   Winsock AF_HYPERV (34), HV_PROTOCOL_RAW (1), a
 *                         36-byte SOCKADDR_HV (wr_hvsocket_sockaddr).
 *   hvsocket_sock_unix.c  no host-to-guest VMBus socket exists outside
 *                         Windows, so with WINRSH_HVSOCKET_DIR set, service
 *                         G of VM V is the Unix socket $DIR/V/G.sock if
 *                         the directory $DIR/V exists, else $DIR/G.sock
 *                         (a stand-in such as tests/server/psdirect_broker);
 *                         unset, connecting fails with a clear message.
 *
 * This file compiles on Windows (mingw) too: it needs only the C library,
 * common/ and the wr_hvsock layer, never POSIX.
 */
#ifndef WR_TRANSPORT_HVSOCKET_H
#define WR_TRANSPORT_HVSOCKET_H

#include <stddef.h>

#include "common/guid.h"
#include "common/trace.h"
#include "transport/stream.h"

#define WR_HV_SERVICE_BROKER "999e53d4-3d5c-4c3e-8779-bed06ec056e1"
#define WR_HV_SERVICE_SERVER "a5201c21-2770-4c11-a68e-f182edb29220"
#define WR_HV_AF_HYPERV 34
#define WR_HV_PROTOCOL_RAW 1
#define WR_HV_SOCKADDR_SIZE 36
/* Socket options at level HV_PROTOCOL_RAW (Windows hvsocket.h). */
#define WR_HV_OPT_CONNECT_TIMEOUT 1 /* u32 ms, at most 300000 */
#define WR_HV_OPT_CONTAINER_PASSTHRU 2

#define WR_HVSOCKET_STEP_TIMEOUT_MS 10000L
#define WR_HVSOCKET_CONNECT_TIMEOUT_MS 30000L
/* The probe user of the legacy fallback: '?', '<', '>' cannot be in a
 * Windows user name, so nobody can own it. */
#define WR_HVSOCKET_LEGACY_PROBE_USER "?<PSDirectVMLegacy>"

/* ---- the platform socket layer -------------------------------------------- */

typedef struct wr_hvsock wr_hvsock;

/* Connect to `service` of VM `vm` within timeout_ms. WINRSH_ECONNECT (with
 * the reason) when it cannot be reached. */
int wr_hvsock_connect(wr_hvsock **out, const wr_guid *vm, const wr_guid *service, long timeout_ms);
/* Send all of buf (one send() unless the socket takes less), waiting for
 * room at most timeout_ms. */
int wr_hvsock_send(wr_hvsock *s, const void *buf, size_t len, long timeout_ms);
/* Wait up to timeout_ms for data, then one recv() of at most cap bytes:
 * 0 with *got > 0; WINRSH_ECLOSED when the peer closed; WINRSH_ETIMEOUT. */
int wr_hvsock_recv(wr_hvsock *s, void *buf, size_t cap, size_t *got, long timeout_ms);
/* Make the socket the stream the framing runs over (ownership passes,
 * even on failure). */
int wr_hvsock_to_stream(wr_hvsock *s, wr_stream **out);
void wr_hvsock_close(wr_hvsock *s);
/* 1 when local policy forbids the legacy fallback (Windows: the registry
 * value HKLM\SOFTWARE\Microsoft\PowerShell RequirePsDirectAuthentication
 * is non-zero); 0 elsewhere. */
int wr_hvsock_require_modern_policy(void);
#ifndef _WIN32
/* A connected socket as a wr_hvsock (ownership passes, even on failure):
 * for tests that script a broker on a socketpair(). */
int wr_hvsock_adopt(wr_hvsock **out, int fd);
#endif

/* The 36-byte sockaddr (PROTOCOL.md 5): family 34 (u16 LE), reserved 0,
 * VmId and ServiceId in the Windows GUID layout (Data1-3 little-endian). */
void wr_hvsocket_sockaddr(unsigned char out[WR_HV_SOCKADDR_SIZE], const wr_guid *vm,
                          const wr_guid *service);

/* ---- the client --------------------------------------------------------------- */

/* How a connection is made: the platform's wr_hvsock_connect, or a test's. */
typedef int (*wr_hvsocket_connect_fn)(wr_hvsock **out, const wr_guid *vm, const wr_guid *service,
                                      long timeout_ms, void *payload);

typedef struct wr_hvsocket_options {
    /* "DOMAIN\user" or "user" (no domain: "localhost"); NULL: the
     * target's USER@. Copied as needed; never traced. */
    const char *user;
    /* NULL or "": EMPTYPW. Sent as UTF-16LE, wiped after. */
    const char *password;
    /* PSSessionConfiguration; NULL: the target's /CONFIG, else none
     * (EMPTYCF: the VM's default). */
    const char *config_name;
    long step_timeout_ms;    /* each send and reply; <= 0: 10 s */
    long connect_timeout_ms; /* each connect; <= 0: 30 s */
    /* 1: never fall back to the legacy flow (as RequirePsDirectAuthentication
     * does; that policy applies as well). */
    int require_modern;
    const wr_tracer *tracer; /* borrowed; NULL: none */
    /* NULL: wr_hvsock_connect. */
    wr_hvsocket_connect_fn connect;
    void *connect_payload;
} wr_hvsocket_options;

/* The parts of vmbus://[USER@]VMID[/CONFIG] (USER and CONFIG may hold %XX
 * escapes; VMID may be in braces). user/config are NULL when absent. */
typedef struct wr_hvsocket_target {
    wr_guid vm;
    char vm_text[37]; /* lower case */
    char *user;
    char *config;
} wr_hvsocket_target;

int wr_hvsocket_target_parse(wr_hvsocket_target *t, const char *target);
void wr_hvsocket_target_free(wr_hvsocket_target *t);

/*
 * Run both handshakes and return the server connection as a stream for
 * the framing. Which flow ran is traced (and in *legacy if not NULL).
 */
int wr_hvsocket_open(wr_stream **out, const char *target, const wr_hvsocket_options *o,
                     int *legacy);

/* The scheme table's entry: vmbus://USER@VMID[/CONFIG] with an empty
 * password (sessions with credentials call wr_hvsocket_open). */
extern const wr_stream_type wr_stream_hvsocket;

#endif
