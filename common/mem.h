/* mem.h: wiping secrets and small string helpers. */
#ifndef WR_MEM_H
#define WR_MEM_H

#include <stddef.h>

/* Zero memory in a way the compiler may not drop (explicit_bzero). */
void wr_wipe(void *p, size_t len);
/* Wipe a NUL-terminated secret and free it. NULL-safe. */
void wr_free_secret(char *s);
/* strdup that accepts NULL (returns NULL) and reports failure through *rc. */
char *wr_strdup(const char *s, int *rc);
/* Case-insensitive ASCII comparison of the first n bytes. */
int wr_strncasecmp(const char *a, const char *b, size_t n);

#endif
