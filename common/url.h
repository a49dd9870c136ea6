/* url.h: small pieces of URL handling shared by the target parsers. */
#ifndef WR_URL_H
#define WR_URL_H

#include <stddef.h>

/* A malloc'd copy of s[0..n) with %XX decoded; NULL on a bad escape, a
 * decoded control character or no memory (*nomem tells which). */
char *wr_pct_decode(const char *s, size_t n, int *nomem);

#endif
