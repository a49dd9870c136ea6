/*
 * shell.h: the generic WinRS-style shell (MS-WSMV 3.1.4.5-3.1.4.14), used by
 * the cmd shell (winrs.c) and by PSRP over WS-Man alike: the two differ only
 * in resource URI, stream names, options and an extra element in Create.
 *
 * Shell and command ids are kept verbatim as the server hands them out (old
 * servers prefix "uuid:").
 */
#ifndef WR_WSMAN_SHELL_H
#define WR_WSMAN_SHELL_H

#include <libxml/tree.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "envelope.h"
#include "wsman.h"

typedef struct wr_shell wr_shell;

typedef struct wr_shell_create_args {
    const char *resource_uri;       /* e.g. WR_URI_SHELL_CMD */
    const char *shell_id;           /* rsp:Shell/@ShellId chosen by the client; NULL = server's */
    const char *input_streams;      /* "stdin" (cmd), "stdin pr" (PSRP) */
    const char *output_streams;     /* "stdout stderr" (cmd), "stdout" (PSRP) */
    const char *working_directory;  /* NULL = the server's default */
    const char *const *environment; /* "NAME=VALUE", NULL-terminated; may be NULL */
    unsigned long idle_timeout_s;   /* rsp:IdleTimeOut; 0 leaves it out */
    const wr_option *options;
    size_t noptions;
    /* Raw XML appended inside rsp:Shell after the standard children, e.g.
     * PSRP's <creationXml xmlns="http://schemas.microsoft.com/powershell">B64</creationXml>.
     * The caller is responsible for it being well-formed. */
    const char *extra_body;
} wr_shell_create_args;

/* The rsp:Shell body of Create (pure; for tests). */
int wr_shell_build_create(wr_buf *out, const wr_shell_create_args *a);
/* The shell id in a CreateResponse body, as a heap string. */
int wr_shell_parse_created(const xmlNode *body, char **shell_id);

/* Create: the remote shell exists when this returns 0. */
int wr_shell_create(wr_shell **out, wr_wsman *ws, const wr_shell_create_args *a);
/* Adopt a shell that already exists (PSRP reconnect, tests). */
int wr_shell_attach(wr_shell **out, wr_wsman *ws, const char *resource_uri, const char *shell_id);
const char *wr_shell_get_id(const wr_shell *s);
wr_wsman *wr_shell_wsman(const wr_shell *s);
/* Free the handle only; the remote shell is deleted with wr_shell_delete. */
void wr_shell_free(wr_shell *s);

typedef struct wr_shell_command_args {
    const char *command;     /* rsp:Command; "" for PSRP */
    const char *const *args; /* each one rsp:Arguments */
    size_t nargs;
    const char *command_id; /* CommandId chosen by the client (PSRP); NULL = server's */
    const wr_option *options;
    size_t noptions;
} wr_shell_command_args;

int wr_shell_build_command(wr_buf *out, const wr_shell_command_args *a);
int wr_shell_parse_command_id(const xmlNode *body, char **command_id);
/* Command: starts a command; *command_id (heap) is the id the server uses. */
int wr_shell_command(wr_shell *s, const wr_shell_command_args *a, char **command_id);

int wr_shell_build_send(wr_buf *out, const char *stream, const char *command_id, const void *data,
                        size_t len, int end);
/* Send: `len` bytes to `stream` of a command (command_id NULL: the shell
 * itself, as PSRP does for runspace messages); `end` closes the stream. The
 * bytes must fit one envelope: see wr_shell_send_capacity. */
int wr_shell_send(wr_shell *s, const char *stream, const char *command_id, const void *data,
                  size_t len, int end);
/* The most bytes one Send may carry so that its envelope, with base64's 4/3
 * growth and our headers, stays below the envelope limit. */
size_t wr_shell_send_capacity(const wr_shell *s, const char *command_id);

/* Called for each rsp:Stream element of a ReceiveResponse, in order, with
 * its bytes decoded (possibly none, e.g. for End="true"). Non-zero stops the
 * receive with WINRSH_EUSER. */
typedef int (*wr_stream_cb)(const char *stream, const char *command_id, const unsigned char *data,
                            size_t len, int end, void *payload);

typedef struct wr_receive_result {
    int timed_out; /* w:TimedOut: nothing arrived within OperationTimeout */
    int done;      /* CommandState Done for the command (or any, if none given) */
    int have_exit_code;
    int64_t exit_code; /* rsp:ExitCode */
} wr_receive_result;

typedef struct wr_shell_receive_args {
    const char *streams;    /* DesiredStream, e.g. "stdout stderr" */
    const char *command_id; /* NULL: shell-level streams (PSRP runspace) */
    long timeout_ms;        /* OperationTimeout; 0 = the session's */
    wr_stream_cb cb;
    void *payload;
} wr_shell_receive_args;

int wr_shell_build_receive(wr_buf *out, const char *streams, const char *command_id);
/* Walk a ReceiveResponse body: streams to cb, then the command state. */
int wr_shell_parse_receive(const xmlNode *body, const char *command_id, wr_stream_cb cb,
                           void *payload, wr_receive_result *res);
/* The same walk over a whole reply body (data[len] == 0) by the streaming
 * reader wr_shell_receive uses (wsman/receive_stream.h): -1 if that reader
 * leaves the reply to the DOM path (a fault, another a:RelatesTo than
 * message_id, malformed input...), else what wr_shell_parse_receive returns
 * for it, with the same callbacks. For tests and the fuzz target. */
int wr_shell_parse_receive_text(const char *data, size_t len, const char *message_id,
                                const char *command_id, wr_stream_cb cb, void *payload,
                                wr_receive_result *res);
/* Receive one batch. A w:TimedOut fault is not an error: 0 with
 * res->timed_out = 1, so the caller receives again. */
int wr_shell_receive(wr_shell *s, const wr_shell_receive_args *a, wr_receive_result *res);

int wr_shell_build_signal(wr_buf *out, const char *command_id, const char *code_uri);
/* Signal a command (command_id NULL: the shell) with a code URI, e.g. WR_SIGNAL_TERMINATE. */
int wr_shell_signal(wr_shell *s, const char *command_id, const char *code_uri);

/* Delete the remote shell (transfer/Delete, empty body). */
int wr_shell_delete(wr_shell *s);

/* ---- disconnected shells, shell queries (shell_connect.c) --------------- */

/* Actions and resources of MS-WSMV 3.1.4.15-3.1.4.17 (Disconnect, Reconnect,
 * Connect), WS-Transfer Get (3.1.4.7) and WS-Enumeration (3.1.4.8-3.1.4.10)
 * as used on the shell resources. */
#define WR_ACTION_DISCONNECT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect"
#define WR_ACTION_RECONNECT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect"
#define WR_ACTION_CONNECT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect"
#define WR_ACTION_GET "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
#define WR_ACTION_ENUMERATE "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
#define WR_ACTION_PULL "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
#define WR_NS_ENUMERATION "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
/* Every shell of the user, whatever its own resource URI (Get, Enumerate). */
#define WR_URI_SHELL "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
/* The commands of a shell (Enumerate with a ShellId SelectorFilter). */
#define WR_URI_SHELL_COMMAND "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"

/* What the server says of one shell (MS-WSMV 2.2.4.37 ShellType, as a Get or
 * an Enumerate returns it). Heap strings, NULL when absent; the durations are
 * kept as the server wrote them (xs:duration, e.g. "PT7200.000S"). */
typedef struct wr_shell_info {
    char *shell_id;
    char *resource_uri; /* rsp:ResourceUri */
    char *owner;
    char *client_ip;
    char *process_id;
    char *state;       /* rsp:State: "Connected", "Disconnected"... */
    char *buffer_mode; /* rsp:BufferMode: "Block" or "Drop" */
    char *idle_timeout;
    char *shell_run_time;
    char *shell_inactivity;
    char *memory_used;
    char **command_ids; /* filled by wr_shell_enumerate_commands */
    size_t ncommands;
} wr_shell_info;

/* Read an rsp:Shell element (pure; for tests). `info` is cleared first. */
int wr_shell_parse_info(const xmlNode *shell, wr_shell_info *info);
void wr_shell_info_clear(wr_shell_info *info);
void wr_shell_infos_free(wr_shell_info *v, size_t n);

/* The rsp:Disconnect body: idle_timeout_ms > 0 adds rsp:IdleTimeOut,
 * buffer_mode ("Block"/"Drop", NULL: none) rsp:BufferMode. */
int wr_shell_build_disconnect(wr_buf *out, long idle_timeout_ms, const char *buffer_mode);
/* Disconnect the shell `shell_id` of resource `resource_uri`: it and its
 * commands go on running on the server, their output buffered there. */
int wr_shell_disconnect(wr_wsman *ws, const char *resource_uri, const char *shell_id,
                        long idle_timeout_ms, const char *buffer_mode);
/* Reconnect (empty body): the same client takes a disconnected shell back. */
int wr_shell_reconnect(wr_wsman *ws, const char *resource_uri, const char *shell_id);
/* Connect: attach to a disconnected shell with no state from before.
 * `extra_body` (raw XML, the caller's to make well-formed) goes inside
 * rsp:Connect; the reply (rsp:ConnectResponse in its body) is left in
 * `reply`, to be freed with wr_reply_free in every case. */
int wr_shell_connect(wr_wsman *ws, const char *resource_uri, const char *shell_id,
                     const wr_option *options, size_t noptions, const char *extra_body,
                     wr_reply *reply);
/* WS-Transfer Get of one shell. 0 with *exists 1 and `info` filled (may be
 * NULL) when the server knows it; 0 with *exists 0 when it answers
 * w:InvalidSelectors / 2150858843 (the shell is gone); any other fault or
 * failure is returned as an error. */
int wr_shell_get(wr_wsman *ws, const char *shell_id, wr_shell_info *info, int *exists);
/* Enumerate every shell the server holds for this user (optimised
 * enumeration, then Pull until EndOfSequence). *out is a heap array of *n,
 * freed with wr_shell_infos_free. */
int wr_shell_enumerate(wr_wsman *ws, wr_shell_info **out, size_t *n);
/* Enumerate the commands of one shell into info->command_ids. */
int wr_shell_enumerate_commands(wr_wsman *ws, wr_shell_info *info);

#endif
