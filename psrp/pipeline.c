/*
 * pipeline.c: winrsh_pipeline_* (include/winrsh/runspace.h): describing a
 * pipeline, CREATE_PIPELINE (MS-PSRP 2.2.2.10), input (2.2.2.17, 2.2.2.18),
 * the receive loop and the dispatch of the server's pipeline messages to
 * the caller's callbacks:
 *
 *   +---------------------+------------------------------------------------+
 *   | message             | goes to                                        |
 *   +---------------------+------------------------------------------------+
 *   | PIPELINE_OUTPUT     | output(obj)                                    |
 *   | ERROR_RECORD        | error(record, rendered text, 0); counted       |
 *   | WARNING / VERBOSE / | message(stream, InformationalRecord_Message)   |
 *   | DEBUG_RECORD        |                                                |
 *   | INFORMATION_RECORD  | message(INFORMATION, MessageData text,         |
 *   |                     |   FROM_HOST if tagged PSHOST)                  |
 *   | PROGRESS_RECORD     | progress(record)                               |
 *   | PIPELINE_STATE      | state; Failed: error(Exception..., text, 1)    |
 *   | PIPELINE_HOST_CALL  | host.c                                         |
 *   +---------------------+------------------------------------------------+
 *
 * A pipeline made a command metadata call (winrsh_pipeline_get_command_
 * metadata) sends GET_COMMAND_METADATA (2.2.2.14) in CREATE_PIPELINE's
 * place; its reply is a pipeline's, except that the first output, the
 * CommandMetadataCount, is kept aside (section "command metadata").
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"
#include "psrp/clixml.h"
#include "psrp/records.h"
#include "psrp/runspace.h"
#include "winrsh/errors.h"
#include "wsman/session_internal.h"

/* Queued input is sent once it reaches this much (or on end/receive). */
#define INPUT_FLUSH_BYTES (64u * 1024u)
/* How long winrsh_pipeline_free waits for a stopped pipeline to say so. */
#define FREE_STOP_ROUNDS 2
#define FREE_STOP_TIMEOUT_MS 3000L

/* The size of a version 1 winrsh_pipeline_options. */
#define PIPELINE_OPTIONS_V1_SIZE offsetof(winrsh_pipeline_options, nested)

static int invalid(const char *what)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "%s", what);
}

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static int is_final(int state)
{
    return state == WR_PSRP_PIPE_STOPPED || state == WR_PSRP_PIPE_COMPLETED ||
           state == WR_PSRP_PIPE_FAILED || state == WR_PSRP_PIPE_DISCONNECTED;
}

WINRSH_EXTERN(int)
winrsh_pipeline_options_init(winrsh_pipeline_options *opts, unsigned int version)
{
    if (!opts || version < 1 || version > WINRSH_PIPELINE_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "pipeline options version %u is not supported (this library: %d)",
                            version, WINRSH_PIPELINE_OPTIONS_VERSION);
    /* A version 1 caller's struct ends before the version 2 fields. */
    memset(opts, 0, version == 1 ? PIPELINE_OPTIONS_V1_SIZE : sizeof *opts);
    opts->version = version;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_pipeline_new(winrsh_pipeline **out, winrsh_runspace *rs, const winrsh_pipeline_options *opts)
{
    if (!out)
        return invalid("pipeline: NULL out pointer");
    *out = NULL;
    if (!rs)
        return invalid("pipeline: NULL runspace");
    if (rs->closed || rs->state != WR_PSRP_POOL_OPENED)
        return wr_error_set(
            WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "pipeline: the runspace pool is not open%s%s",
            rs->broken_reason ? ": " : "", rs->broken_reason ? rs->broken_reason : "");
    winrsh_pipeline_options defaults;
    if (!opts) {
        winrsh_pipeline_options_init(&defaults, WINRSH_PIPELINE_OPTIONS_VERSION);
        opts = &defaults;
    }
    if (opts->version < 1 || opts->version > WINRSH_PIPELINE_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "pipeline options version %u is not supported (this library: %d)",
                            opts->version, WINRSH_PIPELINE_OPTIONS_VERSION);
    winrsh_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return oom();
    if (wr_guid_random(&p->pid)) {
        free(p);
        return wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS,
                            "cannot get random bytes for a pipeline id");
    }
    wr_guid_format(&p->pid, 1, p->id);
    p->rs = rs;
    memset(&p->opts, 0, sizeof p->opts);
    memcpy(&p->opts, opts, opts->version == 1 ? PIPELINE_OPTIONS_V1_SIZE : sizeof p->opts);
    p->state = WR_PSRP_PIPE_NOT_STARTED;
    p->next = rs->pipelines;
    rs->pipelines = p;
    *out = p;
    return 0;
}

void wr_pipeline_set_id(winrsh_pipeline *p, const wr_guid *pid)
{
    if (p->invoked)
        return;
    p->pid = *pid;
    wr_guid_format(&p->pid, 1, p->id);
}

/* ---- describing --------------------------------------------------------- */

static int check_editable(winrsh_pipeline *p)
{
    if (!p)
        return invalid("pipeline: NULL handle");
    if (p->invoked)
        return invalid("pipeline: already invoked");
    return 0;
}

static int add_cmd(winrsh_pipeline *p, const char *text, int is_script)
{
    int rc = check_editable(p);
    if (rc)
        return rc;
    if (p->metadata)
        return invalid("pipeline: a command metadata call has no commands");
    if (!text)
        return invalid(is_script ? "pipeline: NULL script" : "pipeline: NULL command name");
    if (p->ncmds == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        wr_pl_cmd *c = realloc(p->cmds, cap * sizeof *c);
        if (!c)
            return oom();
        p->cmds = c;
        p->cap = cap;
    }
    wr_pl_cmd *c = &p->cmds[p->ncmds];
    memset(c, 0, sizeof *c);
    c->text = wr_strdup(text, &rc);
    if (rc)
        return oom();
    c->is_script = is_script;
    p->ncmds++;
    return 0;
}

WINRSH_EXTERN(int) winrsh_pipeline_add_script(winrsh_pipeline *p, const char *script)
{
    return add_cmd(p, script, 1);
}

WINRSH_EXTERN(int) winrsh_pipeline_add_command(winrsh_pipeline *p, const char *name)
{
    return add_cmd(p, name, 0);
}

/* Takes over `value` (a reference) in every case. */
static int add_arg(winrsh_pipeline *p, const char *name, winrsh_psobject *value)
{
    int rc = check_editable(p);
    if (!rc && !p->ncmds)
        rc = invalid("pipeline: add a command before its arguments");
    if (rc) {
        winrsh_psobject_free(value);
        return rc;
    }
    wr_pl_cmd *c = &p->cmds[p->ncmds - 1];
    if (c->nargs == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        wr_pl_arg *a = realloc(c->args, cap * sizeof *a);
        if (!a) {
            winrsh_psobject_free(value);
            return oom();
        }
        c->args = a;
        c->cap = cap;
    }
    char *n = wr_strdup(name, &rc);
    if (rc) {
        winrsh_psobject_free(value);
        return oom();
    }
    c->args[c->nargs].name = n;
    c->args[c->nargs].value = value;
    c->nargs++;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_pipeline_add_parameter(winrsh_pipeline *p, const char *name, const winrsh_psobject *value)
{
    if (!name || !*name)
        return invalid("pipeline: a parameter needs a name");
    return add_arg(p, name, winrsh_psobject_ref(value));
}

static int new_string(winrsh_psobject **o, const char *s)
{
    if (!s)
        return invalid("pipeline: NULL string");
    return winrsh_psobject_new_string(o, s, strlen(s));
}

WINRSH_EXTERN(int)
winrsh_pipeline_add_parameter_string(winrsh_pipeline *p, const char *name, const char *value)
{
    if (!name || !*name)
        return invalid("pipeline: a parameter needs a name");
    winrsh_psobject *o = NULL;
    int rc = new_string(&o, value);
    return rc ? rc : add_arg(p, name, o);
}

WINRSH_EXTERN(int) winrsh_pipeline_add_switch(winrsh_pipeline *p, const char *name)
{
    if (!name || !*name)
        return invalid("pipeline: a switch needs a name");
    /* A named argument with a Nil value is a switch (MS-PSRP 2.2.3.13). */
    return add_arg(p, name, NULL);
}

WINRSH_EXTERN(int) winrsh_pipeline_add_argument(winrsh_pipeline *p, const winrsh_psobject *value)
{
    winrsh_psobject *o = winrsh_psobject_ref(value);
    if (!o) {
        int rc = winrsh_psobject_new_null(&o);
        if (rc)
            return rc;
    }
    return add_arg(p, NULL, o);
}

WINRSH_EXTERN(int) winrsh_pipeline_add_argument_string(winrsh_pipeline *p, const char *value)
{
    winrsh_psobject *o = NULL;
    int rc = new_string(&o, value);
    return rc ? rc : add_arg(p, NULL, o);
}

WINRSH_EXTERN(int) winrsh_pipeline_merge_errors(winrsh_pipeline *p)
{
    int rc = check_editable(p);
    if (rc)
        return rc;
    if (!p->ncmds)
        return invalid("pipeline: add a command before merging its errors");
    p->cmds[p->ncmds - 1].merge_errors = 1;
    return 0;
}

/* ---- command metadata (GET_COMMAND_METADATA, MS-PSRP 2.2.2.14) ------------- */

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void metadata_free(wr_pl_metadata *m)
{
    if (!m)
        return;
    free_strings(m->names, m->nnames);
    free_strings(m->namespaces, m->nnamespaces);
    free(m);
}

static int copy_strings(char ***out, const char *const *v, size_t n)
{
    *out = NULL;
    if (!n)
        return 0;
    char **c = calloc(n, sizeof *c);
    if (!c)
        return oom();
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        c[i] = wr_strdup(v[i], &rc);
    if (rc) {
        free_strings(c, n);
        return oom();
    }
    *out = c;
    return 0;
}

static int check_strings(const char *const *v, size_t n, const char *what)
{
    if (n && !v)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "pipeline: NULL %s list", what);
    for (size_t i = 0; i < n; i++)
        if (!v[i])
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "pipeline: %s %zu is NULL",
                                what, i);
    return 0;
}

WINRSH_EXTERN(int)
winrsh_pipeline_get_command_metadata(winrsh_pipeline *p, const char *const *names, size_t nnames,
                                     unsigned int command_types, const char *const *namespaces,
                                     size_t nnamespaces)
{
    int rc = check_editable(p);
    if (rc)
        return rc;
    if (p->ncmds || p->metadata)
        return invalid("pipeline: already describes commands or a command metadata call");
    if (p->opts.input)
        return invalid("pipeline: a command metadata call takes no input");
    if (!nnames)
        return invalid("pipeline: a command metadata call needs a name pattern (\"*\": all)");
    if (command_types > WINRSH_COMMAND_TYPE_ALL)
        return invalid("pipeline: unknown command types");
    if ((rc = check_strings(names, nnames, "name")) ||
        (rc = check_strings(namespaces, nnamespaces, "namespace")))
        return rc;
    wr_pl_metadata *m = calloc(1, sizeof *m);
    if (!m)
        return oom();
    m->command_types = command_types ? (int32_t)command_types : WINRSH_COMMAND_TYPE_ALL;
    m->nnames = nnames;
    m->nnamespaces = nnamespaces;
    if ((rc = copy_strings(&m->names, names, nnames)) ||
        (rc = copy_strings(&m->namespaces, namespaces, nnamespaces))) {
        metadata_free(m); /* a failed copy left its list NULL */
        return rc;
    }
    p->metadata = m;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_pipeline_command_metadata_count(const winrsh_pipeline *p, long long *count)
{
    if (!p || !p->metadata || !p->metadata->count_seen)
        return 0;
    if (count)
        *count = (long long)p->metadata->count;
    return 1;
}

static int build_metadata(winrsh_pipeline *p, wr_buf *xml)
{
    const wr_pl_metadata *m = p->metadata;
    return wr_psrp_build_get_command_metadata_ns(
        xml, (const char *const *)m->names, m->nnames, m->command_types,
        (const char *const *)m->namespaces, m->nnamespaces);
}

/* The reply's first output is CommandMetadataCount (2.2.3.22): an object
 * typed Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo with an
 * integer Count. It is kept for winrsh_pipeline_command_metadata_count()
 * instead of being delivered; 1 if `o` was it. */
static int metadata_count(winrsh_pipeline *p, const winrsh_psobject *o)
{
    wr_pl_metadata *m = p->metadata;
    if (m->count_seen)
        return 0;
    int64_t n;
    const winrsh_psobject *c = winrsh_psobject_prop(o, "Count");
    if (!c || winrsh_psobject_get_int64(c, &n) ||
        !winrsh_psobject_is_type(o, "Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo")) {
        winrsh_error_clear();
        return 0;
    }
    m->count_seen = 1;
    m->count = n;
    return 1;
}

/* ---- invoking ------------------------------------------------------------- */

static int build_create(winrsh_pipeline *p, wr_buf *xml)
{
    size_t nargs = 0;
    for (size_t i = 0; i < p->ncmds; i++)
        nargs += p->cmds[i].nargs;
    wr_psrp_command *cmds = calloc(p->ncmds, sizeof *cmds);
    wr_psrp_arg *args = calloc(nargs ? nargs : 1, sizeof *args);
    if (!cmds || !args) {
        free(cmds);
        free(args);
        return oom();
    }
    size_t a = 0;
    for (size_t i = 0; i < p->ncmds; i++) {
        const wr_pl_cmd *c = &p->cmds[i];
        wr_psrp_command_init(&cmds[i], c->text, c->is_script);
        if (c->merge_errors) {
            /* MS-PSRP 2.2.3.12: MergeMyResult=Error, MergeToResult=Output,
             * and (protocol 2.2+) MergeError=Output. */
            cmds[i].merge_my_result = WR_PSRP_RESULT_ERROR;
            cmds[i].merge_to_result = WR_PSRP_RESULT_OUTPUT;
            cmds[i].merge_error = WR_PSRP_RESULT_OUTPUT;
        }
        cmds[i].args = &args[a];
        cmds[i].nargs = c->nargs;
        for (size_t j = 0; j < c->nargs; j++, a++) {
            args[a].name = c->args[j].name;
            args[a].value = c->args[j].value;
        }
    }
    wr_psrp_pipeline pl;
    wr_psrp_pipeline_init(&pl, cmds, p->ncmds);
    pl.no_input = !p->opts.input;
    pl.add_to_history = p->opts.add_to_history ? 1 : 0;
    pl.is_nested = p->opts.nested ? 1 : 0;
    /* The pipeline gets its own (console) host rather than the pool's:
     * host calls then come on the pipeline's own stream, which is the one
     * being received while it runs. */
    wr_psrp_host_info host = p->rs->host;
    host.use_runspace_host = 0;
    pl.host = &host;
    int rc = wr_psrp_build_create_pipeline(xml, &pl);
    free(cmds);
    free(args);
    return rc;
}

WINRSH_EXTERN(int) winrsh_pipeline_invoke(winrsh_pipeline *p)
{
    if (!p)
        return invalid("pipeline: NULL handle");
    if (!p->rs)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "pipeline: the runspace is gone");
    if (p->invoked)
        return invalid("pipeline: already invoked");
    if (!p->ncmds && !p->metadata)
        return invalid("pipeline: no command to invoke");
    winrsh_runspace *rs = p->rs;
    if (rs->closed || rs->state != WR_PSRP_POOL_OPENED)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP,
                            "pipeline: the runspace pool is not open");
    wr_buf xml = WR_BUF_INIT, frags = WR_BUF_INIT;
    /* A command metadata call goes out the way CREATE_PIPELINE does. */
    uint32_t type = p->metadata ? WR_PSRP_GET_COMMAND_METADATA : WR_PSRP_CREATE_PIPELINE;
    int rc = p->metadata ? build_metadata(p, &xml) : build_create(p, &xml);
    if (!rc)
        rc = wr_rs_fragment(rs, &p->pid, type, xml.data, xml.len, &frags);
    wr_buf_free(&xml);
    if (!rc) {
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: starting pipeline %s", p->id);
        rc = rs->binding->ops->create_pipeline(rs->binding, &p->pid, frags.data, frags.len);
    }
    wr_buf_free(&frags);
    if (rc)
        return rc;
    p->invoked = 1;
    p->state = WR_PSRP_PIPE_RUNNING;
    return 0;
}

/* ---- input ------------------------------------------------------------------ */

static int flush_input(winrsh_pipeline *p)
{
    if (!p->input_q.len)
        return 0;
    winrsh_runspace *rs = p->rs;
    int rc = rs->binding->ops->send(rs->binding, &p->pid, p->input_q.data, p->input_q.len, 0);
    wr_buf_clear(&p->input_q);
    return rc;
}

static int check_input(winrsh_pipeline *p)
{
    if (!p)
        return invalid("pipeline: NULL handle");
    if (!p->rs)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "pipeline: the runspace is gone");
    if (!p->opts.input)
        return invalid("pipeline: created without input (set opts.input)");
    if (!p->invoked)
        return invalid("pipeline: invoke it before sending input");
    if (p->input_ended)
        return invalid("pipeline: its input has ended");
    return 0;
}

static int queue_input(winrsh_pipeline *p, const wr_buf *xml)
{
    /* Input to a pipeline that has ended is dropped: the server would only
     * fault on the unknown command. */
    if (is_final(p->state))
        return 0;
    int rc =
        wr_rs_fragment(p->rs, &p->pid, WR_PSRP_PIPELINE_INPUT, xml->data, xml->len, &p->input_q);
    if (!rc && p->input_q.len >= INPUT_FLUSH_BYTES)
        rc = flush_input(p);
    return rc;
}

WINRSH_EXTERN(int) winrsh_pipeline_send_input(winrsh_pipeline *p, const winrsh_psobject *obj)
{
    int rc = check_input(p);
    if (rc)
        return rc;
    wr_buf xml = WR_BUF_INIT;
    rc = wr_psrp_build_pipeline_input(&xml, obj);
    if (!rc)
        rc = queue_input(p, &xml);
    wr_buf_free(&xml);
    return rc;
}

WINRSH_EXTERN(int)
winrsh_pipeline_send_input_string(winrsh_pipeline *p, const char *s, size_t len)
{
    int rc = check_input(p);
    if (rc)
        return rc;
    if (!s && len)
        return invalid("pipeline: NULL input string");
    wr_buf xml = WR_BUF_INIT;
    rc = wr_psrp_build_pipeline_input_string(&xml, s ? s : "", s ? len : 0);
    if (!rc)
        rc = queue_input(p, &xml);
    wr_buf_free(&xml);
    return rc;
}

WINRSH_EXTERN(int) winrsh_pipeline_end_input(winrsh_pipeline *p)
{
    int rc = check_input(p);
    if (rc)
        return rc;
    p->input_ended = 1;
    if (is_final(p->state)) {
        wr_buf_clear(&p->input_q);
        return 0;
    }
    rc = wr_rs_fragment(p->rs, &p->pid, WR_PSRP_END_OF_PIPELINE_INPUT, NULL, 0, &p->input_q);
    if (!rc)
        rc = flush_input(p);
    return rc;
}

/* ---- receiving ---------------------------------------------------------------- */

WINRSH_EXTERN(int) winrsh_pipeline_receive(winrsh_pipeline *p, long timeout_ms, int *done)
{
    if (done)
        *done = 0;
    if (!p || timeout_ms < 0)
        return invalid("pipeline: NULL handle or negative timeout");
    if (!p->invoked)
        return invalid("pipeline: not invoked");
    if (is_final(p->state)) {
        if (done)
            *done = 1;
        return 0;
    }
    winrsh_runspace *rs = p->rs;
    if (!rs)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "pipeline: the runspace is gone");
    if (rs->closed)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP,
                            "pipeline: the runspace pool is closed");
    int rc = flush_input(p);
    if (!rc)
        rc = wr_rs_receive(rs, p, timeout_ms);
    if (rc)
        return rc;
    if (p->lost_state) {
        p->lost_state = 0;
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "the server ended pipeline %s without reporting its state", p->id);
    }
    if (rs->state == WR_PSRP_POOL_BROKEN || rs->state == WR_PSRP_POOL_CLOSED)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "the runspace pool %s%s%s",
                            rs->state == WR_PSRP_POOL_BROKEN ? "broke" : "was closed",
                            rs->broken_reason ? ": " : "",
                            rs->broken_reason ? rs->broken_reason : "");
    if (done)
        *done = is_final(p->state);
    return 0;
}

WINRSH_EXTERN(int) winrsh_pipeline_wait(winrsh_pipeline *p)
{
    int done = 0;
    while (!done) {
        int rc = winrsh_pipeline_receive(p, 0, &done);
        if (rc)
            return rc;
    }
    return 0;
}

WINRSH_EXTERN(int) winrsh_pipeline_stop(winrsh_pipeline *p)
{
    if (!p)
        return invalid("pipeline: NULL handle");
    if (!p->invoked || is_final(p->state) || p->stop_sent)
        return 0;
    if (!p->rs)
        return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "pipeline: the runspace is gone");
    int rc = p->rs->binding->ops->stop(p->rs->binding, &p->pid);
    if (!rc) {
        p->stop_sent = 1;
        p->state = WR_PSRP_PIPE_STOPPING;
    }
    return rc;
}

WINRSH_EXTERN(winrsh_pipeline_state) winrsh_pipeline_get_state(const winrsh_pipeline *p)
{
    return p ? (winrsh_pipeline_state)p->state : WINRSH_PIPELINE_NOT_STARTED;
}

WINRSH_EXTERN(const char *) winrsh_pipeline_id(const winrsh_pipeline *p)
{
    return p ? p->id : NULL;
}

WINRSH_EXTERN(int) winrsh_pipeline_exit_code(const winrsh_pipeline *p, int *code)
{
    if (!p || !p->have_exit)
        return 0;
    if (code)
        *code = p->exit_code;
    return 1;
}

WINRSH_EXTERN(size_t) winrsh_pipeline_error_count(const winrsh_pipeline *p)
{
    return p ? p->errors : 0;
}

WINRSH_EXTERN(const winrsh_psobject *) winrsh_pipeline_failure(const winrsh_pipeline *p)
{
    return p ? p->failure : NULL;
}

static void unlink_pipeline(winrsh_pipeline *p)
{
    if (!p->rs)
        return;
    for (winrsh_pipeline **pp = &p->rs->pipelines; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
}

WINRSH_EXTERN(void) winrsh_pipeline_free(winrsh_pipeline *p)
{
    if (!p)
        return;
    winrsh_runspace *rs = p->rs;
    if (rs && p->invoked && !rs->closed && rs->state == WR_PSRP_POOL_OPENED) {
        /* Keep the caller's error: clean-up talks to the server. */
        const winrsh_error *e = winrsh_error_last();
        int code = e->code;
        winrsh_error_class klass = e->klass;
        char message[1024];
        snprintf(message, sizeof message, "%s", e->message ? e->message : "");
        if (rs->session)
            wr_session_clear_interrupt(rs->session);
        /* A pipeline still running is stopped, and given a few bounded
         * rounds to say so, so that the runspace can run the next one. */
        if (!is_final(p->state)) {
            p->opts.output = NULL;
            p->opts.error = NULL;
            p->opts.message = NULL;
            p->opts.progress = NULL;
            (void)winrsh_pipeline_stop(p);
            for (int i = 0; i < FREE_STOP_ROUNDS && !is_final(p->state); i++)
                if (winrsh_pipeline_receive(p, FREE_STOP_TIMEOUT_MS, NULL))
                    break;
        }
        if (!p->released) {
            p->released = 1;
            (void)rs->binding->ops->close_pipeline(rs->binding, &p->pid);
        }
        if (code)
            wr_error_set(code, klass, "%s", message);
        else
            winrsh_error_clear();
    }
    unlink_pipeline(p);
    for (size_t i = 0; i < p->ncmds; i++) {
        for (size_t j = 0; j < p->cmds[i].nargs; j++) {
            free(p->cmds[i].args[j].name);
            winrsh_psobject_free(p->cmds[i].args[j].value);
        }
        free(p->cmds[i].args);
        free(p->cmds[i].text);
    }
    free(p->cmds);
    metadata_free(p->metadata);
    wr_buf_free(&p->input_q);
    wr_buf_free(&p->pr_q);
    winrsh_psobject_free(p->failure);
    free(p);
}

/* ---- dispatch ----------------------------------------------------------------- */

void wr_pipeline_abandon(winrsh_pipeline *p)
{
    if (p->invoked && !is_final(p->state))
        p->state = WR_PSRP_PIPE_FAILED;
}

void wr_pipeline_transport_ended(winrsh_pipeline *p)
{
    if (!p->invoked || is_final(p->state))
        return;
    /* After a stop, Stopped is what the lost state would have said. */
    if (p->stop_sent) {
        p->state = WR_PSRP_PIPE_STOPPED;
        return;
    }
    p->state = WR_PSRP_PIPE_FAILED;
    p->lost_state = 1;
}

static int cb_result(int r)
{
    return r ? WINRSH_EUSER : 0;
}

static int deliver_error(winrsh_pipeline *p, const winrsh_psobject *record, int terminating)
{
    p->errors++;
    if (!p->opts.error)
        return 0;
    char *text = wr_error_record_text(record);
    if (!text)
        return oom();
    int r = p->opts.error(record, text, terminating, p->opts.payload);
    free(text);
    return cb_result(r);
}

static int deliver_state(winrsh_pipeline *p, const winrsh_psobject *o)
{
    wr_psrp_state st;
    int rc = wr_psrp_pipeline_state_read(o, &st);
    if (rc)
        return rc;
    p->state = st.state;
    if (p->rs && p->rs->tracer)
        wr_tracef(p->rs->tracer, "psrp: pipeline %s is %d", p->id, (int)st.state);
    if (st.state == WR_PSRP_PIPE_FAILED && st.error) {
        winrsh_psobject_free(p->failure);
        p->failure = winrsh_psobject_ref(st.error);
        return deliver_error(p, st.error, 1);
    }
    return 0;
}

int wr_pipeline_dispatch(winrsh_pipeline *p, uint32_t type, const winrsh_psobject *o)
{
    switch (type) {
    case WR_PSRP_PIPELINE_OUTPUT:
        if (p->metadata && metadata_count(p, o))
            return 0;
        return p->opts.output ? cb_result(p->opts.output(o, p->opts.payload)) : 0;
    case WR_PSRP_ERROR_RECORD:
        return deliver_error(p, o, 0);
    case WR_PSRP_WARNING_RECORD:
    case WR_PSRP_VERBOSE_RECORD:
    case WR_PSRP_DEBUG_RECORD: {
        if (!p->opts.message)
            return 0;
        winrsh_ps_stream s = type == WR_PSRP_WARNING_RECORD   ? WINRSH_PS_WARNING
                             : type == WR_PSRP_VERBOSE_RECORD ? WINRSH_PS_VERBOSE
                                                              : WINRSH_PS_DEBUG;
        const char *text = wr_psrp_informational_message(o);
        return cb_result(p->opts.message(s, text ? text : "", o, 0, p->opts.payload));
    }
    case WR_PSRP_INFORMATION_RECORD: {
        if (!p->opts.message)
            return 0;
        wr_psrp_information info;
        if (wr_psrp_information_read(o, &info)) {
            winrsh_error_clear();
            return 0;
        }
        return cb_result(p->opts.message(WINRSH_PS_INFORMATION, info.text ? info.text : "", o,
                                         info.is_host ? WINRSH_MESSAGE_FROM_HOST : 0,
                                         p->opts.payload));
    }
    case WR_PSRP_PROGRESS_RECORD: {
        if (!p->opts.progress)
            return 0;
        wr_psrp_progress pr;
        if (wr_psrp_progress_read(o, &pr)) {
            winrsh_error_clear();
            return 0;
        }
        winrsh_progress pub = {
            .activity = pr.activity,
            .status = pr.status,
            .current_operation = pr.current_operation,
            .activity_id = pr.activity_id,
            .parent_activity_id = pr.parent_activity_id,
            .percent_complete = pr.percent_complete,
            .seconds_remaining = pr.seconds_remaining,
            .completed = pr.type == 1,
        };
        return cb_result(p->opts.progress(&pub, p->opts.payload));
    }
    case WR_PSRP_PIPELINE_STATE:
        return deliver_state(p, o);
    case WR_PSRP_PIPELINE_HOST_CALL:
        return wr_host_dispatch(p->rs, p, o);
    default:
        return 0;
    }
}
