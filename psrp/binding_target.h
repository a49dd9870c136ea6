/*
 * binding_target.h: the out-of-process binding for a session's target URL
 * (process://, unix://, ssh://, vmbus://, vsock://), with what each stream
 * transport needs from the session: ssh options, PowerShell Direct
 * credentials and configuration name, timeouts.
 */
#ifndef WR_PSRP_BINDING_TARGET_H
#define WR_PSRP_BINDING_TARGET_H

#include <stddef.h>

#include "common/trace.h"
#include "psrp/binding.h"

typedef struct wr_oop_target_options {
    const char *user;     /* vmbus:// credentials */
    const char *password;
    const char *config_name;              /* NULL: the endpoint's default */
    const char *const *ssh_options;       /* ssh -o values */
    size_t ssh_option_count;
    long connect_timeout_ms;
    long operation_timeout_ms;
    const wr_tracer *tracer;
} wr_oop_target_options;

/* Whether url names an out-of-process transport. */
int wr_oop_target_is(const char *url);

/* Open the stream for url and make a PSRP binding over it. */
int wr_psrp_binding_for_target(wr_psrp_binding **out, const char *url,
                               const wr_oop_target_options *o);

#endif
