/*
 * spawn.h: a child process as a stream (transport/stream.h): its stdin and
 * stdout are the byte pipe, its stderr is captured. Shared by the back-ends
 * that run a program: `process` (a local `pwsh -s`, stream_process.c) and
 * `ssh` (OpenSSH's `ssh -s HOST powershell`, stream_ssh.c).
 *
 * What every such stream does (ARCHITECTURE.md 3):
 *   - stdin/stdout are non-blocking pipes, close-on-exec on our side;
 *   - the last WR_SPAWN_ERR_TAIL_MAX bytes of stderr are kept by a small
 *     thread (the child must never block on a full stderr pipe while we
 *     wait for its stdout) and become, with the exit status, the message of
 *     the WINRSH_ECLOSED that EOF of stdout turns into:
 *       "<label> exited with status 255; its stderr says: <tail>"
 *   - close() closes stdin (EOF asks the child to go), then SIGTERM, then
 *     SIGKILL, each after a grace period, and reaps the child: no zombie,
 *     no unbounded wait.
 *
 * Process groups. A child in its own process group (own_group 1) never
 * sees the terminal's Ctrl-C (winrsh asks the server to stop the pipeline
 * with a Signal packet instead), and close() signals the whole group. But
 * a background process group cannot read the terminal (SIGTTIN), so a
 * child that may need to prompt there (ssh: a passphrase, a password, a new
 * host key) stays in our group (own_group 0) and is started with SIGINT and
 * SIGQUIT ignored instead (through `/bin/sh -c "trap '' INT QUIT; exec ..."`,
 * because posix_spawn can only reset dispositions to the default); OpenSSH
 * keeps an inherited SIG_IGN for them. close() then signals only the child.
 */
#ifndef WR_TRANSPORT_SPAWN_H
#define WR_TRANSPORT_SPAWN_H

#include <stddef.h>

#include "common/trace.h"
#include "transport/stream.h"

#define WR_SPAWN_ERR_TAIL_MAX 8192  /* bytes of the child's stderr kept */
#define WR_SPAWN_ERR_TAIL_SHOWN 700 /* bytes of it put into an error message */

typedef struct wr_spawn_spec {
    /* The program: a path with a '/' (see wr_spawn_search_path). */
    const char *path;
    /* Its arguments, argv[0] included, NULL-terminated. */
    char *const *argv;
    /* Its environment, NULL-terminated; NULL: ours. */
    char *const *envp;
    /* Names the child in messages and traces ("/usr/bin/pwsh",
     * "ssh to admin@host"); NULL: path. */
    const char *label;
    /* 1: its own process group; 0: ours, with SIGINT and SIGQUIT ignored
     * (see the top). */
    int own_group;
} wr_spawn_spec;

/*
 * Start the child and make it a stream of the given type (whose read,
 * write, fd and close must be the wr_spawn_* functions below). A program
 * that cannot be started is WINRSH_ECONNECT ("cannot run <path>: <why>").
 */
int wr_spawn_stream_open(wr_stream **out, const wr_stream_type *type, const wr_spawn_spec *spec,
                         const wr_tracer *tracer);

/* The stream operations of a spawned child (transport/stream.h). */
int wr_spawn_read(wr_stream *s, void *buf, size_t len, size_t *got);
int wr_spawn_write(wr_stream *s, const void *buf, size_t len, size_t *wrote);
int wr_spawn_fd(const wr_stream *s, int for_write);
void wr_spawn_close(wr_stream *s);

/* The child's pid (-1 once it is gone or was never started): for tests. */
long wr_spawn_pid(const wr_stream *s);
/* How the child ended once a read or write saw it go: its exit status
 * (0-255), 256 + the signal that killed it, or -1 (still running, or not
 * known). */
int wr_spawn_exit_status(const wr_stream *s);

/* Search PATH (default "/usr/local/bin:/usr/bin:/bin") for an executable
 * regular file `name`; a malloc'd path, or NULL. */
char *wr_spawn_search_path(const char *name);

#endif
