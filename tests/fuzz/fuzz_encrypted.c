/*
 * fuzz_encrypted.c: the multipart/encrypted and multipart/x-multi-encrypted
 * bodies of MS-WSMV 2.2.9.1 (transport/encrypt.c, wr_decrypt_body), which
 * a server (or anyone on the path of a plain-HTTP session) chooses freely.
 *
 * The mechanism is a fake whose unwrap verifies nothing and copies the
 * sealed bytes, so every part the parser accepts reaches the length checks
 * after it (OriginalContent Length against the unwrapped size). A second
 * fake appends a few bytes of "padding" to what it unwraps, the way a
 * mechanism with a trailer would, and a third always fails, to walk the
 * error paths.
 *
 * Input: the Content-Type header value, "\n", then the body. Seeds: SOAP
 * replies of tests/fixtures/pypsrp sealed with the fake (which is the
 * identity) in both forms, as make_corpus.py writes them.
 */
#include "fuzz_common.h"

#include "common/buf.h"
#include "common/error.h"
#include "transport/auth/auth.h"
#include "transport/encrypt.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static const wr_auth_mech fake_mech = {"Fake", "fake", 0, WR_AUTH_CAN_SEAL, NULL};

typedef struct {
    wr_auth_ctx base;
    int mode; /* 0 copy, 1 copy + 3 bytes, 2 fail */
    size_t calls;
} fake_ctx;

static int fake_unwrap(wr_auth_ctx *ctx, const unsigned char *sig, size_t sig_len,
                       const unsigned char *sealed, size_t sealed_len, wr_buf *plain)
{
    fake_ctx *f = (fake_ctx *)ctx;
    f->calls++;
    /* Read all of sig, so a wrong sig_len shows under ASan. */
    unsigned sum = 0;
    for (size_t i = 0; i < sig_len; i++)
        sum += sig[i];
    (void)sum;
    if (f->mode == 2)
        return wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH, "fake: refused");
    if (wr_buf_append(plain, sealed, sealed_len))
        return WINRSH_ENOMEM;
    if (f->mode == 1 && wr_buf_append(plain, "pad", 3))
        return WINRSH_ENOMEM;
    return 0;
}

static const char *fake_protocol(wr_auth_ctx *ctx)
{
    (void)ctx;
    return WR_ENCRYPT_SPNEGO;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input in = {data, size};
    char *ct = fz_strdup(fz_line(&in));
    for (int mode = 0; mode < 3; mode++) {
        fake_ctx f;
        memset(&f, 0, sizeof(f));
        f.base.mech = &fake_mech;
        f.base.unwrap = fake_unwrap;
        f.base.encryption_protocol = fake_protocol;
        f.mode = mode;
        wr_buf soap = WR_BUF_INIT;
        /* Something already in the buffer: on error it must stay as it was. */
        wr_buf_puts(&soap, "<keep/>");
        int rc = wr_decrypt_body(&f.base, ct, in.p, in.n, &soap);
        if (rc != 0 && (soap.len != 7 || memcmp(soap.data, "<keep/>", 7) != 0))
            abort(); /* the documented contract: soap_out untouched on error */
        wr_buf_free(&soap);
        winrsh_error_clear();
        if (rc != 0 && f.calls == 0)
            break; /* rejected before any unwrap: the other modes go the same way */
    }
    free(ct);
    return 0;
}
