#define _DEFAULT_SOURCE
#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "winrsh/errors.h"

void wr_wipe(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}

void wr_free_secret(char *s)
{
    if (!s)
        return;
    wr_wipe(s, strlen(s));
    free(s);
}

char *wr_strdup(const char *s, int *rc)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d && rc)
        *rc = WINRSH_ENOMEM;
    return d;
}

int wr_strncasecmp(const char *a, const char *b, size_t n)
{
    return strncasecmp(a, b, n);
}
