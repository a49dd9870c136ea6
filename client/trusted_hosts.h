/* trusted_hosts.h: the --trusted-hosts action of the program. */
#ifndef CLI_TRUSTED_HOSTS_H
#define CLI_TRUSTED_HOSTS_H

#include "options.h"

/* Run the list/add/remove/clear operation; returns the exit status. */
int cli_trusted_hosts(const struct cli_options *o);

#endif
