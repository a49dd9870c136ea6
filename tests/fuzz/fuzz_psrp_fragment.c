/*
 * fuzz_psrp_fragment.c: PSRP fragment reassembly (psrp/fragment.c), the
 * first thing the client does with the bytes of a WS-Man rsp:Stream or an
 * out-of-process Data packet.
 *
 * The input is fed two ways:
 *   - whole, to a defragmenter with the default limits (64 MiB, 256 objects
 *     in flight), as one receive hands it over;
 *   - one fragment per feed (split with wr_psrp_fragment_read), to a
 *     defragmenter with tight limits (4 KiB per message, 3 in flight), which
 *     walks the limit checks; after an error it is reset and goes on, and
 *     a completed message may re-enter the defragmenter from its callback
 *     (which fragment.h allows).
 * Completed messages go through wr_psrp_message_parse.
 *
 * Input: fragments back to back. Seeds: the decoded rsp:Stream and rsp:Send
 * contents of tests/fixtures/pypsrp/responses/ (*.yml).
 */
#include "fuzz_common.h"

#include "common/error.h"
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

typedef struct {
    wr_psrp_defrag *d;
    unsigned sum;
    int depth;
} sink;

static int on_message(void *payload, uint64_t object_id, const unsigned char *msg, size_t len)
{
    sink *s = payload;
    s->sum += (unsigned)object_id;
    for (size_t i = 0; i < len; i++)
        s->sum += msg[i];
    wr_psrp_message m;
    if (wr_psrp_message_parse(&m, msg, len) == 0) {
        const char *n = wr_psrp_message_type_name(m.type);
        s->sum += n ? (unsigned)strlen(n) : 0;
        for (size_t i = 0; i < m.len; i++)
            s->sum += (unsigned char)m.data[i];
    }
    /* The callback may feed again (a message that carries fragments is
     * nonsense, but the defragmenter must stay consistent). */
    if (s->d && s->depth == 0 && len >= WR_PSRP_FRAGMENT_HEADER_LEN && (msg[0] & 1)) {
        s->depth++;
        wr_psrp_defrag_feed(s->d, msg, len, on_message, s);
        s->depth--;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sink s = {NULL, 0, 0};

    wr_psrp_defrag d;
    wr_psrp_defrag_init(&d, 0, 0);
    wr_psrp_defrag_feed(&d, data, size, on_message, &s);
    (void)wr_psrp_defrag_pending(&d);
    wr_psrp_defrag_free(&d);
    winrsh_error_clear();

    wr_psrp_defrag t;
    wr_psrp_defrag_init(&t, 4096, 3);
    s.d = &t;
    size_t off = 0;
    while (off < size) {
        wr_psrp_fragment f;
        size_t used;
        if (wr_psrp_fragment_read(&f, data + off, size - off, &used) != 0)
            break;
        if (used < WR_PSRP_FRAGMENT_HEADER_LEN || used > size - off)
            abort();
        if (wr_psrp_defrag_feed(&t, data + off, used, on_message, &s) != 0)
            wr_psrp_defrag_reset(&t);
        off += used;
    }
    wr_psrp_defrag_free(&t);
    winrsh_error_clear();
    return 0;
}
