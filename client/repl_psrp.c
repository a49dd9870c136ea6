/*
 * repl_psrp.c: `winrsh host` with no COMMAND: an interactive PowerShell
 * session that behaves like Enter-PSSession (PROTOCOL.md 4, "A minimal
 * interactive session").
 *
 * On a terminal (stdin is a tty):
 *   - the prompt is "[host]: " + the remote `prompt` function's result,
 *     fetched after every command;
 *   - each input runs as one script followed by Out-Default, its errors
 *     merged into its output, in a pipeline added to the remote history:
 *     the remote formatter renders everything and sends it as host Write
 *     calls (host_tty.c), at the terminal's width (re-read before every
 *     command, so a resized window is honoured);
 *   - input the remote parser finds incomplete (IncompleteParseException:
 *     an open brace, paren, string or here-string, a trailing pipe or
 *     backtick...) is not an error but continues on a ">> " line; an empty
 *     line runs what was typed as it is, Ctrl-C drops it. The parser asked
 *     is the remote one, by running the input: complete input (nearly all
 *     of it) costs nothing extra;
 *   - Tab asks the remote TabExpansion2 (complete.c); history persists in
 *     the configuration directory (history.c);
 *   - Ctrl-C stops the running pipeline and comes back to the prompt, or
 *     clears the line at the prompt; a second Ctrl-C while the pipeline
 *     will not stop leaves;
 *   - `exit` leaves with 0, `exit N` with N (SetShouldExit), Ctrl-D on an
 *     empty line with 0.
 *
 * Otherwise (stdin is not a terminal): one pipeline per line of stdin, no
 * prompt, formatted as the one-shot form formats (`| Out-String -Stream
 * -Width N`, errors rendered on stderr); an incomplete line is joined with
 * the next ones. The exit status is that of the last line.
 *
 * With --output json, either way, each output object is one line of JSON
 * (nothing is formatted remotely).
 */
#include "repl_psrp.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <readline/readline.h>

#include "output.h"
#include "run_psrp.h"
#include "run_winrs.h"
#include "signals.h"

#define PROMPT_TIMEOUT_MS 15000L
#define RECEIVE_WHILE_STOPPING_MS 2000L
/* How long a stopped pipeline may take to say so before we give up on it. */
#define STOP_GRACE_MS 15000L
#define EINTR_RETRIES 3
#define PROMPT_MAX 4096

static const char INCOMPLETE_TYPE[] = "System.Management.Automation.IncompleteParseException";

struct repl {
    const struct cli_options *o;
    winrsh_runspace *rs;
    struct cli_tty_host host;
    int interactive;
    int json; /* --output json: objects as JSON lines, nothing formatted */
    /* The pipeline running now: */
    int force;      /* show an incomplete-input error as an error */
    int incomplete; /* it failed with IncompleteParseException */
};

/* What running one input came to. */
enum run_result {
    RUN_DONE = 0,   /* ran (successfully or not): next prompt */
    RUN_INCOMPLETE, /* the input needs more lines */
    RUN_LEAVE       /* leave the session with *status */
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int map_exit(int code)
{
    if (code >= 0 && code <= 254)
        return code;
    cli_error("remote script exited with code %d (0x%08X), outside 0-254", code,
              (unsigned int)code);
    return CLI_EXIT_REMOTE_RANGE;
}

/* ---- pipeline callbacks ---------------------------------------------------------- */

/* The input itself did not parse because it ended too soon: the failure
 * of the pipeline, with no InvocationInfo (nothing ran; a script's own
 * Invoke-Expression of bad text has one). */
static int is_incomplete(const winrsh_psobject *record)
{
    const winrsh_psobject *ex = winrsh_psobject_prop(record, "Exception");
    const winrsh_psobject *ii = winrsh_psobject_prop(record, "InvocationInfo");
    return ex && winrsh_psobject_is_type(ex, INCOMPLETE_TYPE) &&
           (!ii || winrsh_psobject_get_kind(ii) == WINRSH_PSOBJ_NULL);
}

static int on_output(const winrsh_psobject *obj, void *payload)
{
    struct repl *r = payload;
    if (r->json) {
        char *j = NULL;
        size_t jlen = 0;
        if (winrsh_psobject_to_json(obj, 2, &j, &jlen) != 0) {
            cli_error("cannot convert an output object to JSON");
            return 0;
        }
        cli_tty_out(&r->host, j, jlen);
        cli_tty_out(&r->host, "\n", 1);
        winrsh_psobject_free_string(j);
        return r->host.write_failed ? 1 : 0;
    }
    size_t len = 0;
    const char *t =
        winrsh_psobject_get_kind(obj) == WINRSH_PSOBJ_NULL ? NULL : winrsh_psobject_text(obj, &len);
    cli_tty_out(&r->host, t ? t : "", t ? len : 0);
    cli_tty_out(&r->host, "\n", 1);
    return r->host.write_failed ? 1 : 0;
}

static int on_error(const winrsh_psobject *record, const char *text, int terminating, void *payload)
{
    struct repl *r = payload;
    if (terminating && !r->force && is_incomplete(record)) {
        r->incomplete = 1;
        return 0;
    }
    cli_tty_err(&r->host, NULL, text, strlen(text), "\033[91m");
    return 0;
}

/* Warning, verbose, debug and information records also come as the host
 * calls the console would make (host_tty.c prints those): see run_psrp.c. */
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

static int on_progress(const winrsh_progress *progress, void *payload)
{
    struct repl *r = payload;
    return cli_tty_progress(progress, &r->host);
}

/* ---- running one input ------------------------------------------------------------- */

static int build(struct repl *r, const char *script, winrsh_pipeline **out)
{
    winrsh_pipeline_options po;
    winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION);
    po.add_to_history = r->interactive;
    po.output = on_output;
    po.error = on_error;
    po.message = on_message;
    po.progress = on_progress;
    po.payload = r;
    winrsh_pipeline *p = NULL;
    int rc = winrsh_pipeline_new(&p, r->rs, &po);
    if (!rc)
        rc = winrsh_pipeline_add_script(p, script);
    if (!rc && r->json) {
        /* the objects themselves */
    } else if (!rc && r->interactive) {
        rc = winrsh_pipeline_merge_errors(p);
        if (!rc)
            rc = winrsh_pipeline_add_command(p, "Out-Default");
    } else if (!rc) {
        rc = cli_add_out_string(p, cli_tty_width());
    }
    if (rc) {
        winrsh_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static int stop_retry(winrsh_pipeline *p)
{
    int rc, tries = 0;
    do
        rc = winrsh_pipeline_stop(p);
    while (rc == WINRSH_EINTR && ++tries < EINTR_RETRIES);
    return rc;
}

/* Run `script`; *status gets the exit status it stands for. */
static enum run_result run_input(struct repl *r, const char *script, int force, int *status)
{
    *status = 0;
    r->force = force;
    r->incomplete = 0;
    r->host.read_interrupted = 0;
    (void)winrsh_runspace_set_window_size(r->rs, cli_tty_width(), cli_tty_height());
    winrsh_pipeline *p = NULL;
    int rc = build(r, script, &p);
    if (rc < 0) {
        cli_lib_error(rc, "cannot build the pipeline");
        *status = CLI_EXIT_FAILURE;
        return RUN_LEAVE;
    }
    cli_signals_interruptible(1);
    rc = cli_signals_terminate() ? WINRSH_EINTR : winrsh_pipeline_invoke(p);
    cli_signals_interruptible(0);
    if (rc < 0) {
        if (rc != WINRSH_EINTR)
            cli_lib_error(rc, "cannot start the pipeline");
        winrsh_pipeline_free(p);
        *status = cli_signals_terminate() ? 128 + cli_signals_terminate() : CLI_EXIT_FAILURE;
        return RUN_LEAVE;
    }
    int done = 0, stopping = 0, abandoned = 0;
    long stop_deadline = 0;
    enum run_result res = RUN_DONE;
    while (!done) {
        if (cli_signals_terminate() || cli_signals_interrupts() >= 2 ||
            (stopping && now_ms() > stop_deadline)) {
            int term = cli_signals_terminate();
            cli_signals_default_int();
            *status = term ? 128 + term : CLI_EXIT_INTERRUPTED;
            if (!term && stopping && now_ms() > stop_deadline)
                cli_error("the pipeline did not stop; leaving the session");
            abandoned = 1;
            res = RUN_LEAVE;
            break;
        }
        if (cli_signals_interrupts() == 1 && !stopping) {
            stopping = 1;
            stop_deadline = now_ms() + STOP_GRACE_MS;
            rc = stop_retry(p); /* a no-op if the library sent it already */
            if (rc < 0)
                cli_lib_error(rc, "cannot stop the pipeline");
        }
        cli_signals_interruptible(1);
        rc = WINRSH_EINTR;
        if (!cli_signals_terminate() && cli_signals_interrupts() == stopping)
            rc = winrsh_pipeline_receive(p, stopping ? RECEIVE_WHILE_STOPPING_MS : 0, &done);
        cli_signals_interruptible(0);
        if (r->host.write_failed) {
            *status = r->host.write_failed == EPIPE ? CLI_EXIT_SIGPIPE : CLI_EXIT_FAILURE;
            if (r->host.write_failed != EPIPE)
                cli_error("cannot write the output: %s", strerror(r->host.write_failed));
            abandoned = 1;
            res = RUN_LEAVE;
            break;
        }
        if (rc == WINRSH_EINTR)
            continue;
        if (rc < 0) {
            cli_lib_error(rc, "receiving from the pipeline failed");
            if (winrsh_runspace_get_state(r->rs) != WINRSH_RUNSPACE_OPENED) {
                *status = CLI_EXIT_FAILURE;
                res = RUN_LEAVE;
            } else {
                *status = 1;
            }
            break;
        }
    }
    cli_tty_clear_progress(&r->host);
    /* The terminal echoed "^C": the next prompt goes on a line of its own,
     * as in PowerShell's console. */
    if (r->interactive && !r->host.read_interrupted &&
        (stopping || winrsh_pipeline_get_state(p) == WINRSH_PIPELINE_STOPPED))
        cli_tty_out(&r->host, "\n", 1);
    if (done && res == RUN_DONE) {
        int code = 0;
        winrsh_pipeline_state state = winrsh_pipeline_get_state(p);
        if (r->incomplete) {
            res = RUN_INCOMPLETE;
        } else if (winrsh_pipeline_exit_code(p, &code)) {
            *status = map_exit(code);
            res = RUN_LEAVE;
        } else if (stopping || state == WINRSH_PIPELINE_STOPPED) {
            *status = CLI_EXIT_INTERRUPTED;
        } else if (state == WINRSH_PIPELINE_FAILED || winrsh_pipeline_error_count(p) > 0) {
            *status = 1;
        }
    }
    if (abandoned)
        (void)winrsh_runspace_close(r->rs); /* ends the pipeline with the pool */
    winrsh_pipeline_free(p);
    if (res == RUN_DONE && winrsh_runspace_get_state(r->rs) != WINRSH_RUNSPACE_OPENED) {
        cli_error("the PowerShell session has ended");
        *status = CLI_EXIT_FAILURE;
        res = RUN_LEAVE;
    }
    /* After a second Ctrl-C SIGINT was given its default action back. */
    if (res != RUN_LEAVE) {
        cli_signals_install();
        cli_signals_reset();
    }
    return res;
}

/* ---- the prompt -------------------------------------------------------------------- */

struct prompt_acc {
    char text[PROMPT_MAX];
    size_t len;
};

static void acc_add(struct prompt_acc *a, const char *s, size_t len)
{
    if (a->len + len >= sizeof a->text)
        len = sizeof a->text - 1 - a->len;
    memcpy(a->text + a->len, s, len);
    a->len += len;
    a->text[a->len] = 0;
}

static int on_prompt_output(const winrsh_psobject *obj, void *payload)
{
    struct prompt_acc *a = payload;
    size_t len = 0;
    const char *t =
        winrsh_psobject_get_kind(obj) == WINRSH_PSOBJ_NULL ? NULL : winrsh_psobject_text(obj, &len);
    if (t)
        acc_add(a, t, len);
    return 0;
}

/* The remote `prompt` function's text, or NULL. */
static int remote_prompt(struct repl *r, struct prompt_acc *a)
{
    winrsh_pipeline_options po;
    winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION);
    po.output = on_prompt_output;
    po.payload = a;
    winrsh_pipeline *p = NULL;
    int rc = winrsh_pipeline_new(&p, r->rs, &po);
    if (!rc)
        rc = winrsh_pipeline_add_command(p, "prompt");
    if (!rc) {
        cli_signals_interruptible(1);
        rc = winrsh_pipeline_invoke(p);
        cli_signals_interruptible(0);
    }
    long deadline = now_ms() + PROMPT_TIMEOUT_MS;
    int done = 0;
    while (!rc && !done) {
        if (cli_signals_interrupts() || cli_signals_terminate() || now_ms() > deadline) {
            rc = WINRSH_EINTR;
            break;
        }
        cli_signals_interruptible(1);
        rc = winrsh_pipeline_receive(p, 1000, &done);
        cli_signals_interruptible(0);
        if (rc == WINRSH_EINTR)
            rc = 0;
    }
    if (!rc && winrsh_pipeline_get_state(p) != WINRSH_PIPELINE_COMPLETED)
        rc = -1;
    winrsh_pipeline_free(p);
    cli_signals_reset();
    return rc;
}

/* "[host]: " + the remote prompt, with escape sequences marked invisible
 * for readline (\001 ... \002). Falls back to "PS>" as PowerShell does. */
static char *make_prompt(struct repl *r)
{
    struct prompt_acc a;
    a.len = 0;
    a.text[0] = 0;
    if (remote_prompt(r, &a) != 0 || a.len == 0) {
        a.len = 0;
        acc_add(&a, "PS>", 3);
    }
    const char *host = r->o->host[0] ? r->o->host : "localhost";
    size_t cap = strlen(host) + 8 + a.len * 3 + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = (size_t)snprintf(out, cap, "[%s]: ", host);
    for (size_t i = 0; i < a.len; i++) {
        char c = a.text[i];
        if (c == '\033') {
            /* ESC [ params final, or ESC ] ... BEL: invisible. */
            out[n++] = RL_PROMPT_START_IGNORE;
            out[n++] = c;
            size_t j = i + 1;
            if (j < a.len && a.text[j] == '[') {
                out[n++] = a.text[j++];
                while (j < a.len &&
                       !((unsigned char)a.text[j] >= 0x40 && (unsigned char)a.text[j] <= 0x7e))
                    out[n++] = a.text[j++];
                if (j < a.len)
                    out[n++] = a.text[j++];
            } else if (j < a.len && a.text[j] == ']') {
                while (j < a.len && a.text[j] != '\007')
                    out[n++] = a.text[j++];
                if (j < a.len)
                    out[n++] = a.text[j++];
            }
            out[n++] = RL_PROMPT_END_IGNORE;
            i = j - 1;
            if (n + 4 >= cap)
                break;
        } else {
            out[n++] = c;
        }
    }
    out[n] = 0;
    return out;
}

/* ---- input ------------------------------------------------------------------------ */

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

/* `exit` alone (any case, surrounding blanks): leave without a pipeline,
 * as Enter-PSSession does. */
static int is_plain_exit(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (strncasecmp(s, "exit", 4) != 0)
        return 0;
    return is_blank(s + 4);
}

/* Append "\n" + line to the block being typed (or start it). */
static char *join(char *block, const char *line)
{
    size_t bl = block ? strlen(block) : 0, ll = strlen(line);
    char *b = realloc(block, bl + ll + 2);
    if (!b) {
        free(block);
        return NULL;
    }
    if (bl)
        b[bl++] = '\n';
    memcpy(b + bl, line, ll + 1);
    return b;
}

static int interactive_loop(struct repl *r)
{
    setlocale(LC_CTYPE, ""); /* readline edits UTF-8 by character */
    rl_readline_name = "winrsh";
    cli_tty_install_winch();
    cli_history_open();
    cli_complete_install(r->rs);
    char *prompt = NULL, *block = NULL;
    int status = 0, continuing = 0;
    for (;;) {
        if (!prompt) {
            prompt = make_prompt(r);
            if (!prompt) {
                cli_error("out of memory");
                status = CLI_EXIT_FAILURE;
                break;
            }
        }
        char *line = NULL;
        int k = cli_tty_readline(continuing ? ">> " : prompt, &line);
        if (k == CLI_RL_TERMINATE) {
            status = 128 + cli_signals_terminate();
            break;
        }
        if (k == CLI_RL_INTERRUPT) {
            cli_signals_reset();
            free(block);
            block = NULL;
            continuing = 0;
            continue;
        }
        if (k == CLI_RL_EOF) {
            (void)cli_write_all(1, "\n", 1);
            status = 0;
            break;
        }
        int force = continuing && is_blank(line);
        if (!(continuing && force))
            block = join(block, line);
        free(line);
        if (!block) {
            cli_error("out of memory");
            status = CLI_EXIT_FAILURE;
            break;
        }
        if (!continuing && is_blank(block)) {
            free(block);
            block = NULL;
            continue;
        }
        if (!continuing && is_plain_exit(block)) {
            cli_history_add(block);
            status = 0;
            break;
        }
        int st = 0;
        enum run_result res = run_input(r, block, force, &st);
        if (res == RUN_INCOMPLETE) {
            continuing = 1;
            continue;
        }
        cli_history_add(block);
        free(block);
        block = NULL;
        continuing = 0;
        if (res == RUN_LEAVE) {
            status = st;
            break;
        }
        free(prompt);
        prompt = NULL;
    }
    free(prompt);
    free(block);
    cli_complete_install(NULL);
    cli_history_close();
    return status;
}

static int stdin_loop(struct repl *r)
{
    char *line = NULL, *block = NULL;
    size_t cap = 0;
    int status = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR && !cli_signals_terminate()) {
                clearerr(stdin);
                cli_signals_reset();
                continue;
            }
            if (cli_signals_terminate()) {
                status = 128 + cli_signals_terminate();
                break;
            }
            /* The end: what is left runs as it is. */
            if (block && !is_blank(block) && run_input(r, block, 1, &status) == RUN_LEAVE) {
                free(block);
                block = NULL;
            }
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        int continuing = block != NULL;
        if (!continuing && is_blank(line))
            continue;
        if (!continuing && is_plain_exit(line)) {
            status = 0;
            break;
        }
        block = join(block, line);
        if (!block) {
            cli_error("out of memory");
            status = CLI_EXIT_FAILURE;
            break;
        }
        enum run_result res = run_input(r, block, 0, &status);
        if (res == RUN_INCOMPLETE)
            continue;
        free(block);
        block = NULL;
        if (res == RUN_LEAVE)
            break;
    }
    free(line);
    free(block);
    return status;
}

/* ---- the session ------------------------------------------------------------------- */

int cli_repl_psrp(winrsh_session *session, const struct cli_options *o)
{
    struct repl r;
    memset(&r, 0, sizeof r);
    r.o = o;
    cli_tty_host_init(&r.host);
    r.interactive = r.host.in_tty;
    r.json = o->output == CLI_OUTPUT_JSON;

    winrsh_runspace_options ro;
    winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION);
    ro.config_name = o->config_name;
    ro.width = cli_tty_width();
    ro.height = cli_tty_height();
    cli_tty_host_options(&r.host, &ro, r.interactive && !o->no_stdin);
    cli_verbose("connecting to %s%s%s (auth %s)", winrsh_session_url(session),
                o->user ? " as " : "", o->user ? o->user : "", o->auth_name);
    cli_signals_interruptible(1);
    int rc = cli_signals_interrupts() || cli_signals_terminate()
                 ? WINRSH_EINTR
                 : winrsh_runspace_open(&r.rs, session, &ro);
    cli_signals_interruptible(0);
    if (rc == WINRSH_EINTR) {
        int term = cli_signals_terminate();
        return term ? 128 + term : CLI_EXIT_INTERRUPTED;
    }
    if (rc < 0) {
        cli_lib_error(rc, "cannot open a PowerShell session on %s", winrsh_session_url(session));
        return CLI_EXIT_FAILURE;
    }
    cli_verbose("runspace pool %s open", winrsh_runspace_id(r.rs));
    int status = 0;
    if (!o->no_stdin)
        status = r.interactive ? interactive_loop(&r) : stdin_loop(&r);
    cli_verbose("closing runspace pool %s", winrsh_runspace_id(r.rs));
    winrsh_runspace_free(r.rs); /* always: a leaked shell counts against the quota */
    return status;
}
