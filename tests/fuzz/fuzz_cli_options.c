/*
 * fuzz_cli_options.c: the winrsh command line (client/options.c,
 * winrsh_cli_parse and winrsh_cli_check_supported), above all TARGET:
 * [USER@]HOST[:PORT], bracketed IPv6, and the URL forms whose scheme picks
 * the transport. Arguments come from scripts and from the fan-out host
 * lists, so they are input like any other.
 *
 * client/ is not part of the library, so the parser is compiled into this
 * target by including its source file, as tests/unit/test_options.c does.
 *
 * Input: the arguments after "winrsh", separated by NUL bytes (at most 64).
 * Seeds: the invocations of tests/unit/test_options.c and the hosts and
 * URLs of tests/fixtures.
 */
#include "fuzz_common.h"

#include "../../client/options.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One heap block per argument, so reading past one shows under ASan. */
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = strdup("winrsh");
    size_t off = 0;
    while (off < size && argc <= MAX_ARGS) {
        const uint8_t *nul = memchr(data + off, 0, size - off);
        size_t n = nul ? (size_t)(nul - (data + off)) : size - off;
        argv[argc++] = fz_strdup((fz_input){data + off, n});
        off += n + 1;
    }
    argv[argc] = NULL;
    if (!argv[0])
        abort();

    struct cli_options o;
    char err[512];
    err[0] = 0;
    if (winrsh_cli_parse(argc, argv, &o, err, sizeof(err)) == 0) {
        if (memchr(o.url, 0, sizeof(o.url)) == NULL || memchr(o.host, 0, sizeof(o.host)) == NULL)
            abort();
        if (o.command && (o.nargs > (size_t)argc || (o.nargs && !o.args)))
            abort();
        for (size_t i = 0; i < o.nargs; i++)
            if (!o.args[i])
                abort();
        err[0] = 0;
        (void)winrsh_cli_check_supported(&o, err, sizeof(err));
    } else if (!err[0]) {
        abort(); /* a failure always says why */
    }
    if (memchr(err, 0, sizeof(err)) == NULL)
        abort();

    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
