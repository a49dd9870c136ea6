/*
 * fuzz_http_headers.c: what transport/http.c reads from a server's HTTP
 * headers: the WWW-Authenticate challenges of a 401 (the scheme list and
 * the base64 token of the scheme in use) and the Content-Type that decides
 * whether an answer is sealed.
 *
 * Those parsers are static functions of http.c (header_cb, header_value,
 * find_challenge, offered_schemes, auth_refused, finish_answer), reached
 * in the library only from inside curl's callbacks. The target includes
 * http.c itself to call them, the way tests/unit/test_options.c includes
 * client/options.c; its external functions then come from this file and
 * the static library's copy of http.c is not linked.
 *
 * SPNEGO and Kerberos tokens are not parsed by winrsh at all: they go to
 * GSSAPI (MIT krb5) untouched (transport/auth/negotiate_gssapi.c), so the
 * token handling fuzzed here ends at the base64 decoding. NTLM tokens found
 * here are what fuzz_ntlm_client takes.
 *
 * Input: header lines as curl hands them to the header callback (each
 * ended by "\n"; a "\r" before it is part of the line), an empty line,
 * then the body, decrypted with a fake mechanism that copies when the
 * Content-Type says it is sealed. Seeds: 401 and 200 header blocks in the
 * shape Windows sends, with the NTLM CHALLENGE of tests/fixtures/pyspnego
 * as the token.
 */
#include "fuzz_common.h"

/* The code under test, with its static functions. */
#include "../../transport/http.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static const wr_auth_mech fake_mech = {"Negotiate", "fake", 0, WR_AUTH_CAN_SEAL, NULL};

static int fake_unwrap(wr_auth_ctx *ctx, const unsigned char *sig, size_t sig_len,
                       const unsigned char *sealed, size_t sealed_len, wr_buf *plain)
{
    (void)ctx;
    (void)sig;
    (void)sig_len;
    return wr_buf_append(plain, sealed, sealed_len) ? WINRSH_ENOMEM : 0;
}

static void fake_free(wr_auth_ctx *ctx)
{
    (void)ctx;
}

/* The schemes the mechanisms use (transport/auth/), certificate included. */
static const char *const schemes[] = {
    "Negotiate", "NTLM",    "Kerberos",
    "Basic",     "CredSSP", "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_http *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->host = strdup("fuzz.example");
    h->user = strdup("DOMAIN\\user");
    h->url = strdup("http://fuzz.example:5985/wsman");
    if (!h->host || !h->user || !h->url)
        abort();
    h->mech = &wr_auth_ntlm;
    h->scheme = "Negotiate";

    /* Header lines, as curl calls header_cb: one call per line, with its
     * line ending. A copy per line, so reading past it shows under ASan. */
    fz_input in = {data, size};
    while (in.n) {
        const uint8_t *start = in.p;
        fz_input line = fz_line(&in);
        size_t with_nl = (size_t)(in.p - start);
        if (line.n == 0 || (line.n == 1 && line.p[0] == '\r'))
            break; /* the end of the header block */
        char *copy = malloc(with_nl);
        if (!copy)
            abort();
        memcpy(copy, start, with_nl);
        if (header_cb(copy, 1, with_nl, h) != with_nl)
            abort();
        free(copy);
    }

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        wr_buf token = WR_BUF_INIT;
        int bad = 0;
        find_challenge(h, schemes[i], &token, &bad);
        for (size_t k = 0; k < token.len; k++)
            bad += token.data[k];
        wr_buf_free(&token);
        find_challenge(h, schemes[i], NULL, &bad);
    }
    char offered[64];
    offered_schemes(h, offered, sizeof(offered));
    auth_refused(h);
    winrsh_error_clear();

    /* The answer itself, plain or sealed as its Content-Type says. */
    wr_auth_ctx fake;
    memset(&fake, 0, sizeof(fake));
    fake.mech = &fake_mech;
    fake.unwrap = fake_unwrap;
    fake.free = fake_free;
    for (int encrypt = 0; encrypt < 2; encrypt++) {
        wr_buf resp = WR_BUF_INIT;
        wr_buf_append(&resp, in.p, in.n);
        h->ctx = encrypt ? &fake : NULL;
        h->encrypt = encrypt;
        finish_answer(h, &resp);
        wr_buf_free(&resp);
        winrsh_error_clear();
    }
    h->ctx = NULL;
    wr_http_free(h);
    return 0;
}
