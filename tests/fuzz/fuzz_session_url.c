/*
 * fuzz_session_url.c: the target an embedder (or the program) hands to
 * winrsh_session_open():
 *   - http(s)://: wsman/session.c normalise_url, then curl's URL parser in
 *     wr_http_open (transport/http.c parse_url), which must agree on what
 *     the host is, since the host decides TrustedHosts and the SPN;
 *   - the out-of-process schemes, kept verbatim by the session and parsed
 *     when the first operation opens the stream: ssh://[USER@]HOST[:PORT]
 *     (transport/stream_ssh.c, whose host and user must never look like an
 *     ssh option), vsock://CID:PORT, vmbus://[USER@]VMID[/CONFIG]; those
 *     parsers run on the input directly.
 * Opening a session does no I/O and starts no process: it only builds the
 * handles.
 *
 * Input: the URL (a NUL in it ends it, as it would in C). Seeds: the
 * endpoints of tests/fixtures (http://host:5985/wsman, https, IPv4, IPv6,
 * OMI paths), the forms tests/unit exercises and one of each other scheme.
 */
#include "fuzz_common.h"

#include "transport/hvsocket.h"
#include "transport/stream_ssh.h"
#include "transport/stream_vsock.h"
#include "winrsh/common.h"
#include "winrsh/session.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static void other_schemes(const char *url)
{
    wr_ssh_target t;
    if (wr_ssh_target_parse(&t, url) == 0) {
        if (!t.host || !t.host[0] || t.host[0] == '-' || (t.user && t.user[0] == '-'))
            abort(); /* "a host or user that ssh could take for an option" */
        wr_ssh_target_free(&t);
    }
    uint32_t cid, port;
    (void)wr_vsock_target_parse(url, &cid, &port);
    wr_hvsocket_target h;
    if (wr_hvsocket_target_parse(&h, url) == 0)
        wr_hvsocket_target_free(&h);
    winrsh_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fz_strdup((fz_input){data, size});
    other_schemes(url);

    winrsh_session_options o = WINRSH_SESSION_OPTIONS_INIT;
    o.user = "user";
    o.password = "secret";
    winrsh_session *s = NULL;
    if (winrsh_session_open(&s, url, &o) == 0) {
        const char *u = winrsh_session_url(s);
        if (!u)
            abort();
        if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
            /* Normalised (scheme in lower case, a path): accepted again,
             * unchanged. */
            winrsh_session *t = NULL;
            if (winrsh_session_open(&t, u, &o) != 0 || strcmp(winrsh_session_url(t), u) != 0)
                abort();
            winrsh_session_free(t);
        } else if (strcmp(u, url) != 0) {
            abort(); /* an out-of-process target is kept as given */
        }
        winrsh_session_free(s);
    } else if (s != NULL) {
        abort(); /* failure leaves *out NULL */
    } else if (!winrsh_error_last()->message[0]) {
        abort(); /* and says why */
    }
    winrsh_error_clear();
    free(url);
    return 0;
}
