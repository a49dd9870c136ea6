/*
 * message.h: PSRP messages (MS-PSRP 2.2.1, 2.2.2): the header, every
 * message type constant (the one place that knows them), the host method
 * ids, and builders for the CLIXML bodies of the client's messages.
 *
 * Message layout (integers little-endian):
 *
 *   +--------+------+--------------------------------------------------+
 *   | offset | size | field                                            |
 *   +--------+------+--------------------------------------------------+
 *   |      0 |    4 | Destination: 1 client, 2 server                  |
 *   |      4 |    4 | MessageType (table below)                        |
 *   |      8 |   16 | RPID: runspace pool id, .NET GUID layout         |
 *   |     24 |   16 | PID: pipeline id, .NET GUID layout, zero for     |
 *   |        |      | pool messages                                    |
 *   |     40 |    n | Data: UTF-8 CLIXML; the server may start it with |
 *   |        |      | a BOM (EF BB BF), which the parser skips         |
 *   +--------+------+--------------------------------------------------+
 *
 * The .NET GUID layout has Data1 (4 bytes), Data2 and Data3 (2 bytes each)
 * little-endian and Data4 (8 bytes) as is (common/guid.h).
 */
#ifndef WR_PSRP_MESSAGE_H
#define WR_PSRP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/guid.h"
#include "winrsh/psobject.h"

#define WR_PSRP_MESSAGE_HEADER_LEN 40u

#define WR_PSRP_DEST_CLIENT 1u
#define WR_PSRP_DEST_SERVER 2u

/* MessageType values (MS-PSRP 2.2.1; PowerShell's RemotingDataType). */
#define WR_PSRP_SESSION_CAPABILITY 0x00010002u
#define WR_PSRP_INIT_RUNSPACEPOOL 0x00010004u
#define WR_PSRP_PUBLIC_KEY 0x00010005u
#define WR_PSRP_ENCRYPTED_SESSION_KEY 0x00010006u
#define WR_PSRP_PUBLIC_KEY_REQUEST 0x00010007u
#define WR_PSRP_CONNECT_RUNSPACEPOOL 0x00010008u
#define WR_PSRP_SET_MAX_RUNSPACES 0x00021002u
#define WR_PSRP_SET_MIN_RUNSPACES 0x00021003u
#define WR_PSRP_RUNSPACE_AVAILABILITY 0x00021004u
#define WR_PSRP_RUNSPACEPOOL_STATE 0x00021005u
#define WR_PSRP_CREATE_PIPELINE 0x00021006u
#define WR_PSRP_GET_AVAILABLE_RUNSPACES 0x00021007u
#define WR_PSRP_USER_EVENT 0x00021008u
#define WR_PSRP_APPLICATION_PRIVATE_DATA 0x00021009u
#define WR_PSRP_GET_COMMAND_METADATA 0x0002100Au
#define WR_PSRP_RUNSPACEPOOL_INIT_DATA 0x0002100Bu
#define WR_PSRP_RESET_RUNSPACE_STATE 0x0002100Cu
#define WR_PSRP_RUNSPACEPOOL_HOST_CALL 0x00021100u
#define WR_PSRP_RUNSPACEPOOL_HOST_RESPONSE 0x00021101u
#define WR_PSRP_PIPELINE_INPUT 0x00041002u
#define WR_PSRP_END_OF_PIPELINE_INPUT 0x00041003u
#define WR_PSRP_PIPELINE_OUTPUT 0x00041004u
#define WR_PSRP_ERROR_RECORD 0x00041005u
#define WR_PSRP_PIPELINE_STATE 0x00041006u
#define WR_PSRP_DEBUG_RECORD 0x00041007u
#define WR_PSRP_VERBOSE_RECORD 0x00041008u
#define WR_PSRP_WARNING_RECORD 0x00041009u
#define WR_PSRP_PROGRESS_RECORD 0x00041010u
#define WR_PSRP_INFORMATION_RECORD 0x00041011u
#define WR_PSRP_PIPELINE_HOST_CALL 0x00041100u
#define WR_PSRP_PIPELINE_HOST_RESPONSE 0x00041101u

/* The name of a message type ("PIPELINE_OUTPUT"), or NULL if unknown. */
const char *wr_psrp_message_type_name(uint32_t type);
/* Every known type, for tests and tracing; *n gets the count. */
const uint32_t *wr_psrp_message_types(size_t *n);

/* RunspacePoolState (MS-PSRP 2.2.3.4). */
enum {
    WR_PSRP_POOL_BEFORE_OPEN = 0,
    WR_PSRP_POOL_OPENING = 1,
    WR_PSRP_POOL_OPENED = 2,
    WR_PSRP_POOL_CLOSED = 3,
    WR_PSRP_POOL_CLOSING = 4,
    WR_PSRP_POOL_BROKEN = 5,
    WR_PSRP_POOL_NEGOTIATION_SENT = 6,
    WR_PSRP_POOL_NEGOTIATION_SUCCEEDED = 7,
    WR_PSRP_POOL_CONNECTING = 8,
    WR_PSRP_POOL_DISCONNECTED = 9
};

/* PSInvocationState (MS-PSRP 2.2.3.5). */
enum {
    WR_PSRP_PIPE_NOT_STARTED = 0,
    WR_PSRP_PIPE_RUNNING = 1,
    WR_PSRP_PIPE_STOPPING = 2,
    WR_PSRP_PIPE_STOPPED = 3,
    WR_PSRP_PIPE_COMPLETED = 4,
    WR_PSRP_PIPE_FAILED = 5,
    WR_PSRP_PIPE_DISCONNECTED = 6
};

/* PipelineResultTypes (MS-PSRP 2.2.3.31), for the Merge* fields. */
enum {
    WR_PSRP_RESULT_NONE = 0,
    WR_PSRP_RESULT_OUTPUT = 1,
    WR_PSRP_RESULT_ERROR = 2,
    WR_PSRP_RESULT_WARNING = 3,
    WR_PSRP_RESULT_VERBOSE = 4,
    WR_PSRP_RESULT_DEBUG = 5,
    WR_PSRP_RESULT_INFORMATION = 6,
    WR_PSRP_RESULT_ALL = 7,
    WR_PSRP_RESULT_NULL = 8
};

/* RemoteHostMethodId (MS-PSRP 2.2.3.17). */
enum {
    WR_PSRP_HOST_GET_NAME = 1,
    WR_PSRP_HOST_GET_VERSION = 2,
    WR_PSRP_HOST_GET_INSTANCE_ID = 3,
    WR_PSRP_HOST_GET_CURRENT_CULTURE = 4,
    WR_PSRP_HOST_GET_CURRENT_UI_CULTURE = 5,
    WR_PSRP_HOST_SET_SHOULD_EXIT = 6,
    WR_PSRP_HOST_ENTER_NESTED_PROMPT = 7,
    WR_PSRP_HOST_EXIT_NESTED_PROMPT = 8,
    WR_PSRP_HOST_NOTIFY_BEGIN_APPLICATION = 9,
    WR_PSRP_HOST_NOTIFY_END_APPLICATION = 10,
    WR_PSRP_HOST_READ_LINE = 11,
    WR_PSRP_HOST_READ_LINE_AS_SECURE_STRING = 12,
    WR_PSRP_HOST_WRITE1 = 13,
    WR_PSRP_HOST_WRITE2 = 14,
    WR_PSRP_HOST_WRITE_LINE1 = 15,
    WR_PSRP_HOST_WRITE_LINE2 = 16,
    WR_PSRP_HOST_WRITE_LINE3 = 17,
    WR_PSRP_HOST_WRITE_ERROR_LINE = 18,
    WR_PSRP_HOST_WRITE_DEBUG_LINE = 19,
    WR_PSRP_HOST_WRITE_PROGRESS = 20,
    WR_PSRP_HOST_WRITE_VERBOSE_LINE = 21,
    WR_PSRP_HOST_WRITE_WARNING_LINE = 22,
    WR_PSRP_HOST_PROMPT = 23,
    WR_PSRP_HOST_PROMPT_FOR_CREDENTIAL1 = 24,
    WR_PSRP_HOST_PROMPT_FOR_CREDENTIAL2 = 25,
    WR_PSRP_HOST_PROMPT_FOR_CHOICE = 26,
    WR_PSRP_HOST_GET_FOREGROUND_COLOR = 27,
    WR_PSRP_HOST_SET_FOREGROUND_COLOR = 28,
    WR_PSRP_HOST_GET_BACKGROUND_COLOR = 29,
    WR_PSRP_HOST_SET_BACKGROUND_COLOR = 30,
    WR_PSRP_HOST_GET_CURSOR_POSITION = 31,
    WR_PSRP_HOST_SET_CURSOR_POSITION = 32,
    WR_PSRP_HOST_GET_WINDOW_POSITION = 33,
    WR_PSRP_HOST_SET_WINDOW_POSITION = 34,
    WR_PSRP_HOST_GET_CURSOR_SIZE = 35,
    WR_PSRP_HOST_SET_CURSOR_SIZE = 36,
    WR_PSRP_HOST_GET_BUFFER_SIZE = 37,
    WR_PSRP_HOST_SET_BUFFER_SIZE = 38,
    WR_PSRP_HOST_GET_WINDOW_SIZE = 39,
    WR_PSRP_HOST_SET_WINDOW_SIZE = 40,
    WR_PSRP_HOST_GET_WINDOW_TITLE = 41,
    WR_PSRP_HOST_SET_WINDOW_TITLE = 42,
    WR_PSRP_HOST_GET_MAX_WINDOW_SIZE = 43,
    WR_PSRP_HOST_GET_MAX_PHYSICAL_WINDOW_SIZE = 44,
    WR_PSRP_HOST_GET_KEY_AVAILABLE = 45,
    WR_PSRP_HOST_READ_KEY = 46,
    WR_PSRP_HOST_FLUSH_INPUT_BUFFER = 47,
    WR_PSRP_HOST_SET_BUFFER_CONTENTS1 = 48,
    WR_PSRP_HOST_SET_BUFFER_CONTENTS2 = 49,
    WR_PSRP_HOST_GET_BUFFER_CONTENTS = 50,
    WR_PSRP_HOST_SCROLL_BUFFER_CONTENTS = 51,
    WR_PSRP_HOST_PUSH_RUNSPACE = 52,
    WR_PSRP_HOST_POP_RUNSPACE = 53,
    WR_PSRP_HOST_GET_IS_RUNSPACE_PUSHED = 54,
    WR_PSRP_HOST_GET_RUNSPACE = 55,
    WR_PSRP_HOST_PROMPT_FOR_CHOICE_MULTIPLE = 56
};

/* "ReadLine" for 11; NULL if unknown. */
const char *wr_psrp_host_method_name(int method_id);
/* 1 if the method returns a value (and so needs a response), else 0. */
int wr_psrp_host_method_returns(int method_id);

/* A parsed message; data points into the parsed buffer (BOM skipped). */
typedef struct wr_psrp_message {
    uint32_t destination;
    uint32_t type;
    wr_guid rpid;
    wr_guid pid;
    const char *data;
    size_t len;
} wr_psrp_message;

/* WINRSH_EPROTO if shorter than 40 bytes or the destination is not 1 or 2. */
int wr_psrp_message_parse(wr_psrp_message *m, const void *msg, size_t len);
/* Append header + data to out (pid NULL: all zero). */
int wr_psrp_message_write(wr_buf *out, uint32_t destination, uint32_t type, const wr_guid *rpid,
                          const wr_guid *pid, const void *data, size_t len);

/* ---- HostInfo (MS-PSRP 2.2.3.14) ------------------------------------- */

/*
 * What the client tells the server about its host. _hostDefaultData is a
 * Hashtable keyed 0..9:
 *   0 ForegroundColor, 1 BackgroundColor (ConsoleColor, I32),
 *   2 CursorPosition, 3 WindowPosition (Coordinates x, y),
 *   4 CursorSize (I32), 5 BufferSize, 6 WindowSize, 7 MaxWindowSize,
 *   8 MaxPhysicalWindowSize (Size width, height), 9 WindowTitle (S).
 * Each value is an object {T = .NET type name, V = value}.
 */
typedef struct wr_psrp_host_info {
    int is_host_null;      /* no host: everything below is ignored */
    int is_ui_null;        /* host without UI */
    int is_raw_ui_null;    /* UI without RawUI: no _hostDefaultData */
    int use_runspace_host; /* pipelines: use the pool's host */
    int32_t foreground_color, background_color;
    int32_t cursor_x, cursor_y, window_x, window_y;
    int32_t cursor_size;
    int32_t buffer_width, buffer_height;
    int32_t window_width, window_height;
    int32_t max_window_width, max_window_height;
    int32_t max_physical_width, max_physical_height;
    const char *window_title;
} wr_psrp_host_info;

/* A null host (what a non-interactive client sends). */
void wr_psrp_host_info_null(wr_psrp_host_info *h);
/* A console host of the given terminal size (<= 0: 120 x 50); the buffer
 * is as wide as the terminal, so remote formatting wraps to fit. */
void wr_psrp_host_info_console(wr_psrp_host_info *h, int width, int height, const char *title);

/* ---- builders: the CLIXML of the client's messages --------------------- */

/* SESSION_CAPABILITY (2.2.2.1): protocolversion 2.3, PSVersion 2.0,
 * SerializationVersion 1.1.0.1. */
int wr_psrp_build_session_capability(wr_buf *xml);

/* INIT_RUNSPACEPOOL (2.2.2.2); app_args may be NULL (Nil). */
int wr_psrp_build_init_runspacepool(wr_buf *xml, int32_t min_runspaces, int32_t max_runspaces,
                                    const wr_psrp_host_info *host, const winrsh_psobject *app_args);

/* One argument of a command: name NULL makes it positional. */
typedef struct wr_psrp_arg {
    const char *name;
    const winrsh_psobject *value; /* NULL: Nil (a switch, when named) */
} wr_psrp_arg;

/* One command of a pipeline (2.2.3.12). */
typedef struct wr_psrp_command {
    const char *cmd; /* command name, or the script text when is_script */
    int is_script;
    int use_local_scope; /* -1: Nil (the default), 0 or 1 */
    const wr_psrp_arg *args;
    size_t nargs;
    /* PipelineResultTypes; zero-initialised means None everywhere. */
    int32_t merge_my_result, merge_to_result, merge_previous_results;
    int32_t merge_error, merge_warning, merge_verbose, merge_debug, merge_information;
} wr_psrp_command;

/* A pipeline to create (2.2.2.10). */
typedef struct wr_psrp_pipeline {
    const wr_psrp_command *cmds;
    size_t ncmds;
    int no_input;
    int add_to_history;
    int is_nested;
    const char *history;           /* NULL: Nil */
    int32_t remote_stream_options; /* 15 AddInvocationInfo is what pypsrp sends */
    int32_t apartment_state;       /* 2 Unknown */
    const wr_psrp_host_info *host; /* NULL: a null host */
} wr_psrp_pipeline;

/* Fill in defaults: no input, no history, not nested, stream options 15,
 * apartment Unknown, null host. */
void wr_psrp_pipeline_init(wr_psrp_pipeline *p, const wr_psrp_command *cmds, size_t ncmds);
void wr_psrp_command_init(wr_psrp_command *c, const char *cmd, int is_script);

/* CREATE_PIPELINE (2.2.2.10). */
int wr_psrp_build_create_pipeline(wr_buf *xml, const wr_psrp_pipeline *p);

/* PIPELINE_INPUT (2.2.2.17): one object (NULL: Nil). */
int wr_psrp_build_pipeline_input(wr_buf *xml, const winrsh_psobject *o);
/* PIPELINE_INPUT of one string. */
int wr_psrp_build_pipeline_input_string(wr_buf *xml, const char *s, size_t len);
/* END_OF_PIPELINE_INPUT (2.2.2.18) has no data: nothing is appended. */

/* PIPELINE_HOST_RESPONSE / RUNSPACEPOOL_HOST_RESPONSE (2.2.2.28, 2.2.2.16):
 * ci, mi and either mr (result) or, if error is not NULL, me (an ErrorRecord). */
int wr_psrp_build_host_response(wr_buf *xml, int64_t call_id, int method_id,
                                const winrsh_psobject *result, const winrsh_psobject *error);

/* PUBLIC_KEY (2.2.2.3): the PUBLICKEYBLOB bytes, sent as base64. */
int wr_psrp_build_public_key(wr_buf *xml, const void *blob, size_t len);

/* GET_COMMAND_METADATA (2.2.2.14): command name patterns and a
 * CommandTypes mask (511 All). */
int wr_psrp_build_get_command_metadata(wr_buf *xml, const char *const *names, size_t nnames,
                                       int32_t command_type);

/* ---- pool calls and their answer (runspace_admin.c) ------------------- */

/* SET_MAX_RUNSPACES / SET_MIN_RUNSPACES (2.2.2.6, 2.2.2.7): MaxRunspaces or
 * MinRunspaces (I32) and the call id ci (I64). */
int wr_psrp_build_set_max_runspaces(wr_buf *xml, int32_t max_runspaces, int64_t call_id);
int wr_psrp_build_set_min_runspaces(wr_buf *xml, int32_t min_runspaces, int64_t call_id);

/* A body holding only the call id ci: GET_AVAILABLE_RUNSPACES (2.2.2.11)
 * and RESET_RUNSPACE_STATE (2.2.2.31). */
int wr_psrp_build_call_id(wr_buf *xml, int64_t call_id);

/* GET_COMMAND_METADATA with Namespace patterns too (nnamespaces 0: Nil),
 * as an Object[] of strings; names and namespaces are copied into the XML. */
int wr_psrp_build_get_command_metadata_ns(wr_buf *xml, const char *const *names, size_t nnames,
                                          int32_t command_type, const char *const *namespaces,
                                          size_t nnamespaces);

/* RUNSPACE_AVAILABILITY (2.2.2.8): the call id and SetMinMaxRunspacesResponse,
 * a bool for SET_MAX/SET_MIN_RUNSPACES and RESET_RUNSPACE_STATE, a number
 * (the spec says I64; Windows sends I32) for GET_AVAILABLE_RUNSPACES. */
typedef struct wr_psrp_availability {
    int64_t call_id;
    int is_bool;   /* the response was a <B> */
    int64_t value; /* 0/1 for a bool, else the number */
} wr_psrp_availability;

/* WINRSH_EPROTO if ci or SetMinMaxRunspacesResponse is missing or of
 * another kind. */
int wr_psrp_availability_read(const winrsh_psobject *o, wr_psrp_availability *a);

#endif
