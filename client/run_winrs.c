/*
 * run_winrs.c: run a command in a WinRS cmd shell (PROTOCOL.md 2), streaming
 * stdin in and output out as they come.
 *
 * The loop alternates three things, all bounded: pass on a pending Ctrl-C,
 * send whatever stdin has ready (never blocking on it), and one Receive.
 * While stdin is still open the Receive uses a short OperationTimeout so
 * input keeps flowing even when the command prints nothing; after EOF it
 * waits the session's full timeout. An empty stdin is closed only if the
 * command is still running after DEFER_END_MS, and a one-shot command is
 * not sent the terminate signal: its shell's Delete ends it (issue 7: a
 * one-shot is Create, Command, Receive, Delete).
 */
#include "run_winrs.h"

#include <errno.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "signals.h"

/* Input goes out in Sends of winrsh_command_send_max() bytes (about 110 KB:
 * one request each, under the smallest MaxEnvelopeSize servers use), so a
 * Send the server refuses can be offered again without sending any byte
 * twice. This caps the buffer should that ever be larger. */
#define STDIN_CHUNK_MAX (1024 * 1024)
#define STDIN_CHUNK_FALLBACK (64 * 1024)
/* Input sent per loop turn before we Receive again. It starts small and
 * grows fourfold while Receives bring no output (a command like wc that
 * prints nothing until EOF: each such turn ends with a Receive that waits
 * RECEIVE_WHILE_FLOWING_MS for nothing, so few turns); any output sets it
 * back, so a command like cat has
 * its output drained about as fast as its input goes out, and the server's
 * stdin queue does not fill (a full queue stalls a Send for the whole
 * OperationTimeout, as the command blocks on its undrained stdout). */
#define STDIN_TURN_MIN (256 * 1024)
#define STDIN_TURN_MAX (64 * 1024 * 1024)
#define STDIN_TURN_GROWTH 4
/* Once input flows, how long to wait for a bulk writer to refill the pipe
 * before sending a partly filled chunk (a 0 wait races the writer and
 * sends one pipe-full per Send). Only after a read of at least
 * STDIN_BULK_READ bytes: a slow, interactive writer is not waited for. */
#define STDIN_REFILL_WAIT_MS 10
#define STDIN_BULK_READ (32 * 1024)
/* Receive timeouts while stdin is open: short while input is flowing, so a
 * command that prints nothing until EOF (wc) still gets its input fast;
 * longer when stdin is idle, which bounds how long new input may wait. */
#define RECEIVE_WHILE_FLOWING_MS 200L
#define RECEIVE_WHILE_IDLE_MS 1000L
/* stdin was empty (at EOF before any byte, e.g. /dev/null): the End that
 * closes the command's stdin is held back this long, so a command that
 * finishes without reading stdin (the usual one-shot) needs no Send at all.
 * A command still running when it passes gets End then, so one that reads
 * stdin (cat) still sees EOF, this much later. */
#define DEFER_END_MS 300L
/* The shortest Receive while End is held back (a hold almost over). */
#define DEFER_MIN_RECEIVE_MS 50L
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

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

enum { DEFER_NO, DEFER_ALLOWED, DEFER_HOLDING };

/* stdin on its way to the command. A chunk stays in `buf` until the server
 * has taken it, so a Send the server refused for being busy is sent again. */
struct feeder {
    unsigned char *buf;
    size_t chunk;   /* bytes per Send (buffer size) */
    size_t pending; /* bytes read from fd 0, not yet accepted */
    int eof;        /* fd 0 is at EOF; End not yet accepted */
    int open;       /* End not sent yet */
    int flowing;    /* input was sent in the last turn */
    int sent_any;   /* some input byte was accepted */
    int defer;      /* DEFER_*: holding End back for an empty stdin */
    long defer_until;
    size_t turn; /* input allowed per turn, STDIN_TURN_MIN..MAX */
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
    if (f->pending)
        f->sent_any = 1;
    f->pending = 0;
    if (f->eof) {
        cli_verbose("stdin closed (sent End)");
        f->open = 0;
    }
    return 0;
}

/* Read what fd 0 has ready into the chunk, up to its end or EOF, never
 * waiting for a writer that has not written yet. Bounded: each pass reads
 * at least one byte or stops. Returns 0 or an exit status. */
static int fill_chunk(struct feeder *f, int first_wait_ms)
{
    int wait_ms = first_wait_ms;
    while (!f->eof && f->pending < f->chunk) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int n = poll(&p, 1, wait_ms);
        if (n < 0 && errno != EINTR) {
            cli_error("cannot poll stdin: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (n <= 0)
            return 0; /* nothing ready now */
        ssize_t r =
            (p.revents & POLLNVAL) ? 0 : read(0, f->buf + f->pending, f->chunk - f->pending);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return 0;
            cli_error("cannot read stdin: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (r == 0)
            f->eof = 1;
        f->pending += (size_t)r;
        wait_ms = r >= STDIN_BULK_READ ? STDIN_REFILL_WAIT_MS : 0;
    }
    return 0;
}

/* Send what stdin has ready, up to f->turn bytes, without ever waiting for
 * stdin. At EOF (or a closed fd 0) send End, unless stdin was empty: then
 * End is held back (DEFER_END_MS). Returns 0 or an exit status. */
static int pump_stdin(winrsh_command *cmd, struct feeder *f)
{
    size_t sent = 0;
    int busy = 0;
    f->flowing = 0;
    while (f->open && f->defer != DEFER_HOLDING && !busy && sent < f->turn) {
        int st = fill_chunk(f, sent ? STDIN_REFILL_WAIT_MS : 0);
        if (st != 0)
            return st;
        if (!f->pending && !f->eof)
            return 0; /* nothing ready now */
        if (f->eof && !f->pending && !f->sent_any && f->defer == DEFER_ALLOWED) {
            cli_verbose("stdin is empty: End held back %ld ms", DEFER_END_MS);
            f->defer = DEFER_HOLDING;
            f->defer_until = now_ms() + DEFER_END_MS;
            return 0;
        }
        size_t n = f->pending;
        st = feed_pending(cmd, f, &busy);
        if (st != 0)
            return st;
        sent += busy ? 0 : n;
        f->flowing = sent > 0;
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

/* This turn's Receive timeout (0: the session's). */
static long receive_timeout(const struct feeder *f)
{
    if (!f->open)
        return 0;
    if (f->defer == DEFER_HOLDING) {
        long left = f->defer_until - now_ms();
        return left < DEFER_MIN_RECEIVE_MS ? DEFER_MIN_RECEIVE_MS : left;
    }
    return f->flowing ? RECEIVE_WHILE_FLOWING_MS : RECEIVE_WHILE_IDLE_MS;
}

/* feeding: stdin is the command's input; defer_end: an empty stdin may hold
 * End back (see DEFER_END_MS). */
static int receive_loop(winrsh_command *cmd, struct run_state *st, int feeding, int defer_end)
{
    struct feeder f;
    int ctrl_c_sent = 0;
    int done = 0;
    int status = 0;

    memset(&f, 0, sizeof(f));
    f.open = feeding;
    f.turn = STDIN_TURN_MIN;
    f.defer = defer_end ? DEFER_ALLOWED : DEFER_NO;
    f.chunk = winrsh_command_send_max(cmd);
    if (f.chunk < 3 || f.chunk > STDIN_CHUNK_MAX)
        f.chunk = f.chunk > STDIN_CHUNK_MAX ? STDIN_CHUNK_MAX : STDIN_CHUNK_FALLBACK;
    if (feeding && !(f.buf = malloc(f.chunk))) {
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
            rc = winrsh_command_receive(cmd, receive_timeout(&f), &done);
        cli_signals_interruptible(0);
        /* Still running when the hold on End is over: it may be waiting for
         * stdin, so End goes with the next turn. */
        if (f.defer == DEFER_HOLDING && !done && now_ms() >= f.defer_until) {
            cli_verbose("the command is still running: closing its stdin");
            f.defer = DEFER_NO;
        }

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
            f.turn = f.turn * STDIN_TURN_GROWTH > STDIN_TURN_MAX ? STDIN_TURN_MAX
                                                                 : f.turn * STDIN_TURN_GROWTH;
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

/* Start `command` and run it to the end. The command handle is left in
 * *keep for the caller to free (NULL if it never started). */
static int run_command(winrsh_shell *shell, const char *command, const char *const *args,
                       size_t nargs, int feed_stdin, int send_end, int defer_end,
                       winrsh_command **keep)
{
    struct run_state st;
    winrsh_command_options copts;
    winrsh_command *cmd = NULL;

    *keep = NULL;
    memset(&st, 0, sizeof(st));
    winrsh_command_options_init(&copts, WINRSH_COMMAND_OPTIONS_VERSION);
    copts.output = on_output;
    copts.payload = &st;

    cli_signals_interruptible(1);
    int rc = cli_signals_interrupts() || cli_signals_terminate()
                 ? WINRSH_EINTR
                 : winrsh_command_start(&cmd, shell, command, args, nargs, &copts);
    cli_signals_interruptible(0);
    *keep = cmd;
    if (rc == WINRSH_EINTR) {
        int term = cli_signals_terminate();
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
        status = receive_loop(cmd, &st, feed_stdin, defer_end);
    return status;
}

int cli_winrs_run(winrsh_shell *shell, const struct cli_options *o, const char *command,
                  const char *const *args, size_t nargs, int feed_stdin, int send_end)
{
    winrsh_command *cmd = NULL;
    (void)o;
    /* The shell lives on (REPL): End is not held back, and the finished
     * command is released with the terminate signal. */
    int status = run_command(shell, command, args, nargs, feed_stdin, send_end, 0, &cmd);
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

/* Every Receive allocates and frees the same few buffers of up to about a
 * megabyte (the reply, its parsed text, the decoded bytes; NTLM's sealing).
 * With glibc's defaults they are given back to the kernel after each
 * request (brk trim, or mmap/munmap) and every page faults in again on the
 * next: about half the client's CPU while output streams. Keeping up to a
 * few megabytes in the heap costs well under 1 MB of peak RSS here. */
#define MALLOC_KEEP_BYTES (8 * 1024 * 1024)

static void tune_malloc(void)
{
#ifdef M_TRIM_THRESHOLD
    (void)mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP_BYTES / 2);
    (void)mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP_BYTES);
#endif
}

int cli_run_command(winrsh_session *session, const struct cli_options *o)
{
    winrsh_shell *shell = NULL;
    tune_malloc();
    int status = cli_winrs_open_shell(session, o, &shell);
    if (status != 0)
        return status;

    /* stdin is the command's input unless -n, or it is a terminal: as with
     * a one-shot ssh command from a terminal, typing ahead then belongs to
     * the local shell, not the remote command. */
    int feed = !o->no_stdin && !isatty(0);
    winrsh_command *cmd = NULL;
    status = run_command(shell, o->command, o->args, o->nargs, feed, 0, feed, &cmd);

    /* The shell is deleted next, which ends the command and frees it on the
     * server (MS-WSMV 3.1.4.4.1): no terminate signal first. */
    winrsh_command_free_nosignal(cmd);
    cli_verbose("deleting shell %s", winrsh_shell_id(shell));
    winrsh_shell_free(shell); /* always: a leaked shell counts against the user's quota */
    return status;
}
