/*
 * runspace_connect.c: disconnected runspace pools and liveness
 * (include/winrsh/runspace.h, "disconnected pools and liveness";
 * MS-PSRP 3.1.4.9-3.1.4.11, 3.1.5.3.14-3.1.5.3.19).
 *
 * Pool states here (RunspacePoolState, 2.2.3.4):
 *
 *   Opened --disconnect--> Disconnected --reconnect--> Opened
 *                               |   \--close--> Closed (Delete)
 *                               \--free: nothing sent, the pool stays
 *   (another client)  Connecting --Connect + SESSION_CAPABILITY back-->
 *                     NegotiationSucceeded --RUNSPACEPOOL_STATE--> Opened
 *
 *   client                                            server
 *   SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL ->      (binding connect_pool:
 *                                                      WS-Man Connect)
 *                          <- SESSION_CAPABILITY + RUNSPACEPOOL_INIT_DATA
 *                                                     (in the Connect reply)
 *                          <- RUNSPACEPOOL_STATE Opened (first pool Receive)
 *
 * The transport work is the binding's (psrp/binding.h, optional ops); the
 * list of pools comes straight from the WS-Man layer, since it needs no pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/error.h"
#include "common/mem.h"
#include "psrp/binding_wsman.h"
#include "psrp/runspace.h"
#include "winrsh/errors.h"
#include "wsman/session_internal.h"
#include "wsman/shell.h"

#define DEFAULT_CONFIG "Microsoft.PowerShell"
#define DEFAULT_OPEN_TIMEOUT_MS 120000L

static int invalid(const char *what)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "%s", what);
}

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

/* The one message for "this transport cannot keep a pool on the server". */
static int unsupported(const char *what)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                        "runspace: %s needs a WS-Man session (http:// or https://); an "
                        "out-of-process transport cannot keep a pool on the server",
                        what);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- disconnect, reconnect ---------------------------------------------------- */

WINRSH_EXTERN(int)
winrsh_disconnect_options_init(winrsh_disconnect_options *opts, unsigned int version)
{
    if (!opts || version < 1 || version > WINRSH_DISCONNECT_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "disconnect options version %u is not supported (this library: %d)",
                            version, WINRSH_DISCONNECT_OPTIONS_VERSION);
    memset(opts, 0, sizeof *opts);
    opts->version = version;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_runspace_disconnect(winrsh_runspace *rs, const winrsh_disconnect_options *opts)
{
    if (!rs)
        return invalid("runspace: NULL handle");
    if (opts && (opts->version < 1 || opts->version > WINRSH_DISCONNECT_OPTIONS_VERSION))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "disconnect options version %u is not supported (this library: %d)",
                            opts->version, WINRSH_DISCONNECT_OPTIONS_VERSION);
    long idle = opts ? opts->idle_timeout_ms : 0;
    int mode = opts ? (int)opts->buffer_mode : WINRSH_BUFFER_DEFAULT;
    if (idle < 0 || mode < WINRSH_BUFFER_DEFAULT || mode > WINRSH_BUFFER_DROP)
        return invalid("runspace: invalid disconnect options");
    if (!rs->binding->conn || !rs->binding->conn->disconnect)
        return unsupported("disconnect");
    if (rs->closed || rs->state != WR_PSRP_POOL_OPENED)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "runspace: only an Opened pool can be disconnected (state %d)",
                            rs->state);
    /* binding.h's values are the public ones. */
    int bmode = mode == WINRSH_BUFFER_BLOCK  ? WR_PSRP_BUFFER_BLOCK
                : mode == WINRSH_BUFFER_DROP ? WR_PSRP_BUFFER_DROP
                                             : WR_PSRP_BUFFER_DEFAULT;
    int rc = rs->binding->conn->disconnect(rs->binding, idle, bmode);
    if (rc) {
        wr_error_prefix("cannot disconnect runspace pool %s", rs->id);
        return rc;
    }
    rs->state = WR_PSRP_POOL_DISCONNECTED;
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: runspace pool %s disconnected", rs->id);
    return 0;
}

WINRSH_EXTERN(int) winrsh_runspace_reconnect(winrsh_runspace *rs)
{
    if (!rs)
        return invalid("runspace: NULL handle");
    if (!rs->binding->conn || !rs->binding->conn->reconnect)
        return unsupported("reconnect");
    if (rs->closed || rs->state != WR_PSRP_POOL_DISCONNECTED)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "runspace: only a pool disconnected here can be reconnected "
                            "(state %d)",
                            rs->state);
    int rc = rs->binding->conn->reconnect(rs->binding);
    if (rc) {
        /* MS-PSRP 3.1.4.10.2: a fault leaves the pool Broken. */
        if (rc == WINRSH_EFAULT)
            rs->state = WR_PSRP_POOL_BROKEN;
        wr_error_prefix("cannot reconnect runspace pool %s", rs->id);
        return rc;
    }
    /* Opened at once (3.1.4.10.2); what the server buffered meanwhile comes
     * with the pipelines' next receives. */
    rs->state = WR_PSRP_POOL_OPENED;
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: runspace pool %s reconnected", rs->id);
    return 0;
}

/* ---- is it alive ---------------------------------------------------------------- */

WINRSH_EXTERN(int) winrsh_runspace_is_alive(winrsh_runspace *rs, int *alive)
{
    if (alive)
        *alive = 0;
    if (!rs || !alive)
        return invalid("runspace: NULL handle or result pointer");
    if (!rs->binding->conn || !rs->binding->conn->is_alive)
        return unsupported("is_alive");
    if (rs->closed)
        return 0;
    int rc = rs->binding->conn->is_alive(rs->binding, alive);
    if (rc) {
        *alive = 0;
        wr_error_prefix("cannot tell whether runspace pool %s is alive", rs->id);
        return rc;
    }
    if (!*alive) {
        /* Gone on the server: Broken here, with nothing left to close (no
         * Delete for a shell that does not exist). */
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: runspace pool %s no longer exists on the server", rs->id);
        rs->state = WR_PSRP_POOL_BROKEN;
        rs->closed = 1;
        for (winrsh_pipeline *p = rs->pipelines; p; p = p->next)
            wr_pipeline_abandon(p);
    }
    return 0;
}

/* ---- list ------------------------------------------------------------------------ */

struct winrsh_runspace_infos {
    winrsh_runspace_info *v;
    size_t n;
    wr_shell_info *shells; /* what the strings point into */
    size_t nshells;
};

/* "PT7200.000S" -> 7200000; -1 for anything else (days, hours, minutes are
 * not what Windows writes for IdleTimeOut). */
static long duration_ms(const char *d)
{
    if (!d || strncmp(d, "PT", 2) != 0)
        return -1;
    char *end;
    errno = 0;
    double s = strtod(d + 2, &end);
    if (errno || end == d + 2 || strcmp(end, "S") != 0 || s < 0 || s > 2147483.647)
        return -1;
    return (long)(s * 1000.0 + 0.5);
}

WINRSH_EXTERN(int)
winrsh_runspace_list(winrsh_runspace_infos **out, winrsh_session *session, const char *config_name)
{
    if (!out)
        return invalid("runspace: NULL out pointer");
    *out = NULL;
    if (!session)
        return invalid("runspace: NULL session");
    wr_wsman *ws = wr_session_wsman(session);
    if (!ws)
        return unsupported("listing pools");
    winrsh_runspace_infos *l = calloc(1, sizeof *l);
    if (!l)
        return oom();
    int rc = wr_shell_enumerate(ws, &l->shells, &l->nshells);
    if (!rc && l->nshells && !(l->v = calloc(l->nshells, sizeof *l->v)))
        rc = oom();
    size_t prefix = strlen(WR_PSRP_RESOURCE_PREFIX);
    for (size_t i = 0; !rc && i < l->nshells; i++) {
        wr_shell_info *sh = &l->shells[i];
        const char *uri = sh->resource_uri;
        /* PowerShell pools only: cmd shells are WinRS's business. */
        if (!uri || strncasecmp(uri, WR_PSRP_RESOURCE_PREFIX, prefix) != 0 || !uri[prefix])
            continue;
        if (config_name && strcasecmp(uri + prefix, config_name) != 0)
            continue;
        rc = wr_shell_enumerate_commands(ws, sh);
        if (rc) {
            wr_error_prefix("cannot list the pipelines of pool %s", sh->shell_id);
            break;
        }
        winrsh_runspace_info *info = &l->v[l->n++];
        info->id = sh->shell_id;
        info->config_name = uri + prefix;
        info->resource_uri = uri;
        info->owner = sh->owner;
        info->client_ip = sh->client_ip;
        info->state = sh->state;
        info->disconnected = sh->state && strcasecmp(sh->state, "Disconnected") == 0;
        info->idle_timeout_ms = duration_ms(sh->idle_timeout);
        info->pipeline_ids = (const char *const *)sh->command_ids;
        info->pipeline_count = sh->ncommands;
    }
    if (rc) {
        winrsh_runspace_infos_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

WINRSH_EXTERN(size_t) winrsh_runspace_infos_count(const winrsh_runspace_infos *l)
{
    return l ? l->n : 0;
}

WINRSH_EXTERN(const winrsh_runspace_info *)
winrsh_runspace_infos_get(const winrsh_runspace_infos *l, size_t i)
{
    return l && i < l->n ? &l->v[i] : NULL;
}

WINRSH_EXTERN(void) winrsh_runspace_infos_free(winrsh_runspace_infos *l)
{
    if (!l)
        return;
    wr_shell_infos_free(l->shells, l->nshells);
    free(l->v);
    free(l);
}

/* ---- connect ----------------------------------------------------------------------- */

/*
 * CONNECT_RUNSPACEPOOL (MS-PSRP 2.2.2.29): MinRunspaces and MaxRunspaces, or,
 * to leave the pool as it is, an empty string (what pypsrp sends: "<S />").
 */
static int build_connect_runspacepool(wr_buf *xml, int min_rs, int max_rs)
{
    if (min_rs <= 0 && max_rs <= 0)
        return wr_buf_puts(xml, "<S />");
    if (min_rs <= 0)
        min_rs = 1;
    if (max_rs <= 0)
        max_rs = min_rs;
    return wr_buf_printf(xml,
                         "<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">%d</I32>"
                         "<I32 N=\"MaxRunspaces\">%d</I32></MS></Obj>",
                         min_rs, max_rs);
}

/* Give up on a pool being connected: nothing is deleted on the server (the
 * pool is not ours to close), the handle is freed. */
static int connect_failed(winrsh_runspace *rs, int rc)
{
    if (rs->session)
        wr_session_clear_interrupt(rs->session);
    wr_rs_release(rs);
    return rc;
}

WINRSH_EXTERN(int)
winrsh_runspace_connect(winrsh_runspace **out, winrsh_session *session, const char *id,
                        const winrsh_runspace_options *opts)
{
    if (!out)
        return invalid("runspace: NULL out pointer");
    *out = NULL;
    if (!session)
        return invalid("runspace: NULL session");
    wr_guid rpid;
    if (!id || wr_guid_parse(&rpid, id) != 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "runspace: '%.64s' is not a runspace pool id (a GUID)",
                            id ? id : "(null)");
    if (!wr_session_wsman(session))
        return unsupported("connecting to a pool");
    winrsh_runspace_options full;
    int rc = wr_rs_options(opts, &full);
    if (rc)
        return rc;
    const char *config = full.config_name ? full.config_name : DEFAULT_CONFIG;
    wr_psrp_binding *b = NULL;
    rc = wr_session_psrp_binding(session, config, &b);
    if (rc)
        return rc;
    if (!b->conn || !b->conn->connect_pool) {
        b->ops->free(b);
        return unsupported("connecting to a pool");
    }
    winrsh_runspace *rs;
    rc = wr_rs_new(&rs, b, session, &full, &rpid);
    if (rc)
        return rc;

    /* 3.1.4.10.3: Connecting, SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL in
     * the Connect, the server's SESSION_CAPABILITY in its reply. */
    rs->state = WR_PSRP_POOL_CONNECTING;
    wr_buf xml = WR_BUF_INIT, frags = WR_BUF_INIT, reply = WR_BUF_INIT;
    rc = wr_psrp_build_session_capability(&xml);
    if (!rc)
        rc = wr_rs_fragment(rs, NULL, WR_PSRP_SESSION_CAPABILITY, xml.data, xml.len, &frags);
    wr_buf_clear(&xml);
    if (!rc && build_connect_runspacepool(&xml, full.min_runspaces, full.max_runspaces))
        rc = oom();
    if (!rc)
        rc = wr_rs_fragment(rs, NULL, WR_PSRP_CONNECT_RUNSPACEPOOL, xml.data, xml.len, &frags);
    wr_buf_free(&xml);
    if (!rc) {
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: connecting to runspace pool %s (%s)", rs->id, config);
        rc = b->conn->connect_pool(b, &rs->rpid, frags.data, frags.len, &reply);
    }
    wr_buf_free(&frags);
    if (!rc)
        rc = wr_rs_feed(rs, reply.data, reply.len);
    wr_buf_free(&reply);
    if (rc)
        return connect_failed(rs, rc);
    if (!rs->capability)
        return connect_failed(rs, wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                               "the server connected pool %s without its "
                                               "SESSION_CAPABILITY",
                                               rs->id));
    if (rs->state == WR_PSRP_POOL_CONNECTING)
        rs->state = WR_PSRP_POOL_NEGOTIATION_SUCCEEDED;

    /* Then Receive until the server says Opened (its first pool Receive
     * carries RUNSPACEPOOL_STATE), bounded. */
    long limit = full.open_timeout_ms > 0 ? full.open_timeout_ms : DEFAULT_OPEN_TIMEOUT_MS;
    long deadline = now_ms() + limit;
    while (rs->state != WR_PSRP_POOL_OPENED) {
        if (rs->state == WR_PSRP_POOL_BROKEN || rs->state == WR_PSRP_POOL_CLOSED)
            return connect_failed(rs, wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                                   "the server could not connect the runspace "
                                                   "pool%s%s",
                                                   rs->broken_reason ? ": " : "",
                                                   rs->broken_reason ? rs->broken_reason : ""));
        if (deadline - now_ms() <= 0)
            return connect_failed(rs, wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_PSRP,
                                                   "the runspace pool was not connected within "
                                                   "%ld ms",
                                                   limit));
        rc = wr_rs_receive(rs, NULL, 0);
        if (rc)
            return connect_failed(rs, rc);
    }
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: runspace pool %s connected", rs->id);
    *out = rs;
    return 0;
}
