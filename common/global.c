/*
 * global.c: library-wide set-up (include/winrsh/common.h). Reference
 * counted so that a program and a library it uses may both call it; not
 * thread-safe by contract (call from one thread, before any other use).
 */
#include <curl/curl.h>
#include <libxml/parser.h>

#include "common/error.h"
#include "psrp/clixml.h" /* its per-thread parser context (see shutdown) */
#include "winrsh/common.h"
#include "winrsh/errors.h"

static int g_refs;

WINRSH_EXTERN(int) winrsh_global_init(void)
{
    if (g_refs++ > 0)
        return 0;
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK) {
        g_refs = 0;
        return wr_error_set(WINRSH_ERROR, WINRSH_ERRCLASS_HTTP, "curl_global_init failed: %s",
                            curl_easy_strerror(cc));
    }
    /* libxml2 initialises itself lazily, but not thread-safely: do it here,
     * once, before sessions run on several threads. */
    xmlInitParser();
    return 0;
}

WINRSH_EXTERN(void) winrsh_global_shutdown(void)
{
    if (g_refs <= 0 || --g_refs > 0)
        return;
    wr_clixml_global_release();
    xmlCleanupParser();
    curl_global_cleanup();
}

WINRSH_EXTERN(const char *) winrsh_version(void)
{
    return WINRSH_VERSION;
}
