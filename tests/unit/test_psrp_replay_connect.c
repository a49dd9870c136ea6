/*
 * test_psrp_replay_connect.c: disconnected runspace pools and shell liveness
 * (psrp/runspace_connect.c, binding_wsman.c, wsman/shell_connect.c)
 * replaying real recorded Windows sessions through the public API
 * (psrp_replay_harness.h, fake_post_shells), plus the WS-Man pieces on
 * their own (exact request bodies, Pull continuation).
 */
#include "psrp_replay_harness.h"

#include "wsman/shell.h"
#include "wsman/wsman.h"

#define PS_URI "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
#define SELECTOR(id)                                                                               \
    "<w:SelectorSet><w:Selector Name=\"ShellId\">" id "</w:Selector></w:SelectorSet>"

/* The s:Body of a request, as text. */
static char *body_of(const char *req)
{
    const char *b = strstr(req, "<s:Body>");
    const char *e = strstr(req, "</s:Body>");
    assert_non_null(b);
    assert_non_null(e);
    b += strlen("<s:Body>");
    return strndup(b, (size_t)(e - b));
}

static void assert_body(const char *req, const char *want)
{
    char *b = body_of(req);
    assert_string_equal(b, want);
    free(b);
}

static void assert_selects(const char *req, const char *uri, const char *shell_id)
{
    char want[256];
    snprintf(want, sizeof want, "<w:ResourceURI s:mustUnderstand=\"true\">%s</w:ResourceURI>", uri);
    assert_non_null(strstr(req, want));
    snprintf(want, sizeof want, "<w:Selector Name=\"ShellId\">%s</w:Selector>", shell_id);
    assert_non_null(strstr(req, want));
}

/* The messages in a Connect's connectXml, checked against what MS-PSRP
 * 3.1.4.10.3 asks: SESSION_CAPABILITY then CONNECT_RUNSPACEPOOL, both for
 * the pool `rpid`, in two whole fragments. */
static void assert_connect_xml(const char *req, const char *rpid)
{
    const char *open = "<connectXml xmlns=\"http://schemas.microsoft.com/powershell\">";
    const char *b64 = strstr(req, open);
    assert_non_null(b64);
    b64 += strlen(open);
    assert_non_null(strstr(b64, "</connectXml></rsp:Connect>"));
    wr_buf bin = WR_BUF_INIT;
    assert_int_equal(wr_base64_decode(&bin, b64, strcspn(b64, "<")), 0);
    wr_psrp_fragment f1, f2;
    size_t u1, u2;
    assert_int_equal(wr_psrp_fragment_read(&f1, bin.data, bin.len, &u1), 0);
    assert_int_equal(wr_psrp_fragment_read(&f2, bin.data + u1, bin.len - u1, &u2), 0);
    assert_int_equal(u1 + u2, bin.len);
    assert_int_equal(f1.flags, 3); /* Start | End: whole messages */
    assert_int_equal(f2.flags, 3);
    assert_true(f2.object_id == f1.object_id + 1);
    wr_psrp_message m1, m2;
    assert_int_equal(wr_psrp_message_parse(&m1, f1.blob, f1.blob_len), 0);
    assert_int_equal(wr_psrp_message_parse(&m2, f2.blob, f2.blob_len), 0);
    assert_int_equal(m1.destination, WR_PSRP_DEST_SERVER);
    assert_int_equal(m1.type, WR_PSRP_SESSION_CAPABILITY);
    assert_int_equal(m2.type, WR_PSRP_CONNECT_RUNSPACEPOOL);
    char id[37];
    wr_guid_format(&m1.rpid, 1, id); /* parsed from the .NET layout */
    assert_string_equal(id, rpid);
    assert_int_equal(memcmp(m1.rpid.b, m2.rpid.b, 16), 0);
    const char cap[] = "<Obj RefId=\"0\"><MS><Version N=\"protocolversion\">2.3</Version>"
                       "<Version N=\"PSVersion\">2.0</Version>"
                       "<Version N=\"SerializationVersion\">1.1.0.1</Version></MS></Obj>";
    assert_int_equal(m1.len, strlen(cap));
    assert_memory_equal(m1.data, cap, m1.len);
    /* No MinRunspaces/MaxRunspaces asked: the empty string (2.2.2.29), as
     * pypsrp sent it in the recording. */
    assert_int_equal(m2.len, 5);
    assert_memory_equal(m2.data, "<S />", 5);
    wr_buf_free(&bin);
}

/* ---- test_psrp_disconnect_runspaces.yml ------------------------------------- */

static void test_disconnect_reconnect_list_connect(void **state)
{
    (void)state;
    replay t;
    replay_session(&t, "test_psrp_disconnect_runspaces.yml");
    assert_int_equal(t.r.nshells, 2);

    /* Pool 1: open, disconnect, reconnect, disconnect. */
    winrsh_runspace *rs1 = replay_pool(&t);
    char id1[37];
    snprintf(id1, sizeof id1, "%s", winrsh_runspace_id(rs1));
    assert_int_equal(winrsh_runspace_disconnect(rs1, NULL), 0);
    assert_int_equal(winrsh_runspace_get_state(rs1), WINRSH_RUNSPACE_DISCONNECTED);
    const char *req = find_shell_request(&t.f, "Disconnect", 0, 0);
    assert_non_null(req);
    assert_non_null(
        strstr(req, "<a:Action s:mustUnderstand=\"true\">" WR_ACTION_DISCONNECT "</a:Action>"));
    assert_selects(req, PS_URI, id1);
    assert_body(req, "<rsp:Disconnect/>");
    /* No pipeline while disconnected. */
    winrsh_pipeline *p = NULL;
    winrsh_pipeline_options po;
    assert_int_equal(winrsh_pipeline_options_init(&po, WINRSH_PIPELINE_OPTIONS_VERSION), 0);
    assert_int_not_equal(winrsh_pipeline_new(&p, rs1, &po), 0);
    assert_null(p);
    /* Disconnecting twice is a misuse, caught before the wire. */
    size_t before = t.f.nrequests;
    assert_int_equal(winrsh_runspace_disconnect(rs1, NULL), WINRSH_EINVAL);
    assert_non_null(strstr(winrsh_error_last()->message, "only an Opened pool"));
    assert_int_equal(t.f.nrequests, before);

    assert_int_equal(winrsh_runspace_reconnect(rs1), 0);
    assert_int_equal(winrsh_runspace_get_state(rs1), WINRSH_RUNSPACE_OPENED);
    req = find_shell_request(&t.f, "Reconnect", 0, 0);
    assert_non_null(req);
    assert_selects(req, PS_URI, id1);
    assert_non_null(strstr(req, "<s:Body></s:Body>"));
    assert_int_equal(winrsh_runspace_reconnect(rs1), WINRSH_EINVAL); /* not disconnected */

    winrsh_disconnect_options dopts;
    assert_int_equal(winrsh_disconnect_options_init(&dopts, WINRSH_DISCONNECT_OPTIONS_VERSION), 0);
    assert_int_equal(winrsh_runspace_disconnect(rs1, &dopts), 0);
    assert_int_equal(count_requests(&t.f, "Disconnect"), 2);

    /* Pool 2: open, disconnect. */
    winrsh_runspace *rs2 = replay_pool(&t);
    char id2[37];
    snprintf(id2, sizeof id2, "%s", winrsh_runspace_id(rs2));
    assert_string_not_equal(id1, id2);
    assert_int_equal(winrsh_runspace_disconnect(rs2, NULL), 0);
    assert_selects(find_shell_request(&t.f, "Disconnect", 1, 0), PS_URI, id2);

    /* Freeing disconnected pools leaves them on the server: no Delete. */
    winrsh_runspace_free(rs1);
    winrsh_runspace_free(rs2);
    assert_int_equal(count_requests(&t.f, "Delete"), 0);

    /* List: one Enumerate of the shells, one of each pool's commands. */
    winrsh_runspace_infos *l = NULL;
    assert_int_equal(winrsh_runspace_list(&l, t.session, NULL), 0);
    req = find_shell_request(&t.f, "Enumerate", -1, 0);
    assert_non_null(req);
    assert_non_null(
        strstr(req, "<w:ResourceURI s:mustUnderstand=\"true\">" WR_URI_SHELL "</w:ResourceURI>"));
    assert_null(strstr(req, "<w:SelectorSet>")); /* no selector in the header */
    assert_body(req, "<n:Enumerate xmlns:n=\"" WR_NS_ENUMERATION
                     "\"><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>"
                     "</n:Enumerate>");
    for (int k = 0; k < 2; k++) {
        req = find_shell_request(&t.f, "Enumerate", k, 0);
        assert_non_null(req);
        assert_non_null(strstr(req, "<w:ResourceURI s:mustUnderstand=\"true\">" WR_URI_SHELL_COMMAND
                                    "</w:ResourceURI>"));
        char want[512];
        snprintf(want, sizeof want,
                 "<n:Enumerate xmlns:n=\"" WR_NS_ENUMERATION
                 "\"><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>"
                 "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/"
                 "SelectorFilter\"><w:SelectorSet><w:Selector Name=\"ShellId\">%s"
                 "</w:Selector></w:SelectorSet></w:Filter></n:Enumerate>",
                 k == 0 ? id1 : id2);
        assert_body(req, want);
    }
    assert_int_equal(count_requests(&t.f, "Enumerate"), 3);
    assert_int_equal(winrsh_runspace_infos_count(l), 2);
    for (size_t k = 0; k < 2; k++) {
        const winrsh_runspace_info *i = winrsh_runspace_infos_get(l, k);
        assert_non_null(i);
        assert_string_equal(i->id, k == 0 ? id1 : id2);
        assert_string_equal(i->config_name, "Microsoft.PowerShell");
        assert_string_equal(i->resource_uri, PS_URI);
        assert_string_equal(i->owner, "WIN-NNMU24VVKJ0\\vagrant");
        assert_string_equal(i->client_ip, "10.0.2.2");
        assert_string_equal(i->state, "Disconnected");
        assert_int_equal(i->disconnected, 1);
        assert_int_equal(i->idle_timeout_ms, 7200000L);
        assert_int_equal(i->pipeline_count, 0);
    }
    assert_null(winrsh_runspace_infos_get(l, 2));

    /* Connect to both, as another client would (3.1.4.10.3). */
    winrsh_runspace *c[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        const winrsh_runspace_info *i = winrsh_runspace_infos_get(l, (size_t)k);
        int rc = winrsh_runspace_connect(&c[k], t.session, i->id, NULL);
        if (rc)
            fail_msg("connect: %s", winrsh_error_last()->message);
        assert_int_equal(winrsh_runspace_get_state(c[k]), WINRSH_RUNSPACE_OPENED);
        assert_string_equal(winrsh_runspace_id(c[k]), i->id);
        req = find_shell_request(&t.f, "Connect", k, 0);
        assert_non_null(req);
        assert_selects(req, PS_URI, i->id);
        assert_non_null(strstr(req, "<w:Option Name=\"protocolversion\" MustComply=\"true\">2.3"
                                    "</w:Option>"));
        assert_connect_xml(req, i->id);
        /* The Connect, then one pool Receive that brought Opened. */
        assert_non_null(find_shell_request(&t.f, "Receive", k, k == 0 ? 3 : 2));
        assert_null(find_shell_request(&t.f, "Receive", k, k == 0 ? 4 : 3));
    }
    winrsh_runspace_infos_free(l);

    /* Connected pools are ours to close: Delete each. */
    winrsh_runspace_free(c[0]);
    winrsh_runspace_free(c[1]);
    assert_int_equal(count_requests(&t.f, "Delete"), 2);
    assert_selects(find_shell_request(&t.f, "Delete", 0, 0), PS_URI, id1);
    assert_selects(find_shell_request(&t.f, "Delete", 1, 0), PS_URI, id2);
    /* Every recorded exchange was used, in the recorded order of kinds. */
    assert_int_equal(t.f.nrequests, t.r.n);
    for (size_t i = 0; i < t.r.n; i++)
        assert_int_equal(t.f.used[i], 1);
    replay_session_close(&t);
}

/* ---- is_alive ------------------------------------------------------------------- */

static void assert_get(const char *req, const char *id)
{
    assert_non_null(req);
    assert_non_null(
        strstr(req, "<a:Action s:mustUnderstand=\"true\">" WR_ACTION_GET "</a:Action>"));
    assert_selects(req, WR_URI_SHELL, id);
    assert_non_null(strstr(req, "<s:Body></s:Body>"));
}

static void test_is_alive_invalid_selectors(void **state)
{
    (void)state;
    replay t;
    replay_session(&t, "test_psrp_is_alive_invalid_selectors.yml");
    winrsh_runspace *rs = replay_pool(&t);
    int alive = 0;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), 0);
    assert_int_equal(alive, 1);
    assert_get(find_request(&t.f, "Get", 0), winrsh_runspace_id(rs));
    assert_int_equal(winrsh_runspace_get_state(rs), WINRSH_RUNSPACE_OPENED);

    /* w:InvalidSelectors, 2150858843: gone, which is an answer, not an error. */
    alive = 1;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), 0);
    assert_int_equal(alive, 0);
    assert_int_equal(winrsh_error_last()->code, 0);
    assert_get(find_request(&t.f, "Get", 1), winrsh_runspace_id(rs));
    assert_int_equal(winrsh_runspace_get_state(rs), WINRSH_RUNSPACE_BROKEN);
    /* Nothing more to ask or delete. */
    alive = 1;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), 0);
    assert_int_equal(alive, 0);
    winrsh_runspace_free(rs);
    assert_int_equal(count_requests(&t.f, "Get"), 2);
    assert_int_equal(count_requests(&t.f, "Delete"), 0);
    replay_session_close(&t);
}

static void test_is_alive_other_wsman_error(void **state)
{
    (void)state;
    replay t;
    replay_session(&t, "test_psrp_is_alive_other_wsman_error.yml");
    winrsh_runspace *rs = replay_pool(&t);
    int alive = 1;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), WINRSH_EFAULT);
    assert_int_equal(alive, 0);
    const winrsh_error *e = winrsh_error_last();
    assert_int_equal(e->code, WINRSH_EFAULT);
    assert_int_equal(e->klass, WINRSH_ERRCLASS_SOAP);
    assert_int_equal(e->http_status, 500);
    assert_non_null(e->fault);
    assert_int_equal(e->fault->wsman_code, 2150858767u);
    assert_string_equal(e->fault->subcode, "a:InvalidMessageInformationHeader");
    char want[160];
    snprintf(want, sizeof want,
             "cannot tell whether runspace pool %s is alive: ", winrsh_runspace_id(rs));
    assert_true(strncmp(e->message, want, strlen(want)) == 0);
    assert_non_null(strstr(e->message, "invalid timeout field in the SOAP header: PT-1S"));
    assert_get(find_request(&t.f, "Get", 0), winrsh_runspace_id(rs));
    /* The pool is as it was, and is closed normally. */
    assert_int_equal(winrsh_runspace_get_state(rs), WINRSH_RUNSPACE_OPENED);
    winrsh_runspace_free(rs);
    assert_int_equal(count_requests(&t.f, "Delete"), 1);
    replay_session_close(&t);
}

static void test_is_alive_http_error(void **state)
{
    (void)state;
    replay t;
    replay_session(&t, "test_psrp_is_alive_http_error.yml");
    winrsh_runspace *rs = replay_pool(&t);
    int alive = 0;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), 0);
    assert_int_equal(alive, 1);
    /* The recorded Get with no response: the transport failed. */
    alive = 1;
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), WINRSH_ECONNECT);
    assert_int_equal(alive, 0);
    const winrsh_error *e = winrsh_error_last();
    assert_int_equal(e->code, WINRSH_ECONNECT);
    assert_int_equal(e->klass, WINRSH_ERRCLASS_HTTP);
    assert_null(e->fault);
    char want[200];
    snprintf(want, sizeof want, "cannot tell whether runspace pool %s is alive: %s",
             winrsh_runspace_id(rs), FAKE_HTTP_FAILURE);
    assert_string_equal(e->message, want);
    assert_int_equal(count_requests(&t.f, "Get"), 2);
    assert_get(find_request(&t.f, "Get", 1), winrsh_runspace_id(rs));
    assert_int_equal(winrsh_runspace_get_state(rs), WINRSH_RUNSPACE_OPENED);
    /* Freeing still tries to Delete (and fails quietly: the host is down). */
    winrsh_runspace_free(rs);
    assert_int_equal(count_requests(&t.f, "Delete"), 1);
    replay_session_close(&t);
}

/* ---- not over an out-of-process transport -------------------------------------- */

static void test_out_of_process_unsupported(void **state)
{
    (void)state;
    winrsh_session *s = NULL;
    assert_int_equal(winrsh_session_open(&s, "process:///nonexistent/pwsh", NULL), 0);
    winrsh_runspace_infos *l = (winrsh_runspace_infos *)1;
    assert_int_equal(winrsh_runspace_list(&l, s, NULL), WINRSH_EINVAL);
    assert_null(l);
    assert_string_equal(winrsh_error_last()->message,
                        "runspace: listing pools needs a WS-Man session (http:// or https://); "
                        "an out-of-process transport cannot keep a pool on the server");
    winrsh_runspace *rs = (winrsh_runspace *)1;
    assert_int_equal(winrsh_runspace_connect(&rs, s, "B6631D8E-65A0-49F2-9053-A1B156C95777", NULL),
                     WINRSH_EINVAL);
    assert_null(rs);
    assert_int_equal(winrsh_error_last()->klass, WINRSH_ERRCLASS_INVALID);
    assert_non_null(strstr(winrsh_error_last()->message, "connecting to a pool needs a WS-Man"));
    assert_int_equal(winrsh_runspace_connect(&rs, s, "not-a-guid", NULL), WINRSH_EINVAL);
    assert_non_null(strstr(winrsh_error_last()->message, "is not a runspace pool id"));
    winrsh_session_free(s);

    /* A pool on a binding without the optional ops (as the out-of-process
     * binding has none): refused before anything is sent. */
    replay t;
    replay_session(&t, "test_psrp_is_alive_other_wsman_error.yml");
    rs = replay_pool(&t);
    const wr_psrp_binding_conn_ops *conn = rs->binding->conn;
    assert_non_null(conn);
    rs->binding->conn = NULL;
    size_t before = t.f.nrequests;
    int alive = 1;
    assert_int_equal(winrsh_runspace_disconnect(rs, NULL), WINRSH_EINVAL);
    assert_string_equal(winrsh_error_last()->message,
                        "runspace: disconnect needs a WS-Man session (http:// or https://); an "
                        "out-of-process transport cannot keep a pool on the server");
    assert_int_equal(winrsh_runspace_reconnect(rs), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_is_alive(rs, &alive), WINRSH_EINVAL);
    assert_int_equal(alive, 0);
    assert_int_equal(t.f.nrequests, before);
    assert_int_equal(winrsh_runspace_get_state(rs), WINRSH_RUNSPACE_OPENED);
    rs->binding->conn = conn;
    /* Bad arguments. */
    winrsh_disconnect_options d = WINRSH_DISCONNECT_OPTIONS_INIT;
    d.idle_timeout_ms = -1;
    assert_int_equal(winrsh_runspace_disconnect(rs, &d), WINRSH_EINVAL);
    d.idle_timeout_ms = 0;
    d.version = 99;
    assert_int_equal(winrsh_runspace_disconnect(rs, &d), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_is_alive(rs, NULL), WINRSH_EINVAL);
    assert_int_equal(winrsh_runspace_disconnect(NULL, NULL), WINRSH_EINVAL);
    assert_int_equal(t.f.nrequests, before);
    winrsh_runspace_free(rs); /* the recorded Delete */
    assert_int_equal(count_requests(&t.f, "Delete"), 1);
    replay_session_close(&t);
}

/* ---- the WS-Man pieces ------------------------------------------------------------ */

static void test_build_disconnect(void **state)
{
    (void)state;
    wr_buf b = WR_BUF_INIT;
    assert_int_equal(wr_shell_build_disconnect(&b, 0, NULL), 0);
    assert_string_equal(wr_buf_cstr(&b), "<rsp:Disconnect/>");
    wr_buf_clear(&b);
    assert_int_equal(wr_shell_build_disconnect(&b, 60000, "Block"), 0);
    assert_string_equal(wr_buf_cstr(&b), "<rsp:Disconnect><rsp:BufferMode>Block</rsp:BufferMode>"
                                         "<rsp:IdleTimeOut>PT60.000S</rsp:IdleTimeOut>"
                                         "</rsp:Disconnect>");
    wr_buf_clear(&b);
    assert_int_equal(wr_shell_build_disconnect(&b, 1500, NULL), 0);
    assert_string_equal(wr_buf_cstr(&b), "<rsp:Disconnect><rsp:IdleTimeOut>PT1.500S"
                                         "</rsp:IdleTimeOut></rsp:Disconnect>");
    wr_buf_free(&b);
}

/* A scripted server for an enumeration that needs a Pull. */
typedef struct pull_server {
    int n;
    wr_buf reqs[4];
} pull_server;

#define ENV_OPEN                                                                                   \
    "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:a=\"" WR_NS_ADDRESSING                           \
    "\" xmlns:n=\"" WR_NS_ENUMERATION "\" xmlns:w=\"" WR_NS_WSMAN "\" xmlns:rsp=\"" WR_NS_SHELL    \
    "\"><s:Header><a:RelatesTo>%s</a:RelatesTo></s:Header><s:Body>"
#define SHELL_ITEM(id, uri, st)                                                                    \
    "<rsp:Shell><rsp:ShellId>" id "</rsp:ShellId><rsp:ResourceUri>" uri                            \
    "</rsp:ResourceUri><rsp:State>" st "</rsp:State><rsp:IdleTimeOut>PT60.000S</rsp:IdleTimeOut>"  \
    "</rsp:Shell>"

static int pull_post(void *ctx, const char *body, size_t len, long timeout_ms, wr_buf *resp,
                     long *status)
{
    (void)timeout_ms;
    pull_server *ps = ctx;
    assert_true(ps->n < 4);
    wr_buf *q = &ps->reqs[ps->n++];
    memset(q, 0, sizeof *q);
    wr_buf_append(q, body, len);
    const char *id = strstr(wr_buf_cstr(q), "<a:MessageID>") + strlen("<a:MessageID>");
    char mid[64];
    snprintf(mid, sizeof mid, "%.*s", (int)strcspn(id, "<"), id);
    *status = 200;
    switch (ps->n) {
    case 1: /* more to come: a context and no EndOfSequence */
        return wr_buf_printf(resp,
                             ENV_OPEN "<n:EnumerateResponse><n:EnumerationContext>ctx-1&amp;2"
                                      "</n:EnumerationContext><w:Items>" SHELL_ITEM(
                                          "AAAAAAAA-0000-0000-0000-000000000001", PS_URI,
                                          "Connected") "</w:Items></n:EnumerateResponse>"
                                                       "</s:Body></s:Envelope>",
                             mid);
    case 2:
        return wr_buf_printf(
            resp,
            ENV_OPEN "<n:PullResponse><n:EnumerationContext>ctx-2</n:EnumerationContext>"
                     "<n:Items>" SHELL_ITEM("AAAAAAAA-0000-0000-0000-000000000002",
                                            "http://schemas.microsoft.com/wbem/wsman/1/windows/"
                                            "shell/cmd",
                                            "Connected")
                         SHELL_ITEM("AAAAAAAA-0000-0000-0000-"
                                    "000000000003",
                                    PS_URI, "Disconnected") "</n:Items><n:EndOfSequence/></"
                                                            "n:PullResponse></s:Body></s:Envelope>",
            mid);
    default: /* the commands of the PowerShell shells */
        return wr_buf_printf(resp,
                             ENV_OPEN "<n:EnumerateResponse><n:EnumerationContext/><w:Items>"
                                      "<rsp:Command><rsp:CommandId>C0000000-0000-0000-0000-"
                                      "00000000000%d</rsp:CommandId></rsp:Command></w:Items>"
                                      "<w:EndOfSequence/></n:EnumerateResponse></s:Body>"
                                      "</s:Envelope>",
                             mid, ps->n);
    }
}

static void test_list_with_pull(void **state)
{
    (void)state;
    pull_server ps;
    memset(&ps, 0, sizeof ps);
    winrsh_session *s = NULL;
    assert_int_equal(wr_session_open_with(&s, "http://127.0.0.1:5985", NULL, pull_post, &ps), 0);
    winrsh_runspace_infos *l = NULL;
    assert_int_equal(winrsh_runspace_list(&l, s, NULL), 0);
    assert_int_equal(ps.n, 4);
    /* The Pull carries the context back, escaped, on the same resource. */
    assert_non_null(strstr(wr_buf_cstr(&ps.reqs[1]),
                           "<a:Action s:mustUnderstand=\"true\">" WR_ACTION_PULL "</a:Action>"));
    assert_body(wr_buf_cstr(&ps.reqs[1]),
                "<n:Pull xmlns:n=\"" WR_NS_ENUMERATION "\"><n:EnumerationContext>ctx-1&amp;2"
                "</n:EnumerationContext><n:MaxElements>32000</n:MaxElements></n:Pull>");
    assert_non_null(strstr(wr_buf_cstr(&ps.reqs[1]), WR_URI_SHELL "</w:ResourceURI>"));
    /* The cmd shell is not a pool. */
    assert_int_equal(winrsh_runspace_infos_count(l), 2);
    const winrsh_runspace_info *a = winrsh_runspace_infos_get(l, 0);
    const winrsh_runspace_info *b = winrsh_runspace_infos_get(l, 1);
    assert_string_equal(a->id, "AAAAAAAA-0000-0000-0000-000000000001");
    assert_int_equal(a->disconnected, 0);
    assert_int_equal(a->idle_timeout_ms, 60000);
    assert_null(a->owner);
    assert_int_equal(a->pipeline_count, 1);
    assert_string_equal(a->pipeline_ids[0], "C0000000-0000-0000-0000-000000000003");
    assert_string_equal(b->id, "AAAAAAAA-0000-0000-0000-000000000003");
    assert_string_equal(b->state, "Disconnected");
    assert_int_equal(b->disconnected, 1);
    assert_string_equal(b->pipeline_ids[0], "C0000000-0000-0000-0000-000000000004");
    winrsh_runspace_infos_free(l);
    for (int i = 0; i < ps.n; i++)
        wr_buf_free(&ps.reqs[i]);

    /* A configuration filter that matches nothing lists nothing (and asks
     * for no commands). */
    memset(&ps, 0, sizeof ps);
    assert_int_equal(winrsh_runspace_list(&l, s, "JEARole"), 0);
    assert_int_equal(winrsh_runspace_infos_count(l), 0);
    assert_null(winrsh_runspace_infos_get(l, 0));
    assert_int_equal(ps.n, 2);
    winrsh_runspace_infos_free(l);
    for (int i = 0; i < ps.n; i++)
        wr_buf_free(&ps.reqs[i]);
    winrsh_runspace_infos_free(NULL);
    winrsh_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disconnect_reconnect_list_connect),
        cmocka_unit_test(test_is_alive_invalid_selectors),
        cmocka_unit_test(test_is_alive_other_wsman_error),
        cmocka_unit_test(test_is_alive_http_error),
        cmocka_unit_test(test_out_of_process_unsupported),
        cmocka_unit_test(test_build_disconnect),
        cmocka_unit_test(test_list_with_pull),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
