/*
 * shell.h: the WinRS cmd shell (MS-WSMV 3.1.4.11 to 3.1.4.14).
 *
 * winrsh_shell_open() creates a remote shell; winrsh_command_start() runs a
 * command in it; output arrives through a callback while
 * winrsh_command_receive() or winrsh_command_wait() run; stdin goes with
 * winrsh_command_send(). winrsh_shell_free() deletes the remote shell.
 */
#ifndef WINRSH_SHELL_H
#define WINRSH_SHELL_H

#include "common.h"
#include "session.h"

WINRSH_BEGIN_DECL

typedef struct winrsh_shell winrsh_shell;
typedef struct winrsh_command winrsh_command;

#define WINRSH_SHELL_OPTIONS_VERSION 1

/** Options for winrsh_shell_open(); only ever appended to. */
typedef struct winrsh_shell_options {
    unsigned int version;
    unsigned int codepage;          /**< WINRS_CODEPAGE; 0 = 65001 (UTF-8) */
    const char *working_directory;  /**< NULL = the server's default */
    const char *const *environment; /**< "NAME=VALUE" strings, NULL-terminated; may be NULL */
    int no_profile;                 /**< WINRS_NOPROFILE=TRUE */
    unsigned long idle_timeout_s;   /**< rsp:IdleTimeOut; 0 = the server's default */
} winrsh_shell_options;

#define WINRSH_SHELL_OPTIONS_INIT {.version = WINRSH_SHELL_OPTIONS_VERSION}

WINRSH_EXTERN(int) winrsh_shell_options_init(winrsh_shell_options *opts, unsigned int version);

/** Create a remote cmd shell. */
WINRSH_EXTERN(int) winrsh_shell_open(winrsh_shell **out, winrsh_session *session,
                                    const winrsh_shell_options *opts);

/** The ShellId the server handed out (old servers prefix "uuid:"). Borrowed. */
WINRSH_EXTERN(const char *) winrsh_shell_id(const winrsh_shell *shell);

/**
 * Delete the remote shell now. Returns the result of the Delete; the handle
 * must still be freed. Deleting twice is a no-op.
 */
WINRSH_EXTERN(int) winrsh_shell_close(winrsh_shell *shell);

/** Delete the remote shell (if still open) and free the handle. NULL-safe. */
WINRSH_EXTERN(void) winrsh_shell_free(winrsh_shell *shell);

/** The output streams of a WinRS command. */
typedef enum { WINRSH_STREAM_STDOUT = 1, WINRSH_STREAM_STDERR = 2 } winrsh_stream;

/**
 * Receives output as it arrives, decoded from base64 but otherwise exactly the
 * bytes the server sent. Return 0 to continue; non-zero stops the receive with
 * WINRSH_EUSER.
 */
typedef int (*winrsh_output_cb)(winrsh_stream stream, const unsigned char *data, size_t len,
                                void *payload);

#define WINRSH_COMMAND_OPTIONS_VERSION 1

typedef struct winrsh_command_options {
    unsigned int version;
    winrsh_output_cb output; /**< NULL discards output */
    void *payload;
    int console_mode_stdin;  /**< WINRS_CONSOLEMODE_STDIN=TRUE */
    int skip_cmd_shell;      /**< WINRS_SKIP_CMD_SHELL=TRUE */
} winrsh_command_options;

#define WINRSH_COMMAND_OPTIONS_INIT {.version = WINRSH_COMMAND_OPTIONS_VERSION}

WINRSH_EXTERN(int) winrsh_command_options_init(winrsh_command_options *opts, unsigned int version);

/**
 * Start `command` with `nargs` arguments (each sent as its own rsp:Arguments).
 * The handle belongs to the caller and must not outlive its shell.
 */
WINRSH_EXTERN(int) winrsh_command_start(winrsh_command **out, winrsh_shell *shell,
                                       const char *command, const char *const *args,
                                       size_t nargs, const winrsh_command_options *opts);

/** The CommandId the server handed out. Borrowed. */
WINRSH_EXTERN(const char *) winrsh_command_id(const winrsh_command *cmd);

/**
 * Send bytes to the command's stdin; `end` non-zero closes stdin after them
 * (len may be 0 then). Large buffers are split to fit MaxEnvelopeSize.
 */
WINRSH_EXTERN(int) winrsh_command_send(winrsh_command *cmd, const void *data, size_t len, int end);

/**
 * The most bytes one winrsh_command_send() carries in a single request (its
 * envelope, with base64's 4/3 growth, stays under the server's smallest
 * MaxEnvelopeSize). A caller that sends at most this much per call knows
 * that a refused Send (w:TimedOut: the command's stdin queue is full) sent
 * none of its bytes, so it can offer the same bytes again. 0 for NULL.
 * (Added with issue 7; additive.)
 */
WINRSH_EXTERN(size_t) winrsh_command_send_max(const winrsh_command *cmd);

/**
 * One Receive round: deliver whatever output is ready through the callback.
 * `timeout_ms` is this request's OperationTimeout (0 = the session's); when
 * it passes with no output (the server's w:TimedOut fault) the call returns 0
 * with *done = 0, so the caller may send input and receive again.
 * *done becomes 1 when the command has finished.
 */
WINRSH_EXTERN(int) winrsh_command_receive(winrsh_command *cmd, long timeout_ms, int *done);

/** Receive until the command finishes; then *exit_code is its exit code. */
WINRSH_EXTERN(int) winrsh_command_wait(winrsh_command *cmd, int *exit_code);

/** Whether the command finished, and its exit code (valid when finished). */
WINRSH_EXTERN(int) winrsh_command_done(const winrsh_command *cmd, int *exit_code);

/** Whether an interrupt (winrsh_session_interrupt) already sent ctrl_c to
 *  this command during a receive. */
WINRSH_EXTERN(int) winrsh_command_ctrl_c_sent(const winrsh_command *cmd);

/** Signals (MS-WSMV 2.2.4.38). */
typedef enum {
    WINRSH_SIGNAL_CTRL_C = 1,
    WINRSH_SIGNAL_CTRL_BREAK = 2,
    WINRSH_SIGNAL_TERMINATE = 3
} winrsh_signal;

/** Send a signal to the running command. */
WINRSH_EXTERN(int) winrsh_command_signal(winrsh_command *cmd, winrsh_signal sig);

/**
 * Free the handle; if the command had not been terminated it is sent
 * the terminate signal first (errors ignored). NULL-safe.
 */
WINRSH_EXTERN(void) winrsh_command_free(winrsh_command *cmd);

/**
 * Free the handle like winrsh_command_free(), but without the terminate
 * signal: for a caller that deletes the shell next (winrsh_shell_close() or
 * winrsh_shell_free()), since deleting a shell ends its commands and frees
 * their resources (MS-WSMV 3.1.4.4.1), so the signal would be a wasted
 * request. A caller that keeps using the shell must use
 * winrsh_command_free() instead, or the finished command holds server
 * resources until the shell goes. NULL-safe. (Added with issue 7; additive.)
 */
WINRSH_EXTERN(void) winrsh_command_free_nosignal(winrsh_command *cmd);

WINRSH_END_DECL

#endif
