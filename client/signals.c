/*
 * signals.c: count signals; cut library waits short when that is safe.
 */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t n_int;
static volatile sig_atomic_t term_sig;
static volatile sig_atomic_t interruptible;
static winrsh_session *volatile g_session;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGINT)
        n_int++;
    else
        term_sig = sig;
    if (interruptible && g_session)
        winrsh_session_interrupt(g_session);
    errno = saved;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: poll() and read() on stdin must return EINTR so the
     * loop notices Ctrl-C at once. */
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    struct sigaction ign;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
}

void cli_signals_set_session(winrsh_session *session)
{
    g_session = session;
}

void cli_signals_interruptible(int on)
{
    interruptible = on ? 1 : 0;
}

int cli_signals_interrupts(void)
{
    return (int)n_int;
}

int cli_signals_terminate(void)
{
    return (int)term_sig;
}

void cli_signals_reset(void)
{
    n_int = 0;
}

void cli_signals_default_int(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

void cli_signals_die_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGPIPE);
    _Exit(141); /* only if SIGPIPE was blocked */
}
