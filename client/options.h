/*
 * options.h: the command line of the winrsh program (ARCHITECTURE.md 4).
 *
 * winrsh_cli_parse() is a pure function of argv (it reads no files, no
 * environment, no terminal) so tests/unit/test_options.c can pin the
 * contract scripts rely on. Strings in struct cli_options either point into
 * argv or into the struct's own buffers: nothing to free.
 */
#ifndef WINRSH_CLI_OPTIONS_H
#define WINRSH_CLI_OPTIONS_H

#include <stddef.h>

/* What the invocation asks for. */
enum cli_action {
    CLI_ACTION_RUN = 0,      /* TARGET [COMMAND]: run a command or the REPL */
    CLI_ACTION_HELP,         /* -h, --help */
    CLI_ACTION_VERSION,      /* --version */
    CLI_ACTION_TRUSTED_HOSTS /* --trusted-hosts ... (no TARGET) */
};

/* Which transport the TARGET's scheme picked. */
enum cli_transport {
    CLI_TRANSPORT_HTTP = 0,
    CLI_TRANSPORT_HTTPS,
    CLI_TRANSPORT_SSH,
    CLI_TRANSPORT_VMBUS,
    CLI_TRANSPORT_VSOCK,
    CLI_TRANSPORT_PROCESS,
    CLI_TRANSPORT_UNIX
};

enum cli_shell { CLI_SHELL_CMD = 0, CLI_SHELL_POWERSHELL };

/* The shell used when --shell is not given (ARCHITECTURE.md 4). */
#define CLI_DEFAULT_SHELL CLI_SHELL_POWERSHELL

enum cli_output { CLI_OUTPUT_TEXT = 0, CLI_OUTPUT_JSON };

enum cli_th_op { CLI_TH_NONE = 0, CLI_TH_LIST, CLI_TH_ADD, CLI_TH_REMOVE, CLI_TH_CLEAR };

#define CLI_PORT_HTTP 5985
#define CLI_PORT_HTTPS 5986
#define CLI_DEFAULT_CODEPAGE 65001u
#define CLI_MAX_SSH_OPTIONS 32

struct cli_options {
    enum cli_action action;

    /* TARGET as given, then what it resolved to. */
    const char *target;
    enum cli_transport transport;
    char url[2048];    /* http(s)://HOST:PORT/path for HTTP(S); the raw URL otherwise */
    char host[512];    /* for messages and the REPL prompt; IPv6 without brackets */
    unsigned int port; /* resolved port for HTTP(S), 0 otherwise */

    /* -u/--user, or USER@ from TARGET (copied into user_buf). NULL if none. */
    const char *user;
    char user_buf[512];

    unsigned int auth;     /* one WINRSH_AUTH_* bit */
    const char *auth_name; /* as the user spelt it, or "negotiate" */
    int https;             /* --https given */
    unsigned int port_opt; /* -p/--port value, 0 if not given */
    enum cli_shell shell;
    int no_stdin; /* -n */
    int allow_unencrypted;
    const char *password_file;
    unsigned int codepage;
    long operation_timeout_ms; /* 0 = the library's default */
    long connect_timeout_ms;   /* 0 = the library's default */
    int verbose;               /* -v */
    int trace;                 /* --trace */
    const char *config_name;
    enum cli_output output;
    const char *cacert;
    int insecure;
    const char *cert;
    const char *key;
    const char *ssh_options[CLI_MAX_SSH_OPTIONS];
    size_t n_ssh_options;

    enum cli_th_op th_op;
    const char *th_arg; /* the patterns for add/remove */

    /* COMMAND [ARG...]: pointers into argv; command == NULL means the REPL. */
    const char *command;
    const char *const *args;
    size_t nargs;
};

/*
 * Parse argv into *out. Returns 0, or -1 with a one-line message in `err`
 * (without the "winrsh: " prefix) naming the bad option or word.
 */
int winrsh_cli_parse(int argc, char **argv, struct cli_options *out, char *err, size_t errlen);

/*
 * Reject what parses but this build cannot do yet (non-HTTP transports,
 * PowerShell, TLS options...). Returns 0, or -1 with a message in `err`.
 */
int winrsh_cli_check_supported(const struct cli_options *o, char *err, size_t errlen);

/*
 * The configuration directory: $WINRSH_CONFIG_DIR, else $XDG_CONFIG_HOME/winrsh,
 * else $HOME/.config/winrsh. Returns 0, or -1 if none can be formed or it
 * does not fit.
 */
int winrsh_cli_config_dir(char *out, size_t outlen);

/* The --help text. */
extern const char winrsh_cli_usage[];

#endif
