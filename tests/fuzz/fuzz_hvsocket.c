/*
 * fuzz_hvsocket.c: PowerShell Direct (transport/hvsocket.c): the
 * vmbus://[USER@]VMID[/CONFIG] target text and the replies of the broker
 * and of the PowerShell server during the two handshakes (VERSION_n,
 * PASS/CONF/FAIL, "TOKEN <token>", the legacy fallback).
 *
 * The connection hook of wr_hvsocket_options hands the client one end of a
 * SOCK_SEQPACKET socketpair per connection (wr_hvsock_adopt), the other
 * end already holding that connection's scripted replies, one packet each
 * (each reply is one recv() on the client side, as over AF_HYPERV), and
 * then shut down for writing: when the script runs out the client sees the
 * peer hang up (WINRSH_ECLOSED), never a timeout, while its own sends still
 * go through. What the client sends is not read.
 *
 * Input: the target, "\n", then the replies, each ended by "\n"; an empty
 * line ends the script of one connection and starts the next (broker,
 * broker again for the legacy flow, server). Seeds: the modern and legacy
 * conversations of hvsocket.h, as PowerShell's RemoteSessionHyperVSocket.cs
 * and the stand-in broker of tests/server answer them.
 */
#include "fuzz_common.h"

#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "transport/hvsocket.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

#define MAX_CONNECTS 4
#define MAX_REPLIES 32

typedef struct {
    fz_input rest; /* the scripts still to hand out */
    int connects;
    int peers[MAX_CONNECTS]; /* our ends, closed when the handshake is over */
} script;

static int fake_connect(wr_hvsock **out, const wr_guid *vm, const wr_guid *service, long timeout_ms,
                        void *payload)
{
    (void)vm;
    (void)service;
    (void)timeout_ms;
    script *s = payload;
    *out = NULL;
    if (s->connects >= MAX_CONNECTS)
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "fuzz: too many connects");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        abort();
    s->peers[s->connects++] = sv[1];
    /* This connection's replies: lines up to an empty one. A handshake
     * reads at most nine; beyond MAX_REPLIES they are dropped, so the
     * socket buffer (a few hundred packets) never fills. */
    int queued = 0;
    while (s->rest.n) {
        fz_input line = fz_line(&s->rest);
        if (line.n == 0)
            break;
        if (queued < MAX_REPLIES && send(sv[1], line.p, line.n, MSG_DONTWAIT) == (ssize_t)line.n)
            queued++;
    }
    shutdown(sv[1], SHUT_WR);
    return wr_hvsock_adopt(out, sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input in = {data, size};
    char *target = fz_strdup(fz_line(&in));

    wr_hvsocket_target t;
    if (wr_hvsocket_target_parse(&t, target) == 0)
        wr_hvsocket_target_free(&t);
    winrsh_error_clear();

    for (int variant = 0; variant < 2; variant++) {
        script s;
        memset(&s, 0, sizeof(s));
        s.rest = in;
        wr_hvsocket_options o;
        memset(&o, 0, sizeof(o));
        o.user = variant ? "DOMAIN\\user" : NULL; /* NULL: the target's USER@ */
        o.password = variant ? "secret" : NULL;
        o.config_name = variant ? "JEA" : NULL;
        o.require_modern = variant;
        o.step_timeout_ms = 2000; /* never reached: the peer has closed */
        o.connect_timeout_ms = 2000;
        o.connect = fake_connect;
        o.connect_payload = &s;
        wr_stream *st = NULL;
        int legacy = 0;
        if (wr_hvsocket_open(&st, target, &o, &legacy) == 0)
            wr_stream_close(st);
        winrsh_error_clear();
        for (int i = 0; i < s.connects; i++)
            close(s.peers[i]);
    }
    free(target);
    return 0;
}
