/*
 * find_pwsh.h: where the tests that need real PowerShell find `pwsh`, and
 * how they skip without it (the issue: "on a machine without the .NET SDK
 * they are skipped with a message saying exactly why"). The order is the
 * test host's: $WINRSH_TEST_PWSH (used even if broken, so a wrong setting
 * shows), the folder scripts/setup installs into, then PATH. Included by
 * each such test; everything is static to it.
 */
#ifndef WR_TEST_FIND_PWSH_H
#define WR_TEST_FIND_PWSH_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#define WR_TEST_PWSH_VERSION "7.6.9"

static char g_pwsh[PATH_MAX];
static char g_why[3 * PATH_MAX];

static int executable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Fills g_pwsh and returns 1, or fills g_why with every place tried. */
static int find_pwsh(void)
{
    const char *env = getenv("WINRSH_TEST_PWSH");
    if (env && *env) {
        if (executable(env)) {
            snprintf(g_pwsh, sizeof g_pwsh, "%s", env);
            return 1;
        }
        snprintf(g_why, sizeof g_why, "WINRSH_TEST_PWSH=%s is not an executable file", env);
        return 0;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char cand[PATH_MAX];
    if (xdg && *xdg)
        snprintf(cand, sizeof cand, "%s/winrsh/pwsh-" WR_TEST_PWSH_VERSION "/pwsh", xdg);
    else
        snprintf(cand, sizeof cand, "%s/.cache/winrsh/pwsh-" WR_TEST_PWSH_VERSION "/pwsh",
                 home ? home : "");
    const char *fixed = "/root/.cache/winrsh/pwsh-" WR_TEST_PWSH_VERSION "/pwsh";
    const char *tries[] = {cand, fixed};
    for (size_t i = 0; i < 2; i++)
        if (executable(tries[i])) {
            snprintf(g_pwsh, sizeof g_pwsh, "%s", tries[i]);
            return 1;
        }
    const char *path = getenv("PATH");
    char c2[PATH_MAX];
    for (const char *p = path ? path : ""; *p;) {
        size_t dl = strcspn(p, ":");
        if (dl && dl < sizeof c2 - 6) {
            memcpy(c2, p, dl);
            memcpy(c2 + dl, "/pwsh", 6);
            if (executable(c2)) {
                snprintf(g_pwsh, sizeof g_pwsh, "%s", c2);
                return 1;
            }
        }
        p += dl;
        if (*p == ':')
            p++;
    }
    snprintf(g_why, sizeof g_why,
             "no PowerShell found: WINRSH_TEST_PWSH is not set, neither %s nor %s exists "
             "(scripts/setup installs it), and there is no pwsh on PATH",
             cand, fixed);
    return 0;
}

/* In a cmocka test: skip, saying why, when find_pwsh() found nothing. */
static void need_pwsh(void)
{
    if (g_pwsh[0])
        return;
    print_message("SKIPPED: %s\n", g_why);
    skip();
}

#endif
