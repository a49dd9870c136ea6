/*
 * spawn.c: a child process as a stream (see spawn.h): pipes for its stdin
 * and stdout, a thread that keeps the tail of its stderr, and a bounded,
 * reaping close. Used by stream_process.c (`pwsh -s`) and stream_ssh.c
 * (`ssh -s HOST powershell`).
 */
#ifdef __linux__
#define _GNU_SOURCE /* pipe2: close-on-exec atomically, safe against other threads' spawns */
#endif
#include "transport/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/trace.h"
#include "winrsh/errors.h"

extern char **environ;

#define ERR_TAIL_MAX WR_SPAWN_ERR_TAIL_MAX
#define ERR_TAIL_SHOWN WR_SPAWN_ERR_TAIL_SHOWN
#define EOF_GRACE_MS 2000      /* after closing stdin, before SIGTERM */
#define TERM_GRACE_MS 2000     /* after SIGTERM, before SIGKILL */
#define KILL_GRACE_MS 2000     /* after SIGKILL, before giving up */
#define EXIT_AFTER_EOF_MS 1000 /* stdout hit EOF: wait this long for status and stderr */

typedef struct proc_stream {
    wr_stream base;
    char *path;  /* the program */
    char *label; /* how messages name it */
    int own_group;
    pid_t pid;
    int reaped;
    int status;  /* waitpid status, -1 if someone else reaped the child */
    int in_w;    /* child's stdin */
    int out_r;   /* child's stdout */
    int err_r;   /* child's stderr, read by the thread */
    int stop[2]; /* tells the thread to finish */
    pthread_t thr;
    int thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int err_done; /* the thread saw EOF of stderr (or was stopped) */
    char tail[ERR_TAIL_MAX];
    size_t tail_len;
    char eof_msg[900]; /* once EOF was seen, the message of every ECLOSED */
    const wr_tracer *tracer;
} proc_stream;

/* ---- small helpers -------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A pipe whose ends are close-on-exec and not 0..2 (so the dup2 onto 0..2
 * in the child always makes a new, inheritable descriptor). */
static int make_pipe(int fds[2])
{
#ifdef __linux__
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
#else
    if (pipe(fds) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
#endif
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 3) {
            int nfd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (nfd < 0) {
                int e = errno;
                close(fds[0]);
                close(fds[1]);
                errno = e;
                return -1;
            }
            close(fds[i]);
            fds[i] = nfd;
        }
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Wait up to ms for the child to exit; 1 once it is reaped, 0 if not yet. */
static int wait_exit(proc_stream *p, long ms)
{
    long long deadline = wr_stream_now_ms() + ms;
    long step = 2;
    while (!p->reaped) {
        int st = 0;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->reaped = 1;
            p->status = st;
            break;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) { /* ECHILD: SIGCHLD is ignored or someone else reaped it */
            p->reaped = 1;
            p->status = -1;
            break;
        }
        long left = (long)(deadline - wr_stream_now_ms());
        if (left <= 0)
            return 0;
        sleep_ms(step < left ? step : left);
        if (step < 50)
            step *= 2;
    }
    return 1;
}

static void signal_group(proc_stream *p, int sig)
{
    if (p->reaped)
        return; /* the pid (and so the group id) may belong to someone else now */
    if (!p->own_group || kill(-p->pid, sig) < 0)
        kill(p->pid, sig);
}

/* ---- stderr capture --------------------------------------------------------- */

static void tail_append(proc_stream *p, const char *data, size_t n)
{
    if (n > ERR_TAIL_MAX) { /* only the last ERR_TAIL_MAX bytes matter */
        data += n - ERR_TAIL_MAX;
        n = ERR_TAIL_MAX;
    }
    if (p->tail_len + n > ERR_TAIL_MAX) {
        size_t drop = p->tail_len + n - ERR_TAIL_MAX;
        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
    }
    memcpy(p->tail + p->tail_len, data, n);
    p->tail_len += n;
}

static void *err_thread(void *arg)
{
    proc_stream *p = arg;
    char buf[4096];
    for (;;) {
        struct pollfd pf[2] = {{p->err_r, POLLIN, 0}, {p->stop[0], POLLIN, 0}};
        int r = poll(pf, 2, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        if (!pf[0].revents)
            continue;
        ssize_t n = read(p->err_r, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0)
            break;
        pthread_mutex_lock(&p->mu);
        tail_append(p, buf, (size_t)n);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->err_done = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Wait up to ms for the thread to have read all of stderr. */
static void wait_err_done(proc_stream *p, long ms)
{
    if (!p->thr_started)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->err_done) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->mu);
}

/* The last ERR_TAIL_SHOWN bytes of stderr, whitespace runs folded to one
 * space, starting on a UTF-8 character boundary. */
static void tail_text(proc_stream *p, char *out, size_t outsz)
{
    pthread_mutex_lock(&p->mu);
    size_t start = p->tail_len > ERR_TAIL_SHOWN ? p->tail_len - ERR_TAIL_SHOWN : 0;
    while (start < p->tail_len && ((unsigned char)p->tail[start] & 0xC0) == 0x80)
        start++;
    size_t o = 0;
    int space = 1; /* drop leading whitespace */
    for (size_t i = start; i < p->tail_len && o + 1 < outsz; i++) {
        unsigned char c = (unsigned char)p->tail[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0) {
            if (!space)
                out[o++] = ' ';
            space = 1;
            continue;
        }
        out[o++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
        space = 0;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = 0;
    pthread_mutex_unlock(&p->mu);
}

/* The child closed its stdout (or its stdin broke): say how it ended. */
static int raise_eof(proc_stream *p)
{
    if (!p->eof_msg[0]) {
        wait_exit(p, EXIT_AFTER_EOF_MS);
        wait_err_done(p, p->reaped ? EXIT_AFTER_EOF_MS : 100);
        char how[128];
        if (!p->reaped)
            snprintf(how, sizeof(how), "closed its output");
        else if (p->status < 0)
            snprintf(how, sizeof(how), "exited");
        else if (WIFEXITED(p->status))
            snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(p->status));
        else if (WIFSIGNALED(p->status))
            snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(p->status));
        else
            snprintf(how, sizeof(how), "ended");
        char tail[ERR_TAIL_SHOWN + 1];
        tail_text(p, tail, sizeof(tail));
        snprintf(p->eof_msg, sizeof(p->eof_msg), "%s %s%s%s", p->label, how,
                 tail[0] ? "; its stderr says: " : " (nothing on its stderr)", tail);
    }
    return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS, "%s", p->eof_msg);
}

/* ---- finding programs -------------------------------------------------------- */

/* Search PATH for an executable `name`; malloc'd path or NULL. */
char *wr_spawn_search_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    size_t nlen = strlen(name);
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
        const char *dir = dlen ? path : ".";
        size_t dl = dlen ? dlen : 1;
        char *full = malloc(dl + 1 + nlen + 1);
        if (!full)
            return NULL;
        memcpy(full, dir, dl);
        full[dl] = '/';
        memcpy(full + dl + 1, name, nlen + 1);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            return full;
        free(full);
        path += dlen;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* ---- the stream operations -------------------------------------------------- */

int wr_spawn_read(wr_stream *s, void *buf, size_t len, size_t *got)
{
    proc_stream *p = (proc_stream *)s;
    *got = 0;
    if (p->eof_msg[0] || p->out_r < 0)
        return raise_eof(p);
    int rc = wr_stream_read_fd(p->out_r, buf, len, got);
    if (rc == WINRSH_ECLOSED)
        return raise_eof(p);
    return rc;
}

int wr_spawn_write(wr_stream *s, const void *buf, size_t len, size_t *wrote)
{
    proc_stream *p = (proc_stream *)s;
    *wrote = 0;
    if (p->in_w < 0)
        return raise_eof(p);
    int rc = wr_stream_write_fd(p->in_w, buf, len, wrote);
    if (rc == WINRSH_ECLOSED)
        return raise_eof(p);
    return rc;
}

int wr_spawn_fd(const wr_stream *s, int for_write)
{
    const proc_stream *p = (const proc_stream *)s;
    return for_write ? p->in_w : p->out_r;
}

void wr_spawn_close(wr_stream *s)
{
    proc_stream *p = (proc_stream *)s;
    if (!p)
        return;
    /* EOF on its stdin asks the server to exit; closing its stdout too
     * means it cannot hang writing to a pipe nobody reads. */
    close_fd(&p->in_w);
    close_fd(&p->out_r);
    if (p->pid > 0 && !wait_exit(p, EOF_GRACE_MS)) {
        wr_tracef(p->tracer, "%s (pid %ld) did not exit on EOF; sending SIGTERM", p->label,
                  (long)p->pid);
        signal_group(p, SIGTERM);
        if (!wait_exit(p, TERM_GRACE_MS)) {
            wr_tracef(p->tracer, "%s (pid %ld) ignored SIGTERM; sending SIGKILL", p->label,
                      (long)p->pid);
            signal_group(p, SIGKILL);
            if (!wait_exit(p, KILL_GRACE_MS))
                wr_tracef(p->tracer, "%s (pid %ld) survived SIGKILL; giving up on it", p->label,
                          (long)p->pid);
        }
    }
    if (p->thr_started) {
        /* The thread polls the stop pipe too, so this join is bounded even
         * when a grandchild still holds the stderr pipe open. */
        ssize_t w;
        do
            w = write(p->stop[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(p->thr, NULL);
    }
    close_fd(&p->err_r);
    close_fd(&p->stop[0]);
    close_fd(&p->stop[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->path);
    free(p->label);
    free(p);
}

long wr_spawn_pid(const wr_stream *s)
{
    const proc_stream *p = (const proc_stream *)s;
    return p && p->pid > 0 && !p->reaped ? (long)p->pid : -1;
}

int wr_spawn_exit_status(const wr_stream *s)
{
    const proc_stream *p = (const proc_stream *)s;
    if (!p || !p->reaped || p->status < 0)
        return -1;
    if (WIFEXITED(p->status))
        return WEXITSTATUS(p->status);
    if (WIFSIGNALED(p->status))
        return 256 + WTERMSIG(p->status);
    return -1;
}

/* ---- starting the child --------------------------------------------------------- */

/* Under own_group 0 the program runs through this, as
 * argv = {"sh", "-c", IGNORE_INT_QUIT, path, argv[1], ...}: sh sets SIGINT
 * and SIGQUIT to SIG_IGN and execs the program in its place (same pid),
 * which inherits the ignored dispositions. */
#define SH_PATH "/bin/sh"
#define IGNORE_INT_QUIT "trap '' INT QUIT; exec \"$0\" \"$@\""

static int spawn_child(proc_stream *p, char *const *argv, char *const *envp, int in_r, int out_w,
                       int err_w)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int e = posix_spawn_file_actions_init(&fa);
    if (e)
        return e;
    e = posix_spawnattr_init(&at);
    if (e) {
        posix_spawn_file_actions_destroy(&fa);
        return e;
    }
    sigset_t dflt, mask;
    sigemptyset(&dflt);
    static const int sigs[] = {SIGPIPE, SIGINT,  SIGQUIT, SIGTERM, SIGHUP,  SIGCHLD,
                               SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&dflt, sigs[i]);
    sigemptyset(&mask);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, in_r, 0);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    /* Default signal dispositions (we may ignore SIGPIPE; it must not
     * inherit that), nothing blocked, and with own_group its own process
     * group (pgid = its pid). */
    short flags = (short)(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (p->own_group)
        flags = (short)(flags | POSIX_SPAWN_SETPGROUP);
    if (!e)
        e = posix_spawnattr_setflags(&at, flags);
    if (!e && p->own_group)
        e = posix_spawnattr_setpgroup(&at, 0);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &dflt);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &mask);
    if (!e)
        e = posix_spawn(&p->pid, p->own_group ? p->path : SH_PATH, &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return e;
}

int wr_spawn_stream_open(wr_stream **out, const wr_stream_type *type, const wr_spawn_spec *spec,
                         const wr_tracer *tracer)
{
    *out = NULL;
    if (!spec || !spec->path || !spec->argv || !spec->argv[0])
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "spawn: no program");
    proc_stream *p = calloc(1, sizeof(*p));
    if (!p)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    p->base.type = type;
    p->in_w = p->out_r = p->err_r = p->stop[0] = p->stop[1] = -1;
    p->pid = -1;
    p->own_group = spec->own_group;
    p->tracer = tracer;
    pthread_mutex_init(&p->mu, NULL);
    /* wait_err_done counts on CLOCK_MONOTONIC: wall-clock jumps do not matter. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = 0;
    char **argv = NULL;

    p->path = strdup(spec->path);
    p->label = strdup(spec->label ? spec->label : spec->path);
    size_t argc = 0;
    while (spec->argv[argc])
        argc++;
    /* own_group 0: {"sh", "-c", IGNORE_INT_QUIT, path, argv[1..]}. */
    argv = calloc(argc + 4, sizeof(*argv));
    if (!p->path || !p->label || !argv) {
        rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        goto fail;
    }
    if (p->own_group) {
        for (size_t i = 0; i < argc; i++)
            argv[i] = spec->argv[i];
    } else {
        static char sh[] = "sh", dash_c[] = "-c", script[] = IGNORE_INT_QUIT;
        argv[0] = sh;
        argv[1] = dash_c;
        argv[2] = script;
        argv[3] = p->path;
        for (size_t i = 1; i < argc; i++)
            argv[3 + i] = spec->argv[i];
    }

    int in[2] = {-1, -1}, outp[2] = {-1, -1}, err[2] = {-1, -1};
    if (make_pipe(in) < 0 || make_pipe(outp) < 0 || make_pipe(err) < 0 || make_pipe(p->stop) < 0) {
        rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "pipe: %s", strerror(errno));
    } else {
        int e = spawn_child(p, argv, spec->envp ? spec->envp : environ, in[0], outp[1], err[1]);
        if (e) {
            p->pid = -1;
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot run %s: %s", p->path,
                              strerror(e));
        }
    }
    /* The child's ends are the child's now. */
    close_fd(&in[0]);
    close_fd(&outp[1]);
    close_fd(&err[1]);
    p->in_w = in[1];
    p->out_r = outp[0];
    p->err_r = err[0];
    if (rc)
        goto fail;
    wr_tracef(p->tracer, "%s: started %s (pid %ld)", type->name, p->label, (long)p->pid);

    if ((rc = wr_stream_fd_prepare(p->in_w)) || (rc = wr_stream_fd_prepare(p->out_r)) ||
        (rc = wr_stream_fd_prepare(p->err_r)))
        goto fail;

    /* The capture thread takes no signals: they belong to the application. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int te = pthread_create(&p->thr, NULL, err_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (te) {
        rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "pthread_create: %s", strerror(te));
        goto fail;
    }
    p->thr_started = 1;
    free(argv);
    *out = &p->base;
    return 0;

fail:
    free(argv);
    wr_spawn_close(&p->base);
    return rc;
}
