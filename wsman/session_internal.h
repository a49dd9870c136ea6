/*
 * session_internal.h: what the rest of libwinrsh may ask of a public
 * winrsh_session (session.c) beyond the public API.
 */
#ifndef WR_WSMAN_SESSION_INTERNAL_H
#define WR_WSMAN_SESSION_INTERNAL_H

#include "winrsh/session.h"
#include "wsman.h"

/* The WS-Management endpoint of the session. Borrowed. */
wr_wsman *wr_session_wsman(winrsh_session *s);

/* While a request waits, an interrupt (winrsh_session_interrupt) runs `fn`
 * once with a second WS-Man connection to the same endpoint, e.g. to send
 * the stop signal of the command whose output is being received; the waiting
 * request then goes on. fn returns 0 when it did its job. NULL clears it. A
 * second interrupt, or one with no action, abandons the wait (EINTR). */
typedef int (*wr_interrupt_action)(void *ctx, wr_wsman *side);
void wr_session_set_interrupt_action(winrsh_session *s, wr_interrupt_action fn, void *ctx);

/* A runspace is about to free the binding the session handed out. */
struct wr_psrp_binding;
void wr_session_forget_binding(winrsh_session *s, const struct wr_psrp_binding *b);

/* Forget a pending interrupt: clean-up paths (terminate, Delete) must still
 * reach the server after the user pressed Ctrl-C. */
void wr_session_clear_interrupt(winrsh_session *s);

/* winrsh_session_open() with the WS-Man requests going to `post` instead of
 * HTTP (no wr_http is created): for unit tests that replay recorded replies. */
int wr_session_open_with(winrsh_session **out, const char *url, const winrsh_session_options *opts,
                         wr_post_fn post, void *post_ctx);

/* The session's tracer (for the layers above wsman/). Borrowed. */
const wr_tracer *wr_session_tracer(winrsh_session *s);

struct wr_psrp_binding;

/*
 * How PSRP reaches this session's endpoint: a new binding (psrp/binding.h)
 * for the session configuration `config` ("Microsoft.PowerShell"), owned
 * by the caller (the runspace). HTTP(S) sessions get the WS-Man binding
 * (psrp/binding_wsman.c); other transports (process://, ssh://...) plug in
 * their out-of-process binding at the switch point in session.c.
 */
int wr_session_psrp_binding(winrsh_session *s, const char *config, struct wr_psrp_binding **out);

#endif
