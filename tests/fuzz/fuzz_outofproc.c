/*
 * fuzz_outofproc.c: PowerShell's out-of-process framing
 * (transport/outofproc.c), what `pwsh -s`, an SSH subsystem or a
 * PowerShell Direct socket sends back: the line splitter (wr_oop_reader)
 * and the packet parser (wr_oop_parse), including the server's error lines.
 *
 * The input is fed twice: in one piece to a reader with the default line
 * bound, and in pieces of 1 to 16 bytes (sizes taken from the data) to a
 * reader bounded at 300 bytes, so the "\r" at a piece boundary and the
 * line limit are both walked. Every packet that parses is base64-decoded as
 * the connection does, written back with wr_oop_format and parsed again:
 * the second parse must give the same packet.
 *
 * Input: the byte stream. Seeds: Data/DataAck/Command/Signal/Close lines
 * around the real PSRP fragments of tests/fixtures/pypsrp, in the shape
 * PowerShell's OutOfProcessUtils writes them, and its error lines.
 */
#include "fuzz_common.h"

#include "common/base64.h"
#include "common/error.h"
#include "transport/outofproc.h"
#include "winrsh/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

static void packet(const char *line, size_t len)
{
    /* A copy of exactly the line: the parser must not read past it. */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, line, len);
    wr_oop_packet p;
    if (wr_oop_parse(&p, copy, len) == 0) {
        if (!wr_oop_kind_name(p.kind) || !p.b64)
            abort();
        wr_buf dec = WR_BUF_INIT;
        int drc = wr_base64_decode(&dec, p.b64, p.b64_len);
        if (drc == 0) {
            wr_buf again = WR_BUF_INIT;
            if (wr_oop_format(&again, p.kind, p.is_pool ? NULL : &p.psguid, p.stream, dec.data,
                              dec.len) != 0)
                abort();
            wr_oop_packet q;
            if (again.len == 0 || again.data[again.len - 1] != '\n' ||
                wr_oop_parse(&q, (const char *)again.data, again.len - 1) != 0 ||
                q.kind != p.kind || q.is_pool != p.is_pool ||
                memcmp(&q.psguid, &p.psguid, sizeof(p.psguid)) != 0 ||
                (p.kind == WR_OOP_DATA && q.stream != p.stream))
                abort();
            wr_buf dec2 = WR_BUF_INIT;
            if (p.kind == WR_OOP_DATA &&
                (wr_base64_decode(&dec2, q.b64, q.b64_len) != 0 || dec2.len != dec.len ||
                 (dec.len && memcmp(dec2.data, dec.data, dec.len) != 0)))
                abort();
            wr_buf_free(&dec2);
            wr_buf_free(&again);
        }
        wr_buf_free(&dec);
    }
    free(copy);
    winrsh_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_oop_reader r;
    wr_oop_reader_init(&r, 0);
    const char *line;
    size_t len;
    if (wr_oop_reader_feed(&r, data, size) == 0)
        while (wr_oop_reader_next(&r, &line, &len) == 1)
            packet(line, len);
    wr_oop_reader_free(&r);
    winrsh_error_clear();

    wr_oop_reader_init(&r, 300);
    size_t off = 0;
    int rc = 0;
    while (off < size && rc >= 0) {
        size_t piece = 1 + (data[off] & 15u);
        if (piece > size - off)
            piece = size - off;
        if (wr_oop_reader_feed(&r, data + off, piece) != 0)
            break;
        off += piece;
        while ((rc = wr_oop_reader_next(&r, &line, &len)) == 1)
            packet(line, len);
    }
    wr_oop_reader_free(&r);
    winrsh_error_clear();
    return 0;
}
