/*
 * fuzz_clixml.c: CLIXML, the body of every PSRP message the server sends
 * (psrp/clixml.c), and what the client does with a parsed document:
 *
 *   winrsh_psobject_from_clixml   the parser (Ref/TNRef, limits, escapes)
 *   the public accessors          walked over the whole tree, bounded
 *                                 (<Ref> can make cycles)
 *   winrsh_psobject_to_json       as --output json prints it (depth 2 and
 *                                 the maximum)
 *   winrsh_psobject_to_clixml     serialising what was parsed, which must
 *                                 parse again, to an equal value
 *   psrp/records.h readers        ErrorRecord (and its rendering),
 *                                 informational, information, progress,
 *                                 pipeline/pool state, host call
 *   wr_error_record_text          the text the runspace shows for errors
 *
 * Input: one CLIXML document. Seeds: the message bodies decoded from the
 * PSRP fragments of tests/fixtures/pypsrp/responses/ (*.yml) and the CLIXML
 * of tests/fixtures/winrb-winrm/responses.
 */
#include "fuzz_common.h"

#include <stdio.h>

#include "common/error.h"
#include "psrp/clixml.h"
#include "psrp/records.h"
#include "psrp/runspace.h"
#include "winrsh/common.h"
#include "winrsh/psobject.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    winrsh_global_init();
    return 0;
}

typedef struct {
    unsigned long sum;
    size_t budget; /* values still to visit: <Ref> may share and loop */
} walker;

static void str(walker *w, const char *s)
{
    if (s)
        w->sum += strlen(s);
}

static void walk(walker *w, const winrsh_psobject *o, int depth)
{
    if (!o || depth > 12 || w->budget == 0)
        return;
    w->budget--;
    winrsh_psobject_kind k = winrsh_psobject_get_kind(o);
    str(w, winrsh_psobject_kind_name(k));
    size_t nt = winrsh_psobject_type_count(o);
    for (size_t i = 0; i < nt; i++)
        str(w, winrsh_psobject_type_name(o, i));
    (void)winrsh_psobject_is_type(o, "System.Enum");
    str(w, winrsh_psobject_tostring(o));
    size_t len = 0;
    const char *t = winrsh_psobject_text(o, &len);
    for (size_t i = 0; t && i < len; i++)
        w->sum += (unsigned char)t[i];

    int b;
    int32_t i32;
    int64_t i64;
    uint64_t u64;
    double d;
    char guid[37];
    const char *ename;
    (void)winrsh_psobject_get_bool(o, &b);
    (void)winrsh_psobject_get_int32(o, &i32);
    (void)winrsh_psobject_get_int64(o, &i64);
    (void)winrsh_psobject_get_uint64(o, &u64);
    (void)winrsh_psobject_get_double(o, &d);
    (void)winrsh_psobject_get_timespan(o, &i64);
    if (winrsh_psobject_get_guid(o, guid) == 0)
        str(w, guid);
    if (winrsh_psobject_enum_value(o, &i32, &ename) == 0)
        str(w, ename);
    size_t blen = 0;
    const unsigned char *bytes = winrsh_psobject_bytes(o, &blen);
    for (size_t i = 0; bytes && i < blen; i++)
        w->sum += bytes[i];

    for (int set = 0; set < 2; set++) {
        size_t n = winrsh_psobject_prop_count(o, (winrsh_psprop_set)set);
        for (size_t i = 0; i < n; i++) {
            const char *name = NULL;
            const winrsh_psobject *v = winrsh_psobject_prop_at(o, (winrsh_psprop_set)set, i, &name);
            str(w, name);
            if (name && winrsh_psobject_prop_in(o, (winrsh_psprop_set)set, name) == NULL)
                abort(); /* a property found by index must be found by name */
            walk(w, v, depth + 1);
        }
    }
    walk(w, winrsh_psobject_base(o), depth + 1);
    (void)winrsh_psobject_prop(o, "Message");
    (void)winrsh_psobject_path(o, "InvocationInfo.PositionMessage");
    (void)winrsh_psobject_path(o, "a..b.");

    size_t nl = winrsh_psobject_list_count(o);
    for (size_t i = 0; i < nl; i++)
        walk(w, winrsh_psobject_list_item(o, i), depth + 1);
    size_t nd = winrsh_psobject_dict_count(o);
    for (size_t i = 0; i < nd; i++) {
        const winrsh_psobject *key = winrsh_psobject_dict_key(o, i);
        walk(w, key, depth + 1);
        walk(w, winrsh_psobject_dict_value(o, i), depth + 1);
        const char *kt = winrsh_psobject_text(key, NULL);
        if (kt)
            (void)winrsh_psobject_dict_get(o, kt);
    }
}

static void records(const winrsh_psobject *o)
{
    wr_psrp_error_record er;
    if (wr_psrp_error_record_read(o, &er) == 0) {
        wr_buf out = WR_BUF_INIT;
        wr_psrp_error_record_format(&er, &out);
        wr_buf_free(&out);
    }
    free(wr_error_record_text(o));
    (void)wr_psrp_informational_message(o);
    wr_psrp_information info;
    (void)wr_psrp_information_read(o, &info);
    wr_psrp_progress pr;
    (void)wr_psrp_progress_read(o, &pr);
    wr_psrp_state st;
    (void)wr_psrp_pipeline_state_read(o, &st);
    (void)wr_psrp_pool_state_read(o, &st);
    wr_psrp_host_call hc;
    (void)wr_psrp_host_call_read(o, &hc);
    winrsh_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    winrsh_psobject *o = NULL;
    if (winrsh_psobject_from_clixml(&o, (const char *)data, size) == 0) {
        walker w = {0, 5000};
        walk(&w, o, 0);
        records(o);
        /* A child outliving its handle: the reference keeps the document. */
        const winrsh_psobject *first = winrsh_psobject_list_item(o, 0);
        winrsh_psobject *kept = first ? winrsh_psobject_ref(first) : NULL;

        char *json = NULL;
        size_t jlen = 0;
        if (winrsh_psobject_to_json(o, 0, &json, &jlen) == 0 && strlen(json) != jlen)
            abort();
        winrsh_psobject_free_string(json);
        json = NULL;
        if (winrsh_psobject_to_json(o, 100, &json, &jlen) == 0 && strlen(json) != jlen)
            abort();
        winrsh_psobject_free_string(json);

        char *xml = NULL;
        size_t xlen = 0;
        if (winrsh_psobject_to_clixml(o, &xml, &xlen) == 0) {
            winrsh_psobject *again = NULL;
            if (winrsh_psobject_from_clixml(&again, xml, xlen) != 0) {
                fprintf(stderr, "fuzz_clixml: serialised CLIXML does not parse again: %s\n%.*s\n",
                        winrsh_error_last()->message, (int)(xlen > 4000 ? 4000 : xlen), xml);
                abort();
            }
            /* ... and to the same value (issue 8: the writer used to escape
             * the text of every kind, the reader unescapes only strings). */
            if (!wr_psobject_equal(o, again)) {
                fprintf(stderr, "fuzz_clixml: serialised CLIXML parses to another value\n%.*s\n",
                        (int)(xlen > 4000 ? 4000 : xlen), xml);
                abort();
            }
            winrsh_psobject_free(again);
        }
        winrsh_psobject_free_string(xml);
        (void)wr_psobject_doc_size(o);

        winrsh_psobject_free(o);
        if (kept) {
            walker w2 = {0, 200};
            walk(&w2, kept, 0);
            winrsh_psobject_free(kept);
        }
    }
    winrsh_error_clear();
    return 0;
}
