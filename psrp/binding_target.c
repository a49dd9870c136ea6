/*
 * binding_target.c: pick and open the stream transport for an
 * out-of-process target and wrap it in the out-of-process binding. The
 * scheme table in transport/outofproc.c serves the plain cases; ssh with
 * options and PowerShell Direct with credentials are set up here because
 * they need what the session holds.
 */
#include "binding_target.h"

#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "psrp/binding_outofproc.h"
#include "transport/hvsocket.h"
#include "transport/stream_ssh.h"

static const char *const SCHEMES[] = {"process://", "unix://", "ssh://", "vmbus://", "vsock://"};

int wr_oop_target_is(const char *url)
{
    for (size_t i = 0; i < sizeof(SCHEMES) / sizeof(SCHEMES[0]); i++)
        if (strncasecmp(url, SCHEMES[i], strlen(SCHEMES[i])) == 0)
            return 1;
    return 0;
}

int wr_psrp_binding_for_target(wr_psrp_binding **out, const char *url,
                               const wr_oop_target_options *o)
{
    *out = NULL;
    wr_stream_options so = {o->connect_timeout_ms, o->tracer};
    wr_stream *st = NULL;
    int rc;
    if (strncasecmp(url, "ssh://", 6) == 0) {
        wr_ssh_options ssh = {0};
        ssh.options = o->ssh_options;
        ssh.noptions = o->ssh_option_count;
        rc = wr_stream_ssh_open(&st, url, &ssh, &so);
    } else if (strncasecmp(url, "vmbus://", 8) == 0) {
        wr_hvsocket_options ho = {0};
        ho.user = o->user;
        ho.password = o->password;
        ho.config_name = o->config_name;
        ho.connect_timeout_ms = o->connect_timeout_ms;
        ho.tracer = o->tracer;
        rc = wr_hvsocket_open(&st, url, &ho, NULL);
    } else {
        return wr_psrp_binding_outofproc_open(out, url, o->tracer, o->operation_timeout_ms);
    }
    if (rc)
        return rc;
    wr_oop_conn *conn = NULL;
    if ((rc = wr_oop_conn_wrap(&conn, st, o->tracer, o->operation_timeout_ms)) != 0)
        return rc;
    return wr_psrp_binding_outofproc_wrap(out, conn);
}
