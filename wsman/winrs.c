/*
 * winrs.c: winrsh_shell_* and winrsh_command_* (include/winrsh/shell.h), the
 * WinRS cmd shell on top of the generic shell operations in shell.c
 * (PROTOCOL.md 2).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/mem.h"
#include "ns.h"
#include "session_internal.h"
#include "shell.h"
#include "winrsh/errors.h"
#include "winrsh/shell.h"

#define DEFAULT_CODEPAGE 65001u

struct winrsh_shell {
    winrsh_session *session; /* borrowed */
    wr_shell *sh;
    int closed; /* Delete was attempted: never again */
};

struct winrsh_command {
    winrsh_shell *shell; /* borrowed */
    char *id;
    winrsh_output_cb output;
    void *payload;
    int done;
    int exit_code;
    int terminated;
    int stdin_closed;
    int ctrl_c_sent; /* by an interrupt during a Receive */
};

static int invalid(const char *what)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "%s", what);
}

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

/* ---- keeping the caller's error across clean-up ------------------------ */

/*
 * The *_free functions talk to the server (terminate, Delete) after the
 * caller's operation may have failed; the caller reads winrsh_error_last()
 * afterwards and must see its own error, not that of the clean-up.
 */
typedef struct saved_error {
    winrsh_error e;
    char message[1024];
    wr_fault *fault;
} saved_error;

static char *dup_or_null(const char *s, int *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

static wr_fault *copy_fault(const winrsh_fault *f)
{
    wr_fault *head = NULL, **tail = &head;
    int bad = 0;
    for (; f && !bad; f = f->provider) {
        wr_fault *c = calloc(1, sizeof(*c));
        if (!c)
            break;
        c->code = dup_or_null(f->code, &bad);
        c->subcode = dup_or_null(f->subcode, &bad);
        c->reason = dup_or_null(f->reason, &bad);
        c->machine = dup_or_null(f->machine, &bad);
        c->message = dup_or_null(f->message, &bad);
        c->provider_name = dup_or_null(f->provider_name, &bad);
        c->wsman_code = f->wsman_code;
        *tail = c;
        tail = &c->provider;
    }
    return head;
}

static void save_error(saved_error *s)
{
    const winrsh_error *e = winrsh_error_last();
    s->e = *e;
    snprintf(s->message, sizeof(s->message), "%s", e->message ? e->message : "");
    s->fault = copy_fault(e->fault);
}

static void restore_error(saved_error *s)
{
    if (!s->e.code) {
        winrsh_error_clear();
        wr_fault_free(s->fault);
        return;
    }
    wr_error_set(s->e.code, s->e.klass, "%s", s->message);
    wr_error_set_http_status(s->e.http_status);
    wr_error_set_gss(s->e.gss_major, s->e.gss_minor);
    if (s->fault)
        wr_error_set_fault(s->fault);
}

/* ---- shell ------------------------------------------------------------- */

WINRSH_EXTERN(int) winrsh_shell_options_init(winrsh_shell_options *opts, unsigned int version)
{
    if (!opts || version != WINRSH_SHELL_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "shell options version %u is not supported (this library: %d)", version,
                            WINRSH_SHELL_OPTIONS_VERSION);
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_shell_open(winrsh_shell **out, winrsh_session *session, const winrsh_shell_options *opts)
{
    if (!out)
        return invalid("shell: NULL out pointer");
    *out = NULL;
    if (!session)
        return invalid("shell: NULL session");
    winrsh_shell_options defaults;
    if (!opts) {
        winrsh_shell_options_init(&defaults, WINRSH_SHELL_OPTIONS_VERSION);
        opts = &defaults;
    }
    if (opts->version < 1 || opts->version > WINRSH_SHELL_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "shell options version %u is not supported (this library: %d)",
                            opts->version, WINRSH_SHELL_OPTIONS_VERSION);
    char codepage[16];
    snprintf(codepage, sizeof(codepage), "%u", opts->codepage ? opts->codepage : DEFAULT_CODEPAGE);
    /* MS-WSMV 3.1.4.5.1 (WinRS options of Create). */
    const wr_option options[] = {
        {"WINRS_NOPROFILE", opts->no_profile ? "TRUE" : "FALSE", 0},
        {"WINRS_CODEPAGE", codepage, 0},
    };
    wr_shell_create_args a = {
        .resource_uri = WR_URI_SHELL_CMD,
        .input_streams = "stdin",
        .output_streams = "stdout stderr",
        .working_directory = opts->working_directory,
        .environment = opts->environment,
        .idle_timeout_s = opts->idle_timeout_s,
        .options = options,
        .noptions = sizeof(options) / sizeof(options[0]),
    };
    if (!wr_session_wsman(session))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "the WinRS cmd shell needs a WS-Management target (http:// or "
                            "https://), not %s",
                            winrsh_session_url(session));
    winrsh_shell *s = calloc(1, sizeof(*s));
    if (!s)
        return oom();
    s->session = session;
    int rc = wr_shell_create(&s->sh, wr_session_wsman(session), &a);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

WINRSH_EXTERN(const char *) winrsh_shell_id(const winrsh_shell *shell)
{
    return shell && shell->sh ? wr_shell_get_id(shell->sh) : NULL;
}

WINRSH_EXTERN(int) winrsh_shell_close(winrsh_shell *shell)
{
    if (!shell)
        return invalid("shell: NULL handle");
    if (shell->closed || !shell->sh)
        return 0;
    /* Marked first: a failed Delete is not retried by winrsh_shell_free,
     * which would only wait out the same failure again. */
    shell->closed = 1;
    return wr_shell_delete(shell->sh);
}

WINRSH_EXTERN(void) winrsh_shell_free(winrsh_shell *shell)
{
    if (!shell)
        return;
    if (!shell->closed && shell->sh) {
        saved_error saved;
        save_error(&saved);
        wr_session_clear_interrupt(shell->session);
        (void)winrsh_shell_close(shell);
        restore_error(&saved);
    }
    wr_shell_free(shell->sh);
    free(shell);
}

/* ---- command ----------------------------------------------------------- */

WINRSH_EXTERN(int) winrsh_command_options_init(winrsh_command_options *opts, unsigned int version)
{
    if (!opts || version != WINRSH_COMMAND_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "command options version %u is not supported (this library: %d)",
                            version, WINRSH_COMMAND_OPTIONS_VERSION);
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_command_start(winrsh_command **out, winrsh_shell *shell, const char *command,
                     const char *const *args, size_t nargs, const winrsh_command_options *opts)
{
    if (!out)
        return invalid("command: NULL out pointer");
    *out = NULL;
    if (!shell || !command || (nargs && !args))
        return invalid("command: a shell, a command and (for nargs > 0) arguments are required");
    if (shell->closed)
        return invalid("command: the shell is closed");
    winrsh_command_options defaults;
    if (!opts) {
        winrsh_command_options_init(&defaults, WINRSH_COMMAND_OPTIONS_VERSION);
        opts = &defaults;
    }
    if (opts->version < 1 || opts->version > WINRSH_COMMAND_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "command options version %u is not supported (this library: %d)",
                            opts->version, WINRSH_COMMAND_OPTIONS_VERSION);
    /* MS-WSMV 3.1.4.11: both always sent, as pywinrm does. */
    const wr_option options[] = {
        {"WINRS_CONSOLEMODE_STDIN", opts->console_mode_stdin ? "TRUE" : "FALSE", 0},
        {"WINRS_SKIP_CMD_SHELL", opts->skip_cmd_shell ? "TRUE" : "FALSE", 0},
    };
    wr_shell_command_args a = {
        .command = command,
        .args = args,
        .nargs = nargs,
        .options = options,
        .noptions = sizeof(options) / sizeof(options[0]),
    };
    winrsh_command *c = calloc(1, sizeof(*c));
    if (!c)
        return oom();
    c->shell = shell;
    c->output = opts->output;
    c->payload = opts->payload;
    c->exit_code = -1;
    int rc = wr_shell_command(shell->sh, &a, &c->id);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

WINRSH_EXTERN(const char *) winrsh_command_id(const winrsh_command *cmd)
{
    return cmd ? cmd->id : NULL;
}

WINRSH_EXTERN(int) winrsh_command_send(winrsh_command *cmd, const void *data, size_t len, int end)
{
    if (!cmd || (len && !data))
        return invalid("send: NULL command or data");
    if (cmd->stdin_closed)
        return invalid("send: stdin of the command is already closed");
    if (cmd->shell->closed)
        return invalid("send: the shell is closed");
    if (!len && !end)
        return 0;
    const unsigned char *p = data;
    size_t cap = wr_shell_send_capacity(cmd->shell->sh, cmd->id);
    int first = 1;
    do {
        size_t n = len < cap ? len : cap;
        int last = n == len;
        int rc = wr_shell_send(cmd->shell->sh, "stdin", cmd->id, p, n, end && last);
        /* Once part of the input is on its way, an interrupt must not make
         * the caller resend it all: retry this piece once, the interrupt
         * itself has been consumed and the caller sees its own signal. */
        if (rc == WINRSH_EINTR && !first)
            rc = wr_shell_send(cmd->shell->sh, "stdin", cmd->id, p, n, end && last);
        if (rc)
            return rc;
        first = 0;
        p += n;
        len -= n;
    } while (len);
    if (end)
        cmd->stdin_closed = 1;
    return 0;
}

WINRSH_EXTERN(size_t) winrsh_command_send_max(const winrsh_command *cmd)
{
    if (!cmd)
        return 0;
    return wr_shell_send_capacity(cmd->shell->sh, cmd->id);
}

/* An exit code as the int of the public API: Windows' DWORD codes above
 * INT_MAX (e.g. 0xC000013A) keep their bit pattern. */
static int to_int_code(int64_t v)
{
    if (v >= INT_MIN && v <= INT_MAX)
        return (int)v;
    if (v > INT_MAX && v <= (int64_t)UINT32_MAX)
        return (int)(int32_t)(uint32_t)v;
    return v < 0 ? INT_MIN : INT_MAX;
}

static int on_stream(const char *stream, const char *command_id, const unsigned char *data,
                     size_t len, int end, void *payload)
{
    (void)end;
    winrsh_command *cmd = payload;
    if (command_id && strcasecmp(command_id, cmd->id) != 0)
        return 0;
    if (!len || !cmd->output)
        return 0;
    if (strcmp(stream, "stdout") == 0)
        return cmd->output(WINRSH_STREAM_STDOUT, data, len, cmd->payload);
    if (strcmp(stream, "stderr") == 0)
        return cmd->output(WINRSH_STREAM_STDERR, data, len, cmd->payload);
    return 0;
}

/* An interrupt during a Receive: send ctrl_c on the side connection, and
 * let the Receive go on to collect what the command prints as it stops
 * (aborting it instead could strand output on the server). */
static int ctrl_c_on_side(void *ctx, wr_wsman *side)
{
    winrsh_command *cmd = ctx;
    wr_shell *sh = NULL;
    int rc = wr_shell_attach(&sh, side, WR_URI_SHELL_CMD, wr_shell_get_id(cmd->shell->sh));
    if (!rc)
        rc = wr_shell_signal(sh, cmd->id, WR_SIGNAL_CTRL_C);
    wr_shell_free(sh);
    if (!rc)
        cmd->ctrl_c_sent = 1;
    return rc;
}

WINRSH_EXTERN(int) winrsh_command_receive(winrsh_command *cmd, long timeout_ms, int *done)
{
    if (!cmd || timeout_ms < 0)
        return invalid("receive: NULL command or negative timeout");
    if (done)
        *done = cmd->done;
    if (cmd->done)
        return 0;
    if (cmd->shell->closed)
        return invalid("receive: the shell is closed");
    wr_shell_receive_args a = {
        .streams = "stdout stderr",
        .command_id = cmd->id,
        .timeout_ms = timeout_ms,
        .cb = on_stream,
        .payload = cmd,
    };
    wr_receive_result res;
    /* Once ctrl_c went out, a further interrupt abandons the wait instead. */
    if (!cmd->ctrl_c_sent)
        wr_session_set_interrupt_action(cmd->shell->session, ctrl_c_on_side, cmd);
    int rc = wr_shell_receive(cmd->shell->sh, &a, &res);
    wr_session_set_interrupt_action(cmd->shell->session, NULL, NULL);
    if (rc)
        return rc;
    if (res.done) {
        cmd->done = 1;
        /* Done without rsp:ExitCode (a terminated command): -1, unknown. */
        cmd->exit_code = res.have_exit_code ? to_int_code(res.exit_code) : -1;
    }
    if (done)
        *done = cmd->done;
    return 0;
}

WINRSH_EXTERN(int) winrsh_command_wait(winrsh_command *cmd, int *exit_code)
{
    if (!cmd)
        return invalid("wait: NULL command");
    int done = 0;
    while (!done) {
        int rc = winrsh_command_receive(cmd, 0, &done);
        if (rc)
            return rc;
    }
    if (exit_code)
        *exit_code = cmd->exit_code;
    return 0;
}

WINRSH_EXTERN(int) winrsh_command_ctrl_c_sent(const winrsh_command *cmd)
{
    return cmd ? cmd->ctrl_c_sent : 0;
}

WINRSH_EXTERN(int) winrsh_command_done(const winrsh_command *cmd, int *exit_code)
{
    if (!cmd)
        return invalid("done: NULL command");
    if (cmd->done && exit_code)
        *exit_code = cmd->exit_code;
    return cmd->done;
}

WINRSH_EXTERN(int) winrsh_command_signal(winrsh_command *cmd, winrsh_signal sig)
{
    if (!cmd)
        return invalid("signal: NULL command");
    const char *code;
    switch (sig) {
    case WINRSH_SIGNAL_CTRL_C:
        code = WR_SIGNAL_CTRL_C;
        break;
    case WINRSH_SIGNAL_CTRL_BREAK:
        code = WR_SIGNAL_CTRL_BREAK;
        break;
    case WINRSH_SIGNAL_TERMINATE:
        code = WR_SIGNAL_TERMINATE;
        break;
    default:
        return invalid("signal: unknown signal");
    }
    if (cmd->shell->closed)
        return invalid("signal: the shell is closed");
    int rc = wr_shell_signal(cmd->shell->sh, cmd->id, code);
    if (!rc && sig == WINRSH_SIGNAL_TERMINATE)
        cmd->terminated = 1;
    return rc;
}

WINRSH_EXTERN(void) winrsh_command_free(winrsh_command *cmd)
{
    if (!cmd)
        return;
    /* Terminate even a finished command: the server keeps its resources
     * until told (PROTOCOL.md 2, Signal). */
    if (!cmd->terminated && !cmd->shell->closed) {
        saved_error saved;
        save_error(&saved);
        wr_session_clear_interrupt(cmd->shell->session);
        (void)winrsh_command_signal(cmd, WINRSH_SIGNAL_TERMINATE);
        restore_error(&saved);
    }
    free(cmd->id);
    free(cmd);
}

WINRSH_EXTERN(void) winrsh_command_free_nosignal(winrsh_command *cmd)
{
    if (!cmd)
        return;
    free(cmd->id);
    free(cmd);
}
