/*
 * run_psrp.c: run PowerShell on the remote host over PSRP (the default
 * shell), printing what PowerShell prints (ARCHITECTURE.md 4):
 *
 *   stdout  output objects, formatted by the remote side: the script runs
 *           as `<script> | Out-String -Stream -Width <terminal width or
 *           120>`, so each output line arrives as one string; with
 *           --output json the script runs alone and each object is printed
 *           as one line of JSON. Write-Host (host Write calls) too.
 *   stderr  error records rendered as PowerShell renders them, WARNING: /
 *           VERBOSE: / DEBUG: lines, other information records, progress
 *           (one line, on a terminal only), and winrsh's own messages.
 *   status  N after `exit N` (the SetShouldExit host call), else 1 if the
 *           pipeline failed or wrote an error record, else 0; 130 after
 *           Ctrl-C, 255 when winrsh itself failed.
 *
 * stdin (not a terminal, no -n): each line, its line ending removed, is one
 * string of pipeline input ($input), then the end of input. Ctrl-C stops
 * the pipeline (crtl_c signal) and waits for it to say Stopped; a second
 * Ctrl-C, SIGTERM or SIGHUP leaves at once. The runspace pool is closed on
 * every way out.
 */
#include "run_psrp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "run_winrs.h"
#include "signals.h"

#define DEFAULT_WIDTH 120
#define STDIN_CHUNK (64 * 1024)
/* Input read per loop turn before we Receive again. */
#define STDIN_TURN_MAX (1024 * 1024)
/*
 * Receive timeouts (the WS-Man OperationTimeout of each long poll; 0: the
 * session's). A first Ctrl-C during a Receive does not abandon it: the
 * library sends the stop signal on a second connection and the Receive goes
 * on to collect the Stopped state (abandoning it could lose that on the
 * server). A second Ctrl-C abandons the wait.
 */
#define RECEIVE_MS 0L
#define RECEIVE_WHILE_FEEDING_MS 1000L
#define RECEIVE_WHILE_STOPPING_MS 2000L
/* How long a stopped pipeline may take to say so before we leave anyway. */
#define STOP_GRACE_MS 15000L
#define EINTR_RETRIES 3
/* Remote output is gathered and written in pieces of about this size. */
#define OUT_FLUSH 65536

struct psrp_run {
    const struct cli_options *o;
    int json;
    int progress_tty; /* stderr is a terminal: progress is shown */
    int progress_shown;
    int epipe;
    int write_errno;
    char *out; /* stdout not yet written */
    size_t out_len, out_cap;
    char *in_line; /* a stdin line not yet ended */
    size_t in_len, in_cap;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- output ------------------------------------------------------------ */

static void write_fd(struct psrp_run *st, int fd, const void *data, size_t len)
{
    if (st->epipe || st->write_errno || !len)
        return;
    if (cli_write_all(fd, data, len) == 0)
        return;
    if (errno == EPIPE)
        st->epipe = 1;
    else
        st->write_errno = errno;
}

static void clear_progress(struct psrp_run *st)
{
    if (st->progress_shown) {
        st->progress_shown = 0;
        write_fd(st, 2, "\r\033[K", 4);
    }
}

static void flush_out(struct psrp_run *st)
{
    if (!st->out_len)
        return;
    clear_progress(st);
    write_fd(st, 1, st->out, st->out_len);
    st->out_len = 0;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *b = realloc(*buf, n);
    if (!b)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

/* Returns non-zero when output cannot go anywhere any more (stop). */
static int put_out(struct psrp_run *st, const char *data, size_t len, int newline)
{
    if (grow(&st->out, &st->out_cap, st->out_len + len + 1)) {
        flush_out(st);
        write_fd(st, 1, data, len);
        if (newline)
            write_fd(st, 1, "\n", 1);
    } else {
        memcpy(st->out + st->out_len, data, len);
        st->out_len += len;
        if (newline)
            st->out[st->out_len++] = '\n';
        if (st->out_len >= OUT_FLUSH)
            flush_out(st);
    }
    return st->epipe || st->write_errno;
}

/* A line (or lines) on stderr: stdout so far goes first, so that the two
 * interleave as they were produced. */
static int put_err(struct psrp_run *st, const char *prefix, const char *text, size_t len)
{
    flush_out(st);
    clear_progress(st);
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    char *line = malloc(plen + len + 2);
    if (!line) {
        write_fd(st, 2, prefix, plen);
        write_fd(st, 2, text, len);
        write_fd(st, 2, "\n", 1);
    } else {
        memcpy(line, prefix, plen);
        memcpy(line + plen, text, len);
        size_t n = plen + len;
        if (!n || line[n - 1] != '\n')
            line[n++] = '\n';
        write_fd(st, 2, line, n);
        free(line);
    }
    /* A closed stderr is not a reason to stop the remote command. */
    return st->epipe;
}

/* ---- pipeline callbacks ---------------------------------------------------- */

static int on_output(const winrsh_psobject *obj, void *payload)
{
    struct psrp_run *st = payload;
    if (st->json) {
        char *j = NULL;
        size_t len = 0;
        if (winrsh_psobject_to_json(obj, 2, &j, &len) != 0)
            return put_err(st, "winrsh: cannot convert an output object to JSON", "", 0);
        int r = put_out(st, j, len, 1);
        winrsh_psobject_free_string(j);
        return r;
    }
    size_t len = 0;
    const char *t =
        winrsh_psobject_get_kind(obj) == WINRSH_PSOBJ_NULL ? NULL : winrsh_psobject_text(obj, &len);
    return put_out(st, t ? t : "", t ? len : 0, 1);
}

static int on_error(const winrsh_psobject *record, const char *text, int terminating, void *payload)
{
    (void)record;
    (void)terminating;
    struct psrp_run *st = payload;
    return put_err(st, NULL, text, strlen(text));
}

/*
 * Warning, verbose, debug and information records are not printed: the
 * server also makes the host calls that PowerShell's console would
 * (WriteWarningLine, WriteVerboseLine, WriteDebugLine, WriteLine for
 * Write-Host and for information shown with InformationAction Continue),
 * exactly when the preferences say to show them, and those are printed
 * (on_host_write). Printing the records too would print everything twice
 * (checked against pwsh 7.6: each record is followed by its host call).
 */
static int on_message(winrsh_ps_stream stream, const char *text, const winrsh_psobject *record,
                      unsigned int flags, void *payload)
{
    (void)stream;
    (void)text;
    (void)record;
    (void)flags;
    (void)payload;
    return 0;
}

static int on_progress(const winrsh_progress *p, void *payload)
{
    struct psrp_run *st = payload;
    if (!st->progress_tty)
        return 0;
    if (p->completed) {
        clear_progress(st);
        return 0;
    }
    flush_out(st);
    int cols = 80;
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        cols = ws.ws_col;
    char line[1024];
    int n = snprintf(line, sizeof line, "%s%s%s", p->activity ? p->activity : "",
                     p->status && *p->status && strcmp(p->status, " ") != 0 ? ": " : "",
                     p->status && strcmp(p->status, " ") != 0 ? p->status : "");
    if (n < 0)
        return 0;
    size_t len = strlen(line);
    if (p->percent_complete >= 0 && len + 8 < sizeof line)
        len += (size_t)snprintf(line + len, sizeof line - len, " %d%%", p->percent_complete);
    if (len > (size_t)cols - 1)
        len = (size_t)cols - 1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = ' ';
    write_fd(st, 2, "\r\033[K", 4);
    write_fd(st, 2, line, len);
    st->progress_shown = 1;
    return 0;
}

/* ---- the host ------------------------------------------------------------- */

static int on_host_write(winrsh_host_stream stream, const char *text, size_t len, int newline,
                         void *payload)
{
    struct psrp_run *st = payload;
    switch (stream) {
    case WINRSH_HOST_OUTPUT:
        return put_out(st, text, len, newline);
    case WINRSH_HOST_WARNING:
        return put_err(st, "WARNING: ", text, len);
    case WINRSH_HOST_VERBOSE:
        return put_err(st, "VERBOSE: ", text, len);
    case WINRSH_HOST_DEBUG:
        return put_err(st, "DEBUG: ", text, len);
    case WINRSH_HOST_ERROR:
    default:
        return put_err(st, NULL, text, len);
    }
}

/* Read-Host from the terminal (only offered when stdin is one). */
static int on_read_line(char *buf, size_t size, void *payload)
{
    struct psrp_run *st = payload;
    flush_out(st);
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR && !cli_signals_interrupts() && !cli_signals_terminate())
            continue;
        if (r <= 0)
            return n ? 0 : -1;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return 0;
}

/* ---- stdin ---------------------------------------------------------------- */

/* Replace bytes that are not UTF-8 with U+FFFD: PowerShell strings are text. */
static char *valid_utf8(const char *s, size_t len, size_t *out_len)
{
    char *o = malloc(len * 3 + 1);
    if (!o)
        return NULL;
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = k && i + k <= len && c != 0xC0 && c != 0xC1 && c < 0xF5;
        for (size_t j = 1; ok && j < k; j++)
            ok = (p[i + j] & 0xC0) == 0x80;
        if (ok && k == 3) {
            unsigned cp = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && k == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12);
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        if (ok) {
            memcpy(o + n, p + i, k);
            n += k;
            i += k;
        } else {
            memcpy(o + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
        }
    }
    o[n] = 0;
    *out_len = n;
    return o;
}

static int send_line(winrsh_pipeline *p, const char *s, size_t len)
{
    if (len && s[len - 1] == '\r')
        len--;
    size_t vlen;
    char *v = valid_utf8(s, len, &vlen);
    if (!v) {
        cli_error("out of memory for a line of stdin");
        return CLI_EXIT_FAILURE;
    }
    int rc = winrsh_pipeline_send_input_string(p, v, vlen);
    free(v);
    if (rc < 0) {
        cli_lib_error(rc, "cannot send stdin to the pipeline");
        return CLI_EXIT_FAILURE;
    }
    return 0;
}

static int end_input_retry(winrsh_pipeline *p)
{
    int rc, tries = 0;
    do
        rc = winrsh_pipeline_end_input(p);
    while (rc == WINRSH_EINTR && ++tries < EINTR_RETRIES);
    return rc;
}

/* Send the lines stdin has ready; at EOF the last partial line and the end
 * of input, and clear *open. Returns 0 or an exit status. */
static int pump_stdin(struct psrp_run *st, winrsh_pipeline *p, char *buf, int *open)
{
    size_t got = 0;
    while (got < STDIN_TURN_MAX) {
        struct pollfd pf = {.fd = 0, .events = POLLIN};
        int n = poll(&pf, 1, 0);
        if (n < 0)
            return errno == EINTR
                       ? 0
                       : (cli_error("cannot poll stdin: %s", strerror(errno)), CLI_EXIT_FAILURE);
        if (n == 0)
            return 0;
        ssize_t r = (pf.revents & POLLNVAL) ? 0 : read(0, buf, STDIN_CHUNK);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return 0;
            cli_error("cannot read stdin: %s", strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (r == 0) {
            int status = 0;
            if (st->in_len)
                status = send_line(p, st->in_line, st->in_len);
            st->in_len = 0;
            if (status)
                return status;
            int rc = end_input_retry(p);
            if (rc < 0) {
                cli_lib_error(rc, "cannot end the pipeline's input");
                return CLI_EXIT_FAILURE;
            }
            cli_verbose("stdin closed (end of pipeline input)");
            *open = 0;
            return 0;
        }
        got += (size_t)r;
        const char *s = buf, *end = buf + r;
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t take = nl ? (size_t)(nl - s) : (size_t)(end - s);
            if (grow(&st->in_line, &st->in_cap, st->in_len + take + 1)) {
                cli_error("out of memory for a line of stdin");
                return CLI_EXIT_FAILURE;
            }
            memcpy(st->in_line + st->in_len, s, take);
            st->in_len += take;
            s += take;
            if (nl) {
                int status = send_line(p, st->in_line, st->in_len);
                st->in_len = 0;
                if (status)
                    return status;
                s++;
            }
        }
    }
    return 0;
}

/* ---- running ------------------------------------------------------------- */

int cli_add_out_string(winrsh_pipeline *p, int width)
{
    winrsh_psobject *w = NULL;
    int rc = winrsh_pipeline_add_command(p, "Out-String");
    if (!rc)
        rc = winrsh_pipeline_add_switch(p, "Stream");
    if (!rc)
        rc = winrsh_psobject_new_int32(&w, width);
    if (!rc)
        rc = winrsh_pipeline_add_parameter(p, "Width", w);
    winrsh_psobject_free(w);
    return rc;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return DEFAULT_WIDTH;
}

static int terminal_height(void)
{
    struct winsize ws;
    if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row >= 5)
        return ws.ws_row;
    return 50;
}

static int map_exit(int code)
{
    if (code >= 0 && code <= 254)
        return code;
    cli_error("remote script exited with code %d (0x%08X), outside 0-254", code,
              (unsigned int)code);
    return CLI_EXIT_REMOTE_RANGE;
}

static int stop_retry(winrsh_pipeline *p)
{
    int rc, tries = 0;
    do
        rc = winrsh_pipeline_stop(p);
    while (rc == WINRSH_EINTR && ++tries < EINTR_RETRIES);
    return rc;
}

/* The script text: COMMAND and its ARGs joined by spaces (as ssh does). */
static char *script_text(const char *command, const char *const *args, size_t nargs)
{
    size_t len = strlen(command) + 1;
    for (size_t i = 0; i < nargs; i++)
        len += strlen(args[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    strcpy(s, command);
    for (size_t i = 0; i < nargs; i++) {
        strcat(s, " ");
        strcat(s, args[i]);
    }
    return s;
}

static int build_pipeline(winrsh_runspace *rs, struct psrp_run *st, const char *script, int input,
                          winrsh_pipeline **out)
{
    winrsh_pipeline_options po;
    winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION);
    po.input = input;
    po.output = on_output;
    po.error = on_error;
    po.message = on_message;
    po.progress = on_progress;
    po.payload = st;
    winrsh_pipeline *p = NULL;
    int rc = winrsh_pipeline_new(&p, rs, &po);
    if (!rc)
        rc = winrsh_pipeline_add_script(p, script);
    if (!rc && !st->json)
        rc = cli_add_out_string(p, terminal_width());
    if (rc) {
        winrsh_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* Run one script in `rs`; returns the exit status. *exited (may be NULL)
 * becomes 1 when the script asked to exit (`exit N`). */
static int run_script(winrsh_runspace *rs, struct psrp_run *st, const char *script, int feed,
                      int *exited)
{
    if (exited)
        *exited = 0;
    winrsh_pipeline *p = NULL;
    int rc = build_pipeline(rs, st, script, feed, &p);
    if (rc < 0) {
        cli_lib_error(rc, "cannot build the pipeline");
        return CLI_EXIT_FAILURE;
    }
    cli_signals_interruptible(1);
    rc = cli_signals_interrupts() || cli_signals_terminate() ? WINRSH_EINTR
                                                             : winrsh_pipeline_invoke(p);
    cli_signals_interruptible(0);
    if (rc == WINRSH_EINTR) {
        int term = cli_signals_terminate();
        winrsh_pipeline_free(p);
        return term ? 128 + term : CLI_EXIT_INTERRUPTED;
    }
    if (rc < 0) {
        cli_lib_error(rc, "cannot start the pipeline");
        winrsh_pipeline_free(p);
        return CLI_EXIT_FAILURE;
    }
    cli_verbose("pipeline %s started", winrsh_pipeline_id(p));

    char *buf = NULL;
    if (feed && !(buf = malloc(STDIN_CHUNK))) {
        cli_error("out of memory for the stdin buffer");
        winrsh_pipeline_free(p);
        return CLI_EXIT_FAILURE;
    }
    int status = 0, done = 0, stopping = 0, abandoned = 0;
    long stop_deadline = 0;
    while (!done) {
        if (cli_signals_terminate() || cli_signals_interrupts() >= 2 ||
            (stopping && now_ms() > stop_deadline)) {
            int term = cli_signals_terminate();
            cli_signals_default_int();
            status = term ? 128 + term : CLI_EXIT_INTERRUPTED;
            abandoned = 1;
            break;
        }
        if (cli_signals_interrupts() == 1 && !stopping) {
            stopping = 1;
            stop_deadline = now_ms() + STOP_GRACE_MS;
            cli_verbose("stopping the pipeline (Ctrl-C again to leave at once)");
            /* A no-op if the library already sent it during the Receive. */
            rc = stop_retry(p);
            if (rc < 0)
                cli_lib_error(rc, "cannot stop the pipeline");
        }
        if (feed && !stopping && (status = pump_stdin(st, p, buf, &feed)) != 0)
            break;
        long timeout = stopping ? RECEIVE_WHILE_STOPPING_MS
                       : feed   ? RECEIVE_WHILE_FEEDING_MS
                                : RECEIVE_MS;
        cli_signals_interruptible(1);
        rc = WINRSH_EINTR;
        if (!cli_signals_terminate() && cli_signals_interrupts() == stopping)
            rc = winrsh_pipeline_receive(p, timeout, &done);
        cli_signals_interruptible(0);
        flush_out(st);
        if (st->epipe) {
            status = CLI_EXIT_SIGPIPE;
            break;
        }
        if (st->write_errno) {
            cli_error("cannot write the output: %s", strerror(st->write_errno));
            status = CLI_EXIT_FAILURE;
            break;
        }
        if (rc == WINRSH_EINTR)
            continue;
        if (rc < 0) {
            cli_lib_error(rc, "receiving from the pipeline failed");
            status = CLI_EXIT_FAILURE;
            break;
        }
    }
    free(buf);
    clear_progress(st);
    if (done && status == 0) {
        int code = 0;
        winrsh_pipeline_state state = winrsh_pipeline_get_state(p);
        if (stopping)
            status = CLI_EXIT_INTERRUPTED;
        else if (winrsh_pipeline_exit_code(p, &code)) {
            status = map_exit(code);
            if (exited)
                *exited = 1;
        } else if (state == WINRSH_PIPELINE_FAILED || winrsh_pipeline_error_count(p) > 0)
            status = 1;
        else if (state == WINRSH_PIPELINE_STOPPED)
            status = CLI_EXIT_INTERRUPTED;
        cli_verbose("pipeline ended in state %d with %zu error(s)", (int)state,
                    winrsh_pipeline_error_count(p));
    }
    /* Leaving at once (second Ctrl-C, nowhere to write the output):
     * closing the pool ends the pipeline with it, so freeing it does not
     * wait for the server to stop it first. */
    if (abandoned || st->epipe || st->write_errno)
        (void)winrsh_runspace_close(rs);
    winrsh_pipeline_free(p);
    return status;
}

static int open_runspace(winrsh_session *session, const struct cli_options *o, struct psrp_run *st,
                         int interactive_host, winrsh_runspace **out)
{
    winrsh_runspace_options ro;
    winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION);
    ro.config_name = o->config_name;
    ro.width = terminal_width();
    ro.height = terminal_height();
    ro.host_write = on_host_write;
    ro.host_read_line = interactive_host ? on_read_line : NULL;
    ro.host_payload = st;
    *out = NULL;
    cli_verbose("connecting to %s%s%s (auth %s)", winrsh_session_url(session),
                o->user ? " as " : "", o->user ? o->user : "", o->auth_name);
    cli_signals_interruptible(1);
    int rc = cli_signals_interrupts() || cli_signals_terminate()
                 ? WINRSH_EINTR
                 : winrsh_runspace_open(out, session, &ro);
    cli_signals_interruptible(0);
    if (rc == WINRSH_EINTR) {
        int term = cli_signals_terminate();
        return term ? 128 + term : CLI_EXIT_INTERRUPTED;
    }
    if (rc < 0) {
        cli_lib_error(rc, "cannot open a PowerShell session on %s", winrsh_session_url(session));
        return CLI_EXIT_FAILURE;
    }
    cli_verbose("runspace pool %s open", winrsh_runspace_id(*out));
    return 0;
}

static void run_init(struct psrp_run *st, const struct cli_options *o)
{
    memset(st, 0, sizeof *st);
    st->o = o;
    st->json = o->output == CLI_OUTPUT_JSON;
    st->progress_tty = isatty(2);
}

static void run_free(struct psrp_run *st)
{
    free(st->out);
    free(st->in_line);
}

int cli_run_psrp(winrsh_session *session, const struct cli_options *o)
{
    struct psrp_run st;
    run_init(&st, o);
    /* stdin is pipeline input unless -n or it is a terminal (then Read-Host
     * may read from it). */
    int tty_in = isatty(0);
    int feed = !o->no_stdin && !tty_in;
    winrsh_runspace *rs = NULL;
    int status = open_runspace(session, o, &st, !o->no_stdin && tty_in, &rs);
    if (status == 0) {
        char *script = script_text(o->command, o->args, o->nargs);
        if (!script) {
            cli_error("out of memory");
            status = CLI_EXIT_FAILURE;
        } else {
            status = run_script(rs, &st, script, feed, NULL);
            free(script);
        }
        cli_verbose("closing runspace pool %s", winrsh_runspace_id(rs));
    }
    winrsh_runspace_free(rs); /* always: a leaked shell counts against the quota */
    run_free(&st);
    return status;
}
