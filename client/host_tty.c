/*
 * host_tty.c: the terminal as the remote PowerShell's host (the runspace
 * options' host callbacks), and the line editor the REPL and Read-Host
 * share.
 *
 *   +------------------------------+----------------------------------------+
 *   | host call                    | on the terminal                        |
 *   +------------------------------+----------------------------------------+
 *   | Write, WriteLine             | stdout                                 |
 *   | Write2 / WriteLine3 (colors) | stdout in those colours (ConsoleColor  |
 *   |                              | -> SGR) when it is a colour terminal   |
 *   | WriteErrorLine               | stderr, red on a terminal              |
 *   | WriteWarning/Verbose/Debug   | stderr, "WARNING: " etc., yellow       |
 *   | ReadLine (Read-Host)         | readline, the text before it on the    |
 *   |                              | line ("Name: ") as its prompt          |
 *   | ReadLineAsSecureString, the  | no echo (termios); the library         |
 *   | password of Get-Credential   | encrypts it, we never keep it          |
 *   | ReadKey                      | one key in raw mode -> KeyInfo         |
 *   | GetKeyAvailable              | poll() on stdin                        |
 *   | FlushInputBuffer             | tcflush                                |
 *   | Get Buffer/Window/MaxWindow  | the terminal's size now                |
 *   | sizes                        |                                        |
 *   | SetWindowTitle               | OSC 0 when stdout is a terminal        |
 *   | other RawUI setters          | accepted, nothing to do                |
 *   +------------------------------+----------------------------------------+
 *
 * Prompt, PromptForChoice and PromptForCredential are laid out by the
 * library through these same Write and Read callbacks, as PowerShell's
 * console lays them out.
 */
#include "repl_psrp.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "output.h"
#include "password.h"
#include "signals.h"

#define DEFAULT_WIDTH 120
#define DEFAULT_HEIGHT 50
#define BUFFER_HEIGHT 9001 /* what the library's HostInfo says */

#define SGR_RED "\033[91m"
#define SGR_YELLOW "\033[93m"
#define SGR_RESET "\033[0m"

/* ReadKeyOptions (System.Management.Automation.Host). */
#define READKEY_ALLOW_CTRL_C 1
#define READKEY_NO_ECHO 2
/* ControlKeyStates. */
#define KEYSTATE_LEFT_CTRL 0x0008
#define KEYSTATE_SHIFT 0x0010

/* RemoteHostMethodId values handled here (MS-PSRP 2.2.3.17). */
enum {
    M_WRITE2 = 14,
    M_WRITE_LINE3 = 17,
    M_SET_FOREGROUND = 28,
    M_SET_BACKGROUND = 30,
    M_SET_CURSOR_POSITION = 32,
    M_SET_WINDOW_POSITION = 34,
    M_SET_CURSOR_SIZE = 36,
    M_GET_BUFFER_SIZE = 37,
    M_SET_BUFFER_SIZE = 38,
    M_GET_WINDOW_SIZE = 39,
    M_SET_WINDOW_SIZE = 40,
    M_GET_WINDOW_TITLE = 41,
    M_SET_WINDOW_TITLE = 42,
    M_GET_MAX_WINDOW_SIZE = 43,
    M_GET_MAX_PHYSICAL_WINDOW_SIZE = 44,
    M_GET_KEY_AVAILABLE = 45,
    M_READ_KEY = 46,
    M_FLUSH_INPUT_BUFFER = 47
};

/* ---- the terminal ---------------------------------------------------------- */

static int term_size(int *cols, int *rows)
{
    struct winsize ws;
    for (int fd = 1; fd >= 0; fd--)
        if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
            *cols = ws.ws_col;
            *rows = ws.ws_row;
            return 0;
        }
    return -1;
}

int cli_tty_width(void)
{
    int c, r;
    return term_size(&c, &r) == 0 && c >= 20 ? c : DEFAULT_WIDTH;
}

int cli_tty_height(void)
{
    int c, r;
    return term_size(&c, &r) == 0 && r >= 5 ? r : DEFAULT_HEIGHT;
}

static volatile sig_atomic_t winched;

static void on_winch(int sig)
{
    (void)sig;
    winched = 1;
}

void cli_tty_install_winch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    /* Restart what can be restarted: a resize must not fail a network
     * read; poll() still returns EINTR, which the line editor wants. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, NULL);
}

int cli_tty_resized(void)
{
    if (!winched)
        return 0;
    winched = 0;
    return 1;
}

void cli_tty_host_init(struct cli_tty_host *h)
{
    memset(h, 0, sizeof *h);
    h->in_tty = isatty(0);
    h->out_tty = isatty(1);
    h->err_tty = isatty(2);
    const char *term = getenv("TERM");
    const char *no_color = getenv("NO_COLOR");
    h->color = h->out_tty && !(term && strcmp(term, "dumb") == 0) && !(no_color && *no_color);
}

/* ---- writing ------------------------------------------------------------------ */

void cli_tty_clear_progress(struct cli_tty_host *h)
{
    if (h->progress_shown) {
        h->progress_shown = 0;
        (void)cli_write_all(2, "\r\033[K", 4);
    }
}

static void track_partial(struct cli_tty_host *h, const char *text, size_t len)
{
    const char *nl = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == '\n') {
            nl = text + i - 1;
            break;
        }
    if (nl) {
        h->partial_len = 0;
        h->partial_overflow = 0;
        len -= (size_t)(nl + 1 - text);
        text = nl + 1;
    }
    if (h->partial_len + len >= sizeof h->partial) {
        h->partial_overflow = 1;
        return;
    }
    memcpy(h->partial + h->partial_len, text, len);
    h->partial_len += len;
    h->partial[h->partial_len] = 0;
}

void cli_tty_out(struct cli_tty_host *h, const char *text, size_t len)
{
    if (h->write_failed || !len)
        return;
    cli_tty_clear_progress(h);
    if (cli_write_all(1, text, len) != 0) {
        h->write_failed = errno ? errno : EIO;
        return;
    }
    track_partial(h, text, len);
}

void cli_tty_err(struct cli_tty_host *h, const char *prefix, const char *text, size_t len,
                 const char *color)
{
    cli_tty_clear_progress(h);
    if (!h->err_tty || (text && memchr(text, '\033', len)))
        color = NULL;
    size_t plen = prefix ? strlen(prefix) : 0;
    size_t clen = color ? strlen(color) : 0;
    char *line = malloc(clen + plen + len + sizeof SGR_RESET + 1);
    if (!line)
        return;
    size_t n = 0;
    if (clen)
        memcpy(line + n, color, clen);
    n += clen;
    if (plen)
        memcpy(line + n, prefix, plen);
    n += plen;
    if (len)
        memcpy(line + n, text, len);
    n += len;
    int had_nl = n > clen && line[n - 1] == '\n';
    if (had_nl)
        n--;
    if (color) {
        memcpy(line + n, SGR_RESET, sizeof SGR_RESET - 1);
        n += sizeof SGR_RESET - 1;
    }
    line[n++] = '\n';
    (void)cli_write_all(2, line, n);
    free(line);
}

static int on_write(winrsh_host_stream stream, const char *text, size_t len, int newline,
                    void *payload)
{
    struct cli_tty_host *h = payload;
    switch (stream) {
    case WINRSH_HOST_OUTPUT:
        cli_tty_out(h, text, len);
        if (newline)
            cli_tty_out(h, "\n", 1);
        return h->write_failed ? 1 : 0;
    case WINRSH_HOST_WARNING:
        cli_tty_err(h, "WARNING: ", text, len, SGR_YELLOW);
        return 0;
    case WINRSH_HOST_VERBOSE:
        cli_tty_err(h, "VERBOSE: ", text, len, SGR_YELLOW);
        return 0;
    case WINRSH_HOST_DEBUG:
        cli_tty_err(h, "DEBUG: ", text, len, SGR_YELLOW);
        return 0;
    case WINRSH_HOST_ERROR:
    default:
        cli_tty_err(h, NULL, text, len, SGR_RED);
        return 0;
    }
}

/* ConsoleColor (0 Black .. 15 White) as an SGR foreground number. */
static int sgr_of(int32_t color)
{
    static const int map[16] = {30, 34, 32, 36, 31, 35, 33, 37, 90, 94, 92, 96, 91, 95, 93, 97};
    return color >= 0 && color < 16 ? map[color] : 0;
}

static int param_int(const winrsh_psobject *params, size_t i, int32_t *v)
{
    const winrsh_psobject *o = winrsh_psobject_list_item(params, i);
    return o ? winrsh_psobject_get_int32(o, v) : -1;
}

static const char *param_str(const winrsh_psobject *params, size_t i, size_t *len)
{
    const winrsh_psobject *o = winrsh_psobject_list_item(params, i);
    const char *t =
        o && winrsh_psobject_get_kind(o) != WINRSH_PSOBJ_NULL ? winrsh_psobject_text(o, len) : NULL;
    if (!t) {
        *len = 0;
        return "";
    }
    return t;
}

/* Write2 / WriteLine3: foreground, background, text. The console's own
 * colours (Gray on Black, what our HostInfo says) are left alone. */
static int write_colored(struct cli_tty_host *h, const winrsh_psobject *params, int newline)
{
    int32_t fg = 7, bg = 0;
    if (param_int(params, 0, &fg) || param_int(params, 1, &bg))
        return 1;
    size_t len;
    const char *text = param_str(params, 2, &len);
    char sgr[32] = "";
    if (fg != 7 && sgr_of(fg) && bg != 0 && sgr_of(bg))
        snprintf(sgr, sizeof sgr, "\033[%d;%dm", sgr_of(fg), sgr_of(bg) + 10);
    else if (fg != 7 && sgr_of(fg))
        snprintf(sgr, sizeof sgr, "\033[%dm", sgr_of(fg));
    else if (bg != 0 && sgr_of(bg))
        snprintf(sgr, sizeof sgr, "\033[%dm", sgr_of(bg) + 10);
    if (sgr[0] && len) {
        cli_tty_out(h, sgr, strlen(sgr));
        cli_tty_out(h, text, len);
        cli_tty_out(h, SGR_RESET, sizeof SGR_RESET - 1);
    } else {
        cli_tty_out(h, text, len);
    }
    if (newline)
        cli_tty_out(h, "\n", 1);
    return 0;
}

/* ---- progress -------------------------------------------------------------------- */

int cli_tty_progress(const winrsh_progress *p, void *payload)
{
    struct cli_tty_host *h = payload;
    if (!h->err_tty)
        return 0;
    if (p->completed) {
        cli_tty_clear_progress(h);
        return 0;
    }
    int cols = cli_tty_width();
    char line[1024];
    int has_status = p->status && *p->status && strcmp(p->status, " ") != 0;
    int n = snprintf(line, sizeof line, "%s%s%s", p->activity ? p->activity : "",
                     has_status ? ": " : "", has_status ? p->status : "");
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
    (void)cli_write_all(2, "\r\033[K", 4);
    (void)cli_write_all(2, line, len);
    h->progress_shown = 1;
    return 0;
}

/* ---- the line editor ---------------------------------------------------------- */

static char *rl_line;
static int rl_got, rl_eof;

static void on_rl_line(char *line)
{
    if (line)
        rl_line = line;
    else
        rl_eof = 1;
    rl_got = 1;
    /* Removed here, not after rl_callback_read_char() returns: otherwise
     * readline has already drawn the next prompt above the output. */
    rl_callback_handler_remove();
}

static void abandon_line(void)
{
    rl_free_line_state();
    rl_callback_sigcleanup();
    /* Leave what was typed on screen, and go to a new line. */
    rl_point = rl_end;
    rl_redisplay();
    rl_crlf();
    rl_replace_line("", 0);
    rl_callback_handler_remove();
}

int cli_tty_readline(const char *prompt, char **line)
{
    *line = NULL;
    rl_line = NULL;
    rl_got = rl_eof = 0;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    if (cli_tty_resized())
        rl_resize_terminal();
    rl_callback_handler_install(prompt, on_rl_line);
    for (;;) {
        if (cli_signals_terminate()) {
            abandon_line();
            return CLI_RL_TERMINATE;
        }
        if (cli_signals_interrupts()) {
            abandon_line();
            return CLI_RL_INTERRUPT;
        }
        if (cli_tty_resized())
            rl_resize_terminal();
        struct pollfd pf = {.fd = 0, .events = POLLIN};
        int n = poll(&pf, 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abandon_line();
            return CLI_RL_EOF;
        }
        rl_callback_read_char();
        if (rl_got)
            break;
    }
    if (rl_eof)
        return CLI_RL_EOF;
    *line = rl_line;
    return CLI_RL_LINE;
}

/* ---- reading for the host -------------------------------------------------------- */

/* Read-Host: readline, with the text the script wrote before it ("Name: ")
 * as the prompt, so that editing redraws it. */
static int on_read_line(char *buf, size_t size, void *payload)
{
    struct cli_tty_host *h = payload;
    cli_tty_clear_progress(h);
    char prompt[sizeof h->partial];
    prompt[0] = 0;
    if (h->partial_len && !h->partial_overflow && !memchr(h->partial, '\033', h->partial_len) &&
        (int)h->partial_len < cli_tty_width() - 10) {
        memcpy(prompt, h->partial, h->partial_len + 1);
        (void)cli_write_all(1, "\r", 1);
    }
    char *line = NULL;
    int r = cli_tty_readline(prompt, &line);
    h->partial_len = 0;
    h->partial_overflow = 0;
    if (r == CLI_RL_INTERRUPT || r == CLI_RL_TERMINATE)
        h->read_interrupted = 1;
    if (r != CLI_RL_LINE)
        return -1; /* Ctrl-C: the REPL stops the pipeline; EOF: no input */
    snprintf(buf, size, "%s", line);
    cli_wipe(line, strlen(line));
    free(line);
    return 0;
}

/* Read a line with echo off (terminal still canonical, ^C still a
 * signal). */
static int on_read_secret(char *buf, size_t size, void *payload)
{
    struct cli_tty_host *h = payload;
    cli_tty_clear_progress(h);
    struct termios old, quiet;
    int have_tio = tcgetattr(0, &old) == 0;
    if (have_tio) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        quiet.c_lflag |= ICANON | ISIG;
        tcsetattr(0, TCSANOW, &quiet);
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR) {
            if (cli_signals_interrupts() || cli_signals_terminate()) {
                h->read_interrupted = 1;
                rc = -1;
                break;
            }
            continue;
        }
        if (r <= 0) {
            rc = n ? 0 : -1;
            break;
        }
        if (c == '\n')
            break;
        if (n + 1 < size)
            buf[n++] = c;
        c = 0;
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    if (have_tio)
        tcsetattr(0, TCSANOW, &old);
    (void)cli_write_all(1, "\n", 1);
    h->partial_len = 0;
    h->partial_overflow = 0;
    return rc;
}

/* ---- RawUI ------------------------------------------------------------------------ */

static int new_size(winrsh_psobject **out, int32_t width, int32_t height)
{
    winrsh_psobject *o = NULL, *w = NULL, *hh = NULL;
    int rc = winrsh_psobject_new_object(&o, NULL);
    if (!rc && !(rc = winrsh_psobject_new_int32(&w, width))) {
        rc = winrsh_psobject_add_property(o, "width", w);
        w = NULL;
    }
    if (!rc && !(rc = winrsh_psobject_new_int32(&hh, height))) {
        rc = winrsh_psobject_add_property(o, "height", hh);
        hh = NULL;
    }
    winrsh_psobject_free(w);
    winrsh_psobject_free(hh);
    if (rc) {
        winrsh_psobject_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

static void set_title(struct cli_tty_host *h, const char *title, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof h->title; i++)
        h->title[n++] = (unsigned char)title[i] < 0x20 || title[i] == 0x7f ? ' ' : title[i];
    h->title[n] = 0;
    if (!h->out_tty)
        return;
    char seq[sizeof h->title + 8];
    int k = snprintf(seq, sizeof seq, "\033]0;%s\007", h->title);
    if (k > 0)
        (void)cli_write_all(1, seq, (size_t)k);
}

/* KeyInfo as RemoteHostEncoder encodes the struct: its fields. */
static int new_key_info(winrsh_psobject **out, int32_t vk, unsigned int ch, int32_t state)
{
    char xml[64];
    snprintf(xml, sizeof xml, "<C>%u</C>", ch);
    winrsh_psobject *o = NULL, *v = NULL;
    int rc = winrsh_psobject_new_object(&o, NULL);
    if (!rc && !(rc = winrsh_psobject_new_int32(&v, vk))) {
        rc = winrsh_psobject_add_property(o, "virtualKeyCode", v);
        v = NULL;
    }
    if (!rc && !(rc = winrsh_psobject_from_clixml(&v, xml, strlen(xml)))) {
        rc = winrsh_psobject_add_property(o, "character", v);
        v = NULL;
    }
    if (!rc && !(rc = winrsh_psobject_new_int32(&v, state))) {
        rc = winrsh_psobject_add_property(o, "controlKeyState", v);
        v = NULL;
    }
    if (!rc && !(rc = winrsh_psobject_new_bool(&v, 1))) {
        rc = winrsh_psobject_add_property(o, "keyDown", v);
        v = NULL;
    }
    winrsh_psobject_free(v);
    if (rc) {
        winrsh_psobject_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* ReadKey: one key from the terminal in raw mode. */
static int read_key(struct cli_tty_host *h, const winrsh_psobject *params, winrsh_psobject **out)
{
    int32_t options = 0;
    (void)param_int(params, 0, &options);
    struct termios old, raw;
    if (tcgetattr(0, &old) != 0)
        return -1;
    raw = old;
    raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
    if (options & READKEY_ALLOW_CTRL_C)
        raw.c_lflag &= (tcflag_t)~ISIG;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tcsetattr(0, TCSANOW, &raw);
    unsigned char b[4];
    size_t n = 0, need = 1;
    int rc = 0;
    while (n < need) {
        ssize_t r = read(0, b + n, 1);
        if (r < 0 && errno == EINTR && !cli_signals_interrupts() && !cli_signals_terminate())
            continue;
        if (r <= 0) {
            rc = -1;
            break;
        }
        if (n == 0)
            need = b[0] < 0xC0 ? 1 : b[0] < 0xE0 ? 2 : b[0] < 0xF0 ? 3 : 4;
        n++;
    }
    tcsetattr(0, TCSANOW, &old);
    if (rc)
        return -1;
    unsigned int cp = b[0];
    if (need == 2)
        cp = (b[0] & 0x1Fu) << 6 | (b[1] & 0x3Fu);
    else if (need == 3)
        cp = (b[0] & 0x0Fu) << 12 | (b[1] & 0x3Fu) << 6 | (b[2] & 0x3Fu);
    else if (need == 4)
        cp = 0xFFFD;
    int32_t vk = 0, state = 0;
    unsigned int ch = cp;
    if (cp == '\r' || cp == '\n') {
        vk = 13;
        ch = '\r';
    } else if (cp == 0x7f || cp == 8) {
        vk = 8;
        ch = 8;
    } else if (cp == '\t' || cp == 27 || cp == ' ') {
        vk = (int32_t)cp;
    } else if (cp >= 1 && cp <= 26) {
        vk = (int32_t)('A' + cp - 1);
        state = KEYSTATE_LEFT_CTRL;
    } else if (cp >= 'a' && cp <= 'z') {
        vk = (int32_t)(cp - 32);
    } else if ((cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
        vk = (int32_t)cp;
        if (cp >= 'A' && cp <= 'Z')
            state = KEYSTATE_SHIFT;
    }
    if (!(options & READKEY_NO_ECHO) && cp >= 0x20 && cp != 0x7f)
        cli_tty_out(h, (const char *)b, n);
    return new_key_info(out, vk, ch, state) ? -1 : 0;
}

static int on_host_call(int method_id, const char *method_name, const winrsh_psobject *params,
                        winrsh_psobject **result, void *payload)
{
    (void)method_name;
    struct cli_tty_host *h = payload;
    size_t len;
    switch (method_id) {
    case M_WRITE2:
    case M_WRITE_LINE3:
        if (!h->color)
            return 1;
        return write_colored(h, params, method_id == M_WRITE_LINE3);
    case M_SET_WINDOW_TITLE: {
        const char *t = param_str(params, 0, &len);
        set_title(h, t, len);
        return 0;
    }
    case M_GET_WINDOW_TITLE:
        if (!h->title[0])
            return 1;
        return winrsh_psobject_new_string(result, h->title, strlen(h->title)) ? -1 : 0;
    case M_GET_BUFFER_SIZE:
        return new_size(result, cli_tty_width(), BUFFER_HEIGHT) ? -1 : 0;
    case M_GET_WINDOW_SIZE:
    case M_GET_MAX_WINDOW_SIZE:
    case M_GET_MAX_PHYSICAL_WINDOW_SIZE:
        return new_size(result, cli_tty_width(), cli_tty_height()) ? -1 : 0;
    case M_SET_FOREGROUND:
    case M_SET_BACKGROUND:
    case M_SET_CURSOR_POSITION:
    case M_SET_WINDOW_POSITION:
    case M_SET_CURSOR_SIZE:
    case M_SET_BUFFER_SIZE:
    case M_SET_WINDOW_SIZE:
        return 0; /* a terminal's colours and size are the user's */
    case M_GET_KEY_AVAILABLE: {
        struct pollfd pf = {.fd = 0, .events = POLLIN};
        int ready = h->in_tty && poll(&pf, 1, 0) > 0 && (pf.revents & POLLIN);
        return winrsh_psobject_new_bool(result, ready) ? -1 : 0;
    }
    case M_READ_KEY:
        if (!h->in_tty)
            return 1;
        return read_key(h, params, result);
    case M_FLUSH_INPUT_BUFFER:
        if (h->in_tty)
            tcflush(0, TCIFLUSH);
        return 0;
    default:
        return 1;
    }
}

void cli_tty_host_options(struct cli_tty_host *h, winrsh_runspace_options *ro, int interactive)
{
    ro->host_write = on_write;
    ro->host_call = on_host_call;
    ro->host_payload = h;
    if (interactive) {
        ro->host_read_line = on_read_line;
        ro->host_read_secret = on_read_secret;
    }
}
