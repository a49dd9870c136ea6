/*
 * run_winrs.c: run a command in a WinRS cmd shell (PROTOCOL.md 2), streaming
 * stdin in and output out as they come.
 *
 * The loop alternates three things, all bounded: pass on a pending Ctrl-C,
 * send whatever stdin has ready (never blocking on it), and one Receive.
 * While stdin is still open the Receive uses a short OperationTimeout so
 * input keeps flowing even when the command prints nothing; after EOF it
 * waits the session's full timeout.
 */
#include "run_winrs.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "signals.h"

#define STDIN_CHUNK (64 * 1024)
/* Input sent per loop turn before we Receive again. It starts small and
 * doubles while Receives bring no output (a command like wc that prints
 * nothing until EOF); any output sets it back, so a command like cat has
 * its output drained about as fast as its input goes out, and the server's
 * stdin queue does not fill (a full queue stalls a Send for the whole
 * OperationTimeout, as the command blocks on its undrained stdout). */
#define STDIN_TURN_MIN (256 * 1024)
#define STDIN_TURN_MAX (4 * 1024 * 1024)
/* Once input flows, how long to wait for the writer to refill the pipe
 * before calling this turn's input done (a 0 wait races the writer and
 * sends one pipe-full per turn). */
#define STDIN_REFILL_WAIT_MS 10
/* Receive timeouts while stdin is open: short while input is flowing, so a
 * command that prints nothing until EOF (wc) still gets its input fast;
 * longer when stdin is idle, which bounds how long new input may wait. */
#define RECEIVE_WHILE_FLOWING_MS 200L
#define RECEIVE_WHILE_IDLE_MS 1000L
/* How often a call that must not be cut short is retried after EINTR, in
 * case an interrupt meant for a Receive arrived just after it ended. */
#define EINTR_RETRIES 3

struct run_state {
    int got_output;  /* the last Receive delivered output */
    int epipe;       /* stdout or stderr closed under us */
    int write_errno; /* another write failure */
};

static int on_output(winrsh_stream stream, const unsigned char *data, size_t len, void *payload)
{
    struct run_state *st = payload;
    int fd = stream == WINRSH_STREAM_STDERR ? 2 : 1;
    st->got_output = 1;
    if (cli_write_all(fd, data, len) == 0)
        return 0;
    if (errno == EPIPE)
        st->epipe = 1;
    else
        st->write_errno = errno;
    return 1; /* stop the Receive: nowhere to put the output */
}

static int send_retry(winrsh_command *cmd, const void *data, size_t len, int end)
{
    int rc;
    int tries = 0;
    do
        rc = winrsh_command_send(cmd, data, len, end);
    while (rc == WINRSH_EINTR && ++tries < EINTR_RETRIES);
    return rc;
}

static int signal_retry(winrsh_command *cmd, winrsh_signal sig)
{
    int rc;
    int tries = 0;
    do
        rc = winrsh_command_signal(cmd, sig);
    while (rc == WINRSH_EINTR && ++tries < EINTR_RETRIES);
    return rc;
}

/* stdin on its way to the command. A chunk stays in `buf` until the server
 * has taken it, so a Send the server refused for being busy is sent again. */
struct feeder {
    unsigned char *buf;
    size_t pending; /* bytes read from fd 0, not yet accepted */
    int eof;        /* fd 0 is at EOF; End not yet accepted */
    int open;       /* End not sent yet */
    int flowing;    /* input was sent in the last turn */
    size_t turn;    /* input allowed per turn, STDIN_TURN_MIN..MAX */
};

/* The server's "nothing happened within OperationTimeout" (PROTOCOL.md 1,
 * 2150858793 w:TimedOut). On a Send it means the command's stdin queue is
 * full: Receive (so the command can make progress) and send again. */
static int timed_out(int rc)
{
    if (rc == WINRSH_ETIMEOUT)
        return 1;
    const winrsh_error *e = winrsh_error_last();
    return rc == WINRSH_EFAULT && e->fault &&
           (e->fault->wsman_code == 2150858793u ||
            (e->fault->subcode && strstr(e->fault->subcode, "TimedOut")));
}

/* Offer the pending chunk (and End at EOF). Sets *busy if the server did
 * not take it. Returns 0 or an exit status. */
static int feed_pending(winrsh_command *cmd, struct feeder *f, int *busy)
{
    int rc = send_retry(cmd, f->buf, f->pending, f->eof);
    if (rc < 0 && timed_out(rc)) {
        *busy = 1;
        return 0;
    }
    if (rc < 0) {
        cli_lib_error(rc, "cannot send stdin to the command");
        return CLI_EXIT_FAILURE;
    }
    f->pending = 0;
    if (f->eof) {
        cli_verbose("stdin closed (sent End)");
        f->open = 0;
    }
    return 0;
}

/* Send what stdin has ready, up to f->turn bytes, without ever waiting for
 * stdin. At EOF (or a closed fd 0) send End. Returns 0 or an exit status. */
static int pump_stdin(winrsh_command *cmd, struct feeder *f)
{
    size_t sent = 0;
    int busy = 0;
    f->flowing = 0;
    while (f->open && !busy && sent < f->turn) {
        if (f->pending || f->eof) {
            size_t n = f->pending;
            int st = feed_pending(cmd, f, &busy);
            if (st != 0)
                return st;
            sent += busy ? 0 : n;
            f->flowing = sent > 0;
            continue;
        }
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int n = poll(&p, 1, sent ? STDIN_REFILL_WAIT_MS : 0);
        if (n < 0 && errno != EINTR) {
            cli_error("cannot poll stdin: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (n <= 0)
            return 0; /* nothing ready now */
        /* Chunks of 64 KiB fit one envelope (base64 of them is ~87 KB, well
         * under MaxEnvelopeSize), so each Send is one request and a refused
         * one can be repeated without sending any byte twice. */
        ssize_t r = (p.revents & POLLNVAL) ? 0 : read(0, f->buf, STDIN_CHUNK);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return 0;
            cli_error("cannot read stdin: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (r == 0)
            f->eof = 1;
        f->pending = (size_t)r;
    }
    return 0;
}

/* A remote exit code as ours: 0-254 as is, anything else 254 and said. */
static int map_exit(int code)
{
    if (code >= 0 && code <= 254)
        return code;
    cli_error("remote command exited with code %u (0x%08X), outside 0-254", (unsigned int)code,
              (unsigned int)code);
    return CLI_EXIT_REMOTE_RANGE;
}

/* Second Ctrl-C, SIGTERM or SIGHUP: terminate the command and leave. */
static int abandon(winrsh_command *cmd)
{
    int term = cli_signals_terminate();
    cli_signals_default_int();
    cli_verbose("terminating the command");
    (void)signal_retry(cmd, WINRSH_SIGNAL_TERMINATE);
    return term ? 128 + term : CLI_EXIT_INTERRUPTED;
}

static int receive_loop(winrsh_command *cmd, struct run_state *st, int feeding)
{
    struct feeder f = {NULL, 0, 0, feeding, 0, STDIN_TURN_MIN};
    int ctrl_c_sent = 0;
    int done = 0;
    int status = 0;

    if (feeding && !(f.buf = malloc(STDIN_CHUNK))) {
        cli_error("out of memory for the stdin buffer");
        return CLI_EXIT_FAILURE;
    }
    while (!done) {
        if (cli_signals_terminate() || cli_signals_interrupts() >= 2) {
            status = abandon(cmd);
            break;
        }
        /* The library sends ctrl_c itself when Ctrl-C comes during a
         * Receive (on a second connection, leaving the Receive to collect
         * what the command prints as it stops); send it here only when the
         * signal came at another moment. */
        if (winrsh_command_ctrl_c_sent(cmd))
            ctrl_c_sent = 1;
        if (cli_signals_interrupts() == 1 && !ctrl_c_sent) {
            ctrl_c_sent = 1;
            cli_verbose("sending ctrl_c (Ctrl-C again to terminate)");
            int rc = signal_retry(cmd, WINRSH_SIGNAL_CTRL_C);
            if (rc < 0)
                cli_lib_error(rc, "cannot send ctrl_c to the command");
        }
        if (f.open && (status = pump_stdin(cmd, &f)) != 0)
            break;

        cli_signals_interruptible(1);
        st->got_output = 0;
        int rc = WINRSH_EINTR;
        /* Checked after enabling interrupts, so a signal in between is seen
         * here or cuts the Receive short. */
        if (!cli_signals_terminate() && cli_signals_interrupts() == ctrl_c_sent)
            rc = winrsh_command_receive(cmd,
                                        !f.open     ? 0
                                        : f.flowing ? RECEIVE_WHILE_FLOWING_MS
                                                    : RECEIVE_WHILE_IDLE_MS,
                                        &done);
        cli_signals_interruptible(0);

        if (st->epipe) {
            status = CLI_EXIT_SIGPIPE;
            break;
        }
        if (st->write_errno) {
            cli_error("cannot write the command's output: %s", strerror(st->write_errno));
            status = CLI_EXIT_FAILURE;
            break;
        }
        if (st->got_output)
            f.turn = STDIN_TURN_MIN;
        else if (f.flowing && rc == 0 && f.turn < STDIN_TURN_MAX)
            f.turn *= 2;
        if (rc == WINRSH_EINTR)
            continue;
        if (rc < 0) {
            cli_lib_error(rc, "receiving output failed");
            status = CLI_EXIT_FAILURE;
            break;
        }
    }
    free(f.buf);
    if (done && status == 0) {
        int code = 0;
        (void)winrsh_command_done(cmd, &code);
        cli_verbose("command exited with code %d", code);
        status = map_exit(code);
    }
    return status;
}

int cli_winrs_run(winrsh_shell *shell, const struct cli_options *o, const char *command,
                  const char *const *args, size_t nargs, int feed_stdin, int send_end)
{
    struct run_state st;
    winrsh_command_options copts;
    winrsh_command *cmd = NULL;
    (void)o;

    memset(&st, 0, sizeof(st));
    winrsh_command_options_init(&copts, WINRSH_COMMAND_OPTIONS_VERSION);
    copts.output = on_output;
    copts.payload = &st;

    cli_signals_interruptible(1);
    int rc = cli_signals_interrupts() || cli_signals_terminate()
                 ? WINRSH_EINTR
                 : winrsh_command_start(&cmd, shell, command, args, nargs, &copts);
    cli_signals_interruptible(0);
    if (rc == WINRSH_EINTR) {
        int term = cli_signals_terminate();
        winrsh_command_free(cmd);
        return term ? 128 + term : CLI_EXIT_INTERRUPTED;
    }
    if (rc < 0) {
        cli_lib_error(rc, "cannot start '%s'", command);
        return CLI_EXIT_FAILURE;
    }
    cli_verbose("command %s started", winrsh_command_id(cmd));

    int status = 0;
    if (!feed_stdin && send_end) {
        rc = send_retry(cmd, NULL, 0, 1);
        if (rc < 0) {
            cli_lib_error(rc, "cannot close the command's stdin");
            status = CLI_EXIT_FAILURE;
        }
    }
    if (status == 0)
        status = receive_loop(cmd, &st, feed_stdin);
    winrsh_command_free(cmd);
    return status;
}

int cli_winrs_open_shell(winrsh_session *session, const struct cli_options *o, winrsh_shell **out)
{
    winrsh_shell_options sopts;
    winrsh_shell_options_init(&sopts, WINRSH_SHELL_OPTIONS_VERSION);
    sopts.codepage = o->codepage;
    sopts.no_profile = 1; /* like ssh: a command runs without login scripts */

    *out = NULL;
    cli_verbose("connecting to %s%s%s (auth %s)", winrsh_session_url(session),
                o->user ? " as " : "", o->user ? o->user : "", o->auth_name);
    cli_signals_interruptible(1);
    int rc = cli_signals_interrupts() || cli_signals_terminate()
                 ? WINRSH_EINTR
                 : winrsh_shell_open(out, session, &sopts);
    cli_signals_interruptible(0);
    if (rc == WINRSH_EINTR) {
        int term = cli_signals_terminate();
        winrsh_shell_free(*out);
        *out = NULL;
        return term ? 128 + term : CLI_EXIT_INTERRUPTED;
    }
    if (rc < 0) {
        cli_lib_error(rc, "cannot open a shell on %s", winrsh_session_url(session));
        winrsh_shell_free(*out);
        *out = NULL;
        return CLI_EXIT_FAILURE;
    }
    cli_verbose("shell %s open (code page %u)", winrsh_shell_id(*out), o->codepage);
    return 0;
}

int cli_run_command(winrsh_session *session, const struct cli_options *o)
{
    winrsh_shell *shell = NULL;
    int status = cli_winrs_open_shell(session, o, &shell);
    if (status != 0)
        return status;

    /* stdin is the command's input unless -n, or it is a terminal: as with
     * a one-shot ssh command from a terminal, typing ahead then belongs to
     * the local shell, not the remote command. */
    int feed = !o->no_stdin && !isatty(0);
    status = cli_winrs_run(shell, o, o->command, o->args, o->nargs, feed, 0);

    cli_verbose("deleting shell %s", winrsh_shell_id(shell));
    winrsh_shell_free(shell); /* always: a leaked shell counts against the user's quota */
    return status;
}
