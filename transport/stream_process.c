/*
 * stream_process.c: a local PowerShell server as a stream
 * (target process:///path/to/pwsh, or process://pwsh to search PATH).
 *
 * `pwsh -s -NoLogo -NoProfile` is PowerShell's out-of-process server
 * (the "-s[ervermode]" switch): it reads framing packets (PROTOCOL.md 5)
 * line by line from stdin and writes its own to stdout. It exits on EOF of
 * stdin (status 160 after writing 'An unknown element "" was received' to
 * stderr), which is how close() asks it to go. Errors it cannot put in a
 * packet (a bad line, a crash) go to its stderr, so that is captured (by
 * transport/spawn.c, which runs the child) and becomes the message of the
 * WINRSH_ECLOSED that EOF of stdout turns into.
 *
 * The child runs in its own process group, so the terminal's Ctrl-C reaches
 * winrsh only (which asks the server to stop the pipeline with a Signal
 * packet), and close() can signal the whole group.
 *
 * pwsh installed as a .NET global tool is an apphost launcher that needs
 * to find the .NET runtime: through DOTNET_ROOT, /etc/dotnet, or the
 * default /usr/share/dotnet (or /usr/lib/dotnet). When DOTNET_ROOT is not
 * set and the `dotnet` on PATH resolves to a directory that holds host/fxr,
 * the child gets DOTNET_ROOT set to that directory; the rest of the
 * environment is inherited as is. (A self-contained pwsh ignores it.)
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "transport/stream.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/trace.h"
#include "transport/spawn.h"
#include "winrsh/errors.h"

extern char **environ;

/* ---- the runtime ------------------------------------------------------------ */

/* "DOTNET_ROOT=<dir>" when the child needs it (see the top), else NULL. */
static char *dotnet_root_env(void)
{
    static const char *const set_already[] = {"DOTNET_ROOT", "DOTNET_ROOT_X64", "DOTNET_ROOT_ARM64",
                                              "DOTNET_ROOT_X86"};
    for (size_t i = 0; i < sizeof(set_already) / sizeof(set_already[0]); i++) {
        const char *v = getenv(set_already[i]);
        if (v && *v)
            return NULL;
    }
    char *dotnet = wr_spawn_search_path("dotnet");
    if (!dotnet)
        return NULL;
    char *real = realpath(dotnet, NULL);
    free(dotnet);
    if (!real)
        return NULL;
    char *slash = strrchr(real, '/');
    char *env = NULL;
    if (slash && slash != real) {
        *slash = 0;
        size_t dl = strlen(real);
        char *fxr = malloc(dl + sizeof("/host/fxr"));
        if (fxr) {
            memcpy(fxr, real, dl);
            memcpy(fxr + dl, "/host/fxr", sizeof("/host/fxr"));
            struct stat st;
            if (stat(fxr, &st) == 0 && S_ISDIR(st.st_mode)) {
                env = malloc(sizeof("DOTNET_ROOT=") + dl);
                if (env) {
                    memcpy(env, "DOTNET_ROOT=", sizeof("DOTNET_ROOT=") - 1);
                    memcpy(env + sizeof("DOTNET_ROOT=") - 1, real, dl + 1);
                }
            }
            free(fxr);
        }
    }
    free(real);
    return env;
}

/* ---- process://... ------------------------------------------------------------ */

static int process_open(wr_stream **out, const char *target, const wr_stream_options *opts);

const wr_stream_type wr_stream_process = {"process",      process_open, wr_spawn_read,
                                          wr_spawn_write, wr_spawn_fd,  wr_spawn_close};

static int process_open(wr_stream **out, const char *target, const wr_stream_options *opts)
{
    *out = NULL;
    static const char scheme[] = "process://";
    if (!target || strncmp(target, scheme, sizeof(scheme) - 1) != 0 || !target[sizeof(scheme) - 1])
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "%s: not a process:///path/to/pwsh target", target ? target : "(null)");
    const char *prog = target + sizeof(scheme) - 1;
    const wr_tracer *tracer = opts ? opts->tracer : NULL;

    char *path = NULL;
    if (strchr(prog, '/')) {
        path = strdup(prog);
        if (!path)
            return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        struct stat st;
        int rc = 0;
        if (stat(path, &st) < 0 || access(path, X_OK) < 0)
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS, "cannot run %s: %s", path,
                              strerror(errno));
        else if (!S_ISREG(st.st_mode))
            rc = wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                              "cannot run %s: not a regular file", path);
        if (rc) {
            free(path);
            return rc;
        }
    } else {
        path = wr_spawn_search_path(prog);
        if (!path)
            return wr_error_set(WINRSH_ECONNECT, WINRSH_ERRCLASS_OS,
                                "cannot run %s: not found on PATH", prog);
    }

    /* The child's environment: ours, plus DOTNET_ROOT when it needs one. */
    char *dotnet_root = dotnet_root_env();
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 2, sizeof(*envp));
    if (!envp) {
        free(dotnet_root);
        free(path);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    for (size_t i = 0; i < nenv; i++)
        envp[i] = environ[i];
    if (dotnet_root) {
        envp[nenv] = dotnet_root;
        wr_tracef(tracer, "process: DOTNET_ROOT is not set; giving the child %s", dotnet_root);
    }

    static char arg_s[] = "-s", arg_nologo[] = "-NoLogo", arg_noprofile[] = "-NoProfile";
    char *argv[] = {path, arg_s, arg_nologo, arg_noprofile, NULL};
    wr_spawn_spec spec = {path, argv, envp, path, 1};
    int rc = wr_spawn_stream_open(out, &wr_stream_process, &spec, tracer);
    free(envp);
    free(dotnet_root);
    free(path);
    return rc;
}
