/*
 * fuzz_common.h: what every fuzz target shares.
 *
 * A target is one file tests/fuzz/fuzz_<name>.c defining
 * LLVMFuzzerTestOneInput() (and, if it needs set-up, LLVMFuzzerInitialize()).
 * It is linked either with libFuzzer (clang, -DWINRSH_FUZZ=ON) or with
 * replay_main.c, the plain driver that runs a corpus through it under any
 * compiler (the ctest cases fuzz/<name>).
 *
 * Rules for targets: every input must return 0 (libFuzzer's contract), free
 * everything it allocated, and clear the thread-local error record (which
 * may own a parsed fault) so that nothing is left over for LeakSanitizer.
 *
 * Inputs that need more than one piece (a Content-Type and a body, a
 * pattern and a host, argv) are split by a small reader so the corpus files
 * stay readable: see fz_line() and fz_u16().
 */
#ifndef WINRSH_FUZZ_COMMON_H
#define WINRSH_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "winrsh/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The unread rest of an input. */
typedef struct fz_input {
    const uint8_t *p;
    size_t n;
} fz_input;

/* The bytes up to the first '\n' (not included; the '\n' is consumed), or
 * everything left if there is none. */
static inline fz_input fz_line(fz_input *in)
{
    fz_input out = {in->p, in->n};
    const uint8_t *nl = in->n ? memchr(in->p, '\n', in->n) : NULL;
    if (nl) {
        out.n = (size_t)(nl - in->p);
        in->p = nl + 1;
        in->n -= out.n + 1;
    } else {
        in->p += in->n;
        in->n = 0;
    }
    return out;
}

/* A big-endian 16-bit number (0 when the input is used up). */
static inline unsigned fz_u16(fz_input *in)
{
    unsigned v = 0;
    for (int i = 0; i < 2; i++) {
        v <<= 8;
        if (in->n) {
            v |= in->p[0];
            in->p++;
            in->n--;
        }
    }
    return v;
}

/* The next n bytes (fewer when the input ends first). */
static inline fz_input fz_take(fz_input *in, size_t n)
{
    fz_input out = {in->p, n < in->n ? n : in->n};
    in->p += out.n;
    in->n -= out.n;
    return out;
}

/* A NUL-terminated heap copy (aborts when out of memory: a fuzz run can do
 * nothing useful then). */
static inline char *fz_strdup(fz_input s)
{
    char *c = malloc(s.n + 1);
    if (!c)
        abort();
    if (s.n)
        memcpy(c, s.p, s.n);
    c[s.n] = 0;
    return c;
}

#endif
