/*
 * binding_wsman.c: PSRP fragments over a WS-Man shell (MS-PSRP 3.1.5.3,
 * PROTOCOL.md 4), on top of the generic shell operations of wsman/shell.h.
 *
 *   +------------------+-------------------------------------------------+
 *   | binding op       | WS-Man                                          |
 *   +------------------+-------------------------------------------------+
 *   | open_pool        | Create, ResourceURI .../powershell/<config>,    |
 *   |                  | OptionSet protocolversion=2.3 MustComply,       |
 *   |                  | rsp:Shell ShellId=<RPID upper>, InputStreams    |
 *   |                  | "stdin pr", OutputStreams "stdout", and         |
 *   |                  | <creationXml xmlns=".../powershell">base64 of   |
 *   |                  | the fragments</creationXml>                     |
 *   | create_pipeline  | Command CommandId=<PID upper>, rsp:Command      |
 *   |                  | empty, rsp:Arguments = base64 of the FIRST      |
 *   |                  | fragment; the rest: Send stdin with CommandId   |
 *   | send             | Send stdin (or pr for host responses), with the |
 *   |                  | CommandId of a pipeline or none for the pool;   |
 *   |                  | split on fragment boundaries to fit an envelope |
 *   | receive          | Receive stdout [CommandId]; w:TimedOut is "no   |
 *   |                  | data yet"                                       |
 *   | stop             | Signal .../powershell/signal/crtl_c (sic: the   |
 *   |                  | spelling of PowerShell's WSManPlugin.cs); also  |
 *   |                  | sent on a second connection when the session is |
 *   |                  | interrupted during the pipeline's Receive       |
 *   | close_pipeline   | Signal terminate                                |
 *   | close_pool       | Delete                                          |
 *   +------------------+-------------------------------------------------+
 */
#include "psrp/binding_wsman.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/error.h"
#include "common/mem.h"
#include "psrp/fragment.h"
#include "winrsh/errors.h"
#include "wsman/ns.h"
#include "wsman/session_internal.h"
#include "wsman/shell.h"
#include "wsman/xml.h"

#define PS_SIGNAL_STOP "http://schemas.microsoft.com/powershell/signal/crtl_c"
#define PS_CREATION_XML_OPEN "<creationXml xmlns=\"http://schemas.microsoft.com/powershell\">"
#define PS_CREATION_XML_CLOSE "</creationXml>"
#define PS_PROTOCOL_VERSION "2.3"

/* Sends never exceed this (Windows' default MaxEnvelopeSizekb is 500, old
 * servers 150; wsman/shell.c caps Sends the same way). */
#define ENVELOPE_CAP 153600UL
/* Room left for the envelope around a fragment's base64 in a Command or a
 * Create (headers, selectors, options, the rsp:CommandLine wrapper). */
#define ENVELOPE_OVERHEAD 8192UL

typedef struct wsman_binding {
    wr_psrp_binding base;
    winrsh_session *session; /* borrowed, may be NULL */
    wr_wsman *ws;            /* borrowed */
    char *resource_uri;
    wr_shell *shell;
    /* The pipeline whose stop signal an interrupt already sent. */
    wr_guid stopped;
    int have_stopped;
    const wr_guid *receiving; /* during a pipeline's Receive */
    /* Pipelines whose WS-Man CommandId is not their PID: WinRM 2.0
     * (Windows 7 / Server 2008 R2, PSRP 2.1) ignores the CommandId we
     * propose and picks its own. */
    struct command_alias *aliases;
} wsman_binding;

typedef struct command_alias {
    wr_guid pid;
    char command_id[37];
    struct command_alias *next;
} command_alias;

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static wsman_binding *wb_of(wr_psrp_binding *b)
{
    return (wsman_binding *)b;
}

static int no_shell(void)
{
    return wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP,
                        "the PowerShell shell is not open on the server");
}

/* The CommandId of pipeline `pid` on the server. */
static void command_id_of(const wsman_binding *wb, const wr_guid *pid, char id[37])
{
    for (const command_alias *a = wb->aliases; a; a = a->next)
        if (memcmp(a->pid.b, pid->b, 16) == 0) {
            memcpy(id, a->command_id, 37);
            return;
        }
    wr_guid_format(pid, 1, id);
}

/* The PID of the pipeline the server calls `command_id`; 0 if known. */
static int pid_of_command(const wsman_binding *wb, const char *command_id, wr_guid *pid)
{
    for (const command_alias *a = wb->aliases; a; a = a->next)
        if (strcasecmp(a->command_id, command_id) == 0) {
            *pid = a->pid;
            return 0;
        }
    return wr_guid_parse(pid, command_id);
}

static void forget_alias(wsman_binding *wb, const wr_guid *pid)
{
    for (command_alias **a = &wb->aliases; *a; a = &(*a)->next)
        if (memcmp((*a)->pid.b, pid->b, 16) == 0) {
            command_alias *dead = *a;
            *a = dead->next;
            free(dead);
            return;
        }
}

static size_t wb_max_blob(wr_psrp_binding *b)
{
    unsigned long env = wr_wsman_max_envelope_size(wb_of(b)->ws);
    if (env > ENVELOPE_CAP)
        env = ENVELOPE_CAP;
    /* Small envelopes (8 KiB is the least a session takes) keep half for
     * the headers, which need about 2 KiB. */
    size_t overhead = env < 2 * ENVELOPE_OVERHEAD ? env / 2 : ENVELOPE_OVERHEAD;
    size_t max = wr_psrp_max_blob(env, overhead);
    return max ? max : 1024;
}

/* <open>base64 of the fragments</close>: the creationXml of a Create or
 * the connectXml of a Connect. */
static int wrap_fragments(wr_buf *out, const char *open, const char *close,
                          const unsigned char *frags, size_t len)
{
    int rc = wr_buf_puts(out, open);
    if (!rc)
        rc = wr_base64_encode(out, frags, len);
    if (!rc)
        rc = wr_buf_puts(out, close);
    if (rc) {
        wr_buf_free(out);
        return oom();
    }
    return 0;
}

static int wb_open_pool(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *frags,
                        size_t len)
{
    wsman_binding *wb = wb_of(b);
    if (wb->shell)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "the runspace pool is already open");
    char id[37];
    wr_guid_format(rpid, 1, id);
    wr_buf extra = WR_BUF_INIT;
    int rc = wrap_fragments(&extra, PS_CREATION_XML_OPEN, PS_CREATION_XML_CLOSE, frags, len);
    if (rc)
        return rc;
    const wr_option options[] = {{"protocolversion", PS_PROTOCOL_VERSION, 1},
                                 {"WINRS_NOPROFILE", "TRUE", 1}};
    wr_shell_create_args a = {
        .resource_uri = wb->resource_uri,
        .shell_id = id,
        .input_streams = "stdin pr",
        .output_streams = "stdout",
        .options = options,
        .noptions = (b->flags & WR_PSRP_BINDING_NO_PROFILE) ? 2 : 1,
        .extra_body = wr_buf_cstr(&extra),
    };
    rc = wr_shell_create(&wb->shell, wb->ws, &a);
    wr_buf_free(&extra);
    if (rc)
        wr_error_prefix("cannot create the PowerShell shell (%s)", wb->resource_uri);
    return rc;
}

/*
 * Send `len` bytes of whole fragments in as few Sends as fit. A fragment is
 * never cut: the fragmenter made each one small enough for one Send.
 */
static int send_frags(wsman_binding *wb, const char *stream, const char *command_id,
                      const unsigned char *frags, size_t len)
{
    size_t cap = wr_shell_send_capacity(wb->shell, command_id);
    size_t off = 0;
    while (off < len) {
        size_t chunk = 0;
        while (off + chunk < len) {
            wr_psrp_fragment f;
            size_t used;
            int rc = wr_psrp_fragment_read(&f, frags + off + chunk, len - off - chunk, &used);
            if (rc)
                return wr_error_set(rc, WINRSH_ERRCLASS_PSRP, "internal: bad fragment to send");
            if (chunk && chunk + used > cap)
                break;
            chunk += used;
        }
        if (chunk > cap)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP,
                                "a PSRP fragment of %zu bytes does not fit a Send of %zu", chunk,
                                cap);
        int rc = wr_shell_send(wb->shell, stream, command_id, frags + off, chunk, 0);
        if (rc)
            return rc;
        off += chunk;
    }
    return 0;
}

static int wb_create_pipeline(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *frags,
                              size_t len)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return no_shell();
    wr_psrp_fragment f;
    size_t first;
    int rc = wr_psrp_fragment_read(&f, frags, len, &first);
    if (rc)
        return wr_error_set(rc, WINRSH_ERRCLASS_PSRP, "internal: bad CREATE_PIPELINE fragment");
    char id[37];
    wr_guid_format(pid, 1, id);
    wr_buf arg = WR_BUF_INIT;
    if (wr_base64_encode(&arg, frags, first)) {
        wr_buf_free(&arg);
        return oom();
    }
    const char *args[] = {wr_buf_cstr(&arg)};
    wr_shell_command_args a = {
        .command = "",
        .args = args,
        .nargs = 1,
        .command_id = id,
    };
    char *server_id = NULL;
    rc = wr_shell_command(wb->shell, &a, &server_id);
    wr_buf_free(&arg);
    if (rc)
        return rc;
    wr_guid got;
    if (wr_guid_parse(&got, server_id) != 0) {
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                          "the server gave the pipeline an invalid CommandId '%.64s'", server_id);
        free(server_id);
        return rc;
    }
    if (memcmp(got.b, pid->b, 16) != 0) {
        /* An old WinRM chose its own id: use it for this command from now
         * on; the PSRP messages keep the PID. */
        command_alias *alias = calloc(1, sizeof *alias);
        if (!alias) {
            free(server_id);
            return oom();
        }
        alias->pid = *pid;
        wr_guid_format(&got, 1, alias->command_id);
        alias->next = wb->aliases;
        wb->aliases = alias;
        memcpy(id, alias->command_id, sizeof id);
    }
    free(server_id);
    if (first < len)
        rc = send_frags(wb, "stdin", id, frags + first, len - first);
    return rc;
}

static int wb_send(wr_psrp_binding *b, const wr_guid *pid, const unsigned char *frags, size_t len,
                   int prompt_response)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return no_shell();
    char id[37];
    if (pid)
        command_id_of(wb, pid, id);
    return send_frags(wb, prompt_response ? "pr" : "stdin", pid ? id : NULL, frags, len);
}

typedef struct recv_ctx {
    const wsman_binding *wb;
    const wr_guid *pid;
    wr_psrp_data_cb cb;
    void *payload;
} recv_ctx;

static int on_stream(const char *stream, const char *command_id, const unsigned char *data,
                     size_t len, int end, void *payload)
{
    (void)stream;
    (void)end;
    recv_ctx *c = payload;
    if (!len)
        return 0;
    wr_guid g;
    const wr_guid *pid = c->pid;
    if (command_id && pid_of_command(c->wb, command_id, &g) == 0)
        pid = &g;
    return c->cb(pid, data, len, c->payload);
}

static int stopped_already(const wsman_binding *wb, const wr_guid *pid)
{
    return wb->have_stopped && memcmp(wb->stopped.b, pid->b, 16) == 0;
}

/* An interrupt while a pipeline's Receive waits: the stop signal goes out
 * on the session's second connection and the Receive goes on, to collect
 * what the pipeline sends as it stops, its Stopped state above all
 * (abandoning the Receive could lose that on the server). */
static int stop_on_side(void *ctx, wr_wsman *side)
{
    wsman_binding *wb = ctx;
    if (!wb->receiving || !wb->shell)
        return -1;
    char id[37];
    command_id_of(wb, wb->receiving, id);
    wr_shell *sh = NULL;
    int rc = wr_shell_attach(&sh, side, wb->resource_uri, wr_shell_get_id(wb->shell));
    if (!rc)
        rc = wr_shell_signal(sh, id, PS_SIGNAL_STOP);
    wr_shell_free(sh);
    if (!rc) {
        wb->stopped = *wb->receiving;
        wb->have_stopped = 1;
    }
    return rc;
}

static int wb_receive(wr_psrp_binding *b, const wr_guid *pid, long timeout_ms, wr_psrp_data_cb cb,
                      void *payload, int *timed_out)
{
    wsman_binding *wb = wb_of(b);
    *timed_out = 0;
    if (!wb->shell)
        return no_shell();
    char id[37];
    if (pid)
        command_id_of(wb, pid, id);
    recv_ctx c = {wb, pid, cb, payload};
    wr_shell_receive_args a = {
        .streams = "stdout",
        .command_id = pid ? id : NULL,
        .timeout_ms = timeout_ms,
        .cb = on_stream,
        .payload = &c,
    };
    wr_receive_result res;
    /* Once the stop went out, a further interrupt abandons the wait. */
    int act = wb->session && pid && !stopped_already(wb, pid);
    if (act) {
        wb->receiving = pid;
        wr_session_set_interrupt_action(wb->session, stop_on_side, wb);
    }
    int rc = wr_shell_receive(wb->shell, &a, &res);
    if (act) {
        wr_session_set_interrupt_action(wb->session, NULL, NULL);
        wb->receiving = NULL;
    }
    if (!rc)
        *timed_out = res.timed_out;
    /* CommandState Done: the command's output has ended (binding.h). */
    if (!rc && pid && res.done)
        rc = cb(pid, NULL, 0, payload);
    return rc;
}

static int wb_stop(wr_psrp_binding *b, const wr_guid *pid)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return no_shell();
    if (stopped_already(wb, pid))
        return 0; /* an interrupt sent it during a Receive */
    char id[37];
    command_id_of(wb, pid, id);
    int rc = wr_shell_signal(wb->shell, id, PS_SIGNAL_STOP);
    if (!rc) {
        wb->stopped = *pid;
        wb->have_stopped = 1;
    }
    return rc;
}

static int wb_close_pipeline(wr_psrp_binding *b, const wr_guid *pid)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return no_shell();
    char id[37];
    command_id_of(wb, pid, id);
    int rc = wr_shell_signal(wb->shell, id, WR_SIGNAL_TERMINATE);
    forget_alias(wb, pid);
    return rc;
}

static int wb_close_pool(wr_psrp_binding *b)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return 0;
    int rc = wr_shell_delete(wb->shell);
    wr_shell_free(wb->shell);
    wb->shell = NULL;
    return rc;
}

static void wb_free(wr_psrp_binding *b)
{
    if (!b)
        return;
    wsman_binding *wb = wb_of(b);
    while (wb->aliases) {
        command_alias *a = wb->aliases;
        wb->aliases = a->next;
        free(a);
    }
    wr_shell_free(wb->shell);
    free(wb->resource_uri);
    free(wb);
}

/* ---- disconnected pools and liveness (MS-PSRP 3.1.5.3.14-3.1.5.3.19) ----
 *
 *   +------------------+-------------------------------------------------+
 *   | binding op       | WS-Man                                          |
 *   +------------------+-------------------------------------------------+
 *   | disconnect       | Disconnect, rsp:Disconnect [BufferMode]         |
 *   |                  | [IdleTimeOut], ShellId selector                 |
 *   | reconnect        | Reconnect, empty body                           |
 *   | connect_pool     | Connect, OptionSet protocolversion=2.3          |
 *   |                  | MustComply, rsp:Connect holding <connectXml     |
 *   |                  | xmlns=".../powershell">base64 of the fragments  |
 *   |                  | </connectXml>; the reply's rsp:ConnectResponse  |
 *   |                  | holds <connectResponseXml> (same namespace)     |
 *   | is_alive         | Get on .../windows/shell with the ShellId       |
 *   |                  | selector: a shell is alive, InvalidSelectors    |
 *   |                  | (2150858843) is not                             |
 *   +------------------+-------------------------------------------------+
 */
#define PS_NS "http://schemas.microsoft.com/powershell"
#define PS_CONNECT_XML_OPEN "<connectXml xmlns=\"" PS_NS "\">"
#define PS_CONNECT_XML_CLOSE "</connectXml>"

static int wb_disconnect(wr_psrp_binding *b, long idle_timeout_ms, int buffer_mode)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return no_shell();
    const char *mode = buffer_mode == WR_PSRP_BUFFER_BLOCK  ? "Block"
                       : buffer_mode == WR_PSRP_BUFFER_DROP ? "Drop"
                                                            : NULL;
    return wr_shell_disconnect(wb->ws, wb->resource_uri, wr_shell_get_id(wb->shell),
                               idle_timeout_ms, mode);
}

static int wb_reconnect(wr_psrp_binding *b)
{
    wsman_binding *wb = wb_of(b);
    if (!wb->shell)
        return no_shell();
    return wr_shell_reconnect(wb->ws, wb->resource_uri, wr_shell_get_id(wb->shell));
}

static int wb_connect_pool(wr_psrp_binding *b, const wr_guid *rpid, const unsigned char *frags,
                           size_t len, wr_buf *out)
{
    wsman_binding *wb = wb_of(b);
    if (wb->shell)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "the runspace pool is already open");
    char id[37];
    wr_guid_format(rpid, 1, id);
    wr_buf extra = WR_BUF_INIT;
    int rc = wrap_fragments(&extra, PS_CONNECT_XML_OPEN, PS_CONNECT_XML_CLOSE, frags, len);
    if (rc)
        return rc;
    const wr_option options[] = {{"protocolversion", PS_PROTOCOL_VERSION, 1}};
    wr_reply reply = WR_REPLY_INIT;
    rc = wr_shell_connect(wb->ws, wb->resource_uri, id, options, 1, wr_buf_cstr(&extra), &reply);
    wr_buf_free(&extra);
    if (!rc) {
        /* The server's fragments; none at all is a broken pool (3.1.5.3.15). */
        xmlNodePtr cr = wr_xml_child(reply.body, WR_NS_SHELL, "ConnectResponse");
        char *b64 = wr_xml_text(wr_xml_child(cr, PS_NS, "connectResponseXml"), &rc);
        if (rc)
            rc = oom();
        else if (!b64)
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                              "Connect: the reply carries no connectResponseXml");
        else if (wr_base64_decode(out, b64, strlen(b64)))
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                              "Connect: connectResponseXml is not base64");
        free(b64);
    }
    wr_reply_free(&reply);
    if (!rc)
        rc = wr_shell_attach(&wb->shell, wb->ws, wb->resource_uri, id);
    if (rc)
        wr_error_prefix("cannot connect to the PowerShell shell %s (%s)", id, wb->resource_uri);
    return rc;
}

static int wb_is_alive(wr_psrp_binding *b, int *alive)
{
    wsman_binding *wb = wb_of(b);
    *alive = 0;
    if (!wb->shell)
        return 0; /* closed, or never opened: nothing on the server */
    return wr_shell_get(wb->ws, wr_shell_get_id(wb->shell), NULL, alive);
}

static const wr_psrp_binding_ops WSMAN_OPS = {
    .name = "wsman",
    .max_blob = wb_max_blob,
    .open_pool = wb_open_pool,
    .create_pipeline = wb_create_pipeline,
    .send = wb_send,
    .receive = wb_receive,
    .stop = wb_stop,
    .close_pipeline = wb_close_pipeline,
    .close_pool = wb_close_pool,
    .interrupt = NULL, /* the session's interrupt reaches the HTTP transport */
    .free = wb_free,
};

static const wr_psrp_binding_conn_ops WSMAN_CONN_OPS = {
    .disconnect = wb_disconnect,
    .reconnect = wb_reconnect,
    .connect_pool = wb_connect_pool,
    .is_alive = wb_is_alive,
};

int wr_psrp_binding_wsman_new(wr_psrp_binding **out, winrsh_session *session, wr_wsman *ws,
                              const char *config_name)
{
    *out = NULL;
    if (!config_name || !*config_name || strpbrk(config_name, "/?#<>&\"' \t\r\n"))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "invalid PowerShell configuration name '%.100s'",
                            config_name ? config_name : "");
    wsman_binding *wb = calloc(1, sizeof *wb);
    if (!wb)
        return oom();
    wr_buf uri = WR_BUF_INIT;
    if (wr_buf_printf(&uri, "%s%s", WR_PSRP_RESOURCE_PREFIX, config_name)) {
        wr_buf_free(&uri);
        free(wb);
        return oom();
    }
    wb->resource_uri = (char *)wr_buf_detach(&uri, NULL);
    wb->base.ops = &WSMAN_OPS;
    wb->base.conn = &WSMAN_CONN_OPS;
    wb->session = session;
    wb->ws = ws;
    *out = &wb->base;
    return 0;
}
