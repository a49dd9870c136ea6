/*
 * trusted_hosts.c: `winrsh --trusted-hosts list|add P[,P...]|remove P|clear`,
 * over the library's public TrustedHosts API. `list` prints one pattern per
 * line, as ARCHITECTURE.md 4 fixes it for scripts.
 */
#include <stdio.h>

#include <winrsh/winrsh.h>

#include "options.h"
#include "output.h"
#include "run_winrs.h"
#include "trusted_hosts.h"

int cli_trusted_hosts(const struct cli_options *o)
{
    int rc = 0;
    switch (o->th_op) {
    case CLI_TH_LIST: {
        char **list = NULL;
        size_t n = 0;
        rc = winrsh_trustedhosts_list(NULL, &list, &n);
        if (rc == 0) {
            for (size_t i = 0; i < n; i++)
                printf("%s\n", list[i]);
            winrsh_trustedhosts_list_free(list);
            if (fflush(stdout) != 0) {
                cli_error("cannot write the list to stdout");
                return CLI_EXIT_FAILURE;
            }
        }
        break;
    }
    case CLI_TH_ADD:
        rc = winrsh_trustedhosts_add(NULL, o->th_arg);
        break;
    case CLI_TH_REMOVE:
        rc = winrsh_trustedhosts_remove(NULL, o->th_arg);
        break;
    case CLI_TH_CLEAR:
        rc = winrsh_trustedhosts_clear(NULL);
        break;
    case CLI_TH_NONE:
        cli_error("--trusted-hosts needs list, add, remove or clear");
        return CLI_EXIT_FAILURE;
    }
    if (rc < 0) {
        cli_error("trusted hosts: %s", winrsh_error_last()->message);
        return CLI_EXIT_FAILURE;
    }
    return 0;
}
