/*
 * binding_wsman.h: PSRP over a WS-Man shell (MS-PSRP 3.1.5.3; PROTOCOL.md 4),
 * the wr_psrp_binding that HTTP(S) sessions use.
 */
#ifndef WR_PSRP_BINDING_WSMAN_H
#define WR_PSRP_BINDING_WSMAN_H

#include "psrp/binding.h"
#include "winrsh/session.h"
#include "wsman/wsman.h"

/* The resource URI prefix of PowerShell endpoints; the configuration name
 * follows (".../powershell/Microsoft.PowerShell"). */
#define WR_PSRP_RESOURCE_PREFIX "http://schemas.microsoft.com/powershell/"

/*
 * A binding on `ws` (borrowed; must outlive the binding) for the session
 * configuration `config_name` (e.g. "Microsoft.PowerShell"). Nothing is
 * sent until open_pool. `session` (may be NULL) is the session `ws` belongs
 * to: while a pipeline's Receive waits, an interrupt of the session sends
 * the pipeline's stop signal on a second connection and lets the Receive go
 * on (wr_session_set_interrupt_action), so the Stopped state is not lost.
 */
int wr_psrp_binding_wsman_new(wr_psrp_binding **out, winrsh_session *session, wr_wsman *ws,
                              const char *config_name);

#endif
