/*
 * runspace.c: winrsh_runspace_* (include/winrsh/runspace.h): the runspace
 * pool, and the engine's plumbing shared with pipeline.c and host.c:
 * building and fragmenting messages, handing them to the binding, and
 * taking received fragments apart and routing each message (psrp/runspace.h
 * draws the flow).
 */
#include "psrp/runspace.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/mem.h"
#include "psrp/clixml.h"
#include "psrp/records.h"
#include "psrp/securestring.h"
#include "winrsh/errors.h"
#include "wsman/session_internal.h"

#define DEFAULT_CONFIG "Microsoft.PowerShell"
#define DEFAULT_TITLE "winrsh"
#define DEFAULT_OPEN_TIMEOUT_MS 120000L
/* How long the server may take to answer PUBLIC_KEY, and the longest
 * single pool receive while we wait. */
#define KEY_EXCHANGE_TIMEOUT_MS 30000L
#define KEY_EXCHANGE_ROUND_MS 10000L
/* The size of a version 1 winrsh_runspace_options. */
#define OPTIONS_V1_SIZE offsetof(winrsh_runspace_options, host_read_secret)
#define OPTIONS_V2_SIZE offsetof(winrsh_runspace_options, application_arguments)

static int invalid(const char *what)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "%s", what);
}

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- keeping the caller's error across clean-up ------------------------ */

typedef struct saved_error {
    int code;
    winrsh_error_class klass;
    long http_status;
    char message[1024];
} saved_error;

static void save_error(saved_error *s)
{
    const winrsh_error *e = winrsh_error_last();
    s->code = e->code;
    s->klass = e->klass;
    s->http_status = e->http_status;
    snprintf(s->message, sizeof s->message, "%s", e->message ? e->message : "");
}

static void restore_error(const saved_error *s)
{
    if (!s->code) {
        winrsh_error_clear();
        return;
    }
    wr_error_set(s->code, s->klass, "%s", s->message);
    wr_error_set_http_status(s->http_status);
}

/* ---- sending ------------------------------------------------------------ */

int wr_rs_fragment(winrsh_runspace *rs, const wr_guid *pid, uint32_t type, const void *xml,
                   size_t len, wr_buf *out)
{
    wr_buf msg = WR_BUF_INIT;
    int rc = wr_psrp_message_write(&msg, WR_PSRP_DEST_SERVER, type, &rs->rpid, pid, xml, len);
    if (!rc) {
        size_t max_blob = rs->binding->ops->max_blob(rs->binding);
        rc = wr_psrp_fragment_message(&rs->frag, msg.data, msg.len, max_blob, out, NULL);
        if (rc == WINRSH_ENOMEM)
            rc = oom();
        else if (rc)
            rc = wr_error_set(rc, WINRSH_ERRCLASS_PSRP, "cannot fragment a PSRP message");
    }
    wr_buf_free(&msg);
    if (!rc && rs->tracer && rs->tracer->level >= 2)
        wr_tracef(rs->tracer, "psrp: send %s (%zu bytes)", wr_psrp_message_type_name(type), len);
    return rc;
}

int wr_rs_send(winrsh_runspace *rs, const wr_guid *pid, uint32_t type, const void *xml, size_t len,
               int prompt_response)
{
    wr_buf frags = WR_BUF_INIT;
    int rc = wr_rs_fragment(rs, pid, type, xml, len, &frags);
    if (!rc)
        rc = rs->binding->ops->send(rs->binding, pid, frags.data, frags.len, prompt_response);
    wr_buf_free(&frags);
    return rc;
}

int wr_rs_flush_responses(winrsh_runspace *rs)
{
    int rc = 0;
    if (rs->pool_pr_q.len) {
        rc = rs->binding->ops->send(rs->binding, NULL, rs->pool_pr_q.data, rs->pool_pr_q.len, 1);
        wr_buf_clear(&rs->pool_pr_q);
    }
    for (winrsh_pipeline *p = rs->pipelines; p; p = p->next) {
        if (!p->pr_q.len)
            continue;
        int r = 0;
        if (!p->released)
            r = rs->binding->ops->send(rs->binding, &p->pid, p->pr_q.data, p->pr_q.len, 1);
        wr_buf_clear(&p->pr_q);
        if (r && !rc)
            rc = r;
    }
    return rc;
}

/* ---- receiving ------------------------------------------------------------ */

static winrsh_pipeline *find_pipeline(winrsh_runspace *rs, const wr_guid *pid)
{
    for (winrsh_pipeline *p = rs->pipelines; p; p = p->next)
        if (memcmp(p->pid.b, pid->b, 16) == 0)
            return p;
    return NULL;
}

/* The pipeline a header's PID names, in .NET or in text byte order. */
static winrsh_pipeline *find_by_header(winrsh_runspace *rs, const wr_guid *header_pid)
{
    winrsh_pipeline *p = find_pipeline(rs, header_pid);
    if (p)
        return p;
    wr_guid raw;
    wr_guid_to_dotnet(header_pid, raw.b);
    return find_pipeline(rs, &raw);
}

static char *dup_text(const char *s)
{
    int rc = 0;
    return wr_strdup(s, &rc);
}

/* ---- SecureString key exchange (securestring.h) ----------------------------- */

typedef struct deferred_call {
    winrsh_pipeline *p;    /* NULL: a pool host call */
    winrsh_psobject *call; /* a reference */
} deferred_call;

struct wr_rs_secure {
    wr_ss_session ss;
    deferred_call *calls; /* host calls waiting for the session key */
    size_t n, cap;
    int busy;   /* secure_followup is running */
    int failed; /* the exchange failed in this followup: answer with errors */
};

static int secure_state(winrsh_runspace *rs, struct wr_rs_secure **out)
{
    if (!rs->secure && !(rs->secure = calloc(1, sizeof *rs->secure)))
        return WINRSH_ENOMEM;
    *out = rs->secure;
    return 0;
}

static void secure_free(winrsh_runspace *rs)
{
    struct wr_rs_secure *sc = rs->secure;
    if (!sc)
        return;
    for (size_t i = 0; i < sc->n; i++)
        winrsh_psobject_free(sc->calls[i].call);
    free(sc->calls);
    wr_ss_session_clear(&sc->ss);
    free(sc);
    rs->secure = NULL;
}

const unsigned char *wr_rs_session_key(winrsh_runspace *rs)
{
    return rs->secure && rs->secure->ss.have_key ? rs->secure->ss.key : NULL;
}

int wr_rs_defer_secure_call(winrsh_runspace *rs, winrsh_pipeline *p, const winrsh_psobject *call)
{
    struct wr_rs_secure *sc;
    if (secure_state(rs, &sc))
        return oom();
    if (sc->failed)
        return 1;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 4;
        deferred_call *c = realloc(sc->calls, cap * sizeof *c);
        if (!c)
            return oom();
        sc->calls = c;
        sc->cap = cap;
    }
    sc->calls[sc->n].p = p;
    sc->calls[sc->n].call = winrsh_psobject_ref(call);
    sc->n++;
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: host call waits for the SecureString session key");
    return 0;
}

/* ENCRYPTED_SESSION_KEY (2.2.2.4): the AES key, wrapped with our RSA key. */
static int session_key(winrsh_runspace *rs, const winrsh_psobject *o)
{
    const winrsh_psobject *v = winrsh_psobject_prop(o, "EncryptedSessionKey");
    size_t len = 0;
    const char *b64 = v ? winrsh_psobject_text(v, &len) : NULL;
    if (!b64)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "ENCRYPTED_SESSION_KEY without an EncryptedSessionKey");
    struct wr_rs_secure *sc;
    if (secure_state(rs, &sc))
        return oom();
    int rc = wr_ss_import_session_key_b64(&sc->ss, b64, len);
    if (!rc && rs->tracer)
        wr_tracef(rs->tracer, "psrp: SecureString session key received");
    return rc;
}

static int send_public_key(winrsh_runspace *rs, struct wr_rs_secure *sc)
{
    wr_buf blob = WR_BUF_INIT, xml = WR_BUF_INIT;
    int rc = wr_ss_public_key_blob(&sc->ss, &blob);
    if (!rc)
        rc = wr_psrp_build_public_key(&xml, blob.data, blob.len);
    if (!rc)
        rc = wr_rs_send(rs, NULL, WR_PSRP_PUBLIC_KEY, xml.data, xml.len, 0);
    wr_buf_free(&blob);
    wr_buf_free(&xml);
    if (!rc)
        sc->ss.public_key_sent = 1;
    sc->ss.key_requested = 0;
    return rc;
}

static int on_data(const wr_guid *pid, const unsigned char *frags, size_t len, void *payload);

/* PUBLIC_KEY out (if not yet), then pool receives until the session key is
 * in, bounded. Other messages that come meanwhile are dispatched as usual. */
static int await_session_key(winrsh_runspace *rs, struct wr_rs_secure *sc, long timeout_ms)
{
    int rc = sc->ss.public_key_sent ? 0 : send_public_key(rs, sc);
    long deadline = now_ms() + timeout_ms;
    while (!rc && !sc->ss.have_key) {
        long left = deadline - now_ms();
        if (left <= 0)
            return wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_PSRP,
                                "the server did not send the SecureString session key within "
                                "%ld ms",
                                timeout_ms);
        int timed_out = 0;
        rs->stop_rc = 0;
        rc = rs->binding->ops->receive(rs->binding, NULL,
                                       left < KEY_EXCHANGE_ROUND_MS ? left : KEY_EXCHANGE_ROUND_MS,
                                       on_data, rs, &timed_out);
        if (!rc && rs->stop_rc)
            rc = rs->stop_rc;
        if (!rc)
            rc = wr_rs_flush_responses(rs);
        if (!rc && (rs->state == WR_PSRP_POOL_BROKEN || rs->state == WR_PSRP_POOL_CLOSED))
            rc = wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP,
                              "the runspace pool ended during the SecureString key exchange");
    }
    return rc;
}

int wr_rs_exchange_key(winrsh_runspace *rs, long timeout_ms)
{
    struct wr_rs_secure *sc;
    if (secure_state(rs, &sc))
        return oom();
    if (sc->ss.have_key)
        return 0;
    return await_session_key(rs, sc, timeout_ms > 0 ? timeout_ms : KEY_EXCHANGE_TIMEOUT_MS);
}

/* After a receive: answer a PUBLIC_KEY_REQUEST, and run the key exchange
 * for the host calls waiting for it, then dispatch them again. A failed
 * exchange still answers them (with errors): the server waits for them. */
static int secure_followup(winrsh_runspace *rs)
{
    struct wr_rs_secure *sc = rs->secure;
    if (!sc || sc->busy)
        return 0;
    int rc = 0;
    if (sc->ss.key_requested && !sc->ss.public_key_sent)
        rc = send_public_key(rs, sc);
    sc->ss.key_requested = 0;
    if (!sc->n)
        return rc;
    sc->busy = 1;
    if (!rc && !sc->ss.have_key)
        rc = await_session_key(rs, sc, KEY_EXCHANGE_TIMEOUT_MS);
    saved_error saved;
    if (rc) {
        save_error(&saved);
        sc->failed = 1;
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: SecureString key exchange failed: %s",
                      winrsh_error_last()->message ? winrsh_error_last()->message : "");
    }
    /* Calls deferred meanwhile are appended: the loop sees them too. */
    for (size_t i = 0; i < sc->n; i++) {
        int r = wr_host_dispatch(rs, sc->calls[i].p, sc->calls[i].call);
        winrsh_psobject_free(sc->calls[i].call);
        sc->calls[i].call = NULL;
        if (r && !rc) {
            rc = r;
            save_error(&saved);
        }
    }
    sc->n = 0;
    int frc = wr_rs_flush_responses(rs);
    sc->busy = 0;
    sc->failed = 0;
    if (rc) {
        restore_error(&saved);
        return rc;
    }
    return frc;
}

static int pool_state(winrsh_runspace *rs, const winrsh_psobject *o)
{
    wr_psrp_state st;
    int rc = wr_psrp_pool_state_read(o, &st);
    if (rc)
        return rc;
    rs->state = st.state;
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: runspace pool %s is %d", rs->id, (int)st.state);
    if (st.state == WR_PSRP_POOL_BROKEN || st.state == WR_PSRP_POOL_CLOSED) {
        free(rs->broken_reason);
        rs->broken_reason = st.error ? wr_error_record_text(st.error) : NULL;
        for (winrsh_pipeline *p = rs->pipelines; p; p = p->next)
            wr_pipeline_abandon(p);
    }
    return 0;
}

static int pool_dispatch(winrsh_runspace *rs, uint32_t type, winrsh_psobject *o)
{
    struct wr_rs_secure *sc = NULL;
    switch (type) {
    case WR_PSRP_SESSION_CAPABILITY:
        winrsh_psobject_free(rs->capability);
        rs->capability = winrsh_psobject_ref(o);
        return 0;
    case WR_PSRP_APPLICATION_PRIVATE_DATA:
        winrsh_psobject_free(rs->private_doc);
        rs->private_doc = winrsh_psobject_ref(o);
        rs->private_data = winrsh_psobject_prop(o, "ApplicationPrivateData");
        return 0;
    case WR_PSRP_RUNSPACEPOOL_STATE:
        return pool_state(rs, o);
    case WR_PSRP_RUNSPACEPOOL_HOST_CALL:
        return wr_host_dispatch(rs, NULL, o);
    case WR_PSRP_PUBLIC_KEY_REQUEST:
        /* The server must encrypt a SecureString for us: PUBLIC_KEY goes
         * out once this receive is over (secure_followup). */
        return secure_state(rs, &sc) ? oom() : (sc->ss.key_requested = 1, 0);
    case WR_PSRP_ENCRYPTED_SESSION_KEY:
        return session_key(rs, o);
    case WR_PSRP_RUNSPACE_AVAILABILITY:
        return wr_rs_availability(rs, o); /* runspace_admin.c */
    default:
        /* RUNSPACEPOOL_INIT_DATA, USER_EVENT...: nothing to do. */
        return 0;
    }
}

static int on_message(void *payload, uint64_t object_id, const unsigned char *msg, size_t len)
{
    (void)object_id;
    winrsh_runspace *rs = payload;
    wr_psrp_message m;
    int rc = wr_psrp_message_parse(&m, msg, len);
    if (rc)
        return rc;
    if (rs->tracer && rs->tracer->level >= 2) {
        const char *name = wr_psrp_message_type_name(m.type);
        wr_tracef(rs->tracer, "psrp: received %s (%zu bytes)", name ? name : "unknown", m.len);
    }
    if (m.destination != WR_PSRP_DEST_CLIENT)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP message 0x%08X is addressed to the server", (unsigned)m.type);
    winrsh_pipeline *p = NULL;
    int for_pipeline = (m.type & 0x00FF0000u) == 0x00040000u;
    if (for_pipeline) {
        if (rs->cur_pid)
            p = find_pipeline(rs, rs->cur_pid);
        if (!p)
            p = find_by_header(rs, &m.pid);
        if (!p) {
            if (rs->tracer)
                wr_tracef(rs->tracer, "psrp: dropped %s for an unknown pipeline",
                          wr_psrp_message_type_name(m.type));
            return 0;
        }
    }
    winrsh_psobject *o = NULL;
    if (m.len) {
        rc = winrsh_psobject_from_clixml(&o, m.data, m.len);
        if (rc) {
            wr_error_prefix("PSRP %s", wr_psrp_message_type_name(m.type));
            return rc;
        }
    }
    if (!o && m.type != WR_PSRP_END_OF_PIPELINE_INPUT) {
        rc = winrsh_psobject_new_null(&o);
        if (rc)
            return rc;
    }
    rc = for_pipeline ? wr_pipeline_dispatch(p, m.type, o) : pool_dispatch(rs, m.type, o);
    winrsh_psobject_free(o);
    if (rc == WINRSH_EUSER && !rs->stop_rc)
        rs->stop_rc = WINRSH_EUSER;
    return rc;
}

static int on_data(const wr_guid *pid, const unsigned char *frags, size_t len, void *payload)
{
    winrsh_runspace *rs = payload;
    if (!frags && !len) {
        winrsh_pipeline *p = pid ? find_pipeline(rs, pid) : NULL;
        if (p)
            wr_pipeline_transport_ended(p);
        return 0;
    }
    rs->cur_pid = pid;
    int rc = wr_psrp_defrag_feed(&rs->defrag, frags, len, on_message, rs);
    rs->cur_pid = NULL;
    if (rc && rc != WINRSH_EUSER && winrsh_error_last()->code != rc)
        wr_error_set(rc, WINRSH_ERRCLASS_PSRP, "bad PSRP data from the server");
    if (rc && !rs->stop_rc)
        rs->stop_rc = rc;
    return rc;
}

int wr_rs_receive(winrsh_runspace *rs, winrsh_pipeline *p, long timeout_ms)
{
    int timed_out = 0;
    rs->stop_rc = 0;
    int rc = rs->binding->ops->receive(rs->binding, p ? &p->pid : NULL, timeout_ms, on_data, rs,
                                       &timed_out);
    /* Answer host calls even when a callback stopped the receive: the
     * server waits for them. */
    saved_error saved;
    int stop = rs->stop_rc;
    if (rc)
        save_error(&saved);
    int frc = wr_rs_flush_responses(rs);
    if (rc) {
        /* Host calls waiting for the session key are not answered: the
         * caller stops the pipeline or gives up on the pool. */
        if (rs->secure && !rs->secure->busy) {
            for (size_t i = 0; i < rs->secure->n; i++)
                winrsh_psobject_free(rs->secure->calls[i].call);
            rs->secure->n = 0;
        }
        restore_error(&saved);
        /* A stop asked by a callback is reported as such, whatever the
         * binding made of the callback's non-zero return. */
        if (stop == WINRSH_EUSER)
            return wr_error_set(WINRSH_EUSER, WINRSH_ERRCLASS_NONE,
                                "receive stopped by a callback");
        return stop ? stop : rc;
    }
    if (!frc)
        frc = secure_followup(rs);
    return frc;
}

/* ---- the pool -------------------------------------------------------------- */

/* The size of a caller's options struct of `version`. */
static size_t options_size(unsigned int version)
{
    if (version == 1)
        return OPTIONS_V1_SIZE;
    if (version == 2)
        return OPTIONS_V2_SIZE;
    return sizeof(winrsh_runspace_options);
}

WINRSH_EXTERN(int)
winrsh_runspace_options_init(winrsh_runspace_options *opts, unsigned int version)
{
    if (!opts || version < 1 || version > WINRSH_RUNSPACE_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "runspace options version %u is not supported (this library: %d)",
                            version, WINRSH_RUNSPACE_OPTIONS_VERSION);
    /* An older caller's struct ends before the newer fields. */
    memset(opts, 0, options_size(version));
    opts->version = version;
    return 0;
}

static void runspace_release(winrsh_runspace *rs)
{
    if (rs->binding) {
        wr_session_forget_binding(rs->session, rs->binding);
        rs->binding->ops->free(rs->binding);
    }
    wr_psrp_defrag_free(&rs->defrag);
    winrsh_psobject_free(rs->capability);
    winrsh_psobject_free(rs->private_doc);
    winrsh_psobject_free(rs->app_args);
    free(rs->broken_reason);
    free(rs->config_name);
    free(rs->window_title);
    wr_buf_free(&rs->pool_pr_q);
    secure_free(rs);
    free(rs);
}

static int open_failed(winrsh_runspace *rs, int rc)
{
    saved_error saved;
    save_error(&saved);
    if (rs->session)
        wr_session_clear_interrupt(rs->session);
    /* The shell may exist on the server even if it never opened: delete it
     * so it does not count against the user's quota. */
    if (rs->binding)
        (void)rs->binding->ops->close_pool(rs->binding);
    restore_error(&saved);
    runspace_release(rs);
    return rc;
}

int wr_rs_new(winrsh_runspace **out, wr_psrp_binding *binding, winrsh_session *session,
              const winrsh_runspace_options *opts, const wr_guid *rpid)
{
    *out = NULL;
    winrsh_runspace *rs = calloc(1, sizeof *rs);
    if (!rs) {
        binding->ops->free(binding);
        return oom();
    }
    rs->binding = binding;
    rs->session = session;
    rs->tracer = session ? wr_session_tracer(session) : NULL;
    rs->opts = *opts;
    int rc = 0;
    rs->config_name = wr_strdup(opts->config_name ? opts->config_name : DEFAULT_CONFIG, &rc);
    if (!rc)
        rs->window_title = wr_strdup(opts->window_title ? opts->window_title : DEFAULT_TITLE, &rc);
    if (rc) {
        runspace_release(rs);
        return oom();
    }
    rs->opts.config_name = rs->config_name;
    rs->opts.window_title = rs->window_title;
    if (opts->application_arguments) {
        rs->app_args = winrsh_psobject_ref(opts->application_arguments);
        if (!rs->app_args) {
            runspace_release(rs);
            return oom();
        }
    }
    rs->opts.application_arguments = rs->app_args;
    if (opts->no_profile)
        binding->flags |= WR_PSRP_BINDING_NO_PROFILE;
    wr_psrp_fragmenter_init(&rs->frag);
    wr_psrp_defrag_init(&rs->defrag, 0, 0);
    /* A real console host, so the server formats for our width and sends
     * host calls (Write-Host, exit) rather than dropping them. */
    wr_psrp_host_info_console(&rs->host, opts->width, opts->height, rs->window_title);
    if (rpid)
        rs->rpid = *rpid;
    else if (wr_guid_random(&rs->rpid))
        return open_failed(rs, wr_error_set(WINRSH_EIO, WINRSH_ERRCLASS_OS,
                                            "cannot get random bytes for a runspace id"));
    wr_guid_format(&rs->rpid, 1, rs->id);
    *out = rs;
    return 0;
}

void wr_rs_release(winrsh_runspace *rs)
{
    runspace_release(rs);
}

int wr_rs_feed(winrsh_runspace *rs, const unsigned char *frags, size_t len)
{
    rs->stop_rc = 0;
    int rc = on_data(NULL, frags, len, rs);
    return rc ? rc : rs->stop_rc;
}

int wr_runspace_open_binding(winrsh_runspace **out, wr_psrp_binding *binding,
                             winrsh_session *session, const winrsh_runspace_options *opts,
                             const wr_guid *rpid)
{
    winrsh_runspace *rs;
    int rc = wr_rs_new(&rs, binding, session, opts, rpid);
    if (rc)
        return rc;
    *out = NULL;

    wr_buf xml = WR_BUF_INIT, frags = WR_BUF_INIT;
    rc = wr_psrp_build_session_capability(&xml);
    if (!rc)
        rc = wr_rs_fragment(rs, NULL, WR_PSRP_SESSION_CAPABILITY, xml.data, xml.len, &frags);
    wr_buf_clear(&xml);
    if (!rc)
        rc = wr_psrp_build_init_runspacepool(&xml, opts->min_runspaces > 0 ? opts->min_runspaces : 1,
                                             opts->max_runspaces > 0 ? opts->max_runspaces : 1,
                                             &rs->host, rs->app_args);
    if (!rc)
        rc = wr_rs_fragment(rs, NULL, WR_PSRP_INIT_RUNSPACEPOOL, xml.data, xml.len, &frags);
    wr_buf_free(&xml);
    rs->state = WR_PSRP_POOL_OPENING;
    if (!rc) {
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: opening runspace pool %s (%s)", rs->id, rs->config_name);
        rc = binding->ops->open_pool(binding, &rs->rpid, frags.data, frags.len);
    }
    wr_buf_free(&frags);
    if (rc) {
        /* Nothing was created if open_pool failed. */
        rs->binding->ops->free(rs->binding);
        rs->binding = NULL;
        return open_failed(rs, rc);
    }

    long limit = opts->open_timeout_ms > 0 ? opts->open_timeout_ms : DEFAULT_OPEN_TIMEOUT_MS;
    long deadline = now_ms() + limit;
    while (rs->state != WR_PSRP_POOL_OPENED) {
        if (rs->state == WR_PSRP_POOL_BROKEN || rs->state == WR_PSRP_POOL_CLOSED) {
            rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                              "the server could not open the runspace pool%s%s",
                              rs->broken_reason ? ": " : "",
                              rs->broken_reason ? rs->broken_reason : "");
            return open_failed(rs, rc);
        }
        long left = deadline - now_ms();
        if (left <= 0)
            return open_failed(rs,
                               wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_PSRP,
                                            "the runspace pool did not open within %ld ms", limit));
        rc = wr_rs_receive(rs, NULL, 0);
        if (rc)
            return open_failed(rs, rc);
    }
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: runspace pool %s opened", rs->id);
    *out = rs;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_runspace_open(winrsh_runspace **out, winrsh_session *session,
                     const winrsh_runspace_options *opts)
{
    if (!out)
        return invalid("runspace: NULL out pointer");
    *out = NULL;
    if (!session)
        return invalid("runspace: NULL session");
    winrsh_runspace_options full;
    int rc = wr_rs_options(opts, &full);
    if (rc)
        return rc;
    opts = &full;
    wr_psrp_binding *b = NULL;
    rc = wr_session_psrp_binding(session, opts->config_name ? opts->config_name : DEFAULT_CONFIG,
                                 &b);
    if (rc)
        return rc;
    return wr_runspace_open_binding(out, b, session, opts, NULL);
}

int wr_rs_options(const winrsh_runspace_options *opts, winrsh_runspace_options *full)
{
    winrsh_runspace_options defaults;
    if (!opts) {
        winrsh_runspace_options_init(&defaults, WINRSH_RUNSPACE_OPTIONS_VERSION);
        opts = &defaults;
    }
    if (opts->version < 1 || opts->version > WINRSH_RUNSPACE_OPTIONS_VERSION)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "runspace options version %u is not supported (this library: %d)",
                            opts->version, WINRSH_RUNSPACE_OPTIONS_VERSION);
    if (opts->width < 0 || opts->height < 0 || opts->width > 10000 || opts->height > 10000)
        return invalid("runspace: width and height must be within 0-10000");
    if (opts->version >= 3 &&
        (opts->min_runspaces < 0 || opts->max_runspaces < 0 ||
         (opts->max_runspaces > 0 && opts->min_runspaces > opts->max_runspaces)))
        return invalid("runspace: min_runspaces must be within 1-max_runspaces");
    if (opts->version >= 3 && opts->application_arguments &&
        winrsh_psobject_get_kind(opts->application_arguments) != WINRSH_PSOBJ_DICT)
        return invalid("runspace: application_arguments must be a dictionary");
    /* Read only the fields of the caller's version; the rest stay zero. */
    memset(full, 0, sizeof *full);
    memcpy(full, opts, options_size(opts->version));
    return 0;
}

WINRSH_EXTERN(winrsh_runspace_state) winrsh_runspace_get_state(const winrsh_runspace *rs)
{
    return rs ? (winrsh_runspace_state)rs->state : WINRSH_RUNSPACE_BEFORE_OPEN;
}

WINRSH_EXTERN(const char *) winrsh_runspace_id(const winrsh_runspace *rs)
{
    return rs ? rs->id : NULL;
}

WINRSH_EXTERN(const winrsh_psobject *) winrsh_runspace_private_data(const winrsh_runspace *rs)
{
    return rs ? rs->private_data : NULL;
}

WINRSH_EXTERN(const char *) winrsh_runspace_protocol_version(const winrsh_runspace *rs)
{
    if (!rs || !rs->capability)
        return NULL;
    return winrsh_psobject_text(winrsh_psobject_prop(rs->capability, "protocolversion"), NULL);
}

WINRSH_EXTERN(int) winrsh_runspace_set_window_size(winrsh_runspace *rs, int width, int height)
{
    if (!rs)
        return invalid("runspace: NULL handle");
    if (width > 10000 || height > 10000)
        return invalid("runspace: width and height must be within 0-10000");
    wr_psrp_host_info_console(&rs->host, width, height, rs->window_title);
    return 0;
}

WINRSH_EXTERN(int) winrsh_runspace_close(winrsh_runspace *rs)
{
    if (!rs)
        return invalid("runspace: NULL handle");
    if (rs->closed)
        return 0;
    rs->closed = 1;
    /* The pool must be closed even after Ctrl-C interrupted the caller. */
    if (rs->session)
        wr_session_clear_interrupt(rs->session);
    int rc = rs->binding->ops->close_pool(rs->binding);
    rs->state = WR_PSRP_POOL_CLOSED;
    return rc;
}

WINRSH_EXTERN(void) winrsh_runspace_free(winrsh_runspace *rs)
{
    if (!rs)
        return;
    /* Pipelines the caller forgot are detached, never touched again. */
    while (rs->pipelines) {
        winrsh_pipeline *p = rs->pipelines;
        rs->pipelines = p->next;
        p->rs = NULL;
        p->next = NULL;
    }
    /* A disconnected pool stays on the server for a later connect
     * (winrsh_runspace_disconnect). */
    if (!rs->closed && rs->state != WR_PSRP_POOL_DISCONNECTED) {
        saved_error saved;
        save_error(&saved);
        if (rs->session)
            wr_session_clear_interrupt(rs->session);
        (void)winrsh_runspace_close(rs);
        restore_error(&saved);
    }
    runspace_release(rs);
}

char *wr_error_record_text(const winrsh_psobject *record)
{
    wr_psrp_error_record er;
    if (wr_psrp_error_record_read(record, &er)) {
        winrsh_error_clear();
        const char *t = winrsh_psobject_text(record, NULL);
        return dup_text(t ? t : "unknown error");
    }
    wr_buf b = WR_BUF_INIT;
    if (wr_psrp_error_record_format(&er, &b)) {
        wr_buf_free(&b);
        return dup_text(er.message);
    }
    return (char *)wr_buf_detach(&b, NULL);
}
