/*
 * runspace.h: PowerShell Remoting (MS-PSRP): runspace pools and pipelines.
 *
 * winrsh_runspace_open() opens a runspace pool on the session's endpoint
 * (over WS-Man: a shell of resource URI .../powershell/<config>);
 * winrsh_pipeline_new() + winrsh_pipeline_add_*() describe a pipeline,
 * winrsh_pipeline_invoke() starts it, and winrsh_pipeline_receive() or
 * winrsh_pipeline_wait() deliver what it produces through callbacks:
 * output objects, error records (with their text rendered as PowerShell
 * renders them), warning / verbose / debug / information messages,
 * progress, and the host's Write calls. winrsh_runspace_free() closes the
 * pool.
 *
 *     winrsh_runspace *rs;
 *     winrsh_runspace_open(&rs, session, NULL);
 *     winrsh_pipeline *p;
 *     winrsh_pipeline_options po = WINRSH_PIPELINE_OPTIONS_INIT;
 *     po.output = on_output;
 *     winrsh_pipeline_new(&p, rs, &po);
 *     winrsh_pipeline_add_script(p, "Get-Service");
 *     winrsh_pipeline_add_command(p, "Out-String");
 *     winrsh_pipeline_add_switch(p, "Stream");
 *     winrsh_pipeline_invoke(p);
 *     winrsh_pipeline_wait(p);
 *     winrsh_pipeline_free(p);
 *     winrsh_runspace_free(rs);
 *
 * What PowerShell shows and what it records arrive separately: with the
 * console host this API describes to the server (HostInfo), a warning,
 * verbose, debug or information record that the preferences say to show
 * also comes as a host Write call (WriteWarningLine, WriteLine...), and
 * Write-Host comes both as host calls and as an information record tagged
 * PSHOST (WINRSH_MESSAGE_FROM_HOST). A program that prints what the remote
 * console would print uses the host calls; one that collects the streams
 * uses the records.
 *
 * A runspace and its pipelines belong to one thread at a time (that of the
 * session). Pipelines must be freed before their runspace. Callbacks run
 * inside winrsh_pipeline_receive()/wait() (and, for the host, inside
 * winrsh_runspace_open()); they must not call back into the same runspace.
 */
#ifndef WINRSH_RUNSPACE_H
#define WINRSH_RUNSPACE_H

#include "common.h"
#include "psobject.h"
#include "session.h"

WINRSH_BEGIN_DECL

typedef struct winrsh_runspace winrsh_runspace;
typedef struct winrsh_pipeline winrsh_pipeline;

/* ---- the host ------------------------------------------------------------ */

/** Where a host Write call goes. */
typedef enum {
    WINRSH_HOST_OUTPUT = 0, /**< Write, WriteLine (Write-Host, Out-Host, Out-Default) */
    WINRSH_HOST_ERROR,      /**< WriteErrorLine */
    WINRSH_HOST_WARNING,    /**< WriteWarningLine */
    WINRSH_HOST_VERBOSE,    /**< WriteVerboseLine */
    WINRSH_HOST_DEBUG       /**< WriteDebugLine */
} winrsh_host_stream;

/**
 * A host Write call: `text` (UTF-8, `len` bytes, not NUL-terminated in
 * general) followed by a line end if `newline`. WriteLine with no text
 * comes with len 0 and newline 1. Return 0; non-zero stops the receive with
 * WINRSH_EUSER.
 */
typedef int (*winrsh_host_write_cb)(winrsh_host_stream stream, const char *text, size_t len,
                                    int newline, void *payload);

/**
 * ReadLine (Read-Host): write at most size-1 bytes of UTF-8 and a NUL into
 * buf. Return 0 on success; non-zero answers the server with an error (as
 * when no input is available).
 */
typedef int (*winrsh_host_read_line_cb)(char *buf, size_t size, void *payload);

/**
 * Any other host method (MS-PSRP 2.2.3.17 RemoteHostMethodId) that the
 * library does not answer itself. `params` is the list of arguments.
 * Return 0 and put the result (a fresh document; NULL for none) in
 * *result; return 1 to leave the call to the library's default (a RawUI
 * value from the options, or an error for the server); a negative value
 * answers the server with an error.
 *
 * Methods that return nothing (the RawUI setters such as SetWindowTitle
 * (42), SetForegroundColor (28), FlushInputBuffer (47), and the Write
 * methods) come here too, before the library's default, which for the
 * Write methods is host_write: return 0 when the callback has handled the
 * call (e.g. printed Write2 / WriteLine3 text in its colors: params are
 * foreground, background, text), 1 for the default. *result is ignored
 * for them and no response is sent.
 */
typedef int (*winrsh_host_call_cb)(int method_id, const char *method_name,
                                   const winrsh_psobject *params, winrsh_psobject **result,
                                   void *payload);

/**
 * A secret line: ReadLineAsSecureString (Read-Host -AsSecureString), the
 * SecureString fields of Prompt (mandatory [SecureString] parameters,
 * Read-Host -Prompt x -AsSecureString) and, unless host_credential is set,
 * the password of PromptForCredential. As winrsh_host_read_line_cb, but
 * the input must not be shown (read it without echo). The library wipes
 * buf after the call, encrypts the text with the runspace's session key
 * (exchanged with the server on first use: PUBLIC_KEY /
 * ENCRYPTED_SESSION_KEY) and sends only the ciphertext; the text never
 * reaches a trace. Return 0; non-zero answers the server with an error
 * (e.g. cancelled).
 */
typedef int (*winrsh_host_read_secret_cb)(char *buf, size_t size, void *payload);

/**
 * PromptForCredential (Get-Credential, [PSCredential] prompts): the
 * server's caption, message, proposed user name and target name (each
 * UTF-8, "" when not given). Write the user name (NUL-terminated, at most
 * user_size bytes) into `user` and the password into `password`; the
 * library wipes both after the call and sends the password encrypted, as
 * for winrsh_host_read_secret_cb. Return 0; non-zero answers the server
 * with an error (e.g. cancelled).
 */
typedef int (*winrsh_host_credential_cb)(const char *caption, const char *message,
                                         const char *user_name, const char *target_name, char *user,
                                         size_t user_size, char *password, size_t password_size,
                                         void *payload);

/* ---- the runspace pool -------------------------------------------------- */

#define WINRSH_RUNSPACE_OPTIONS_VERSION 3

/**
 * Options for winrsh_runspace_open(); initialise with
 * WINRSH_RUNSPACE_OPTIONS_INIT or winrsh_runspace_options_init(); fields are
 * only ever appended. Strings are copied.
 */
typedef struct winrsh_runspace_options {
    unsigned int version;
    /** PSSessionConfiguration, e.g. "Microsoft.PowerShell" (the default) or a JEA endpoint. */
    const char *config_name;
    /** The terminal: remote formatting wraps at `width` (0: 120 x 50). */
    int width, height;
    const char *window_title;                /**< NULL: "winrsh" */
    winrsh_host_write_cb host_write;         /**< NULL: host output is dropped */
    winrsh_host_read_line_cb host_read_line; /**< NULL: ReadLine fails on the server */
    winrsh_host_call_cb host_call;           /**< NULL: defaults only */
    void *host_payload;
    /** Bound on opening the pool (0: 120000 ms). */
    long open_timeout_ms;
    /* ---- version 2 ---- */
    /** NULL: ReadLineAsSecureString and SecureString prompts fail on the server. */
    winrsh_host_read_secret_cb host_read_secret;
    /** NULL: PromptForCredential through host_write, host_read_line ("User: ")
     *  and host_read_secret ("Password for user X: "), as PowerShell's console. */
    winrsh_host_credential_cb host_credential;
    /* ---- version 3 ---- */
    /**
     * ApplicationArguments of INIT_RUNSPACEPOOL: a dictionary the server
     * shows as $PSSenderInfo.ApplicationArguments (NULL: none). The library
     * keeps a reference (winrsh_psobject_ref) while the pool is open.
     */
    const winrsh_psobject *application_arguments;
    /** Do not load the user's profile on the server (WS-Man: the Create
     *  option WINRS_NOPROFILE; out-of-process servers never load one). */
    int no_profile;
    /** Runspaces in the pool (0: 1 and 1); see also winrsh_runspace_set_max_runspaces. */
    int min_runspaces, max_runspaces;
} winrsh_runspace_options;

#define WINRSH_RUNSPACE_OPTIONS_INIT                                                               \
    {                                                                                              \
        .version = WINRSH_RUNSPACE_OPTIONS_VERSION                                                 \
    }

WINRSH_EXTERN(int)
winrsh_runspace_options_init(winrsh_runspace_options *opts, unsigned int version);

/**
 * Open a runspace pool on the session's endpoint and wait until it is
 * Opened. A pool the server reports Broken fails with WINRSH_EPROTO and the
 * server's reason in winrsh_error_last().
 */
WINRSH_EXTERN(int)
winrsh_runspace_open(winrsh_runspace **out, winrsh_session *session,
                     const winrsh_runspace_options *opts);

/** RunspacePoolState (MS-PSRP 2.2.3.4). */
typedef enum {
    WINRSH_RUNSPACE_BEFORE_OPEN = 0,
    WINRSH_RUNSPACE_OPENING = 1,
    WINRSH_RUNSPACE_OPENED = 2,
    WINRSH_RUNSPACE_CLOSED = 3,
    WINRSH_RUNSPACE_CLOSING = 4,
    WINRSH_RUNSPACE_BROKEN = 5,
    WINRSH_RUNSPACE_CONNECTING = 8,  /**< winrsh_runspace_connect() under way */
    WINRSH_RUNSPACE_DISCONNECTED = 9 /**< winrsh_runspace_disconnect() */
} winrsh_runspace_state;

WINRSH_EXTERN(winrsh_runspace_state) winrsh_runspace_get_state(const winrsh_runspace *rs);

/** The pool's id (RPID; over WS-Man also the ShellId), upper case. Borrowed. */
WINRSH_EXTERN(const char *) winrsh_runspace_id(const winrsh_runspace *rs);

/**
 * The server's ApplicationPrivateData (a dictionary holding e.g.
 * PSVersionTable), or NULL if none came. Borrowed.
 */
WINRSH_EXTERN(const winrsh_psobject *) winrsh_runspace_private_data(const winrsh_runspace *rs);

/**
 * The PSRP protocol version the server announced in its SESSION_CAPABILITY
 * ("2.3" for PowerShell 5.1 and 7, "2.1" for Windows 7 / Server 2008 R2,
 * "2.2" for PowerShell 3 and 4), or NULL before it came. Features newer than
 * the server's version (e.g. RESET_RUNSPACE_STATE, 2.3) are refused. Borrowed.
 */
WINRSH_EXTERN(const char *) winrsh_runspace_protocol_version(const winrsh_runspace *rs);

/**
 * The terminal changed size: pipelines invoked from now on describe a host
 * of this width and height to the server (HostInfo), so that remote
 * formatting (Out-Default) and $Host.UI.RawUI follow the window. Values
 * <= 0 mean 120 x 50.
 */
WINRSH_EXTERN(int) winrsh_runspace_set_window_size(winrsh_runspace *rs, int width, int height);

/** Close the pool now (over WS-Man: Delete the shell). Closing twice is a no-op. */
WINRSH_EXTERN(int) winrsh_runspace_close(winrsh_runspace *rs);

/** Close the pool if still open and free the handle. NULL-safe. */
WINRSH_EXTERN(void) winrsh_runspace_free(winrsh_runspace *rs);

/* ---- pipelines ------------------------------------------------------------ */

/** The streams of a pipeline (values as PipelineResultTypes, MS-PSRP 2.2.3.31). */
typedef enum {
    WINRSH_PS_ERROR = 2,
    WINRSH_PS_WARNING = 3,
    WINRSH_PS_VERBOSE = 4,
    WINRSH_PS_DEBUG = 5,
    WINRSH_PS_INFORMATION = 6
} winrsh_ps_stream;

/** Set in the message callback's flags for an information record tagged
 *  PSHOST (Write-Host), whose text the host Write calls also carry. */
#define WINRSH_MESSAGE_FROM_HOST 1u

/** An output object (borrowed for the call; winrsh_psobject_ref() to keep it). */
typedef int (*winrsh_output_object_cb)(const winrsh_psobject *obj, void *payload);

/**
 * An error record: the record itself and `text`, rendered as PowerShell's
 * console renders it (lines ending in "\n"). `terminating` is 1 for the
 * error a Failed pipeline ended with (ExceptionAsErrorRecord, e.g. throw).
 */
typedef int (*winrsh_error_record_cb)(const winrsh_psobject *record, const char *text,
                                      int terminating, void *payload);

/** A warning, verbose, debug or information record; `text` is its message. */
typedef int (*winrsh_message_cb)(winrsh_ps_stream stream, const char *text,
                                 const winrsh_psobject *record, unsigned int flags, void *payload);

/** A progress record (Write-Progress). Strings may be NULL. */
typedef struct winrsh_progress {
    const char *activity;
    const char *status;
    const char *current_operation;
    int activity_id;
    int parent_activity_id; /**< -1: none */
    int percent_complete;   /**< -1: unknown */
    int seconds_remaining;  /**< -1: unknown */
    int completed;          /**< the activity has ended */
} winrsh_progress;

typedef int (*winrsh_progress_cb)(const winrsh_progress *progress, void *payload);

#define WINRSH_PIPELINE_OPTIONS_VERSION 2

/** Options for winrsh_pipeline_new(); fields are only ever appended. */
typedef struct winrsh_pipeline_options {
    unsigned int version;
    /** 1: the pipeline reads input sent with winrsh_pipeline_send_input*()
     *  until winrsh_pipeline_end_input(); 0: NoInput. */
    int input;
    int add_to_history;
    winrsh_output_object_cb output; /**< NULL: output is dropped */
    winrsh_error_record_cb error;   /**< NULL: errors are only counted */
    winrsh_message_cb message;      /**< NULL: dropped */
    winrsh_progress_cb progress;    /**< NULL: dropped */
    void *payload;
    /* ---- version 2 ---- */
    /**
     * A nested pipeline (IsNested): it runs on the thread of a pipeline
     * already running in the pool, e.g. to read that pipeline's variables
     * while it is busy (MS-PSRP 3.1.4.3; the server allows it only while
     * another pipeline runs).
     */
    int nested;
} winrsh_pipeline_options;

#define WINRSH_PIPELINE_OPTIONS_INIT                                                               \
    {                                                                                              \
        .version = WINRSH_PIPELINE_OPTIONS_VERSION                                                 \
    }

WINRSH_EXTERN(int)
winrsh_pipeline_options_init(winrsh_pipeline_options *opts, unsigned int version);

/** A new, empty pipeline in `rs` (nothing is sent yet). */
WINRSH_EXTERN(int)
winrsh_pipeline_new(winrsh_pipeline **out, winrsh_runspace *rs,
                    const winrsh_pipeline_options *opts);

/** Append a script command (IsScript): PowerShell code, run in a new scope. */
WINRSH_EXTERN(int) winrsh_pipeline_add_script(winrsh_pipeline *p, const char *script);
/** Append a command by name (a cmdlet, function or program). */
WINRSH_EXTERN(int) winrsh_pipeline_add_command(winrsh_pipeline *p, const char *name);
/** Add a named parameter to the last command; value NULL is $null. The
 *  value's document gets a reference (the caller keeps its own). */
WINRSH_EXTERN(int)
winrsh_pipeline_add_parameter(winrsh_pipeline *p, const char *name, const winrsh_psobject *value);
/** A named parameter with a string value. */
WINRSH_EXTERN(int)
winrsh_pipeline_add_parameter_string(winrsh_pipeline *p, const char *name, const char *value);
/** A switch parameter (-Name). */
WINRSH_EXTERN(int) winrsh_pipeline_add_switch(winrsh_pipeline *p, const char *name);
/** A positional argument to the last command. */
WINRSH_EXTERN(int) winrsh_pipeline_add_argument(winrsh_pipeline *p, const winrsh_psobject *value);
WINRSH_EXTERN(int) winrsh_pipeline_add_argument_string(winrsh_pipeline *p, const char *value);
/** Merge the last command's error stream into its output (2>&1): error
 *  records then arrive as output objects. */
WINRSH_EXTERN(int) winrsh_pipeline_merge_errors(winrsh_pipeline *p);

/** Start the pipeline on the server. */
WINRSH_EXTERN(int) winrsh_pipeline_invoke(winrsh_pipeline *p);

/**
 * Queue one input object (input pipelines only). Input is sent in batches
 * that fit the transport; winrsh_pipeline_receive() and end_input flush.
 */
WINRSH_EXTERN(int) winrsh_pipeline_send_input(winrsh_pipeline *p, const winrsh_psobject *obj);
/** Queue one string of input (`len` bytes of UTF-8). */
WINRSH_EXTERN(int) winrsh_pipeline_send_input_string(winrsh_pipeline *p, const char *s, size_t len);
/** Send what is queued and END_OF_PIPELINE_INPUT. */
WINRSH_EXTERN(int) winrsh_pipeline_end_input(winrsh_pipeline *p);

/**
 * One receive round: send queued input, wait up to timeout_ms (0: the
 * session's OperationTimeout) for data, deliver it through the callbacks.
 * Nothing arriving in time is not an error. *done (may be NULL) becomes 1
 * once the pipeline has reached a final state (Completed, Failed, Stopped).
 */
WINRSH_EXTERN(int) winrsh_pipeline_receive(winrsh_pipeline *p, long timeout_ms, int *done);

/** Receive until the pipeline reaches a final state. */
WINRSH_EXTERN(int) winrsh_pipeline_wait(winrsh_pipeline *p);

/**
 * Ask the server to stop the pipeline (Ctrl-C); keep receiving to see it
 * reach Stopped (or Completed, if it ended first). Stopping twice is a no-op.
 */
WINRSH_EXTERN(int) winrsh_pipeline_stop(winrsh_pipeline *p);

/** PSInvocationState (MS-PSRP 2.2.3.5). */
typedef enum {
    WINRSH_PIPELINE_NOT_STARTED = 0,
    WINRSH_PIPELINE_RUNNING = 1,
    WINRSH_PIPELINE_STOPPING = 2,
    WINRSH_PIPELINE_STOPPED = 3,
    WINRSH_PIPELINE_COMPLETED = 4,
    WINRSH_PIPELINE_FAILED = 5,
    WINRSH_PIPELINE_DISCONNECTED = 6
} winrsh_pipeline_state;

WINRSH_EXTERN(winrsh_pipeline_state) winrsh_pipeline_get_state(const winrsh_pipeline *p);

/** The pipeline's id (PID; over WS-Man also the CommandId), upper case. Borrowed. */
WINRSH_EXTERN(const char *) winrsh_pipeline_id(const winrsh_pipeline *p);

/**
 * 1 and *code if the script asked the host to exit (`exit N`, i.e.
 * SetShouldExit(N)); 0 otherwise.
 */
WINRSH_EXTERN(int) winrsh_pipeline_exit_code(const winrsh_pipeline *p, int *code);

/** Error records seen so far, the terminating one of a Failed pipeline included. */
WINRSH_EXTERN(size_t) winrsh_pipeline_error_count(const winrsh_pipeline *p);

/** The error record a Failed pipeline ended with, or NULL. Borrowed. */
WINRSH_EXTERN(const winrsh_psobject *) winrsh_pipeline_failure(const winrsh_pipeline *p);

/**
 * Free the pipeline. A pipeline still running is stopped first; the server
 * is told to release it (over WS-Man: Signal terminate). NULL-safe.
 */
WINRSH_EXTERN(void) winrsh_pipeline_free(winrsh_pipeline *p);

/* ---- pool management and command metadata -------------------------------- */

/*
 * Calls on the pool itself (MS-PSRP 3.1.4.5-3.1.4.8): each sends one
 * message to the pool and waits, at most timeout_ms (0: 60 s), for the
 * server's answer (RUNSPACE_AVAILABILITY with the same call id); a pool
 * that breaks meanwhile fails the call with WINRSH_ECLOSED, no answer in
 * time with WINRSH_ETIMEOUT. They work over WS-Man and out-of-process
 * alike. While a call waits, messages for running pipelines (out of
 * process) and host calls are dispatched as in winrsh_pipeline_receive().
 * Out parameters are set to 0 on failure.
 */

/**
 * SET_MAX_RUNSPACES: allow up to `max_runspaces` runspaces in the pool.
 * *accepted (may be NULL) is 1 if the server took the new size, 0 if it
 * refused it (e.g. below the minimum, or not positive): a refusal is an
 * answer, not an error.
 */
WINRSH_EXTERN(int)
winrsh_runspace_set_max_runspaces(winrsh_runspace *rs, int max_runspaces, long timeout_ms,
                                  int *accepted);

/** SET_MIN_RUNSPACES: keep at least `min_runspaces` open; as above. */
WINRSH_EXTERN(int)
winrsh_runspace_set_min_runspaces(winrsh_runspace *rs, int min_runspaces, long timeout_ms,
                                  int *accepted);

/**
 * GET_AVAILABLE_RUNSPACES: how many more pipelines the pool could run at
 * once now (its maximum less those busy).
 */
WINRSH_EXTERN(int)
winrsh_runspace_available(winrsh_runspace *rs, long timeout_ms, long long *count);

/**
 * RESET_RUNSPACE_STATE (protocol 2.3): reset the runspace's session state
 * (variables, functions...) as after opening it, without reopening it.
 * *reset (may be NULL) is 1 if the server did it, 0 if it declined (e.g.
 * while a pipeline runs, or for a pool of more than one runspace). A server
 * that announced a protocol older than 2.3 is not asked: WINRSH_EPROTO.
 */
WINRSH_EXTERN(int) winrsh_runspace_reset_state(winrsh_runspace *rs, long timeout_ms, int *reset);

/**
 * Run the SecureString session key exchange now rather than on first use:
 * send PUBLIC_KEY (once per pool) and wait at most timeout_ms (0: 30 s)
 * for the server's ENCRYPTED_SESSION_KEY. 0 at once if the key is already
 * there; WINRSH_ETIMEOUT if it does not come in time (a later call waits
 * again, without sending the key twice).
 */
WINRSH_EXTERN(int) winrsh_runspace_exchange_key(winrsh_runspace *rs, long timeout_ms);

/** CommandTypes (MS-PSRP 2.2.3.19), a bit mask. */
typedef enum {
    WINRSH_COMMAND_TYPE_ALIAS = 0x001,
    WINRSH_COMMAND_TYPE_FUNCTION = 0x002,
    WINRSH_COMMAND_TYPE_FILTER = 0x004,
    WINRSH_COMMAND_TYPE_CMDLET = 0x008,
    WINRSH_COMMAND_TYPE_EXTERNAL_SCRIPT = 0x010,
    WINRSH_COMMAND_TYPE_APPLICATION = 0x020,
    WINRSH_COMMAND_TYPE_SCRIPT = 0x040,
    WINRSH_COMMAND_TYPE_WORKFLOW = 0x080,
    WINRSH_COMMAND_TYPE_CONFIGURATION = 0x100,
    WINRSH_COMMAND_TYPE_ALL = 0x1FF
} winrsh_command_type;

/**
 * Make the new pipeline `p` a GET_COMMAND_METADATA call (MS-PSRP 2.2.2.14)
 * instead of a pipeline of commands: winrsh_pipeline_invoke() sends it in
 * place of CREATE_PIPELINE, and the commands whose names match one of the
 * `names` patterns (wildcards as Get-Command -Name: "Get-Item*"), of the
 * `command_types` (a winrsh_command_type mask; 0: all) and, if
 * nnamespaces > 0, from one of the `namespaces` (module names) arrive as
 * output objects: one CommandMetadata object (2.2.3.22) per command, with
 * Name, Namespace, CommandType, OutputType, Parameters... Errors, state,
 * stop and free work as for any pipeline. It needs opts.input 0 and no
 * commands added; strings are copied.
 *
 * Why a pipeline and not a function returning a list: the reply is a
 * pipeline's reply (output, errors, PIPELINE_STATE), possibly long (all
 * commands of a server, with their parameters, run to megabytes), so it
 * streams through the callbacks the caller already has, can be stopped,
 * and needs no new list type to own and free.
 */
WINRSH_EXTERN(int)
winrsh_pipeline_get_command_metadata(winrsh_pipeline *p, const char *const *names, size_t nnames,
                                     unsigned int command_types, const char *const *namespaces,
                                     size_t nnamespaces);

/**
 * The server's count of matching commands, which it sends before them
 * (CommandMetadataCount, 2.2.3.21) and which is therefore not passed to
 * the output callback: 1 and *count once it came, 0 otherwise (and for a
 * pipeline that is no command metadata call).
 */
WINRSH_EXTERN(int)
winrsh_pipeline_command_metadata_count(const winrsh_pipeline *p, long long *count);

/* ---- disconnected pools and liveness ------------------------------------- */

/*
 * A pool on a WS-Man endpoint (http://, https://) can outlive the client's
 * connection (MS-PSRP 3.1.4.9-3.1.4.11; Disconnect-PSSession,
 * Connect-PSSession): winrsh_runspace_disconnect() leaves it and its
 * running pipelines on the server, winrsh_runspace_reconnect() takes it
 * back, and another process (or this one, later) finds it with
 * winrsh_runspace_list() and attaches with winrsh_runspace_connect().
 *
 *     winrsh_runspace_disconnect(rs, NULL);
 *     winrsh_runspace_free(rs);             // the pool stays on the server
 *     ...
 *     winrsh_runspace_infos *l;
 *     winrsh_runspace_list(&l, session, NULL);
 *     const winrsh_runspace_info *i = winrsh_runspace_infos_get(l, 0);
 *     winrsh_runspace_connect(&rs, session, i->id, NULL);
 *     winrsh_runspace_infos_free(l);
 *
 * Out-of-process transports (process://, ssh://, vmbus://, vsock://,
 * unix://) end the pool with their connection: there, every function of this
 * section fails with WINRSH_EINVAL (class WINRSH_ERRCLASS_INVALID) and a
 * message saying the transport cannot.
 */

/** How the server treats a disconnected pool's output (MS-WSMV 2.2.5.10). */
typedef enum {
    WINRSH_BUFFER_DEFAULT = 0, /**< the server's setting (Block on Windows) */
    WINRSH_BUFFER_BLOCK = 1,   /**< pipelines wait while their output is full */
    WINRSH_BUFFER_DROP = 2     /**< old output is dropped to make room */
} winrsh_buffer_mode;

#define WINRSH_DISCONNECT_OPTIONS_VERSION 1

/** Options for winrsh_runspace_disconnect(); fields are only ever appended. */
typedef struct winrsh_disconnect_options {
    unsigned int version;
    /** How long the server keeps the pool while nobody is connected; 0 keeps
     *  the timeout the pool was created with (Windows: 2 hours). */
    long idle_timeout_ms;
    winrsh_buffer_mode buffer_mode;
} winrsh_disconnect_options;

#define WINRSH_DISCONNECT_OPTIONS_INIT                                                             \
    {                                                                                              \
        .version = WINRSH_DISCONNECT_OPTIONS_VERSION                                               \
    }

WINRSH_EXTERN(int)
winrsh_disconnect_options_init(winrsh_disconnect_options *opts, unsigned int version);

/**
 * Disconnect an Opened pool (opts NULL: defaults). It becomes
 * WINRSH_RUNSPACE_DISCONNECTED; on the server it and its pipelines go on
 * running, their output buffered. While disconnected no pipeline can be
 * created, invoked or received from; winrsh_runspace_free() then frees only
 * the handle and leaves the pool on the server, winrsh_runspace_close()
 * deletes it there.
 */
WINRSH_EXTERN(int)
winrsh_runspace_disconnect(winrsh_runspace *rs, const winrsh_disconnect_options *opts);

/**
 * Take a pool this handle disconnected back (MS-PSRP 3.1.4.10.2): it is
 * Opened again and its pipelines can be received from. A server that
 * refuses (e.g. the pool timed out) leaves it WINRSH_RUNSPACE_BROKEN with
 * the fault in winrsh_error_last().
 */
WINRSH_EXTERN(int) winrsh_runspace_reconnect(winrsh_runspace *rs);

/** One pool the server holds, as winrsh_runspace_list() found it. */
typedef struct winrsh_runspace_info {
    const char *id;           /**< the RPID / ShellId, for winrsh_runspace_connect() */
    const char *config_name;  /**< e.g. "Microsoft.PowerShell" */
    const char *resource_uri; /**< ".../powershell/<config_name>" */
    const char *owner;        /**< the user, e.g. "HOST\user" (NULL: not given) */
    const char *client_ip;    /**< where it was created from (NULL: not given) */
    /** The server's word for its state, e.g. "Connected", "Disconnected". */
    const char *state;
    int disconnected; /**< state is "Disconnected": winrsh_runspace_connect() can attach */
    /** The idle timeout in ms, -1 if not given. */
    long idle_timeout_ms;
    /** The ids of its pipelines (commands) still known to the server. */
    const char *const *pipeline_ids;
    size_t pipeline_count;
} winrsh_runspace_info;

/** The result of winrsh_runspace_list(). */
typedef struct winrsh_runspace_infos winrsh_runspace_infos;

/**
 * List the runspace pools the server holds for this user (WS-Enumeration of
 * the shells, then of each pool's commands), connected or not, created by
 * this process or any other. config_name (NULL: all) keeps only the pools
 * of that configuration; shells that are not PowerShell pools (cmd) are
 * never listed.
 */
WINRSH_EXTERN(int)
winrsh_runspace_list(winrsh_runspace_infos **out, winrsh_session *session, const char *config_name);
WINRSH_EXTERN(size_t) winrsh_runspace_infos_count(const winrsh_runspace_infos *l);
/** The i-th pool, or NULL past the end. Borrowed from `l`. */
WINRSH_EXTERN(const winrsh_runspace_info *)
winrsh_runspace_infos_get(const winrsh_runspace_infos *l, size_t i);
/** NULL-safe. */
WINRSH_EXTERN(void) winrsh_runspace_infos_free(winrsh_runspace_infos *l);

/**
 * Attach to the disconnected pool `id` (from winrsh_runspace_list(), or
 * known from when this or another process created it) and wait until it is
 * Opened (MS-PSRP 3.1.4.10.3). Of `opts` (NULL: defaults) these count:
 * config_name (it must be the pool's), open_timeout_ms, the host callbacks
 * (the server keeps the host the pool was created with), and
 * min_runspaces / max_runspaces (0: leave the pool's). The server refuses
 * a pool that another client holds connected (WINRSH_EFAULT).
 */
WINRSH_EXTERN(int)
winrsh_runspace_connect(winrsh_runspace **out, winrsh_session *session, const char *id,
                        const winrsh_runspace_options *opts);

/**
 * Ask the server whether the pool still exists (a WS-Transfer Get of its
 * shell): *alive is 1 if it does, connected or disconnected, and 0 if the
 * server no longer knows it (closed, timed out, killed) or it was closed
 * here. A pool found gone becomes WINRSH_RUNSPACE_BROKEN, its pipelines
 * end, and closing or freeing it sends nothing more. Any other answer, or
 * no answer, is an error, leaves *alive 0 and the state as it was.
 */
WINRSH_EXTERN(int) winrsh_runspace_is_alive(winrsh_runspace *rs, int *alive);

WINRSH_END_DECL

#endif
