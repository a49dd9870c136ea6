/*
 * stream_ssh.h: PowerShell remoting over SSH (target ssh://[USER@]HOST[:PORT]).
 *
 * OpenSSH's own client does the SSH part, so the user's ssh_config, keys,
 * agent and known_hosts all apply, exactly as for `ssh HOST`. winrsh runs
 * the `ssh` found on PATH as
 *
 *   ssh [-p PORT] [-o OPT]... [-o BatchMode=yes] -o ConnectTimeout=S \
 *       -s [USER@]HOST powershell
 *
 * and speaks the out-of-process framing (transport/outofproc.h) over its
 * stdin/stdout: the server side is the sshd subsystem `powershell`, i.e.
 * `pwsh -sshs` (PROTOCOL.md 5). The caller's options come first, so an
 * `-o ConnectTimeout=...` of theirs wins over ours (ssh takes the first
 * value it sees). No password ever goes on the command line: ssh asks on
 * the terminal itself when it needs one (ssh stays in winrsh's process
 * group so it can; see transport/spawn.h), or fails at once with
 * BatchMode. ssh's stderr (e.g. "Permission denied (publickey).", "Host
 * key verification failed.") ends up in the error when the connection
 * ends: "ssh to admin@host exited with status 255; its stderr says: ...".
 * ssh exits 255 for its own failures; any other status is the remote
 * subsystem's. sshd discards a subsystem's stderr (OpenSSH 9.2, checked),
 * so what pwsh -sshs prints there never arrives; a subsystem that could
 * not start (126/127) gets a hint about sshd_config instead.
 */
#ifndef WR_TRANSPORT_STREAM_SSH_H
#define WR_TRANSPORT_STREAM_SSH_H

#include <stddef.h>

#include "transport/stream.h"

typedef struct wr_ssh_options {
    /* Each passed as `-o OPT` (e.g. "IdentityFile=~/.ssh/lab"), in order;
     * borrowed for the call. */
    const char *const *options;
    size_t noptions;
    /* 1: add -o BatchMode=yes (no prompts: fail instead). */
    int batch_mode;
    /* The ssh program; NULL: "ssh" searched on PATH. */
    const char *program;
} wr_ssh_options;

/* The target's parts: user may be NULL; port 0 when none was given. */
typedef struct wr_ssh_target {
    char *user;
    char *host;
    unsigned port;
} wr_ssh_target;

/* Parse "ssh://[USER@]HOST[:PORT]" ("[v6addr]" for IPv6; USER may hold
 * %XX escapes, e.g. DOMAIN%5Cuser). WINRSH_EINVAL for anything else, and
 * for a host or user that ssh could take for an option (a leading '-'). */
int wr_ssh_target_parse(wr_ssh_target *t, const char *target);
void wr_ssh_target_free(wr_ssh_target *t);

/* Start ssh for target. ssh_opts may be NULL (no options). */
int wr_stream_ssh_open(wr_stream **out, const char *target, const wr_ssh_options *ssh_opts,
                       const wr_stream_options *opts);

/* The scheme table's entry (no ssh options). */
extern const wr_stream_type wr_stream_ssh;

#endif
