/*
 * fuzz_ntlm_challenge.c: the NTLM message parsers of
 * transport/auth/ntlm_core.h on raw bytes:
 *
 *   wr_ntlm_challenge_parse    CHALLENGE_MESSAGE (what a server sends us),
 *                              with its TargetInfo AV pairs
 *   wr_ntlm_av_parse           an AV pair list on its own (the input as is)
 *   wr_ntlm_authenticate_parse AUTHENTICATE_MESSAGE (tests and the
 *                              acceptor side read it)
 *   wr_ntlm_utf8               the UTF-16LE names of both
 *
 * Every view the parsers hand out is read to its end, so a length that
 * runs past the message shows under ASan.
 *
 * Input: one message. Seeds: tests/fixtures/pyspnego/ntlm_* and the
 * MS-NLMP 4.2 messages rebuilt from tests/fixtures/ntlm-ms-nlmp-4.2.
 */
#include "fuzz_common.h"

#include "common/buf.h"
#include "common/error.h"
#include "transport/auth/ntlm_core.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static unsigned g_sink;

static void touch(wr_ntlm_bytes b)
{
    for (size_t i = 0; i < b.len; i++)
        g_sink += b.p[i];
}

static void name(wr_ntlm_bytes b)
{
    touch(b);
    wr_buf u = WR_BUF_INIT;
    wr_ntlm_utf8(&u, b.p, b.len);
    wr_buf_free(&u);
}

static void av_info(const wr_ntlm_av_info *av)
{
    name(av->nb_computer);
    name(av->nb_domain);
    name(av->dns_computer);
    name(av->dns_domain);
    name(av->dns_tree);
    name(av->target_name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_ntlm_challenge ch;
    if (wr_ntlm_challenge_parse(data, size, &ch) == 0) {
        name(ch.target_name);
        touch(ch.target_info);
        av_info(&ch.av);
        /* The AV list again on its own, as the client re-reads it. */
        wr_ntlm_av_info again;
        wr_ntlm_av_parse(ch.target_info.p, ch.target_info.len, &again);
    }
    winrsh_error_clear();

    wr_ntlm_av_info av;
    if (wr_ntlm_av_parse(data, size, &av) == 0)
        av_info(&av);
    winrsh_error_clear();

    wr_ntlm_authenticate a;
    if (wr_ntlm_authenticate_parse(data, size, &a) == 0) {
        touch(a.lm);
        touch(a.nt);
        name(a.domain);
        name(a.user);
        name(a.workstation);
        touch(a.session_key);
        if (a.version)
            touch((wr_ntlm_bytes){a.version, 8});
        if (a.mic)
            touch((wr_ntlm_bytes){a.mic, 16});
    }
    winrsh_error_clear();
    return 0;
}
