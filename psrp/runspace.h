/*
 * runspace.h: the transport-agnostic PSRP engine behind
 * include/winrsh/runspace.h: a runspace pool (MS-PSRP 3.1.4.1, 3.2.4.1)
 * and its pipelines (3.1.4.3), talking to the server through a
 * wr_psrp_binding (psrp/binding.h). Shared by runspace.c (pool, sending,
 * receiving, dispatch), pipeline.c (pipelines) and host.c (host calls).
 *
 * Flow of one pool:
 *
 *   client                                  server
 *   SESSION_CAPABILITY + INIT_RUNSPACEPOOL ->          (binding open_pool)
 *                                        <- SESSION_CAPABILITY
 *                                        <- APPLICATION_PRIVATE_DATA
 *                                        <- RUNSPACEPOOL_STATE Opened | Broken
 *   CREATE_PIPELINE                      ->          (binding create_pipeline)
 *   PIPELINE_INPUT... END_OF_PIPELINE_INPUT ->       (binding send)
 *                                        <- PIPELINE_OUTPUT, ERROR_RECORD, ...
 *                                        <- PIPELINE_HOST_CALL
 *   PIPELINE_HOST_RESPONSE               ->          (binding send, prompt_response)
 *                                        <- PIPELINE_STATE Completed | Failed | Stopped
 *   SET_MAX/MIN_RUNSPACES, GET_AVAILABLE_RUNSPACES, RESET_RUNSPACE_STATE ->
 *                                        <- RUNSPACE_AVAILABILITY (runspace_admin.c)
 *
 * Received messages are routed by type: pool types (0x0001xxxx, 0x0002xxxx)
 * to the pool; pipeline types (0x0004xxxx) to the pipeline the binding
 * names (over WS-Man: the CommandId of the Receive), else to the one whose
 * PID the header carries. Over WinRM the server echoes whatever PID bytes
 * the client sent (PROTOCOL.md 4, GUID layout), so the header is only the
 * fallback and is matched in both byte orders.
 */
#ifndef WR_PSRP_RUNSPACE_H
#define WR_PSRP_RUNSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/guid.h"
#include "common/trace.h"
#include "psrp/binding.h"
#include "psrp/fragment.h"
#include "psrp/message.h"
#include "winrsh/runspace.h"

/* One argument of a command being described. */
typedef struct wr_pl_arg {
    char *name;             /* NULL: positional */
    winrsh_psobject *value; /* a reference; NULL: $null */
} wr_pl_arg;

typedef struct wr_pl_cmd {
    char *text; /* name, or script */
    int is_script;
    int merge_errors;
    wr_pl_arg *args;
    size_t nargs, cap;
} wr_pl_cmd;

/* A pool call (MS-PSRP 3.1.4.x: SET_MAX/SET_MIN_RUNSPACES,
 * GET_AVAILABLE_RUNSPACES, RESET_RUNSPACE_STATE) and its answer, matched
 * by call id (the spec's CI table; one call at a time, the pool belongs to
 * one thread). */
typedef struct wr_rs_pool_call {
    int64_t next_ci; /* the call id of the next call */
    int64_t ci;      /* the call being waited for */
    int waiting;     /* a call is out */
    int answered;    /* its RUNSPACE_AVAILABILITY came */
    int is_bool;     /* the answer was a bool, else a number */
    int64_t value;
} wr_rs_pool_call;

/* GET_COMMAND_METADATA in place of CREATE_PIPELINE (pipeline.c). */
typedef struct wr_pl_metadata {
    char **names, **namespaces;
    size_t nnames, nnamespaces;
    int32_t command_types;
    int count_seen; /* the CommandMetadataCount object came */
    int64_t count;  /* its Count */
} wr_pl_metadata;

struct winrsh_pipeline {
    winrsh_runspace *rs;
    winrsh_pipeline *next; /* in rs->pipelines */
    wr_guid pid;
    char id[37];
    winrsh_pipeline_options opts;
    wr_pl_cmd *cmds;
    size_t ncmds, cap;
    int state;       /* PSInvocationState */
    int invoked;     /* CREATE_PIPELINE sent */
    int stop_sent;   /* the stop signal went out */
    int input_ended; /* END_OF_PIPELINE_INPUT queued or sent */
    int released;    /* close_pipeline (terminate) done */
    int lost_state;  /* ended by the transport without a PIPELINE_STATE */
    wr_buf input_q;  /* fragments of queued PIPELINE_INPUT */
    wr_buf pr_q;     /* fragments of queued PIPELINE_HOST_RESPONSE */
    int have_exit;
    int exit_code;
    size_t errors;
    winrsh_psobject *failure; /* ExceptionAsErrorRecord of Failed */
    wr_pl_metadata *metadata; /* non-NULL: a GET_COMMAND_METADATA call */
};

struct winrsh_runspace {
    winrsh_session *session; /* borrowed; NULL in engine tests */
    wr_psrp_binding *binding;
    const wr_tracer *tracer; /* borrowed, may be NULL */
    wr_guid rpid;
    char id[37];
    wr_psrp_fragmenter frag;
    wr_psrp_defrag defrag;
    int state; /* RunspacePoolState */
    int closed;
    winrsh_runspace_options opts; /* strings point at the copies below */
    char *config_name;
    char *window_title;
    wr_psrp_host_info host;
    winrsh_psobject *capability;  /* the server's SESSION_CAPABILITY */
    winrsh_psobject *private_doc; /* the APPLICATION_PRIVATE_DATA message */
    winrsh_psobject *app_args;    /* a reference to opts.application_arguments */
    const winrsh_psobject *private_data;
    char *broken_reason; /* text of the Broken state's error */
    winrsh_pipeline *pipelines;
    /* While a binding receive runs: */
    const wr_guid *cur_pid; /* what the binding says the data is for */
    int stop_rc;            /* a callback asked to stop (WINRSH_EUSER) or failed */
    wr_buf pool_pr_q;       /* queued RUNSPACEPOOL_HOST_RESPONSE fragments */

    /* SecureString key exchange and the host calls waiting for it
     * (psrp/securestring.h). */
    struct wr_rs_secure *secure;

    /* The pool call waiting for its RUNSPACE_AVAILABILITY (runspace_admin.c). */
    wr_rs_pool_call call;
};

/* winrsh_runspace_open() on a given binding (taken over, freed with the
 * runspace even on failure) and, for tests, a fixed RPID (NULL: random). */
int wr_runspace_open_binding(winrsh_runspace **out, wr_psrp_binding *binding,
                             winrsh_session *session, const winrsh_runspace_options *opts,
                             const wr_guid *rpid);

/* The first half of wr_runspace_open_binding: a runspace on `binding`
 * (taken over, freed on failure) with its options, host and RPID set up
 * and nothing sent (runspace_connect.c starts from here too). */
int wr_rs_new(winrsh_runspace **out, wr_psrp_binding *binding, winrsh_session *session,
              const winrsh_runspace_options *opts, const wr_guid *rpid);
/* Check the caller's options (NULL: defaults) and copy the fields of its
 * version into *full, the rest zero. */
int wr_rs_options(const winrsh_runspace_options *opts, winrsh_runspace_options *full);
/* Free a runspace and its binding without telling the server anything. */
void wr_rs_release(winrsh_runspace *rs);
/* Take received fragments apart and dispatch them, as a receive does. */
int wr_rs_feed(winrsh_runspace *rs, const unsigned char *frags, size_t len);

/* Fix the PID of a pipeline before it is invoked (tests). */
void wr_pipeline_set_id(winrsh_pipeline *p, const wr_guid *pid);

/* Build a message for the server and fragment it onto `out`. */
int wr_rs_fragment(winrsh_runspace *rs, const wr_guid *pid, uint32_t type, const void *xml,
                   size_t len, wr_buf *out);
/* Build, fragment and send one message now. */
int wr_rs_send(winrsh_runspace *rs, const wr_guid *pid, uint32_t type, const void *xml, size_t len,
               int prompt_response);
/* Send queued host responses (pool and all pipelines). */
int wr_rs_flush_responses(winrsh_runspace *rs);
/* One binding receive for `p` (NULL: the pool); dispatches everything. */
int wr_rs_receive(winrsh_runspace *rs, winrsh_pipeline *p, long timeout_ms);

/* Dispatch a parsed pipeline message (pipeline.c). */
int wr_pipeline_dispatch(winrsh_pipeline *p, uint32_t type, const winrsh_psobject *o);
/* A pipeline reached a final state in the pool's view (Broken pool). */
void wr_pipeline_abandon(winrsh_pipeline *p);
/* The transport says the pipeline's output has ended (binding.h). */
void wr_pipeline_transport_ended(winrsh_pipeline *p);

/* RUNSPACE_AVAILABILITY: the answer to a pool call (runspace_admin.c). */
int wr_rs_availability(winrsh_runspace *rs, const winrsh_psobject *o);
/* Send PUBLIC_KEY (unless sent already) and receive on the pool until the
 * server's ENCRYPTED_SESSION_KEY is in, at most timeout_ms (runspace.c). */
int wr_rs_exchange_key(winrsh_runspace *rs, long timeout_ms);

/* Handle a host call; p NULL for RUNSPACEPOOL_HOST_CALL (host.c). */
int wr_host_dispatch(winrsh_runspace *rs, winrsh_pipeline *p, const winrsh_psobject *call);

/* The text of an error record as PowerShell renders it (heap, or NULL). */
char *wr_error_record_text(const winrsh_psobject *record);

#endif
