/*
 * replay_main.c: a plain main() for the fuzz targets, for any compiler.
 * It runs files through LLVMFuzzerTestOneInput() once each, so the seed
 * corpora and the reproducers of fixed crashes run as ordinary ctest cases
 * (fuzz/<target>) in every build: gcc, -DWINRSH_SANITIZE=ON,
 * -DWINRSH_WERROR=ON. A crash, an ASan/UBSan report or a leak fails the
 * test, as it would fail the fuzzer.
 *
 *   replay_<target> [-q] [--no-stderr] [--optional] PATH...
 *
 * A PATH is a file or a directory (its regular files, sorted by name,
 * not descending; names starting with '.' and README* are skipped). A
 * missing PATH is an error, except after --optional (for crashes/<target>/,
 * which exists only once a crash has been found and fixed). -q prints only
 * the summary. --no-stderr: the library must not write to stderr (a server
 * must not be able to write on the user's terminal through us, e.g. by
 * libxml2's own error printing): fd 2 is redirected to a temporary file
 * around each input, and an input after which that file is not empty fails
 * the run (what was written is shown). Sanitizer reports still go to the
 * real stderr (__sanitizer_set_report_fd), and a target that aborts gets
 * what it printed copied there first. Exit 0 when every input ran (and, with
 * --no-stderr, wrote nothing); 1 on a usage or I/O error or a write to
 * stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz_common.h"

static int g_quiet;
static int g_no_stderr;
static int g_real_stderr = -1; /* the original fd 2 under --no-stderr */
static int g_capture = -1;     /* the temporary file fd 2 points to meanwhile */

/* In the sanitizer runtimes (ASan, UBSan), absent otherwise. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

/* Copy what was captured to the real stderr. Async-signal-safe. */
static void copy_capture(void)
{
    char b[4096];
    off_t off = 0;
    for (int i = 0; i < 4096; i++) { /* bounded: at most 16 MiB */
        ssize_t n = pread(g_capture, b, sizeof b, off);
        if (n <= 0)
            break;
        if (write(g_real_stderr, b, (size_t)n) < 0)
            break;
        off += n;
    }
}

static void on_abort(int sig)
{
    if (g_capture >= 0 && g_real_stderr >= 0) {
        copy_capture();
        dup2(g_real_stderr, 2);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int capture_begin(void)
{
    fflush(stderr);
    if (g_real_stderr < 0) {
        g_real_stderr = dup(2);
        if (g_real_stderr < 0)
            return -1;
        if (__sanitizer_set_report_fd)
            __sanitizer_set_report_fd((void *)(intptr_t)g_real_stderr);
        signal(SIGABRT, on_abort);
    }
    FILE *t = tmpfile();
    if (!t)
        return -1;
    g_capture = dup(fileno(t));
    fclose(t);
    if (g_capture < 0 || dup2(g_capture, 2) < 0)
        return -1;
    return 0;
}

/* 0 if nothing was written to stderr since capture_begin(). */
static int capture_end(const char *path)
{
    fflush(stderr);
    dup2(g_real_stderr, 2);
    struct stat st;
    int rc = 0;
    if (fstat(g_capture, &st) == 0 && st.st_size > 0) {
        fprintf(stderr, "replay: %s: %lld bytes written to stderr while it ran:\n", path,
                (long long)st.st_size);
        copy_capture();
        fprintf(stderr, "\n");
        rc = -1;
    }
    close(g_capture);
    g_capture = -1;
    return rc;
}
static unsigned long g_files;
static unsigned long long g_bytes;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy, so that reading one byte past the input is caught
     * by ASan just as under libFuzzer. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    if (len)
        memcpy(exact, buf, len);
    free(buf);
    if (!g_quiet)
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    if (g_no_stderr && capture_begin() != 0) {
        fprintf(stderr, "replay: cannot redirect stderr: %s\n", strerror(errno));
        free(exact);
        return -1;
    }
    LLVMFuzzerTestOneInput(exact, len);
    int rc = g_no_stderr ? capture_end(path) : 0;
    free(exact);
    g_files++;
    g_bytes += len;
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn)
                abort();
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(pl);
        if (!path)
            abort();
        snprintf(path, pl, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && run_file(path) != 0)
            rc = -1;
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    int optional = 0, rc = 0, paths = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0) {
            g_quiet = 1;
            continue;
        }
        if (strcmp(argv[i], "--no-stderr") == 0) {
            g_no_stderr = 1;
            continue;
        }
        if (strcmp(argv[i], "--optional") == 0) {
            optional = 1;
            continue;
        }
        paths++;
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            if (optional && errno == ENOENT)
                continue;
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i]) != 0)
                rc = 1;
        } else if (run_file(argv[i]) != 0) {
            rc = 1;
        }
    }
    if (!paths) {
        fprintf(stderr, "usage: %s [-q] [--no-stderr] [--optional] PATH...\n", argv[0]);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("replay: %lu inputs, %llu bytes, %.1f ms%s\n", g_files, g_bytes, ms,
           rc ? " (with errors)" : "");
    return rc;
}
