/*
 * fuzz_trustedhosts.c: the TrustedHosts patterns (transport/trustedhosts.c):
 * checking one pattern, matching a pattern against a host (the host comes
 * from the URL; the patterns from the user, the file or an embedder), the
 * comma-separated lists that add/remove take, and the file that load reads.
 *
 * Input: a pattern or comma-separated list, "\n", a host, "\n", then the
 * contents of a trustedhosts file (written to a private temporary directory
 * with mode 0600 and loaded). Seeds: the pattern forms of trustedhosts.h and
 * the hosts of tests/fixtures (names, IPv4, bracketed IPv6 with zones).
 */
#include "fuzz_common.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "common/error.h"
#include "transport/trustedhosts.h"
#include "winrsh/common.h"

static char g_dir[64];
static char g_file[128];

static void cleanup(void)
{
    if (g_file[0])
        unlink(g_file);
    if (g_dir[0])
        rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    snprintf(g_dir, sizeof(g_dir), "/tmp/winrsh-fuzz-th-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(g_file, sizeof(g_file), "%s/trustedhosts", g_dir);
    atexit(cleanup);
    return 0;
}

static void load(fz_input content)
{
    int fd = open(g_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < content.n) {
        ssize_t w = write(fd, content.p + off, content.n - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    close(fd);
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    if (wr_trustedhosts_load(&th, g_dir) == 0) {
        /* What was loaded must be acceptable, and save what load reads. */
        for (size_t i = 0; i < th.count; i++)
            if (wr_trustedhosts_check_pattern(th.patterns[i]) != 0)
                abort();
        (void)wr_trustedhosts_match(&th, "host.example");
    }
    wr_trustedhosts_free(&th);
    winrsh_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input in = {data, size};
    char *pattern = fz_strdup(fz_line(&in));
    char *host = fz_strdup(fz_line(&in));

    int ok = wr_trustedhosts_check_pattern(pattern) == 0;
    int m = wr_trustedhosts_pattern_match(pattern, host);
    if (m && !ok)
        abort(); /* "an invalid pattern matches nothing" */
    winrsh_error_clear();

    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    size_t added = 0;
    if (wr_trustedhosts_add(&th, pattern, &added) == 0) {
        if (added != th.count)
            abort();
        for (size_t i = 0; i < th.count; i++)
            if (wr_trustedhosts_check_pattern(th.patterns[i]) != 0)
                abort();
        (void)wr_trustedhosts_match(&th, host);
        /* Adding the same list again adds nothing. */
        size_t again = 0;
        if (wr_trustedhosts_add(&th, pattern, &again) != 0 || again != 0)
            abort();
        while (th.count) {
            char *first = strdup(th.patterns[0]);
            if (!first)
                abort();
            if (wr_trustedhosts_remove(&th, first) != 0)
                abort();
            free(first);
        }
    } else if (th.count != 0) {
        abort(); /* "on error nothing is added" */
    }
    (void)wr_trustedhosts_remove(&th, host);
    wr_trustedhosts_clear(&th);
    wr_trustedhosts_free(&th);
    winrsh_error_clear();

    wr_buf msg = WR_BUF_INIT;
    wr_trustedhosts_refusal(host, &msg);
    wr_buf_free(&msg);

    load(in);

    free(pattern);
    free(host);
    return 0;
}
