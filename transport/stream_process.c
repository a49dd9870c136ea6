/*
 * stream_process.c: a local PowerShell server as a stream
 * (target process:///path/to/pwsh, or process://pwsh to search PATH).
 *
 * `pwsh -s -NoLogo -NoProfile` is PowerShell's out-of-process server
 * (the "-s[ervermode]" switch): it reads framing packets (PROTOCOL.md 5)
 * line by line from stdin and writes its own to stdout. It exits on EOF of
 * stdin (status 160 after writing 'An unknown element "" was received' to
 * stderr), which is how close() asks it to go. Errors it cannot put in a
 * packet (a bad line, a crash) go to its stderr, so that is captured: the
 * last ERR_TAIL_MAX bytes are kept by a small thread (the child must never
 * block on a full stderr pipe while we wait for stdout) and become the
 * message of the WINRSH_ECLOSED that EOF of stdout turns into.
 *
 * The child runs in its own process group, so the terminal's Ctrl-C reaches
 * winrsh only (which asks the server to stop the pipeline with a Signal
 * packet), and close() can signal the whole group.
 *
 * pwsh installed as a .NET global tool is an apphost launcher that needs
 * to find the .NET runtime: through DOTNET_ROOT, /etc/dotnet, or the
 * default /usr/share/dotnet (or /usr/lib/dotnet). When DOTNET_ROOT is not
 * set and the `dotnet` on PATH resolves to a directory that holds host/fxr,
 * the child gets DOTNET_ROOT set to that directory; the rest of the
 * environment is inherited as is. (A self-contained pwsh ignores it.)
 */
#ifdef __linux__
#define _GNU_SOURCE /* pipe2: close-on-exec atomically, safe against other threads' spawns */
#endif
#include "transport/stream.h"

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

#define ERR_TAIL_MAX 8192      /* bytes of the child's stderr kept */
#define ERR_TAIL_SHOWN 700     /* bytes of it put into an error message */
#define EOF_GRACE_MS 2000      /* after closing stdin, before SIGTERM */
#define TERM_GRACE_MS 2000     /* after SIGTERM, before SIGKILL */
#define KILL_GRACE_MS 2000     /* after SIGKILL, before giving up */
#define EXIT_AFTER_EOF_MS 1000 /* stdout hit EOF: wait this long for status and stderr */

typedef struct proc_stream {
    wr_stream base;
    char *path;
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
    if (kill(-p->pid, sig) < 0)
        kill(p->pid, sig);
}

/* ---- stderr capture --------------------------------------------------------- */

static void tail_append(proc_stream *p, const char *data, size_t n)
{
    if (n >= ERR_TAIL_MAX) {
        memcpy(p->tail, data + n - ERR_TAIL_MAX, ERR_TAIL_MAX);
        p->tail_len = ERR_TAIL_MAX;
        return;
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
        snprintf(p->eof_msg, sizeof(p->eof_msg), "%s %s%s%s", p->path, how,
                 tail[0] ? "; its stderr says: " : " (nothing on its stderr)", tail);
    }
    return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_OS, "%s", p->eof_msg);
}

/* ---- finding the program and the runtime ------------------------------------ */

/* Search PATH for an executable `name`; malloc'd path or NULL. */
static char *search_path(const char *name)
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

/* "DOTNET_ROOT=<dir>" when the child needs it (see the top), else NULL. */
static char *dotnet_root_env(void)
{
    static const char *const set_already[] = {"DOTNET_ROOT", "DOTNET_ROOT_X64", "DOTNET_ROOT_ARM64",
                                              "DOTNET_ROOT_X86"};
    for (size_t i = 0; i < sizeof(set_already) / sizeof(set_already[0]); i++) {
        const char *v = getenv(set_already[i]);
        if (v && *v)
            return NULL;
    }
    char *dotnet = search_path("dotnet");
    if (!dotnet)
        return NULL;
    char *real = realpath(dotnet, NULL);
    free(dotnet);
    if (!real)
        return NULL;
    char *slash = strrchr(real, '/');
    char *env = NULL;
    if (slash && slash != real) {
        *slash = 0;
        size_t dl = strlen(real);
        char *fxr = malloc(dl + sizeof("/host/fxr"));
        if (fxr) {
            memcpy(fxr, real, dl);
            memcpy(fxr + dl, "/host/fxr", sizeof("/host/fxr"));
            struct stat st;
            if (stat(fxr, &st) == 0 && S_ISDIR(st.st_mode)) {
                env = malloc(sizeof("DOTNET_ROOT=") + dl);
                if (env) {
                    memcpy(env, "DOTNET_ROOT=", sizeof("DOTNET_ROOT=") - 1);
                    memcpy(env + sizeof("DOTNET_ROOT=") - 1, real, dl + 1);
                }
            }
            free(fxr);
        }
    }
    free(real);
    return env;
}

/* ---- the stream operations -------------------------------------------------- */

static int proc_read(wr_stream *s, void *buf, size_t len, size_t *got)
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

static int proc_write(wr_stream *s, const void *buf, size_t len, size_t *wrote)
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

static int proc_fd(const wr_stream *s, int for_write)
{
    const proc_stream *p = (const proc_stream *)s;
    return for_write ? p->in_w : p->out_r;
}

static void proc_close(wr_stream *s)
{
    proc_stream *p = (proc_stream *)s;
    if (!p)
        return;
    /* EOF on its stdin asks the server to exit; closing its stdout too
     * means it cannot hang writing to a pipe nobody reads. */
    close_fd(&p->in_w);
    close_fd(&p->out_r);
    if (p->pid > 0 && !wait_exit(p, EOF_GRACE_MS)) {
        wr_tracef(p->tracer, "%s (pid %ld) did not exit on EOF; sending SIGTERM", p->path,
                  (long)p->pid);
        signal_group(p, SIGTERM);
        if (!wait_exit(p, TERM_GRACE_MS)) {
            wr_tracef(p->tracer, "%s (pid %ld) ignored SIGTERM; sending SIGKILL", p->path,
                      (long)p->pid);
            signal_group(p, SIGKILL);
            if (!wait_exit(p, KILL_GRACE_MS))
                wr_tracef(p->tracer, "%s (pid %ld) survived SIGKILL; giving up on it", p->path,
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
    free(p);
}

static int spawn_child(proc_stream *p, int in_r, int out_w, int err_w, char **envp)
{
    static char arg_s[] = "-s", arg_nologo[] = "-NoLogo", arg_noprofile[] = "-NoProfile";
    char *argv[] = {p->path, arg_s, arg_nologo, arg_noprofile, NULL};
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
    /* Its own process group (pgid = its pid), default signal dispositions
     * (we may ignore SIGPIPE; it must not inherit that), nothing blocked. */
    if (!e)
        e = posix_spawnattr_setflags(
            &at, (short)(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
    if (!e)
        e = posix_spawnattr_setpgroup(&at, 0);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &dflt);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &mask);
    if (!e)
        e = posix_spawn(&p->pid, p->path, &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return e;
}

static int process_open(wr_stream **out, const char *target, const wr_stream_options *opts);

const wr_stream_type wr_stream_process = {"process",  process_open, proc_read,
                                          proc_write, proc_fd,      proc_close};

static int process_open(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    *out = NULL;
    static const char scheme[] = "process://";
    if (!target || strncmp(target, scheme, sizeof(scheme) - 1) != 0 || !target[sizeof(scheme) - 1])
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a process:///path/to/pwsh target", target ? target : "(null)");
    const char *prog = target + sizeof(scheme) - 1;

    proc_stream *p = calloc(1, sizeof(*p));
    if (!p)
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    p->base.type = &wr_stream_process;
    p->in_w = p->out_r = p->err_r = p->stop[0] = p->stop[1] = -1;
    p->pid = -1;
    p->tracer = opts ? opts->tracer : NULL;
    pthread_mutex_init(&p->mu, NULL);
    /* wait_err_done counts on CLOCK_MONOTONIC: wall-clock jumps do not matter. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = 0;

    if (strchr(prog, '/')) {
        p->path = strdup(prog);
        if (!p->path) {
            rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
            goto fail;
        }
        struct stat st;
        if (stat(p->path, &st) < 0 || access(p->path, X_OK) < 0) {
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot run %s: %s", p->path,
                              strerror(errno));
            goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                              "cannot run %s: not a regular file", p->path);
            goto fail;
        }
    } else {
        p->path = search_path(prog);
        if (!p->path) {
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                              "cannot run %s: not found on PATH", prog);
            goto fail;
        }
    }

    /* The child's environment: ours, plus DOTNET_ROOT when it needs one. */
    char *dotnet_root = dotnet_root_env();
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 2, sizeof(*envp));
    if (!envp) {
        free(dotnet_root);
        rc = wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nenv; i++)
        envp[i] = environ[i];
    if (dotnet_root) {
        envp[nenv] = dotnet_root;
        wr_tracef(p->tracer, "process: DOTNET_ROOT is not set; giving the child %s", dotnet_root);
    }

    int in[2] = {-1, -1}, outp[2] = {-1, -1}, err[2] = {-1, -1};
    if (make_pipe(in) < 0 || make_pipe(outp) < 0 || make_pipe(err) < 0 || make_pipe(p->stop) < 0) {
        rc = wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS, "pipe: %s", strerror(errno));
    } else {
        int e = spawn_child(p, in[0], outp[1], err[1], envp);
        if (e) {
            p->pid = -1;
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot run %s: %s", p->path,
                              strerror(e));
        }
    }
    free(envp);
    free(dotnet_root);
    /* The child's ends are the child's now. */
    close_fd(&in[0]);
    close_fd(&outp[1]);
    close_fd(&err[1]);
    p->in_w = in[1];
    p->out_r = outp[0];
    p->err_r = err[0];
    if (rc)
        goto fail;
    wr_tracef(p->tracer, "process: started %s -s -NoLogo -NoProfile (pid %ld)", p->path,
              (long)p->pid);

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
    *out = &p->base;
    return 0;

fail:
    proc_close(&p->base);
    return rc;
}
