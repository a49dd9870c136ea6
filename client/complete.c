/*
 * complete.c: Tab completion by the remote PowerShell, as Enter-PSSession
 * does it: `TabExpansion2 -inputScript <line> -cursorColumn <n>` runs in
 * the session and its CommandCompletion says what to replace
 * (ReplacementIndex, ReplacementLength: UTF-16 code units of the line) and
 * with what (CompletionMatches: CompletionText, ListItemText).
 *
 * Readline is told that the "word" being completed is the whole line up to
 * the cursor (no word-break characters), and each match is the line with
 * the replacement made: so PowerShell, not readline, decides where a word
 * starts (`-Recu`, `$env:PA`, `(Get-Date).Da`, a path with spaces). One
 * match completes; several insert their common part and are listed (by
 * their ListItemText) at once.
 */
#include "repl_psrp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <readline/readline.h>

#include "signals.h"

/* Bound on one completion (the session may be busy or slow). */
#define COMPLETE_TIMEOUT_MS 15000L
#define COMPLETE_ROUND_MS 1000L
/* Matches shown under the prompt at most. */
#define LIST_MAX 200

static winrsh_runspace *g_rs;
static char **g_items; /* the line with each match applied, up to the cursor */
static char **g_shown; /* what to list for each */
static size_t g_n, g_next;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void free_items(void)
{
    for (size_t i = 0; i < g_n; i++) {
        free(g_items[i]);
        free(g_shown[i]);
    }
    free(g_items);
    free(g_shown);
    g_items = g_shown = NULL;
    g_n = g_next = 0;
}

/* UTF-8 bytes <-> UTF-16 code units, within s[0..len). */
static size_t units_of(const char *s, size_t len)
{
    size_t u = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80)
            continue;
        u += c >= 0xF0 ? 2 : 1;
    }
    return u;
}

static size_t bytes_of(const char *s, size_t len, size_t units)
{
    size_t u = 0, i = 0;
    while (i < len && u < units) {
        unsigned char c = (unsigned char)s[i];
        u += c >= 0xF0 ? 2 : 1;
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

static int on_output(const winrsh_psobject *obj, void *payload)
{
    winrsh_psobject **keep = payload;
    if (!*keep)
        *keep = winrsh_psobject_ref(obj);
    return 0;
}

/* Run TabExpansion2 for the line and cursor; the CommandCompletion, or
 * NULL. */
static winrsh_psobject *remote_complete(const char *line, size_t cursor_units)
{
    winrsh_psobject *result = NULL, *col = NULL;
    winrsh_pipeline_options po;
    winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION);
    po.output = on_output;
    po.payload = &result;
    winrsh_pipeline *p = NULL;
    int rc = winrsh_pipeline_new(&p, g_rs, &po);
    if (!rc)
        rc = winrsh_pipeline_add_command(p, "TabExpansion2");
    if (!rc)
        rc = winrsh_pipeline_add_parameter_string(p, "inputScript", line);
    if (!rc)
        rc = winrsh_psobject_new_int32(&col, (int32_t)cursor_units);
    if (!rc)
        rc = winrsh_pipeline_add_parameter(p, "cursorColumn", col);
    winrsh_psobject_free(col);
    if (!rc)
        rc = winrsh_pipeline_invoke(p);
    long deadline = now_ms() + COMPLETE_TIMEOUT_MS;
    int done = 0, stopping = 0;
    while (!rc && !done) {
        if (!stopping &&
            (cli_signals_interrupts() || cli_signals_terminate() || now_ms() > deadline)) {
            stopping = 1;
            (void)winrsh_pipeline_stop(p);
            deadline = now_ms() + COMPLETE_TIMEOUT_MS;
        } else if (stopping && now_ms() > deadline) {
            break;
        }
        cli_signals_interruptible(1);
        rc = winrsh_pipeline_receive(p, COMPLETE_ROUND_MS, &done);
        cli_signals_interruptible(0);
        if (rc == WINRSH_EINTR)
            rc = 0;
    }
    winrsh_pipeline_free(p);
    if (rc || stopping) {
        winrsh_psobject_free(result);
        return NULL;
    }
    return result;
}

static const char *prop_text(const winrsh_psobject *o, const char *name)
{
    const winrsh_psobject *v = winrsh_psobject_prop(o, name);
    if (!v || winrsh_psobject_get_kind(v) == WINRSH_PSOBJ_NULL)
        return NULL;
    return winrsh_psobject_text(v, NULL);
}

static char *generator(const char *text, int state)
{
    (void)text;
    if (!state)
        g_next = 0;
    return g_next < g_n ? strdup(g_items[g_next++]) : NULL;
}

/* List the matches by their ListItemText (readline would show whole lines). */
static void display_matches(char **matches, int num, int max_length)
{
    (void)max_length;
    size_t n = (size_t)num < LIST_MAX ? (size_t)num : LIST_MAX;
    char **shown = calloc(n + 2, sizeof *shown);
    if (!shown)
        return;
    int maxlen = 0;
    shown[0] = matches[0];
    for (size_t i = 1; i <= n; i++) {
        shown[i] = matches[i];
        for (size_t k = 0; k < g_n; k++)
            if (strcmp(g_items[k], matches[i]) == 0) {
                shown[i] = g_shown[k];
                break;
            }
        int l = (int)strlen(shown[i]);
        if (l > maxlen)
            maxlen = l;
    }
    rl_display_match_list(shown, (int)n, maxlen);
    if ((size_t)num > n)
        printf("... and %d more\n", num - (int)n);
    fflush(stdout);
    free(shown);
    rl_forced_update_display();
}

static char **attempt(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1; /* never readline's file names */
    rl_completion_append_character = '\0';
    rl_completion_suppress_append = 1;
    rl_sort_completion_matches = 0;
    rl_ignore_completion_duplicates = 0;
    free_items();
    if (!g_rs || start < 0 || end < start)
        return NULL;
    const char *line = rl_line_buffer;
    size_t point = (size_t)rl_point, line_len = strlen(line);
    if (point > line_len)
        return NULL;
    winrsh_psobject *cc = remote_complete(line, units_of(line, point));
    if (!cc)
        return NULL;
    int32_t ri = 0, rl = 0;
    const winrsh_psobject *matches = winrsh_psobject_prop(cc, "CompletionMatches");
    size_t n = winrsh_psobject_list_count(matches);
    if (!n || winrsh_psobject_get_int32(winrsh_psobject_prop(cc, "ReplacementIndex"), &ri) ||
        winrsh_psobject_get_int32(winrsh_psobject_prop(cc, "ReplacementLength"), &rl) || ri < 0 ||
        rl < 0) {
        winrsh_psobject_free(cc);
        return NULL;
    }
    size_t rb = bytes_of(line, line_len, (size_t)ri);
    size_t re = bytes_of(line, line_len, (size_t)ri + (size_t)rl);
    if (rb < (size_t)start || rb > point) {
        winrsh_psobject_free(cc);
        return NULL; /* a replacement readline cannot make */
    }
    g_items = calloc(n, sizeof *g_items);
    g_shown = calloc(n, sizeof *g_shown);
    for (size_t i = 0; g_items && g_shown && i < n; i++) {
        const winrsh_psobject *m = winrsh_psobject_list_item(matches, i);
        const char *ct = prop_text(m, "CompletionText");
        if (!ct)
            ct = winrsh_psobject_text(m, NULL);
        if (!ct)
            continue;
        const char *li = prop_text(m, "ListItemText");
        /* line[start..rb) + match + line[re..point) when the replacement
         * ends before the cursor. */
        size_t pre = rb - (size_t)start, post = re < point ? point - re : 0;
        char *item = malloc(pre + strlen(ct) + post + 1);
        if (!item)
            break;
        memcpy(item, line + start, pre);
        strcpy(item + pre, ct);
        memcpy(item + pre + strlen(ct), line + re, post);
        item[pre + strlen(ct) + post] = 0;
        g_items[g_n] = item;
        g_shown[g_n] = strdup(li && *li ? li : ct);
        if (!g_shown[g_n]) {
            free(item);
            break;
        }
        g_n++;
    }
    winrsh_psobject_free(cc);
    if (!g_n)
        return NULL;
    /* A replacement that reaches past the cursor: drop that tail first. */
    if (g_n == 1 && re > point)
        rl_delete_text((int)point, (int)re);
    char **out = rl_completion_matches(text, generator);
    /* Never let the common part of several matches shorten what was
     * typed (it is computed case-sensitively). */
    if (out && out[1] && strlen(out[0]) < (size_t)(end - start)) {
        char *typed = strndup(line + start, (size_t)(end - start));
        if (typed) {
            free(out[0]);
            out[0] = typed;
        }
    }
    return out;
}

void cli_complete_install(winrsh_runspace *rs)
{
    g_rs = rs;
    if (!rs) {
        rl_attempted_completion_function = NULL;
        rl_completion_display_matches_hook = NULL;
        free_items();
        return;
    }
    static char no_breaks[] = "";
    rl_completer_word_break_characters = no_breaks;
    rl_completer_quote_characters = NULL;
    rl_attempted_completion_function = attempt;
    rl_completion_display_matches_hook = display_matches;
    rl_variable_bind("show-all-if-ambiguous", "on");
}
