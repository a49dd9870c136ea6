/*
 * psrp_replay_harness.h: replays real recorded Windows PSRP sessions
 * (tests/fixtures/pypsrp/responses/test_psrp_*.yml) through the public API,
 * with a fake transport under the WS-Man layer. Included by the
 * test_psrp_replay*.c files; everything here is static to each test.
 *
 * The fake answers each of our requests with the recorded reply to the same
 * kind of request (Create, pool Receive, Command, the k-th command's
 * Receive, Send, Delete; Signal is synthesized since pypsrp sent none), after
 * mapping the recorded ShellId and CommandIds onto ours and putting our
 * a:MessageID into a:RelatesTo. The PSRP payloads are left as recorded, so
 * their headers carry pypsrp's ids: the engine routes by the Receive's
 * CommandId, as it must over WinRM.
 */
#ifndef WR_TEST_PSRP_REPLAY_HARNESS_H
#define WR_TEST_PSRP_REPLAY_HARNESS_H

/* Each test file uses a different part of the harness. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/error.h"
#include "psrp/binding.h"
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "psrp/runspace.h"
#include "winrsh/winrsh.h"
#include "wsman/ns.h"
#include "wsman/session_internal.h"

/* ---- the recording --------------------------------------------------------- */

typedef struct rec_pair {
    char *request;
    char *response;
    int fault;
} rec_pair;

typedef struct rec {
    rec_pair pairs[128];
    size_t n;
    char shell_id[64];
    char command_ids[8][64];
    size_t ncommands;
    /* rec_find_shells(): every shell the recording creates, in order. */
    char shells[8][64];
    size_t nshells;
} rec;

static char *unquote(const char *v, size_t len)
{
    char *out = malloc(len + 1);
    assert_non_null(out);
    if (len >= 2 && v[0] == '\'' && v[len - 1] == '\'') {
        size_t o = 0;
        for (size_t i = 1; i + 1 < len; i++) {
            out[o++] = v[i];
            if (v[i] == '\'' && v[i + 1] == '\'')
                i++;
        }
        out[o] = 0;
    } else {
        memcpy(out, v, len);
        out[len] = 0;
    }
    return out;
}

static void attr_value(const char *text, const char *attr, char *out, size_t size)
{
    out[0] = 0;
    const char *p = strstr(text, attr);
    if (!p)
        return;
    p += strlen(attr);
    size_t n = strcspn(p, "\"");
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* "- request: " / "  response: " records, continued by lines starting with
 * four spaces (YAML folds long plain scalars there, with one space). */
static void rec_load_file(rec *r, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/pypsrp/responses/%s", WINRSH_FIXTURES, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    memset(r, 0, sizeof *r);
    wr_buf cur = WR_BUF_INIT;
    int kind = 0; /* 1 request, 2 response */
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    for (;;) {
        got = getline(&line, &cap, f);
        int is_req = got > 0 && strncmp(line, "- request: ", 11) == 0;
        int is_rsp = got > 0 && strncmp(line, "  response: ", 12) == 0;
        int is_cont = got > 0 && kind && strncmp(line, "    ", 4) == 0;
        if (got > 0 && line[got - 1] == '\n')
            line[--got] = 0;
        if (is_cont) {
            const char *s = line;
            while (*s == ' ')
                s++;
            wr_buf_putc(&cur, ' ');
            wr_buf_puts(&cur, s);
            continue;
        }
        if (kind) {
            char *v = unquote(wr_buf_cstr(&cur), cur.len);
            if (kind == 1) {
                assert_true(r->n < 128);
                r->pairs[r->n++].request = v;
            } else {
                assert_true(r->n > 0);
                r->pairs[r->n - 1].response = v;
                r->pairs[r->n - 1].fault = strstr(v, ":Fault>") != NULL;
            }
            wr_buf_clear(&cur);
            kind = 0;
        }
        if (got < 0)
            break;
        if (is_req) {
            kind = 1;
            wr_buf_puts(&cur, line + 11);
        } else if (is_rsp) {
            kind = 2;
            wr_buf_puts(&cur, line + 12);
        }
    }
    free(line);
    wr_buf_free(&cur);
    fclose(f);
    for (size_t i = 0; i < r->n; i++) {
        const char *q = r->pairs[i].request;
        if (strstr(q, "transfer/Create<") && !r->shell_id[0])
            attr_value(q, "<rsp:Shell ShellId=\"", r->shell_id, sizeof r->shell_id);
        if (strstr(q, "shell/Command<") && r->ncommands < 8)
            attr_value(q, "<rsp:CommandLine CommandId=\"", r->command_ids[r->ncommands++], 64);
    }
    assert_true(r->shell_id[0] != 0);
}

static void rec_release(rec *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->pairs[i].request);
        free(r->pairs[i].response);
    }
}

/* ---- the fake transport ------------------------------------------------------ */

/* What a request is: action + which command (-1 none). */
typedef struct req_kind {
    char action[32];
    int command; /* index among the commands, -1 for the pool/shell */
} req_kind;

typedef struct fake {
    rec *r;
    size_t used[128]; /* recorded pairs already served */
    char our_shell[64];
    char our_commands[8][64];
    size_t nours;
    /* What we sent, for checks. */
    wr_buf requests[256];
    req_kind kinds[256];
    size_t nrequests;
    /* fake_post_shells(): our shells in the order we created them, which
     * shell each request named (-1: none), and a transport that went down. */
    char our_shells[8][64];
    size_t nourshells;
    int shell_of[256];
    int down;
} fake;

static void action_of(const char *xml, char *out, size_t size)
{
    out[0] = 0;
    const char *a = strstr(xml, "Action");
    if (!a)
        return;
    a = strchr(a, '>');
    if (!a)
        return;
    a++;
    size_t n = strcspn(a, "<");
    const char *slash = a + n;
    while (slash > a && slash[-1] != '/')
        slash--;
    size_t m = (size_t)(a + n - slash);
    if (m >= size)
        m = size - 1;
    memcpy(out, slash, m);
    out[m] = 0;
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *ci_strstr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

static int command_index(char ids[][64], size_t n, const char *xml)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i][0] && ci_strstr(xml, ids[i]))
            return (int)i;
    return -1;
}

static void replace_all(wr_buf *out, const char *in, const char *from, const char *to)
{
    size_t flen = strlen(from);
    const char *p = in;
    for (;;) {
        const char *hit = flen ? ci_strstr(p, from) : NULL;
        if (!hit) {
            wr_buf_puts(out, p);
            return;
        }
        wr_buf_append(out, p, (size_t)(hit - p));
        wr_buf_puts(out, to);
        p = hit + flen;
    }
}

static const char SIGNAL_OK[] = "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:a=\"" WR_NS_ADDRESSING
                                "\" xmlns:rsp=\"" WR_NS_SHELL "\"><s:Header><a:Action>" WR_NS_SHELL
                                "/SignalResponse</a:Action><a:RelatesTo>x</a:RelatesTo>"
                                "</s:Header><s:Body><rsp:SignalResponse/></s:Body></s:Envelope>";
static const char SEND_OK[] = "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:a=\"" WR_NS_ADDRESSING
                              "\" xmlns:rsp=\"" WR_NS_SHELL "\"><s:Header><a:Action>" WR_NS_SHELL
                              "/SendResponse</a:Action><a:RelatesTo>x</a:RelatesTo>"
                              "</s:Header><s:Body><rsp:SendResponse/></s:Body></s:Envelope>";

/* In `a` (scratch `b`), our CommandIds for the recorded ones. */
static void map_commands(const fake *f, wr_buf *a, wr_buf *b)
{
    for (size_t i = 0; i < f->r->ncommands && i < f->nours; i++) {
        wr_buf_clear(b);
        replace_all(b, wr_buf_cstr(a), f->r->command_ids[i], f->our_commands[i]);
        wr_buf_clear(a);
        wr_buf_puts(a, wr_buf_cstr(b));
    }
}

/* The recorded reply `r` as the answer to our request `q`: our a:MessageID
 * in its a:RelatesTo. */
static int reply_to(wr_buf *resp, const char *r, const char *q)
{
    const char *id = strstr(q, "<a:MessageID>");
    const char *rel = strstr(r, "RelatesTo>");
    if (!id || !rel)
        return wr_buf_puts(resp, r);
    id += strlen("<a:MessageID>");
    size_t idlen = strcspn(id, "<");
    rel += strlen("RelatesTo>");
    size_t old = strcspn(rel, "<");
    wr_buf_append(resp, r, (size_t)(rel - r));
    wr_buf_append(resp, id, idlen);
    return wr_buf_puts(resp, rel + old);
}

static int fake_post(void *ctx, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                     long *status)
{
    (void)timeout_ms;
    fake *f = ctx;
    assert_true(f->nrequests < 256);
    wr_buf *req = &f->requests[f->nrequests];
    memset(req, 0, sizeof *req);
    wr_buf_append(req, body, len);
    const char *q = wr_buf_cstr(req);
    req_kind k;
    action_of(q, k.action, sizeof k.action);
    if (strcmp(k.action, "Create") == 0)
        attr_value(q, "<rsp:Shell ShellId=\"", f->our_shell, sizeof f->our_shell);
    if (strcmp(k.action, "Command") == 0 && f->nours < 8)
        attr_value(q, "<rsp:CommandLine CommandId=\"", f->our_commands[f->nours++], 64);
    k.command = command_index(f->our_commands, f->nours, q);
    f->kinds[f->nrequests++] = k;

    /* The first recorded pair of the same kind not served yet. */
    const char *recorded = NULL;
    int fault = 0;
    for (size_t i = 0; i < f->r->n && !recorded; i++) {
        if (f->used[i])
            continue;
        req_kind rk;
        action_of(f->r->pairs[i].request, rk.action, sizeof rk.action);
        rk.command = command_index(f->r->command_ids, f->r->ncommands, f->r->pairs[i].request);
        if (strcmp(rk.action, k.action) != 0 || rk.command != k.command)
            continue;
        /* A pool-level Send of pypsrp's (its PUBLIC_KEY) is not ours. */
        f->used[i] = 1;
        recorded = f->r->pairs[i].response;
        fault = f->r->pairs[i].fault;
    }
    if (!recorded) {
        if (strcmp(k.action, "Signal") == 0)
            recorded = SIGNAL_OK;
        else if (strcmp(k.action, "Send") == 0)
            recorded = SEND_OK;
        else
            fail_msg("no recorded reply for a %s (command %d)", k.action, k.command);
    }
    *status = fault ? 500 : 200;

    /* Map the recorded ids onto ours. */
    wr_buf a = WR_BUF_INIT, b = WR_BUF_INIT;
    replace_all(&a, recorded, f->r->shell_id, f->our_shell);
    map_commands(f, &a, &b);
    int rc = reply_to(resp, wr_buf_cstr(&a), q);
    wr_buf_free(&a);
    wr_buf_free(&b);
    return rc;
}

static void fake_free(fake *f)
{
    for (size_t i = 0; i < f->nrequests; i++)
        wr_buf_free(&f->requests[i]);
}

static size_t count_requests(const fake *f, const char *action)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nrequests; i++)
        n += strcmp(f->kinds[i].action, action) == 0;
    return n;
}

static const char *find_request(const fake *f, const char *action, size_t nth)
{
    for (size_t i = 0; i < f->nrequests; i++)
        if (strcmp(f->kinds[i].action, action) == 0 && nth-- == 0)
            return wr_buf_cstr(&f->requests[i]);
    return NULL;
}

/* ---- what the callbacks saw ---------------------------------------------- */

typedef struct seen {
    char *outputs[32];
    int output_kinds[32];
    size_t noutputs;
    wr_buf errors;
    size_t nerrors, nterminating;
    wr_buf messages; /* "D:text\n" etc. */
    size_t nprogress;
    wr_buf host;
} seen;

static int on_output(const winrsh_psobject *o, void *payload)
{
    seen *s = payload;
    assert_true(s->noutputs < 32);
    const char *t = winrsh_psobject_text(o, NULL);
    s->output_kinds[s->noutputs] = (int)winrsh_psobject_get_kind(o);
    s->outputs[s->noutputs++] = strdup(t ? t : "(null)");
    return 0;
}

static int on_error(const winrsh_psobject *r, const char *text, int terminating, void *payload)
{
    (void)r;
    seen *s = payload;
    s->nerrors++;
    s->nterminating += terminating != 0;
    wr_buf_puts(&s->errors, text);
    return 0;
}

static int on_message(winrsh_ps_stream stream, const char *text, const winrsh_psobject *record,
                      unsigned int flags, void *payload)
{
    (void)record;
    (void)flags;
    seen *s = payload;
    wr_buf_printf(&s->messages, "%d:%s\n", (int)stream, text);
    return 0;
}

static int on_progress(const winrsh_progress *p, void *payload)
{
    seen *s = payload;
    assert_non_null(p->activity);
    s->nprogress++;
    return 0;
}

static int on_host_write(winrsh_host_stream stream, const char *text, size_t len, int newline,
                         void *payload)
{
    seen *s = payload;
    wr_buf_printf(&s->host, "%d:", (int)stream);
    wr_buf_append(&s->host, text, len);
    if (newline)
        wr_buf_putc(&s->host, '\n');
    return 0;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->noutputs; i++)
        free(s->outputs[i]);
    wr_buf_free(&s->errors);
    wr_buf_free(&s->messages);
    wr_buf_free(&s->host);
}

/* ---- the harness ------------------------------------------------------------ */

typedef struct replay {
    rec r;
    fake f;
    winrsh_session *session;
    winrsh_runspace *rs;
    seen s;
} replay;

static void replay_open(replay *t, const char *name)
{
    memset(t, 0, sizeof *t);
    rec_load_file(&t->r, name);
    t->f.r = &t->r;
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.user = "vagrant";
    so.password = "vagrant";
    assert_int_equal(
        wr_session_open_with(&t->session, "http://127.0.0.1:5985", &so, fake_post, &t->f), 0);
    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro.width = 100;
    ro.host_write = on_host_write;
    ro.host_payload = &t->s;
    int rc = winrsh_runspace_open(&t->rs, t->session, &ro);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_int_equal(winrsh_runspace_get_state(t->rs), WINRSH_RUNSPACE_OPENED);
}

static winrsh_pipeline *replay_pipeline(replay *t, int input)
{
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    po.input = input;
    po.output = on_output;
    po.error = on_error;
    po.message = on_message;
    po.progress = on_progress;
    po.payload = &t->s;
    winrsh_pipeline *p = NULL;
    assert_int_equal(winrsh_pipeline_new(&p, t->rs, &po), 0);
    return p;
}

static void replay_close(replay *t)
{
    winrsh_runspace_free(t->rs);
    /* The pool was deleted. */
    assert_int_equal(count_requests(&t->f, "Delete"), 1);
    winrsh_session_free(t->session);
    fake_free(&t->f);
    rec_release(&t->r);
    seen_free(&t->s);
}

/* ---- several shells, enumerations, transport failures --------------------- */

/*
 * For recordings with more than one shell (test_psrp_disconnect_runspaces:
 * two pools, Enumerate replies listing both) and with a transport failure
 * (a recorded `response: null`, as in test_psrp_is_alive_http_error).
 * fake_post_shells() is fake_post() with the request kind widened to
 * (action, shell, command): the k-th shell we Create is the recording's
 * k-th, and every recorded shell id in a reply is mapped onto ours. A
 * recorded null response makes the transport fail, then and for every
 * request after it (the server is unreachable).
 */

static void rec_find_shells(rec *r)
{
    r->nshells = 0;
    for (size_t i = 0; i < r->n && r->nshells < 8; i++)
        if (strstr(r->pairs[i].request, "transfer/Create<"))
            attr_value(r->pairs[i].request, "<rsp:Shell ShellId=\"", r->shells[r->nshells++], 64);
}

#define FAKE_HTTP_FAILURE "HTTP failure (the recording has no response)"

static int fake_post_shells(void *ctx, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                            long *status)
{
    (void)timeout_ms;
    fake *f = ctx;
    assert_true(f->nrequests < 256);
    wr_buf *req = &f->requests[f->nrequests];
    memset(req, 0, sizeof *req);
    wr_buf_append(req, body, len);
    const char *q = wr_buf_cstr(req);
    req_kind k;
    action_of(q, k.action, sizeof k.action);
    if (strcmp(k.action, "Create") == 0 && f->nourshells < 8)
        attr_value(q, "<rsp:Shell ShellId=\"", f->our_shells[f->nourshells++], 64);
    if (strcmp(k.action, "Command") == 0 && f->nours < 8)
        attr_value(q, "<rsp:CommandLine CommandId=\"", f->our_commands[f->nours++], 64);
    k.command = command_index(f->our_commands, f->nours, q);
    int shell = command_index(f->our_shells, f->nourshells, q);
    f->shell_of[f->nrequests] = shell;
    f->kinds[f->nrequests++] = k;
    if (f->down)
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_HTTP, FAKE_HTTP_FAILURE);

    const char *recorded = NULL;
    int fault = 0;
    for (size_t i = 0; i < f->r->n && !recorded; i++) {
        if (f->used[i])
            continue;
        const char *rq = f->r->pairs[i].request;
        req_kind rk;
        action_of(rq, rk.action, sizeof rk.action);
        rk.command = command_index(f->r->command_ids, f->r->ncommands, rq);
        if (strcmp(rk.action, k.action) != 0 || rk.command != k.command ||
            command_index(f->r->shells, f->r->nshells, rq) != shell)
            continue;
        f->used[i] = 1;
        recorded = f->r->pairs[i].response;
        fault = f->r->pairs[i].fault;
    }
    if (!recorded) {
        if (strcmp(k.action, "Signal") == 0)
            recorded = SIGNAL_OK;
        else if (strcmp(k.action, "Send") == 0)
            recorded = SEND_OK;
        else
            fail_msg("no recorded reply for a %s (shell %d, command %d)", k.action, shell,
                     k.command);
    }
    if (strcmp(recorded, "null") == 0) {
        f->down = 1;
        return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_HTTP, FAKE_HTTP_FAILURE);
    }
    *status = fault ? 500 : 200;

    wr_buf a = WR_BUF_INIT, b = WR_BUF_INIT;
    wr_buf_puts(&a, recorded);
    for (size_t i = 0; i < f->r->nshells && i < f->nourshells; i++) {
        wr_buf_clear(&b);
        replace_all(&b, wr_buf_cstr(&a), f->r->shells[i], f->our_shells[i]);
        wr_buf_clear(&a);
        wr_buf_puts(&a, wr_buf_cstr(&b));
    }
    map_commands(f, &a, &b);
    int rc = reply_to(resp, wr_buf_cstr(&a), q);
    wr_buf_free(&a);
    wr_buf_free(&b);
    return rc;
}

/* The nth request of `action` that named our shell `shell` (-1: none). */
static const char *find_shell_request(const fake *f, const char *action, int shell, size_t nth)
{
    for (size_t i = 0; i < f->nrequests; i++)
        if (strcmp(f->kinds[i].action, action) == 0 && f->shell_of[i] == shell && nth-- == 0)
            return wr_buf_cstr(&f->requests[i]);
    return NULL;
}

/* A replay session on fake_post_shells, with no pool opened yet. */
static void replay_session(replay *t, const char *name)
{
    memset(t, 0, sizeof *t);
    rec_load_file(&t->r, name);
    rec_find_shells(&t->r);
    t->f.r = &t->r;
    winrsh_session_options so;
    assert_int_equal(winrsh_session_options_init(&so, WINRSH_SESSION_OPTIONS_VERSION), 0);
    so.user = "vagrant";
    so.password = "vagrant";
    assert_int_equal(
        wr_session_open_with(&t->session, "http://127.0.0.1:5985", &so, fake_post_shells, &t->f),
        0);
}

/* Open a pool in a replay_session() (the harness's host options). */
static winrsh_runspace *replay_pool(replay *t)
{
    winrsh_runspace_options ro;
    assert_int_equal(winrsh_runspace_options_init(&ro, WINRSH_RUNSPACE_OPTIONS_VERSION), 0);
    ro.width = 100;
    ro.host_write = on_host_write;
    ro.host_payload = &t->s;
    winrsh_runspace *rs = NULL;
    int rc = winrsh_runspace_open(&rs, t->session, &ro);
    if (rc)
        fail_msg("open: %s", winrsh_error_last()->message);
    assert_int_equal(winrsh_runspace_get_state(rs), WINRSH_RUNSPACE_OPENED);
    return rs;
}

/* Free what replay_session() made (pools are the test's to free). */
static void replay_session_close(replay *t)
{
    winrsh_session_free(t->session);
    fake_free(&t->f);
    rec_release(&t->r);
    seen_free(&t->s);
}

#endif
