/*
 * trustedhosts_api.c: the public winrsh_trustedhosts_* functions
 * (include/winrsh/trustedhosts.h) over transport/trustedhosts.c. Each call
 * loads the file, changes it and saves it atomically.
 */
#include "winrsh/trustedhosts.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "trustedhosts.h"

/* Load from `config_dir`, or the default directory. */
static int load(const char *config_dir, wr_trustedhosts *th, wr_buf *dir)
{
    int rc = 0;
    if (config_dir)
        rc = wr_buf_puts(dir, config_dir);
    else
        rc = wr_config_dir(dir);
    if (rc)
        return rc;
    return wr_trustedhosts_load(th, wr_buf_cstr(dir));
}

WINRSH_EXTERN(int)
winrsh_trustedhosts_list(const char *config_dir, char ***patterns, size_t *count)
{
    if (!patterns || !count)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "trustedhosts: NULL output");
    *patterns = NULL;
    *count = 0;
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    wr_buf dir = WR_BUF_INIT;
    int rc = load(config_dir, &th, &dir);
    wr_buf_free(&dir);
    if (rc) {
        wr_trustedhosts_free(&th);
        return rc;
    }
    char **list = calloc(th.count + 1, sizeof(*list));
    if (!list) {
        wr_trustedhosts_free(&th);
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    }
    /* Hand the strings over instead of copying them. */
    for (size_t i = 0; i < th.count; i++) {
        list[i] = th.patterns[i];
        th.patterns[i] = NULL;
    }
    *count = th.count;
    th.count = 0;
    wr_trustedhosts_free(&th);
    *patterns = list;
    return 0;
}

WINRSH_EXTERN(void) winrsh_trustedhosts_list_free(char **patterns)
{
    if (!patterns)
        return;
    for (char **p = patterns; *p; p++)
        free(*p);
    free(patterns);
}

/* Load, apply `change`, save. */
static int modify(const char *config_dir, int (*change)(wr_trustedhosts *, const char *),
                  const char *arg)
{
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    wr_buf dir = WR_BUF_INIT;
    int rc = load(config_dir, &th, &dir);
    if (!rc)
        rc = change(&th, arg);
    if (!rc)
        rc = wr_trustedhosts_save(&th, wr_buf_cstr(&dir));
    wr_trustedhosts_free(&th);
    wr_buf_free(&dir);
    return rc;
}

static int do_add(wr_trustedhosts *th, const char *arg)
{
    return wr_trustedhosts_add(th, arg, NULL);
}

static int do_remove(wr_trustedhosts *th, const char *arg)
{
    return wr_trustedhosts_remove(th, arg);
}

static int do_clear(wr_trustedhosts *th, const char *arg)
{
    (void)arg;
    wr_trustedhosts_clear(th);
    return 0;
}

WINRSH_EXTERN(int) winrsh_trustedhosts_add(const char *config_dir, const char *patterns)
{
    if (!patterns)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "trustedhosts: no pattern");
    return modify(config_dir, do_add, patterns);
}

WINRSH_EXTERN(int) winrsh_trustedhosts_remove(const char *config_dir, const char *pattern)
{
    if (!pattern)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "trustedhosts: no pattern");
    return modify(config_dir, do_remove, pattern);
}

WINRSH_EXTERN(int) winrsh_trustedhosts_clear(const char *config_dir)
{
    return modify(config_dir, do_clear, NULL);
}

WINRSH_EXTERN(int)
winrsh_trustedhosts_match(const char *config_dir, const char *host, int *trusted)
{
    if (!host || !trusted)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "trustedhosts: NULL argument");
    return wr_trustedhosts_is_trusted(config_dir, host, trusted);
}
