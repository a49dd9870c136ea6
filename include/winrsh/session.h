/*
 * session.h: one endpoint with its transport and credentials.
 *
 * A session is used by one thread at a time; separate sessions are
 * independent. Over HTTP(S) it holds one keep-alive connection.
 */
#ifndef WINRSH_SESSION_H
#define WINRSH_SESSION_H

#include "common.h"

WINRSH_BEGIN_DECL

typedef struct winrsh_session winrsh_session;

/** Authentication mechanisms, as a bit set of what the caller allows. */
typedef enum {
    WINRSH_AUTH_BASIC = 1u << 0,
    WINRSH_AUTH_NTLM = 1u << 1,
    WINRSH_AUTH_KERBEROS = 1u << 2,
    WINRSH_AUTH_NEGOTIATE = 1u << 3,
    WINRSH_AUTH_CREDSSP = 1u << 4,
    WINRSH_AUTH_CERTIFICATE = 1u << 5
} winrsh_auth_mech;

/** What a trace line shows. Secrets are already redacted. */
typedef enum {
    WINRSH_TRACE_INFO = 0,  /**< progress (-v) */
    WINRSH_TRACE_HEADER_OUT,
    WINRSH_TRACE_HEADER_IN,
    WINRSH_TRACE_DATA_OUT,
    WINRSH_TRACE_DATA_IN
} winrsh_trace_kind;

/** Receives trace output; `text` is not NUL-terminated. */
typedef void (*winrsh_trace_cb)(winrsh_trace_kind kind, const char *text, size_t len,
                                void *payload);

#define WINRSH_SESSION_OPTIONS_VERSION 1

/**
 * Options for winrsh_session_open(). Initialise with
 * WINRSH_SESSION_OPTIONS_INIT or winrsh_session_options_init(); fields are
 * only ever appended. Strings are copied; the password is wiped when the
 * session is freed.
 */
typedef struct winrsh_session_options {
    unsigned int version;
    const char *user;       /**< "user", "DOMAIN\\user" or "user@REALM" */
    const char *password;   /**< NULL for none */
    unsigned int auth;      /**< winrsh_auth_mech bits allowed; 0 = default */
    int allow_unencrypted;  /**< permit unencrypted bodies over plain HTTP */
    long connect_timeout_ms; /**< 0 = 30000 */
    long operation_timeout_ms; /**< WS-Man OperationTimeout; 0 = 20000 */
    unsigned long max_envelope_size; /**< bytes; 0 = 512000 */
    const char *locale;     /**< xml:lang of w:Locale; NULL = "en-US" */
    winrsh_trace_cb trace;  /**< NULL for none */
    int trace_level;        /**< 0 none, 1 progress, 2 wire */
    void *trace_payload;
    const char *cacert;      /**< PEM file of trusted CAs; NULL = the system store */
    int insecure;            /**< skip TLS certificate verification (say so loudly) */
    const char *client_cert; /**< PEM client certificate (WINRSH_AUTH_CERTIFICATE) */
    const char *client_key;  /**< PEM private key of client_cert */
    const char *spn;         /**< Kerberos service name; NULL = HTTP@host */
    const char *config_dir;  /**< where the TrustedHosts list lives; NULL = the default */
    /** Comma-separated TrustedHosts patterns used instead of the list in
     *  config_dir (for embedders that keep their own); NULL = the file. */
    const char *trusted_hosts;
    /** ssh:// targets: values passed to ssh as `-o VALUE`, in order. */
    const char *const *ssh_options;
    size_t ssh_option_count;
} winrsh_session_options;

#define WINRSH_SESSION_OPTIONS_INIT {.version = WINRSH_SESSION_OPTIONS_VERSION}

/** Fill `opts` with defaults. Returns 0, or WINRSH_EINVAL for a bad version. */
WINRSH_EXTERN(int) winrsh_session_options_init(winrsh_session_options *opts, unsigned int version);

/**
 * Open a session. `url` is a WS-Management endpoint ("http://host:5985/wsman",
 * "https://host:5986/wsman") or an out-of-process PowerShell endpoint that
 * only runspaces can use: "process:///path/to/pwsh" (a local pwsh -s),
 * "ssh://[USER@]HOST[:PORT]" (OpenSSH's powershell subsystem),
 * "vmbus://VMID[/CONFIG]" (PowerShell Direct; user and password from the
 * options), "vsock://CID:PORT", "unix:///path". No traffic is sent and no
 * process started until the first operation.
 */
WINRSH_EXTERN(int) winrsh_session_open(winrsh_session **out, const char *url,
                                      const winrsh_session_options *opts);

/**
 * Interrupt the operation that is waiting on this session. Safe to call from
 * a signal handler. While winrsh_command_receive() waits, the first
 * interrupt sends ctrl_c to that command over a second connection and the
 * receive goes on, so the output the command prints as it stops is not lost
 * (winrsh_command_ctrl_c_sent() tells). Otherwise, or on a second interrupt,
 * the waiting call returns WINRSH_EINTR soon; a request that has already
 * started to receive its answer is allowed to finish.
 */
WINRSH_EXTERN(void) winrsh_session_interrupt(winrsh_session *session);

/** The URL the session talks to. Borrowed. */
WINRSH_EXTERN(const char *) winrsh_session_url(const winrsh_session *session);

/** How many HTTP requests the session has sent (for diagnostics and benchmarks). */
WINRSH_EXTERN(unsigned long) winrsh_session_request_count(const winrsh_session *session);

/**
 * Identify the endpoint (MS-WSMV 3.1.4.1.23). The strings are copied into
 * the caller's buffers (each `size` bytes, NUL-terminated, may be NULL).
 */
WINRSH_EXTERN(int) winrsh_session_identify(winrsh_session *session, char *vendor, size_t vendor_size,
                                          char *version, size_t version_size);

/** Close the connection and wipe the credentials. NULL-safe. */
WINRSH_EXTERN(void) winrsh_session_free(winrsh_session *session);

WINRSH_END_DECL

#endif
