/*
 * runspace_admin.c: calls on the runspace pool itself (include/winrsh/
 * runspace.h, "pool management and command metadata"): the size of the
 * pool, how many runspaces are free, resetting the runspace's state, and
 * the SecureString key exchange on demand.
 *
 *   client                                      server
 *   SET_MAX_RUNSPACES {MaxRunspaces, ci}    ->                  (2.2.2.6)
 *   SET_MIN_RUNSPACES {MinRunspaces, ci}    ->                  (2.2.2.7)
 *   GET_AVAILABLE_RUNSPACES {ci}            ->                  (2.2.2.11)
 *   RESET_RUNSPACE_STATE {ci}               ->   protocol 2.3   (2.2.2.31)
 *                                           <- RUNSPACE_AVAILABILITY
 *                                              {SetMinMaxRunspacesResponse, ci}  (2.2.2.8)
 *
 * Each is a pool-level send (WS-Man: Send on stdin without a CommandId;
 * out-of-process: a Data packet on the zero PSGuid) followed by pool
 * receives until the answer with the same ci comes or the bound runs out
 * (MS-PSRP 3.1.4.5-3.1.4.8). The answer is a bool, except for
 * GET_AVAILABLE_RUNSPACES, whose answer is the count (the spec says I64;
 * Windows sends I32). An answer to a call we gave up on is dropped.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/error.h"
#include "psrp/message.h"
#include "psrp/runspace.h"
#include "winrsh/errors.h"

/* Bound on a call when the caller passes 0, and on one receive of it. */
#define DEFAULT_CALL_TIMEOUT_MS 60000L
#define CALL_ROUND_MS 10000L

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int invalid(const char *what)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "%s", what);
}

static int check_open(winrsh_runspace *rs, const char *what)
{
    if (rs->closed || rs->state != WR_PSRP_POOL_OPENED)
        return wr_error_set(
            WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "%s: the runspace pool is not open%s%s", what,
            rs->broken_reason ? ": " : "", rs->broken_reason ? rs->broken_reason : "");
    return 0;
}

int wr_rs_availability(winrsh_runspace *rs, const winrsh_psobject *o)
{
    wr_psrp_availability a;
    int rc = wr_psrp_availability_read(o, &a);
    if (rc)
        return rc;
    wr_rs_pool_call *c = &rs->call;
    if (!c->waiting || a.call_id != c->ci) {
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: dropped RUNSPACE_AVAILABILITY for call %lld",
                      (long long)a.call_id);
        return 0;
    }
    c->answered = 1;
    c->is_bool = a.is_bool;
    c->value = a.value;
    return 0;
}

/* Send one pool call (body built by the caller around c->ci) and wait for
 * its answer. */
static int pool_call(winrsh_runspace *rs, uint32_t type, const wr_buf *xml, int64_t ci,
                     long timeout_ms, const char *what)
{
    if (timeout_ms < 0)
        return invalid("runspace: negative timeout");
    long limit = timeout_ms > 0 ? timeout_ms : DEFAULT_CALL_TIMEOUT_MS;
    wr_rs_pool_call *c = &rs->call;
    c->ci = ci;
    c->waiting = 1;
    c->answered = 0;
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: %s (call %lld)", what, (long long)ci);
    int rc = wr_rs_send(rs, NULL, type, xml->data, xml->len, 0);
    long deadline = now_ms() + limit;
    while (!rc && !c->answered) {
        if (rs->state != WR_PSRP_POOL_OPENED) {
            rc = wr_error_set(WINRSH_ECLOSED, WINRSH_ERRCLASS_PSRP, "%s: the runspace pool %s%s%s",
                              what, rs->state == WR_PSRP_POOL_BROKEN ? "broke" : "was closed",
                              rs->broken_reason ? ": " : "",
                              rs->broken_reason ? rs->broken_reason : "");
            break;
        }
        long left = deadline - now_ms();
        if (left <= 0) {
            rc = wr_error_set(WINRSH_ETIMEOUT, WINRSH_ERRCLASS_PSRP,
                              "%s: the server did not answer within %ld ms", what, limit);
            break;
        }
        rc = wr_rs_receive(rs, NULL, left < CALL_ROUND_MS ? left : CALL_ROUND_MS);
    }
    c->waiting = 0;
    return rc;
}

/* The next call id; the first call is 0, as in the recorded sessions. */
static int64_t next_ci(winrsh_runspace *rs)
{
    return rs->call.next_ci++;
}

static int set_size(winrsh_runspace *rs, int n, int is_max, long timeout_ms, int *accepted)
{
    const char *what = is_max ? "SET_MAX_RUNSPACES" : "SET_MIN_RUNSPACES";
    if (accepted)
        *accepted = 0;
    if (!rs)
        return invalid("runspace: NULL handle");
    int rc = check_open(rs, what);
    if (rc)
        return rc;
    int64_t ci = next_ci(rs);
    wr_buf xml = WR_BUF_INIT;
    rc = is_max ? wr_psrp_build_set_max_runspaces(&xml, n, ci)
                : wr_psrp_build_set_min_runspaces(&xml, n, ci);
    if (!rc)
        rc = pool_call(rs, is_max ? WR_PSRP_SET_MAX_RUNSPACES : WR_PSRP_SET_MIN_RUNSPACES, &xml, ci,
                       timeout_ms, what);
    wr_buf_free(&xml);
    if (rc)
        return rc;
    if (!rs->call.is_bool)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "%s: the server answered a number, not true or false", what);
    if (accepted)
        *accepted = rs->call.value != 0;
    return 0;
}

WINRSH_EXTERN(int)
winrsh_runspace_set_max_runspaces(winrsh_runspace *rs, int max_runspaces, long timeout_ms,
                                  int *accepted)
{
    return set_size(rs, max_runspaces, 1, timeout_ms, accepted);
}

WINRSH_EXTERN(int)
winrsh_runspace_set_min_runspaces(winrsh_runspace *rs, int min_runspaces, long timeout_ms,
                                  int *accepted)
{
    return set_size(rs, min_runspaces, 0, timeout_ms, accepted);
}

WINRSH_EXTERN(int) winrsh_runspace_available(winrsh_runspace *rs, long timeout_ms, long long *count)
{
    if (count)
        *count = 0;
    if (!rs || !count)
        return invalid("runspace: NULL handle or count");
    int rc = check_open(rs, "GET_AVAILABLE_RUNSPACES");
    if (rc)
        return rc;
    int64_t ci = next_ci(rs);
    wr_buf xml = WR_BUF_INIT;
    rc = wr_psrp_build_call_id(&xml, ci);
    if (!rc)
        rc = pool_call(rs, WR_PSRP_GET_AVAILABLE_RUNSPACES, &xml, ci, timeout_ms,
                       "GET_AVAILABLE_RUNSPACES");
    wr_buf_free(&xml);
    if (rc)
        return rc;
    if (rs->call.is_bool)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "GET_AVAILABLE_RUNSPACES: the server answered a bool, not a count");
    *count = (long long)rs->call.value;
    return 0;
}

/* "2.3" and the like; 0 if the text is no version. */
static int parse_version(const char *v, int *major, int *minor)
{
    return v && sscanf(v, "%d.%d", major, minor) == 2;
}

WINRSH_EXTERN(int) winrsh_runspace_reset_state(winrsh_runspace *rs, long timeout_ms, int *reset)
{
    if (reset)
        *reset = 0;
    if (!rs)
        return invalid("runspace: NULL handle");
    int rc = check_open(rs, "RESET_RUNSPACE_STATE");
    if (rc)
        return rc;
    /* A server before protocol 2.3 does not know the message: refuse it
     * rather than wait out the bound for an answer that cannot come. */
    const char *pv = winrsh_runspace_protocol_version(rs);
    int major = 0, minor = 0;
    if (parse_version(pv, &major, &minor) && (major < 2 || (major == 2 && minor < 3)))
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "RESET_RUNSPACE_STATE needs PSRP protocol 2.3; the server speaks %s",
                            pv);
    int64_t ci = next_ci(rs);
    wr_buf xml = WR_BUF_INIT;
    rc = wr_psrp_build_call_id(&xml, ci);
    if (!rc)
        rc = pool_call(rs, WR_PSRP_RESET_RUNSPACE_STATE, &xml, ci, timeout_ms,
                       "RESET_RUNSPACE_STATE");
    wr_buf_free(&xml);
    if (rc)
        return rc;
    if (!rs->call.is_bool)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "RESET_RUNSPACE_STATE: the server answered a number, not true or "
                            "false");
    if (reset)
        *reset = rs->call.value != 0;
    return 0;
}

WINRSH_EXTERN(int) winrsh_runspace_exchange_key(winrsh_runspace *rs, long timeout_ms)
{
    if (!rs)
        return invalid("runspace: NULL handle");
    if (timeout_ms < 0)
        return invalid("runspace: negative timeout");
    int rc = check_open(rs, "key exchange");
    if (rc)
        return rc;
    rs->stop_rc = 0;
    return wr_rs_exchange_key(rs, timeout_ms);
}
