/*
 * shell.c: WinRS-style shell operations (MS-WSMV 3.1.4.5 Create,
 * 3.1.4.11 Command, 3.1.4.13 Send, 3.1.4.14 Receive, 3.1.4.12 Signal,
 * 3.1.4.6 Delete; PROTOCOL.md 2). Bodies are built here, headers in
 * envelope.c, the exchange in wsman.c.
 */
#include "shell.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/error.h"
#include "common/mem.h"
#include "fault.h"
#include "ns.h"
#include "receive_stream.h"
#include "build.h"
#include "xml.h"

struct wr_shell {
    wr_wsman *ws; /* borrowed */
    char *resource_uri;
    char *id;
    wr_receive_stream rs; /* the Receive hot path, reused */
};

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

/* ---- Create ------------------------------------------------------------ */

/*
 * | s:Body/rsp:Shell [@ShellId]           | (MS-WSMV 2.2.4.37 ShellType)   |
 * |---------------------------------------|--------------------------------|
 * | rsp:InputStreams                      | "stdin" / "stdin pr"           |
 * | rsp:OutputStreams                     | "stdout stderr" / "stdout"     |
 * | rsp:WorkingDirectory                  | optional                       |
 * | rsp:Environment/rsp:Variable @Name    | optional, one per variable     |
 * | rsp:IdleTimeOut                       | optional, xs:duration          |
 * | (extra, e.g. PSRP creationXml)        | optional                       |
 */
int wr_shell_build_create(wr_buf *out, const wr_shell_create_args *a)
{
    int rc = lit(out, "<rsp:Shell", 0);
    if (a->shell_id) {
        rc = lit(out, " ShellId=\"", rc);
        rc = val(out, a->shell_id, "the shell id", rc);
        rc = lit(out, "\"", rc);
    }
    rc = lit(out, "><rsp:InputStreams>", rc);
    rc = val(out, a->input_streams ? a->input_streams : "stdin", "the input streams", rc);
    rc = lit(out, "</rsp:InputStreams><rsp:OutputStreams>", rc);
    rc =
        val(out, a->output_streams ? a->output_streams : "stdout stderr", "the output streams", rc);
    rc = lit(out, "</rsp:OutputStreams>", rc);
    if (a->working_directory) {
        rc = lit(out, "<rsp:WorkingDirectory>", rc);
        rc = val(out, a->working_directory, "the working directory", rc);
        rc = lit(out, "</rsp:WorkingDirectory>", rc);
    }
    if (a->environment && a->environment[0]) {
        rc = lit(out, "<rsp:Environment>", rc);
        for (const char *const *v = a->environment; *v && !rc; v++) {
            const char *eq = strchr(*v, '=');
            if (!eq || eq == *v)
                return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                    "environment entries must be NAME=VALUE");
            rc = lit(out, "<rsp:Variable Name=\"", rc);
            if (!rc)
                rc = wr_xml_escape(out, *v, (size_t)(eq - *v), "an environment name");
            rc = lit(out, "\">", rc);
            rc = val(out, eq + 1, "an environment value", rc);
            rc = lit(out, "</rsp:Variable>", rc);
        }
        rc = lit(out, "</rsp:Environment>", rc);
    }
    if (a->idle_timeout_s) {
        char d[32];
        wr_duration_format(
            d, (long)(a->idle_timeout_s > 2000000UL ? 2000000UL : a->idle_timeout_s) * 1000L);
        rc = lit(out, "<rsp:IdleTimeOut>", rc);
        rc = lit(out, d, rc);
        rc = lit(out, "</rsp:IdleTimeOut>", rc);
    }
    if (a->extra_body)
        rc = lit(out, a->extra_body, rc);
    rc = lit(out, "</rsp:Shell>", rc);
    return built(rc);
}

/*
 * | CreateResponse body (MS-WSMV 3.1.4.5.2)                                 |
 * |-------------------------------------------------------------------------|
 * | x:ResourceCreated/a:ReferenceParameters/w:SelectorSet/w:Selector        |
 * |   [@Name="ShellId"]  -- every server                                    |
 * | rsp:Shell/rsp:ShellId -- newer servers, used if the above is missing    |
 */
int wr_shell_parse_created(const xmlNode *body, char **shell_id)
{
    *shell_id = NULL;
    int rc = 0;
    xmlNodePtr refs = wr_xml_path(wr_xml_child(body, WR_NS_TRANSFER, "ResourceCreated"),
                                  WR_NS_ADDRESSING, "ReferenceParameters", NULL);
    xmlNodePtr sel = wr_xml_path(refs, WR_NS_WSMAN, "SelectorSet", "Selector", NULL);
    for (; sel && !*shell_id && !rc; sel = wr_xml_next(sel, WR_NS_WSMAN, "Selector")) {
        char *name = wr_xml_attr(sel, "Name", &rc);
        if (name && strcmp(name, "ShellId") == 0)
            *shell_id = wr_xml_text(sel, &rc);
        free(name);
    }
    if (!*shell_id && !rc)
        *shell_id = wr_xml_text(wr_xml_path(body, WR_NS_SHELL, "Shell", "ShellId", NULL), &rc);
    if (rc)
        return oom();
    if (!*shell_id)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "Create: the reply carries no ShellId");
    return 0;
}

static int shell_new(wr_shell **out, wr_wsman *ws, const char *uri, char *id)
{
    wr_shell *s = calloc(1, sizeof(*s));
    int rc = 0;
    if (s)
        s->resource_uri = wr_strdup(uri, &rc);
    if (!s || rc) {
        free(s);
        free(id);
        return oom();
    }
    s->ws = ws;
    s->id = id;
    *out = s;
    return 0;
}

int wr_shell_create(wr_shell **out, wr_wsman *ws, const wr_shell_create_args *a)
{
    *out = NULL;
    wr_buf body = WR_BUF_INIT;
    int rc = wr_shell_build_create(&body, a);
    if (rc) {
        wr_buf_free(&body);
        return rc;
    }
    wr_wsman_call c = {.action = WR_ACTION_CREATE,
                       .resource_uri = a->resource_uri,
                       .options = a->options,
                       .noptions = a->noptions,
                       .body = (const char *)body.data,
                       .body_len = body.len};
    wr_reply reply = WR_REPLY_INIT;
    rc = wr_wsman_request(ws, &c, &reply);
    wr_buf_free(&body);
    char *id = NULL;
    if (!rc)
        rc = wr_shell_parse_created(reply.body, &id);
    wr_reply_free(&reply);
    if (rc)
        return rc;
    return shell_new(out, ws, a->resource_uri, id);
}

int wr_shell_attach(wr_shell **out, wr_wsman *ws, const char *resource_uri, const char *shell_id)
{
    *out = NULL;
    int rc = 0;
    char *id = wr_strdup(shell_id, &rc);
    if (rc || !id)
        return rc ? oom()
                  : wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "a shell id is required");
    return shell_new(out, ws, resource_uri, id);
}

const char *wr_shell_get_id(const wr_shell *s)
{
    return s->id;
}

wr_wsman *wr_shell_wsman(const wr_shell *s)
{
    return s->ws;
}

void wr_shell_free(wr_shell *s)
{
    if (!s)
        return;
    free(s->resource_uri);
    free(s->id);
    wr_receive_stream_free(&s->rs);
    free(s);
}

/* One request on this shell; the reply is freed unless the caller wants it. */
static int shell_call(wr_shell *s, const char *action, const wr_option *opts, size_t nopts,
                      long timeout_ms, const wr_buf *body, wr_reply *reply)
{
    wr_wsman_call c = {.action = action,
                       .resource_uri = s->resource_uri,
                       .shell_id = s->id,
                       .options = opts,
                       .noptions = nopts,
                       .timeout_ms = timeout_ms,
                       .body = body ? (const char *)body->data : NULL,
                       .body_len = body ? body->len : 0};
    wr_reply local = WR_REPLY_INIT;
    int rc = wr_wsman_request(s->ws, &c, reply ? reply : &local);
    wr_reply_free(&local);
    return rc;
}

/* ---- Command ----------------------------------------------------------- */

/*
 * | s:Body/rsp:CommandLine [@CommandId]   | (MS-WSMV 2.2.4.7)              |
 * |---------------------------------------|--------------------------------|
 * | rsp:Command                           | program or cmd.exe line        |
 * | rsp:Arguments (0..n)                  | joined with spaces by WinRS    |
 * Reply: rsp:CommandResponse/rsp:CommandId (2.2.4.8).
 */
int wr_shell_build_command(wr_buf *out, const wr_shell_command_args *a)
{
    int rc = lit(out, "<rsp:CommandLine", 0);
    if (a->command_id) {
        rc = lit(out, " CommandId=\"", rc);
        rc = val(out, a->command_id, "the command id", rc);
        rc = lit(out, "\"", rc);
    }
    rc = lit(out, "><rsp:Command>", rc);
    rc = val(out, a->command ? a->command : "", "the command", rc);
    rc = lit(out, "</rsp:Command>", rc);
    for (size_t i = 0; i < a->nargs && !rc; i++) {
        rc = lit(out, "<rsp:Arguments>", rc);
        rc = val(out, a->args[i] ? a->args[i] : "", "an argument", rc);
        rc = lit(out, "</rsp:Arguments>", rc);
    }
    rc = lit(out, "</rsp:CommandLine>", rc);
    return built(rc);
}

int wr_shell_parse_command_id(const xmlNode *body, char **command_id)
{
    int rc = 0;
    *command_id =
        wr_xml_text(wr_xml_path(body, WR_NS_SHELL, "CommandResponse", "CommandId", NULL), &rc);
    if (rc)
        return oom();
    if (!*command_id)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "Command: the reply carries no CommandId");
    return 0;
}

int wr_shell_command(wr_shell *s, const wr_shell_command_args *a, char **command_id)
{
    *command_id = NULL;
    wr_buf body = WR_BUF_INIT;
    int rc = wr_shell_build_command(&body, a);
    wr_reply reply = WR_REPLY_INIT;
    if (!rc)
        rc = shell_call(s, WR_ACTION_COMMAND, a->options, a->noptions, 0, &body, &reply);
    wr_buf_free(&body);
    if (!rc)
        rc = wr_shell_parse_command_id(reply.body, command_id);
    wr_reply_free(&reply);
    return rc;
}

/* ---- Send -------------------------------------------------------------- */

/*
 * | s:Body/rsp:Send/rsp:Stream @Name [@CommandId] [@End="true"]           |
 * |  text: the bytes, base64 (MS-WSMV 2.2.4.34 StreamType)                 |
 * Reply: rsp:SendResponse (nothing we need).
 */
int wr_shell_build_send(wr_buf *out, const char *stream, const char *command_id, const void *data,
                        size_t len, int end)
{
    int rc = lit(out, "<rsp:Send><rsp:Stream Name=\"", 0);
    rc = val(out, stream, "the stream name", rc);
    rc = lit(out, "\"", rc);
    if (command_id) {
        rc = lit(out, " CommandId=\"", rc);
        rc = val(out, command_id, "the command id", rc);
        rc = lit(out, "\"", rc);
    }
    rc = lit(out, end ? " End=\"true\">" : ">", rc);
    if (!rc && len)
        rc = wr_base64_encode(out, data, len);
    rc = lit(out, "</rsp:Stream></rsp:Send>", rc);
    return built(rc);
}

int wr_shell_send(wr_shell *s, const char *stream, const char *command_id, const void *data,
                  size_t len, int end)
{
    wr_buf body = WR_BUF_INIT;
    int rc = wr_shell_build_send(&body, stream, command_id, data, len, end);
    if (!rc)
        rc = shell_call(s, WR_ACTION_SEND, NULL, 0, 0, &body, NULL);
    wr_buf_free(&body);
    return rc;
}

/* Windows' MaxEnvelopeSizekb applies to requests too; old servers keep the
 * MS-WSMV minimum of 150 KB (PROTOCOL.md 1). We cannot read the server's value
 * without admin rights, so Sends stay below this whatever our own (reply)
 * limit is; the cost is one extra request per ~110 KB of input. */
#define SEND_ENVELOPE_LIMIT 153600UL
/* Slack for what the size estimate cannot see (none today; kept cheap). */
#define SEND_SLACK 256UL

size_t wr_shell_send_capacity(const wr_shell *s, const char *command_id)
{
    unsigned long limit = wr_wsman_max_envelope_size(s->ws);
    if (limit > SEND_ENVELOPE_LIMIT)
        limit = SEND_ENVELOPE_LIMIT;
    wr_buf body = WR_BUF_INIT;
    size_t size = 0;
    int rc = wr_shell_build_send(&body, "stdin", command_id, NULL, 0, 1);
    wr_wsman_call c = {.action = WR_ACTION_SEND,
                       .resource_uri = s->resource_uri,
                       .shell_id = s->id,
                       .body = (const char *)body.data,
                       .body_len = body.len};
    if (!rc)
        rc = wr_wsman_envelope_size(s->ws, &c, &size);
    wr_buf_free(&body);
    /* "stdin" is the longest stream name we send; a failure here will fail
     * again, visibly, when the Send itself is built. */
    if (rc || size + SEND_SLACK + 4 >= limit)
        return 3;
    return (limit - size - SEND_SLACK) / 4 * 3;
}

/* ---- Receive ----------------------------------------------------------- */

/*
 * | s:Body/rsp:Receive/rsp:DesiredStream [@CommandId] | "stdout stderr"  |
 * Option WSMAN_CMDSHELL_OPTION_KEEPALIVE=TRUE keeps an idle shell alive.
 *
 * Reply (MS-WSMV 2.2.4.32 ReceiveResponse):
 * | rsp:ReceiveResponse/rsp:Stream @Name [@CommandId] [@End] | base64     |
 * | rsp:ReceiveResponse/rsp:CommandState @CommandId @State   |            |
 * |   rsp:ExitCode                                           | when Done  |
 */
int wr_shell_build_receive(wr_buf *out, const char *streams, const char *command_id)
{
    int rc = lit(out, "<rsp:Receive><rsp:DesiredStream", 0);
    if (command_id) {
        rc = lit(out, " CommandId=\"", rc);
        rc = val(out, command_id, "the command id", rc);
        rc = lit(out, "\"", rc);
    }
    rc = lit(out, ">", rc);
    rc = val(out, streams, "the stream names", rc);
    rc = lit(out, "</rsp:DesiredStream></rsp:Receive>", rc);
    return built(rc);
}

static int xs_true(const char *v)
{
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Decode one rsp:Stream's text nodes into out, piece by piece. */
static int decode_stream(const xmlNode *n, wr_buf *out)
{
    wr_base64_decoder d;
    wr_base64_decoder_init(&d);
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
            continue;
        const char *t = (const char *)c->content;
        int rc = wr_base64_decoder_feed(&d, out, t, strlen(t));
        if (rc)
            return rc;
    }
    return wr_base64_decoder_finish(&d);
}

/* `t`: the trimmed text of rsp:ExitCode, NULL if absent or empty. */
static int exit_code_of(const char *t, wr_receive_result *res)
{
    if (!t)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    int bad = errno || *end || end == t;
    if (bad)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "Receive: rsp:ExitCode is not an integer");
    res->have_exit_code = 1;
    res->exit_code = v;
    return 0;
}

static int parse_exit_code(const xmlNode *state, wr_receive_result *res)
{
    int rc = 0;
    char *t = wr_xml_text(wr_xml_child(state, WR_NS_SHELL, "ExitCode"), &rc);
    if (rc)
        return oom();
    rc = exit_code_of(t, res);
    free(t);
    return rc;
}

static int is_done(const char *state)
{
    /* Compare the URI; also accept any ".../CommandState/Done" spelling. */
    if (!state)
        return 0;
    if (strcmp(state, WR_COMMAND_STATE_DONE) == 0)
        return 1;
    size_t n = strlen(state);
    return n >= 5 && strcmp(state + n - 5, "/Done") == 0;
}

static int same_id(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

int wr_shell_parse_receive(const xmlNode *body, const char *command_id, wr_stream_cb cb,
                           void *payload, wr_receive_result *res)
{
    memset(res, 0, sizeof(*res));
    xmlNodePtr rr = wr_xml_child(body, WR_NS_SHELL, "ReceiveResponse");
    if (!rr)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "Receive: the reply has no rsp:ReceiveResponse");
    wr_buf data = WR_BUF_INIT;
    int rc = 0;
    for (xmlNodePtr n = rr->children; n && !rc; n = n->next) {
        if (wr_xml_is(n, WR_NS_SHELL, "Stream")) {
            char *name = wr_xml_attr(n, "Name", &rc);
            char *cid = wr_xml_attr(n, "CommandId", &rc);
            char *end = wr_xml_attr(n, "End", &rc);
            wr_buf_clear(&data);
            if (rc) {
                rc = oom();
            } else if ((rc = decode_stream(n, &data)) != 0) {
                rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                                  "Receive: stream %.32s holds invalid base64",
                                  name ? name : "(unnamed)");
            } else if (cb &&
                       cb(name ? name : "", cid, data.data, data.len, xs_true(end), payload)) {
                rc = wr_error_set(WINRSH_EUSER, WINRSH_ERRCLASS_NONE,
                                  "Receive: stopped by the output callback");
            }
            free(name);
            free(cid);
            free(end);
        } else if (wr_xml_is(n, WR_NS_SHELL, "CommandState")) {
            char *cid = wr_xml_attr(n, "CommandId", &rc);
            char *state = wr_xml_attr(n, "State", &rc);
            if (rc)
                rc = oom();
            else if ((!command_id || !cid || same_id(cid, command_id)) && is_done(state)) {
                res->done = 1;
                rc = parse_exit_code(n, res);
            }
            free(cid);
            free(state);
        }
    }
    wr_buf_free(&data);
    return rc;
}

/* wr_shell_parse_receive over the events of the SAX pass: the same walk,
 * in the same order, with the same errors. */
static int deliver_receive(const wr_receive_stream *rs, const char *command_id, wr_stream_cb cb,
                           void *payload, wr_receive_result *res)
{
    memset(res, 0, sizeof(*res));
    int rc = 0;
    for (size_t i = 0; i < rs->nev && !rc; i++) {
        const wr_rs_event *e = &rs->ev[i];
        if (e->kind == WR_RS_STREAM) {
            if (e->bad)
                rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                                  "Receive: stream %.32s holds invalid base64",
                                  e->name ? e->name : "(unnamed)");
            else if (cb && cb(e->name ? e->name : "", e->command_id,
                              rs->data.data ? rs->data.data + e->off : NULL, e->len,
                              xs_true(e->end), payload))
                rc = wr_error_set(WINRSH_EUSER, WINRSH_ERRCLASS_NONE,
                                  "Receive: stopped by the output callback");
        } else if ((!command_id || !e->command_id || same_id(e->command_id, command_id)) &&
                   is_done(e->state)) {
            res->done = 1;
            rc = exit_code_of(e->exit_code, res);
        }
    }
    return rc;
}

int wr_shell_parse_receive_text(const char *data, size_t len, const char *message_id,
                                const char *command_id, wr_stream_cb cb, void *payload,
                                wr_receive_result *res)
{
    wr_receive_stream rs = WR_RECEIVE_STREAM_INIT;
    int rc = -1;
    memset(res, 0, sizeof(*res));
    if (wr_receive_stream_parse(&rs, data, len, message_id))
        rc = deliver_receive(&rs, command_id, cb, payload, res);
    wr_receive_stream_free(&rs);
    return rc;
}

static int read_receive(void *ctx, const char *data, size_t len, const char *message_id)
{
    wr_shell *s = ctx;
    return wr_receive_stream_parse(&s->rs, data, len, message_id);
}

int wr_shell_receive(wr_shell *s, const wr_shell_receive_args *a, wr_receive_result *res)
{
    memset(res, 0, sizeof(*res));
    wr_buf body = WR_BUF_INIT;
    int rc = wr_shell_build_receive(&body, a->streams, a->command_id);
    static const wr_option keepalive = {"WSMAN_CMDSHELL_OPTION_KEEPALIVE", "TRUE", 0};
    wr_reply reply = WR_REPLY_INIT;
    int taken = 0;
    if (!rc) {
        wr_wsman_call c = {.action = WR_ACTION_RECEIVE,
                           .resource_uri = s->resource_uri,
                           .shell_id = s->id,
                           .options = &keepalive,
                           .noptions = 1,
                           .timeout_ms = a->timeout_ms,
                           .body = (const char *)body.data,
                           .body_len = body.len};
        wr_reply_reader rd = {read_receive, s};
        rc = wr_wsman_request_read(s->ws, &c, &reply, &rd, &taken);
    }
    wr_buf_free(&body);
    if (!rc && taken) {
        rc = deliver_receive(&s->rs, a->command_id, a->cb, a->payload, res);
        wr_receive_stream_reset(&s->rs);
        return rc;
    }
    if (rc == WINRSH_EFAULT) {
        /* MS-WSMV 3.1.4.14: no output within OperationTimeout is answered
         * with w:TimedOut (0x80338029); it only means "ask again". */
        const winrsh_fault *f = winrsh_error_last()->fault;
        const char *sub = f ? f->subcode : NULL;
        const char *colon = sub ? strchr(sub, ':') : NULL;
        if (wr_fault_has_code(f, WR_WSMAN_CODE_TIMEDOUT) ||
            (sub && strcmp(colon ? colon + 1 : sub, "TimedOut") == 0)) {
            winrsh_error_clear();
            wr_reply_free(&reply);
            res->timed_out = 1;
            return 0;
        }
    }
    if (!rc)
        rc = wr_shell_parse_receive(reply.body, a->command_id, a->cb, a->payload, res);
    wr_reply_free(&reply);
    return rc;
}

/* ---- Signal, Delete ---------------------------------------------------- */

/*
 * | s:Body/rsp:Signal [@CommandId]/rsp:Code | signal URI (MS-WSMV 2.2.4.38) |
 * Reply: rsp:SignalResponse.
 */
int wr_shell_build_signal(wr_buf *out, const char *command_id, const char *code_uri)
{
    int rc = lit(out, "<rsp:Signal", 0);
    if (command_id) {
        rc = lit(out, " CommandId=\"", rc);
        rc = val(out, command_id, "the command id", rc);
        rc = lit(out, "\"", rc);
    }
    rc = lit(out, "><rsp:Code>", rc);
    rc = val(out, code_uri, "the signal code", rc);
    rc = lit(out, "</rsp:Code></rsp:Signal>", rc);
    return built(rc);
}

int wr_shell_signal(wr_shell *s, const char *command_id, const char *code_uri)
{
    wr_buf body = WR_BUF_INIT;
    int rc = wr_shell_build_signal(&body, command_id, code_uri);
    if (!rc)
        rc = shell_call(s, WR_ACTION_SIGNAL, NULL, 0, 0, &body, NULL);
    wr_buf_free(&body);
    return rc;
}

int wr_shell_delete(wr_shell *s)
{
    return shell_call(s, WR_ACTION_DELETE, NULL, 0, 0, NULL, NULL);
}
