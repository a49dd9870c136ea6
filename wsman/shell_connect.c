/*
 * shell_connect.c: what a client does with shells beyond running commands in
 * them: Disconnect (MS-WSMV 3.1.4.15), Reconnect (3.1.4.16), Connect
 * (3.1.4.17), and asking the server about shells: a WS-Transfer Get of one
 * (3.1.4.7) and a WS-Enumeration of all of them or of one's commands
 * (3.1.4.8-3.1.4.10). PSRP uses them for disconnected runspace pools
 * (MS-PSRP 3.1.4.9-3.1.4.11); nothing here knows about PSRP.
 *
 * These work on a shell named by its resource URI and id rather than on a
 * wr_shell handle: a client that connects to a pool from another process
 * has only the id, and Get / Enumerate use the generic resource
 * .../windows/shell whatever the shell's own resource is.
 */
#include "shell.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/mem.h"
#include "fault.h"
#include "ns.h"
#include "build.h"
#include "xml.h"

/* MaxElements of an Enumerate and each Pull (what pypsrp and winrm.exe
 * ask), and a bound on the Pulls of one enumeration. */
#define ENUM_MAX_ELEMENTS "32000"
#define ENUM_MAX_PULLS 1000

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static int call(wr_wsman *ws, const char *action, const char *uri, const char *shell_id,
                const wr_option *opts, size_t nopts, const wr_buf *body, wr_reply *reply)
{
    wr_wsman_call c = {.action = action,
                       .resource_uri = uri,
                       .shell_id = shell_id,
                       .options = opts,
                       .noptions = nopts,
                       .body = body ? (const char *)body->data : NULL,
                       .body_len = body ? body->len : 0};
    wr_reply local = WR_REPLY_INIT;
    int rc = wr_wsman_request(ws, &c, reply ? reply : &local);
    wr_reply_free(&local);
    return rc;
}

static int need_id(const char *shell_id)
{
    if (!shell_id || !*shell_id)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "a shell id is required");
    return 0;
}

/* ---- Disconnect, Reconnect, Connect --------------------------------------- */

/*
 * | s:Body/rsp:Disconnect (MS-WSMV 3.1.4.15; MS-PSRP 3.1.5.3.16)           |
 * |-------------------------------------------------------------------------|
 * | rsp:BufferMode    | optional: "Block" (the server stops the commands    |
 * |                   | while their output is full) or "Drop" (it drops it) |
 * | rsp:IdleTimeOut   | optional, xs:duration: how long the server keeps    |
 * |                   | the shell while nobody is connected                 |
 * Both optional; pypsrp sends an empty rsp:Disconnect (the recordings). The
 * order of the two children is unverified against Windows.
 * Reply: an empty body (rsp:DisconnectResponse is not even present).
 */
int wr_shell_build_disconnect(wr_buf *out, long idle_timeout_ms, const char *buffer_mode)
{
    if (idle_timeout_ms <= 0 && !buffer_mode)
        return built(lit(out, "<rsp:Disconnect/>", 0));
    int rc = lit(out, "<rsp:Disconnect>", 0);
    if (buffer_mode) {
        rc = lit(out, "<rsp:BufferMode>", rc);
        rc = val(out, buffer_mode, "the buffer mode", rc);
        rc = lit(out, "</rsp:BufferMode>", rc);
    }
    if (idle_timeout_ms > 0) {
        char d[32];
        wr_duration_format(d, idle_timeout_ms);
        rc = lit(out, "<rsp:IdleTimeOut>", rc);
        rc = lit(out, d, rc);
        rc = lit(out, "</rsp:IdleTimeOut>", rc);
    }
    rc = lit(out, "</rsp:Disconnect>", rc);
    return built(rc);
}

int wr_shell_disconnect(wr_wsman *ws, const char *resource_uri, const char *shell_id,
                        long idle_timeout_ms, const char *buffer_mode)
{
    int rc = need_id(shell_id);
    if (rc)
        return rc;
    wr_buf body = WR_BUF_INIT;
    rc = wr_shell_build_disconnect(&body, idle_timeout_ms, buffer_mode);
    if (!rc)
        rc = call(ws, WR_ACTION_DISCONNECT, resource_uri, shell_id, NULL, 0, &body, NULL);
    wr_buf_free(&body);
    return rc;
}

/* Reconnect (MS-WSMV 3.1.4.16): input data "None", i.e. an empty s:Body,
 * as pypsrp sends it. Reply: an empty body. */
int wr_shell_reconnect(wr_wsman *ws, const char *resource_uri, const char *shell_id)
{
    int rc = need_id(shell_id);
    return rc ? rc : call(ws, WR_ACTION_RECONNECT, resource_uri, shell_id, NULL, 0, NULL, NULL);
}

/*
 * | s:Body/rsp:Connect (MS-WSMV 2.2.4.12 ConnectType: any foreign content)  |
 * Reply: rsp:ConnectResponse (2.2.4.13), e.g. rsp:InputStreams,
 * rsp:OutputStreams and the caller's foreign content (PSRP:
 * connectResponseXml).
 */
int wr_shell_connect(wr_wsman *ws, const char *resource_uri, const char *shell_id,
                     const wr_option *options, size_t noptions, const char *extra_body,
                     wr_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    int rc = need_id(shell_id);
    if (rc)
        return rc;
    wr_buf body = WR_BUF_INIT;
    rc = lit(&body, "<rsp:Connect>", 0);
    if (extra_body)
        rc = lit(&body, extra_body, rc);
    rc = built(lit(&body, "</rsp:Connect>", rc));
    if (!rc)
        rc = call(ws, WR_ACTION_CONNECT, resource_uri, shell_id, options, noptions, &body, reply);
    wr_buf_free(&body);
    if (!rc && !wr_xml_child(reply->body, WR_NS_SHELL, "ConnectResponse"))
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                          "Connect: the reply has no rsp:ConnectResponse");
    return rc;
}

/* ---- what the server says of a shell ---------------------------------------- */

void wr_shell_info_clear(wr_shell_info *i)
{
    if (!i)
        return;
    char **fields[] = {&i->shell_id,         &i->resource_uri, &i->owner,
                       &i->client_ip,        &i->process_id,   &i->state,
                       &i->buffer_mode,      &i->idle_timeout, &i->shell_run_time,
                       &i->shell_inactivity, &i->memory_used};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        free(*fields[k]);
        *fields[k] = NULL;
    }
    for (size_t k = 0; k < i->ncommands; k++)
        free(i->command_ids[k]);
    free(i->command_ids);
    i->command_ids = NULL;
    i->ncommands = 0;
}

void wr_shell_infos_free(wr_shell_info *v, size_t n)
{
    for (size_t k = 0; v && k < n; k++)
        wr_shell_info_clear(&v[k]);
    free(v);
}

/*
 * | rsp:Shell (MS-WSMV 2.2.4.37, as Get and Enumerate return it) | kept as |
 * |--------------------------------------------------------------|---------|
 * | rsp:ShellId                                                  | text    |
 * | rsp:ResourceUri, rsp:Owner, rsp:ClientIP, rsp:ProcessId      | text    |
 * | rsp:State ("Connected", "Disconnected")                      | text    |
 * | rsp:BufferMode, rsp:IdleTimeOut, rsp:ShellRunTime,           | text    |
 * | rsp:ShellInactivity, rsp:MemoryUsed                          |         |
 * Other children (streams, locales, MaxIdleTimeOut...) are ignored.
 */
int wr_shell_parse_info(const xmlNode *shell, wr_shell_info *i)
{
    memset(i, 0, sizeof *i);
    if (!shell || !wr_xml_is(shell, WR_NS_SHELL, "Shell"))
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP, "expected an rsp:Shell element");
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"ShellId", offsetof(wr_shell_info, shell_id)},
        {"ResourceUri", offsetof(wr_shell_info, resource_uri)},
        {"Owner", offsetof(wr_shell_info, owner)},
        {"ClientIP", offsetof(wr_shell_info, client_ip)},
        {"ProcessId", offsetof(wr_shell_info, process_id)},
        {"State", offsetof(wr_shell_info, state)},
        {"BufferMode", offsetof(wr_shell_info, buffer_mode)},
        {"IdleTimeOut", offsetof(wr_shell_info, idle_timeout)},
        {"ShellRunTime", offsetof(wr_shell_info, shell_run_time)},
        {"ShellInactivity", offsetof(wr_shell_info, shell_inactivity)},
        {"MemoryUsed", offsetof(wr_shell_info, memory_used)},
    };
    int rc = 0;
    for (size_t k = 0; k < sizeof map / sizeof map[0] && !rc; k++) {
        char **field = (char **)((char *)i + map[k].off);
        *field = wr_xml_text(wr_xml_child(shell, WR_NS_SHELL, map[k].name), &rc);
    }
    if (rc) {
        wr_shell_info_clear(i);
        return oom();
    }
    if (!i->shell_id) {
        wr_shell_info_clear(i);
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "the server described a shell without an rsp:ShellId");
    }
    return 0;
}

/* Get (MS-WSMV 3.1.4.7) on .../windows/shell with the ShellId selector and an
 * empty body; the reply's body is the rsp:Shell. An unknown id is answered
 * with w:InvalidSelectors, code 2150858843 (the recordings). */
int wr_shell_get(wr_wsman *ws, const char *shell_id, wr_shell_info *info, int *exists)
{
    *exists = 0;
    if (info)
        memset(info, 0, sizeof *info);
    int rc = need_id(shell_id);
    if (rc)
        return rc;
    wr_reply reply = WR_REPLY_INIT;
    rc = call(ws, WR_ACTION_GET, WR_URI_SHELL, shell_id, NULL, 0, NULL, &reply);
    if (rc == WINRSH_EFAULT &&
        wr_fault_has_code(winrsh_error_last()->fault, WR_WSMAN_CODE_SHELL_NOT_FOUND)) {
        winrsh_error_clear();
        wr_reply_free(&reply);
        return 0;
    }
    if (!rc) {
        wr_shell_info tmp;
        rc = wr_shell_parse_info(wr_xml_child(reply.body, WR_NS_SHELL, "Shell"), &tmp);
        if (rc)
            wr_error_prefix("Get shell %.64s", shell_id);
        else if (info)
            *info = tmp;
        else
            wr_shell_info_clear(&tmp);
    }
    wr_reply_free(&reply);
    if (!rc)
        *exists = 1;
    return rc;
}

/* ---- Enumerate ------------------------------------------------------------------ */

/*
 * Optimised enumeration (DSP0226 8.2.3; PROTOCOL.md 1):
 *
 * | s:Body/n:Enumerate              |                                      |
 * |   w:OptimizeEnumeration         | the first items come in the reply    |
 * |   w:MaxElements                 | 32000                                |
 * |   w:Filter @Dialect (optional)  | SelectorFilter: w:SelectorSet        |
 * Reply: n:EnumerateResponse { n:EnumerationContext, w:Items/(items),
 * w:EndOfSequence when nothing is left }; then, while it is missing,
 *   Pull { n:EnumerationContext, n:MaxElements } ->
 *   n:PullResponse { n:EnumerationContext, n:Items/(items), n:EndOfSequence }.
 */
typedef int (*item_cb)(const xmlNode *item, void *payload);

static int each_item(const xmlNode *items, item_cb cb, void *payload)
{
    for (xmlNodePtr n = items ? items->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        int rc = cb(n, payload);
        if (rc)
            return rc;
    }
    return 0;
}

static int enumerate(wr_wsman *ws, const char *uri, const char *filter, item_cb cb, void *payload)
{
    wr_buf body = WR_BUF_INIT;
    int rc = lit(&body, "<n:Enumerate xmlns:n=\"" WR_NS_ENUMERATION "\">", 0);
    rc = lit(&body, "<w:OptimizeEnumeration/><w:MaxElements>" ENUM_MAX_ELEMENTS "</w:MaxElements>",
             rc);
    if (filter)
        rc = lit(&body, filter, rc);
    rc = built(lit(&body, "</n:Enumerate>", rc));
    wr_reply reply = WR_REPLY_INIT;
    if (!rc)
        rc = call(ws, WR_ACTION_ENUMERATE, uri, NULL, NULL, 0, &body, &reply);
    const char *what = "Enumerate";
    const char *resp_name = "EnumerateResponse";
    for (int round = 0; !rc; round++) {
        xmlNodePtr r = wr_xml_child(reply.body, WR_NS_ENUMERATION, resp_name);
        if (!r) {
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP, "%s: the reply has no n:%s",
                              what, resp_name);
            break;
        }
        /* Optimised replies carry w:Items, Pull replies n:Items. */
        xmlNodePtr items = wr_xml_child(r, WR_NS_WSMAN, "Items");
        if (!items)
            items = wr_xml_child(r, WR_NS_ENUMERATION, "Items");
        rc = each_item(items, cb, payload);
        if (rc)
            break;
        if (wr_xml_child(r, WR_NS_WSMAN, "EndOfSequence") ||
            wr_xml_child(r, WR_NS_ENUMERATION, "EndOfSequence"))
            break;
        char *ctx = wr_xml_text(wr_xml_child(r, WR_NS_ENUMERATION, "EnumerationContext"), &rc);
        if (rc) {
            rc = oom();
            break;
        }
        if (!ctx || !*ctx) {
            free(ctx);
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                              "%s: the enumeration goes on but the reply has no context", what);
            break;
        }
        if (round >= ENUM_MAX_PULLS) {
            free(ctx);
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                              "Enumerate: no end after %d Pulls", ENUM_MAX_PULLS);
            break;
        }
        wr_buf_clear(&body);
        rc = lit(&body, "<n:Pull xmlns:n=\"" WR_NS_ENUMERATION "\"><n:EnumerationContext>", 0);
        rc = val(&body, ctx, "the enumeration context", rc);
        rc = built(lit(&body,
                       "</n:EnumerationContext><n:MaxElements>" ENUM_MAX_ELEMENTS
                       "</n:MaxElements></n:Pull>",
                       rc));
        free(ctx);
        wr_reply_free(&reply);
        what = "Pull";
        resp_name = "PullResponse";
        if (!rc)
            rc = call(ws, WR_ACTION_PULL, uri, NULL, NULL, 0, &body, &reply);
    }
    wr_reply_free(&reply);
    wr_buf_free(&body);
    return rc;
}

typedef struct shell_list {
    wr_shell_info *v;
    size_t n, cap;
} shell_list;

static int on_shell(const xmlNode *item, void *payload)
{
    shell_list *l = payload;
    if (!wr_xml_is(item, WR_NS_SHELL, "Shell"))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        wr_shell_info *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return oom();
        l->v = v;
        l->cap = cap;
    }
    int rc = wr_shell_parse_info(item, &l->v[l->n]);
    if (!rc)
        l->n++;
    return rc;
}

int wr_shell_enumerate(wr_wsman *ws, wr_shell_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    shell_list l = {0};
    int rc = enumerate(ws, WR_URI_SHELL, NULL, on_shell, &l);
    if (rc) {
        wr_shell_infos_free(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

/* | w:Items/rsp:Command/rsp:CommandId | one per command of the shell | */
static int on_command(const xmlNode *item, void *payload)
{
    wr_shell_info *info = payload;
    if (!wr_xml_is(item, WR_NS_SHELL, "Command"))
        return 0;
    int rc = 0;
    char *id = wr_xml_text(wr_xml_child(item, WR_NS_SHELL, "CommandId"), &rc);
    if (rc)
        return oom();
    if (!id)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "Enumerate: a command without an rsp:CommandId");
    char **v = realloc(info->command_ids, (info->ncommands + 1) * sizeof *v);
    if (!v) {
        free(id);
        return oom();
    }
    info->command_ids = v;
    v[info->ncommands++] = id;
    return 0;
}

int wr_shell_enumerate_commands(wr_wsman *ws, wr_shell_info *info)
{
    int rc = need_id(info->shell_id);
    if (rc)
        return rc;
    wr_buf filter = WR_BUF_INIT;
    rc = lit(&filter,
             "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter\">"
             "<w:SelectorSet><w:Selector Name=\"ShellId\">",
             0);
    rc = val(&filter, info->shell_id, "the shell id", rc);
    rc = built(lit(&filter, "</w:Selector></w:SelectorSet></w:Filter>", rc));
    if (!rc)
        rc = enumerate(ws, WR_URI_SHELL_COMMAND, wr_buf_cstr(&filter), on_command, info);
    wr_buf_free(&filter);
    return rc;
}
