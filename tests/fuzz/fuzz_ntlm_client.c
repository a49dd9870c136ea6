/*
 * fuzz_ntlm_client.c: the whole client side of NTLM (transport/auth/ntlm.c
 * over ntlm_core.c) with a fuzzed CHALLENGE: step(NULL) builds NEGOTIATE,
 * step(CHALLENGE) applies the policy, builds the NTLMv2 AUTHENTICATE (AV
 * pairs copied from the server's TargetInfo, MIC, channel bindings, key
 * exchange) and derives the session keys. When that succeeds, the rest of
 * the input goes through unwrap (as a sealed server message: 16-byte
 * signature, then the sealed bytes) and wrap.
 *
 * Randomness and time are fixed (wr_ntlm_auth_set_hooks), so a crash
 * reproduces byte for byte.
 *
 * Input: challenge length (2 bytes, big-endian), the CHALLENGE, then the
 * sealed message. Seeds: tests/fixtures/pyspnego/ntlm_challenge and the
 * MS-NLMP 4.2.4 CHALLENGE, each with and without a trailing message.
 */
#include "fuzz_common.h"

#include "common/buf.h"
#include "common/error.h"
#include "transport/auth/auth.h"
#include "transport/auth/ntlm_core.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static int fixed_random(void *arg, unsigned char *out, size_t n)
{
    (void)arg;
    memset(out, 0xAA, n);
    return 0;
}

static uint64_t fixed_now(void *arg)
{
    (void)arg;
    return 0x01D0000000000000ull;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input in = {data, size};
    size_t chlen = fz_u16(&in);
    fz_input ch = fz_take(&in, chlen);

    static const unsigned char cbt[] = "tls-server-end-point:0123456789abcdef0123456789abcdef";
    wr_auth_params p = {
        .user = "DOMAIN\\User",
        .password = "Password",
        .host = "server.example",
        .channel_bindings = cbt,
        .channel_bindings_len = sizeof(cbt) - 1,
    };
    wr_auth_ctx *ctx = NULL;
    if (wr_auth_ntlm.create(&ctx, &p) != 0)
        abort();
    wr_ntlm_hooks hooks = {fixed_random, fixed_now, NULL};
    wr_ntlm_auth_set_hooks(ctx, &hooks);

    wr_buf tok = WR_BUF_INIT;
    if (ctx->step(ctx, NULL, 0, &tok) != WR_AUTH_STEP_CONTINUE)
        abort();
    wr_buf_clear(&tok);
    int rc = ctx->step(ctx, ch.p, ch.n, &tok);
    if (rc == WR_AUTH_STEP_DONE) {
        /* What we built must parse back. */
        wr_ntlm_authenticate a;
        if (wr_ntlm_authenticate_parse(tok.data, tok.len, &a) != 0)
            abort();
        fz_input sig = fz_take(&in, 16);
        wr_buf plain = WR_BUF_INIT;
        ctx->unwrap(ctx, sig.p, sig.n, in.p, in.n, &plain);
        wr_buf_free(&plain);
        winrsh_error_clear();
        wr_buf s = WR_BUF_INIT, sealed = WR_BUF_INIT;
        ctx->wrap(ctx, in.p, in.n, &s, &sealed);
        wr_buf_free(&s);
        wr_buf_free(&sealed);
        /* A token after completion is refused. */
        wr_buf_clear(&tok);
        ctx->step(ctx, ch.p, ch.n, &tok);
    }
    wr_buf_free(&tok);
    ctx->free(ctx);
    winrsh_error_clear();
    return 0;
}
