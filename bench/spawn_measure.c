/*
 * spawn_measure.c: run one program and report what it cost (bench/run).
 *
 *     spawn_measure RESULT_FILE PROGRAM [ARG...]
 *
 * Forks, execs PROGRAM with the same stdin/stdout/stderr, waits for it
 * with wait4() and writes one line to RESULT_FILE:
 *
 *     wall_s user_s sys_s maxrss_kib wait_status
 *
 * Why not Python's subprocess and os.wait4 directly: Linux counts the peak
 * RSS of the memory image a process had before exec (ru_maxrss is kept
 * across exec), so a child forked from the ~25 MB Python driver reports at
 * least ~25 MB whatever it does after. Forked from this small program, the
 * child starts from about 1 MB. The wall time is taken here too, around
 * fork and wait only.
 */
#define _DEFAULT_SOURCE 1 /* wait4() */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s RESULT_FILE PROGRAM [ARG...]\n", argv[0]);
        return 127;
    }
    FILE *res = fopen(argv[1], "w");
    if (!res) {
        perror(argv[1]);
        return 127;
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 127;
    }
    if (pid == 0) {
        fclose(res);
        execv(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("wait4");
            return 127;
        }
    }
    double wall = now_s() - t0;
    fprintf(res, "%.6f %.6f %.6f %ld %d\n", wall, tv_s(ru.ru_utime), tv_s(ru.ru_stime),
            ru.ru_maxrss, status);
    fclose(res);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
