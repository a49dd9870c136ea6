/*
 * records.c: reading the server's records and states (field table in
 * records.h) and rendering error records as PowerShell shows them.
 */
#include "psrp/records.h"

#include <string.h>

#include "common/error.h"
#include "winrsh/errors.h"

static const char *str_of(const winrsh_psobject *o)
{
    if (!o || winrsh_psobject_get_kind(o) == WINRSH_PSOBJ_NULL)
        return NULL;
    return winrsh_psobject_text(o, NULL);
}

static const char *prop_str(const winrsh_psobject *o, const char *path)
{
    return str_of(winrsh_psobject_path(o, path));
}

static int prop_i32(const winrsh_psobject *o, const char *name, int32_t *v)
{
    const winrsh_psobject *p = winrsh_psobject_prop(o, name);
    return p && winrsh_psobject_get_int32(p, v) == 0 ? 0 : -1;
}

static int not_a(const char *what)
{
    return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "PSRP message is not a valid %s",
                        what);
}

int wr_psrp_error_record_read(const winrsh_psobject *o, wr_psrp_error_record *er)
{
    memset(er, 0, sizeof *er);
    if (!o || winrsh_psobject_get_kind(o) != WINRSH_PSOBJ_OBJECT)
        return not_a("ErrorRecord");
    const winrsh_psobject *ex = winrsh_psobject_prop(o, "Exception");
    const char *details = prop_str(o, "ErrorDetails_Message");
    er->message = details && *details ? details : prop_str(ex, "Message");
    if (!er->message)
        er->message = winrsh_psobject_tostring(o);
    if (!er->message)
        return not_a("ErrorRecord");
    er->exception_type = winrsh_psobject_type_name(ex, 0);
    er->fqid = prop_str(o, "FullyQualifiedErrorId");
    er->category_info = prop_str(o, "ErrorCategory_Message");
    if (prop_i32(o, "ErrorCategory_Category", &er->category))
        er->category = 0;
    er->command = prop_str(o, "InvocationInfo.InvocationName");
    er->position = prop_str(o, "InvocationInfo.PositionMessage");
    er->script_stack = prop_str(o, "ErrorDetails_ScriptStackTrace");
    return 0;
}

/* Append text with CRLF turned into LF. */
static int put_lf(wr_buf *out, const char *s)
{
    for (; *s; s++) {
        if (s[0] == '\r' && s[1] == '\n')
            continue;
        if (wr_buf_putc(out, (unsigned char)*s))
            return WINRSH_ENOMEM;
    }
    return 0;
}

int wr_psrp_error_record_format(const wr_psrp_error_record *er, wr_buf *out)
{
    int rc = 0;
    if (er->command && *er->command) {
        rc |= put_lf(out, er->command);
        rc |= wr_buf_puts(out, " : ");
    }
    rc |= put_lf(out, er->message ? er->message : "");
    rc |= wr_buf_putc(out, '\n');
    if (er->position && *er->position) {
        rc |= put_lf(out, er->position);
        rc |= wr_buf_putc(out, '\n');
    }
    if (er->category_info && *er->category_info) {
        rc |= wr_buf_puts(out, "    + CategoryInfo          : ");
        rc |= put_lf(out, er->category_info);
        rc |= wr_buf_putc(out, '\n');
    }
    if (er->fqid && *er->fqid) {
        rc |= wr_buf_puts(out, "    + FullyQualifiedErrorId : ");
        rc |= put_lf(out, er->fqid);
        rc |= wr_buf_putc(out, '\n');
    }
    return rc ? wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory") : 0;
}

const char *wr_psrp_informational_message(const winrsh_psobject *o)
{
    const char *m = prop_str(o, "InformationalRecord_Message");
    if (m)
        return m;
    m = winrsh_psobject_tostring(o);
    return m ? m : str_of(o);
}

int wr_psrp_information_read(const winrsh_psobject *o, wr_psrp_information *info)
{
    memset(info, 0, sizeof *info);
    if (!o || !winrsh_psobject_prop(o, "MessageData"))
        return not_a("InformationRecord");
    info->data = winrsh_psobject_prop(o, "MessageData");
    info->text = str_of(info->data);
    info->source = prop_str(o, "Source");
    info->time = prop_str(o, "TimeGenerated");
    info->tags = winrsh_psobject_prop(o, "Tags");
    for (size_t i = 0; i < winrsh_psobject_list_count(info->tags); i++) {
        const char *t = str_of(winrsh_psobject_list_item(info->tags, i));
        if (t && strcmp(t, "PSHOST") == 0)
            info->is_host = 1;
    }
    return 0;
}

int wr_psrp_progress_read(const winrsh_psobject *o, wr_psrp_progress *p)
{
    memset(p, 0, sizeof *p);
    p->activity = prop_str(o, "Activity");
    if (!p->activity || prop_i32(o, "ActivityId", &p->activity_id))
        return not_a("ProgressRecord");
    p->status = prop_str(o, "StatusDescription");
    p->current_operation = prop_str(o, "CurrentOperation");
    if (prop_i32(o, "ParentActivityId", &p->parent_activity_id))
        p->parent_activity_id = -1;
    if (prop_i32(o, "PercentComplete", &p->percent_complete))
        p->percent_complete = -1;
    if (prop_i32(o, "SecondsRemaining", &p->seconds_remaining))
        p->seconds_remaining = -1;
    const winrsh_psobject *t = winrsh_psobject_prop(o, "Type");
    if (!t || winrsh_psobject_get_int32(t, &p->type))
        p->type = 0;
    return 0;
}

static int state_read(const winrsh_psobject *o, const char *field, int32_t max, wr_psrp_state *s,
                      const char *what)
{
    memset(s, 0, sizeof *s);
    if (prop_i32(o, field, &s->state) || s->state < 0 || s->state > max)
        return not_a(what);
    const winrsh_psobject *e = winrsh_psobject_prop(o, "ExceptionAsErrorRecord");
    if (e && winrsh_psobject_get_kind(e) != WINRSH_PSOBJ_NULL)
        s->error = e;
    return 0;
}

int wr_psrp_pipeline_state_read(const winrsh_psobject *o, wr_psrp_state *s)
{
    return state_read(o, "PipelineState", 6, s, "PIPELINE_STATE");
}

int wr_psrp_pool_state_read(const winrsh_psobject *o, wr_psrp_state *s)
{
    return state_read(o, "RunspaceState", 9, s, "RUNSPACEPOOL_STATE");
}

int wr_psrp_host_call_read(const winrsh_psobject *o, wr_psrp_host_call *hc)
{
    memset(hc, 0, sizeof *hc);
    const winrsh_psobject *ci = winrsh_psobject_prop(o, "ci");
    const winrsh_psobject *mi = winrsh_psobject_prop(o, "mi");
    const winrsh_psobject *mp = winrsh_psobject_prop(o, "mp");
    if (!ci || winrsh_psobject_get_int64(ci, &hc->call_id) || !mi ||
        winrsh_psobject_get_int32(mi, &hc->method_id) || !mp ||
        (winrsh_psobject_get_kind(mp) != WINRSH_PSOBJ_LIST &&
         winrsh_psobject_get_kind(mp) != WINRSH_PSOBJ_NULL))
        return not_a("host call");
    hc->method_name = winrsh_psobject_tostring(mi);
    hc->params = mp;
    return 0;
}
