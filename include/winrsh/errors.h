/*
 * errors.h: the one error model of libwinrsh.
 *
 * Every function that can fail returns an int: 0 on success or a negative
 * WINRSH_E* code. The details of the most recent failure on the calling thread
 * are in winrsh_error_last(): a message meant for people, the class of the
 * layer that failed, the HTTP status, GSSAPI status codes and, for a WS-Man
 * fault, the parsed fault with its nested provider faults.
 */
#ifndef WINRSH_ERRORS_H
#define WINRSH_ERRORS_H

#include "common.h"

WINRSH_BEGIN_DECL

/** Return codes. */
typedef enum {
    WINRSH_OK = 0,
    WINRSH_ERROR = -1,     /**< generic failure */
    WINRSH_ENOMEM = -2,    /**< out of memory */
    WINRSH_EINVAL = -3,    /**< invalid argument or option */
    WINRSH_EAUTH = -4,     /**< authentication failed or not possible */
    WINRSH_ECERT = -5,     /**< TLS certificate problem */
    WINRSH_ETRUST = -6,    /**< refused by policy (TrustedHosts, unencrypted) */
    WINRSH_ETIMEOUT = -7,  /**< a bounded wait ran out */
    WINRSH_EFAULT = -8,    /**< the server answered with a WS-Man/SOAP fault */
    WINRSH_EPROTO = -9,    /**< the peer broke the protocol */
    WINRSH_ECLOSED = -10,  /**< the connection or remote object is gone */
    WINRSH_EUSER = -11,    /**< a callback asked to stop */
    WINRSH_ECONNECT = -12, /**< could not connect (refused, unreachable, DNS) */
    WINRSH_EINTR = -13,    /**< interrupted by winrsh_session_interrupt() */
    WINRSH_EIO = -14       /**< a local I/O error */
} winrsh_error_code;

/** Which layer produced the error. */
typedef enum {
    WINRSH_ERRCLASS_NONE = 0,
    WINRSH_ERRCLASS_OS,
    WINRSH_ERRCLASS_HTTP,
    WINRSH_ERRCLASS_TLS,
    WINRSH_ERRCLASS_AUTH,
    WINRSH_ERRCLASS_GSS,
    WINRSH_ERRCLASS_SOAP,
    WINRSH_ERRCLASS_PSRP,
    WINRSH_ERRCLASS_INVALID,
    WINRSH_ERRCLASS_NOMEMORY
} winrsh_error_class;

/**
 * A WS-Management fault (MS-WSMV 2.2.4.43), as parsed from the SOAP body.
 * Strings are NULL when the fault did not carry them.
 */
typedef struct winrsh_fault {
    const char *code;       /**< s:Code/s:Value, e.g. "s:Receiver" */
    const char *subcode;    /**< s:Subcode/s:Value, e.g. "w:TimedOut" */
    const char *reason;     /**< s:Reason/s:Text */
    const char *machine;    /**< f:WSManFault/@Machine */
    const char *message;    /**< f:WSManFault/f:Message text (trimmed) */
    uint32_t wsman_code;    /**< f:WSManFault/@Code, 0 if absent */
    /** f:Message/f:ProviderFault/f:WSManFault, nested; NULL if none. */
    const struct winrsh_fault *provider;
    const char *provider_name; /**< f:ProviderFault/@provider, if any */
} winrsh_fault;

/** Details of the last error on this thread. */
typedef struct winrsh_error {
    int code;                  /**< the WINRSH_E* value that was returned */
    winrsh_error_class klass;  /**< which layer failed */
    const char *message;       /**< one line, never NULL, never holds secrets */
    long http_status;          /**< HTTP status of the failed exchange, or 0 */
    uint32_t gss_major;        /**< GSSAPI major status, or 0 */
    uint32_t gss_minor;        /**< GSSAPI minor status, or 0 */
    const winrsh_fault *fault; /**< the parsed fault for WINRSH_EFAULT, or NULL */
} winrsh_error;

/**
 * The last error raised on the calling thread. The pointer stays valid until
 * the next failing call on this thread; never NULL (a thread with no error
 * gets a record with code 0 and an empty message).
 */
WINRSH_EXTERN(const winrsh_error *) winrsh_error_last(void);

/** Forget the last error of the calling thread. */
WINRSH_EXTERN(void) winrsh_error_clear(void);

/** A short constant name for a code, e.g. "WINRSH_EAUTH". */
WINRSH_EXTERN(const char *) winrsh_error_name(int code);

WINRSH_END_DECL

#endif
