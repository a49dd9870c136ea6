/*
 * message.c: PSRP message header and the client's message bodies
 * (MS-PSRP 2.2.1, 2.2.2; layout table in message.h).
 */
#include "psrp/message.h"

#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "common/error.h"
#include "psrp/clixml.h"
#include "winrsh/errors.h"

static const struct {
    uint32_t type;
    const char *name;
} MESSAGE_TYPES[] = {
    {WR_PSRP_SESSION_CAPABILITY, "SESSION_CAPABILITY"},
    {WR_PSRP_INIT_RUNSPACEPOOL, "INIT_RUNSPACEPOOL"},
    {WR_PSRP_PUBLIC_KEY, "PUBLIC_KEY"},
    {WR_PSRP_ENCRYPTED_SESSION_KEY, "ENCRYPTED_SESSION_KEY"},
    {WR_PSRP_PUBLIC_KEY_REQUEST, "PUBLIC_KEY_REQUEST"},
    {WR_PSRP_CONNECT_RUNSPACEPOOL, "CONNECT_RUNSPACEPOOL"},
    {WR_PSRP_SET_MAX_RUNSPACES, "SET_MAX_RUNSPACES"},
    {WR_PSRP_SET_MIN_RUNSPACES, "SET_MIN_RUNSPACES"},
    {WR_PSRP_RUNSPACE_AVAILABILITY, "RUNSPACE_AVAILABILITY"},
    {WR_PSRP_RUNSPACEPOOL_STATE, "RUNSPACEPOOL_STATE"},
    {WR_PSRP_CREATE_PIPELINE, "CREATE_PIPELINE"},
    {WR_PSRP_GET_AVAILABLE_RUNSPACES, "GET_AVAILABLE_RUNSPACES"},
    {WR_PSRP_USER_EVENT, "USER_EVENT"},
    {WR_PSRP_APPLICATION_PRIVATE_DATA, "APPLICATION_PRIVATE_DATA"},
    {WR_PSRP_GET_COMMAND_METADATA, "GET_COMMAND_METADATA"},
    {WR_PSRP_RUNSPACEPOOL_INIT_DATA, "RUNSPACEPOOL_INIT_DATA"},
    {WR_PSRP_RESET_RUNSPACE_STATE, "RESET_RUNSPACE_STATE"},
    {WR_PSRP_RUNSPACEPOOL_HOST_CALL, "RUNSPACEPOOL_HOST_CALL"},
    {WR_PSRP_RUNSPACEPOOL_HOST_RESPONSE, "RUNSPACEPOOL_HOST_RESPONSE"},
    {WR_PSRP_PIPELINE_INPUT, "PIPELINE_INPUT"},
    {WR_PSRP_END_OF_PIPELINE_INPUT, "END_OF_PIPELINE_INPUT"},
    {WR_PSRP_PIPELINE_OUTPUT, "PIPELINE_OUTPUT"},
    {WR_PSRP_ERROR_RECORD, "ERROR_RECORD"},
    {WR_PSRP_PIPELINE_STATE, "PIPELINE_STATE"},
    {WR_PSRP_DEBUG_RECORD, "DEBUG_RECORD"},
    {WR_PSRP_VERBOSE_RECORD, "VERBOSE_RECORD"},
    {WR_PSRP_WARNING_RECORD, "WARNING_RECORD"},
    {WR_PSRP_PROGRESS_RECORD, "PROGRESS_RECORD"},
    {WR_PSRP_INFORMATION_RECORD, "INFORMATION_RECORD"},
    {WR_PSRP_PIPELINE_HOST_CALL, "PIPELINE_HOST_CALL"},
    {WR_PSRP_PIPELINE_HOST_RESPONSE, "PIPELINE_HOST_RESPONSE"},
};

#define NTYPES (sizeof MESSAGE_TYPES / sizeof MESSAGE_TYPES[0])

const char *wr_psrp_message_type_name(uint32_t type)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (MESSAGE_TYPES[i].type == type)
            return MESSAGE_TYPES[i].name;
    return NULL;
}

const uint32_t *wr_psrp_message_types(size_t *n)
{
    static uint32_t types[NTYPES];
    for (size_t i = 0; i < NTYPES; i++)
        types[i] = MESSAGE_TYPES[i].type;
    *n = NTYPES;
    return types;
}

/* Index = RemoteHostMethodId (PowerShell's enum of that name). */
static const char *const HOST_METHODS[] = {
    NULL,
    "GetName",
    "GetVersion",
    "GetInstanceId",
    "GetCurrentCulture",
    "GetCurrentUICulture",
    "SetShouldExit",
    "EnterNestedPrompt",
    "ExitNestedPrompt",
    "NotifyBeginApplication",
    "NotifyEndApplication",
    "ReadLine",
    "ReadLineAsSecureString",
    "Write1",
    "Write2",
    "WriteLine1",
    "WriteLine2",
    "WriteLine3",
    "WriteErrorLine",
    "WriteDebugLine",
    "WriteProgress",
    "WriteVerboseLine",
    "WriteWarningLine",
    "Prompt",
    "PromptForCredential1",
    "PromptForCredential2",
    "PromptForChoice",
    "GetForegroundColor",
    "SetForegroundColor",
    "GetBackgroundColor",
    "SetBackgroundColor",
    "GetCursorPosition",
    "SetCursorPosition",
    "GetWindowPosition",
    "SetWindowPosition",
    "GetCursorSize",
    "SetCursorSize",
    "GetBufferSize",
    "SetBufferSize",
    "GetWindowSize",
    "SetWindowSize",
    "GetWindowTitle",
    "SetWindowTitle",
    "GetMaxWindowSize",
    "GetMaxPhysicalWindowSize",
    "GetKeyAvailable",
    "ReadKey",
    "FlushInputBuffer",
    "SetBufferContents1",
    "SetBufferContents2",
    "GetBufferContents",
    "ScrollBufferContents",
    "PushRunspace",
    "PopRunspace",
    "GetIsRunspacePushed",
    "GetRunspace",
    "PromptForChoiceMultipleSelection",
};

const char *wr_psrp_host_method_name(int method_id)
{
    if (method_id <= 0 || (size_t)method_id >= sizeof HOST_METHODS / sizeof HOST_METHODS[0])
        return NULL;
    return HOST_METHODS[method_id];
}

int wr_psrp_host_method_returns(int id)
{
    if (!wr_psrp_host_method_name(id))
        return 0;
    if (id >= 6 && id <= 10)
        return 0; /* SetShouldExit .. NotifyEndApplication */
    if (id >= 13 && id <= 22)
        return 0; /* Write* */
    if (id >= 27 && id <= 42)
        return id % 2 == 1; /* RawUI getters are odd, setters even */
    if (id >= 47 && id <= 49)
        return 0; /* FlushInputBuffer, SetBufferContents1/2 */
    if (id >= 51 && id <= 53)
        return 0; /* ScrollBufferContents, PushRunspace, PopRunspace */
    return 1;
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

int wr_psrp_message_parse(wr_psrp_message *m, const void *msg, size_t len)
{
    const unsigned char *p = msg;
    if (len < WR_PSRP_MESSAGE_HEADER_LEN)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP message of %zu bytes is shorter than its header", len);
    m->destination = get_le32(p);
    m->type = get_le32(p + 4);
    if (m->destination != WR_PSRP_DEST_CLIENT && m->destination != WR_PSRP_DEST_SERVER)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "PSRP message with destination %u",
                            (unsigned)m->destination);
    wr_guid_from_dotnet(&m->rpid, p + 8);
    wr_guid_from_dotnet(&m->pid, p + 24);
    m->data = (const char *)p + WR_PSRP_MESSAGE_HEADER_LEN;
    m->len = len - WR_PSRP_MESSAGE_HEADER_LEN;
    if (m->len >= 3 && memcmp(m->data, "\xEF\xBB\xBF", 3) == 0) {
        m->data += 3;
        m->len -= 3;
    }
    return 0;
}

int wr_psrp_message_write(wr_buf *out, uint32_t destination, uint32_t type, const wr_guid *rpid,
                          const wr_guid *pid, const void *data, size_t len)
{
    unsigned char hdr[WR_PSRP_MESSAGE_HEADER_LEN];
    memset(hdr, 0, sizeof hdr);
    put_le32(hdr, destination);
    put_le32(hdr + 4, type);
    if (rpid)
        wr_guid_to_dotnet(rpid, hdr + 8);
    if (pid)
        wr_guid_to_dotnet(pid, hdr + 24);
    if (wr_buf_reserve(out, sizeof hdr + len))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    wr_buf_append(out, hdr, sizeof hdr);
    wr_buf_append(out, data, len);
    return 0;
}

/* ---- HostInfo ---------------------------------------------------------- */

void wr_psrp_host_info_null(wr_psrp_host_info *h)
{
    memset(h, 0, sizeof *h);
    h->is_host_null = h->is_ui_null = h->is_raw_ui_null = 1;
    h->use_runspace_host = 1;
}

void wr_psrp_host_info_console(wr_psrp_host_info *h, int width, int height, const char *title)
{
    memset(h, 0, sizeof *h);
    if (width <= 0)
        width = 120;
    if (height <= 0)
        height = 50;
    h->foreground_color = 7; /* Gray */
    h->background_color = 0; /* Black */
    h->cursor_size = 25;
    h->buffer_width = width;
    h->buffer_height = 9001; /* a console's scroll-back, as Windows sets it */
    h->window_width = width;
    h->window_height = height;
    h->max_window_width = width;
    h->max_window_height = height;
    h->max_physical_width = width;
    h->max_physical_height = height;
    h->window_title = title ? title : "winrsh";
}

static const char *const ENUM_TAIL[] = {"System.Enum", "System.ValueType", "System.Object"};

static void enum_types(const char *first, const char *out[5])
{
    out[0] = first;
    for (int i = 0; i < 3; i++)
        out[i + 1] = ENUM_TAIL[i];
    out[4] = NULL;
}

static void host_entry_begin(wr_clixml_writer *w, int32_t key, const char *type)
{
    wr_cx_begin(w, "En");
    wr_cx_i32(w, "Key", key);
    wr_cx_obj_begin(w, "Value", NULL, NULL);
    wr_cx_begin(w, "MS");
    wr_cx_string(w, "T", type);
}

static void host_entry_end(wr_clixml_writer *w)
{
    wr_cx_end(w, "MS");
    wr_cx_obj_end(w);
    wr_cx_end(w, "En");
}

static void host_pair(wr_clixml_writer *w, int32_t key, const char *type, const char *n1,
                      int32_t v1, const char *n2, int32_t v2)
{
    host_entry_begin(w, key, type);
    wr_cx_obj_begin(w, "V", NULL, NULL);
    wr_cx_begin(w, "MS");
    wr_cx_i32(w, n1, v1);
    wr_cx_i32(w, n2, v2);
    wr_cx_end(w, "MS");
    wr_cx_obj_end(w);
    host_entry_end(w);
}

static void host_i32(wr_clixml_writer *w, int32_t key, const char *type, int32_t v)
{
    host_entry_begin(w, key, type);
    wr_cx_i32(w, "V", v);
    host_entry_end(w);
}

static const char *const HASHTABLE_TYPES[] = {"System.Collections.Hashtable", "System.Object",
                                              NULL};

/* HostInfo (MS-PSRP 2.2.3.14), as an <Obj N="HostInfo">. */
static void write_host_info(wr_clixml_writer *w, const wr_psrp_host_info *h)
{
    wr_psrp_host_info null_host;
    if (!h) {
        wr_psrp_host_info_null(&null_host);
        h = &null_host;
    }
    int no_data = h->is_host_null || h->is_ui_null || h->is_raw_ui_null;
    wr_cx_obj_begin(w, "HostInfo", NULL, NULL);
    wr_cx_begin(w, "MS");
    if (!no_data) {
        static const char *const coord = "System.Management.Automation.Host.Coordinates";
        static const char *const size = "System.Management.Automation.Host.Size";
        wr_cx_obj_begin(w, "_hostDefaultData", NULL, NULL);
        wr_cx_begin(w, "MS");
        wr_cx_obj_begin(w, "data", HASHTABLE_TYPES, NULL);
        wr_cx_begin(w, "DCT");
        host_i32(w, 0, "System.ConsoleColor", h->foreground_color);
        host_i32(w, 1, "System.ConsoleColor", h->background_color);
        host_pair(w, 2, coord, "x", h->cursor_x, "y", h->cursor_y);
        host_pair(w, 3, coord, "x", h->window_x, "y", h->window_y);
        host_i32(w, 4, "System.Int32", h->cursor_size);
        host_pair(w, 5, size, "height", h->buffer_height, "width", h->buffer_width);
        host_pair(w, 6, size, "height", h->window_height, "width", h->window_width);
        host_pair(w, 7, size, "height", h->max_window_height, "width", h->max_window_width);
        host_pair(w, 8, size, "height", h->max_physical_height, "width", h->max_physical_width);
        host_entry_begin(w, 9, "System.String");
        wr_cx_string(w, "V", h->window_title ? h->window_title : "");
        host_entry_end(w);
        wr_cx_end(w, "DCT");
        wr_cx_obj_end(w);
        wr_cx_end(w, "MS");
        wr_cx_obj_end(w);
    }
    wr_cx_bool(w, "_isHostNull", h->is_host_null);
    wr_cx_bool(w, "_isHostUINull", h->is_host_null || h->is_ui_null);
    wr_cx_bool(w, "_isHostRawUINull", h->is_host_null || h->is_ui_null || h->is_raw_ui_null);
    wr_cx_bool(w, "_useRunspaceHost", h->use_runspace_host);
    wr_cx_end(w, "MS");
    wr_cx_obj_end(w);
}

/* ---- builders ------------------------------------------------------------ */

static int finish(wr_clixml_writer *w, wr_buf *xml, size_t start)
{
    int rc = wr_clixml_writer_finish(w);
    if (rc) {
        xml->len = start;
        if (xml->data)
            xml->data[start] = 0;
    }
    return rc;
}

int wr_psrp_build_session_capability(wr_buf *xml)
{
    wr_clixml_writer w;
    size_t start = xml->len;
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    wr_cx_prim(&w, "Version", "protocolversion", "2.3", 3);
    wr_cx_prim(&w, "Version", "PSVersion", "2.0", 3);
    wr_cx_prim(&w, "Version", "SerializationVersion", "1.1.0.1", 7);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    return finish(&w, xml, start);
}

static void write_apartment(wr_clixml_writer *w, int32_t v)
{
    static const char *const names[] = {"STA", "MTA", "UNKNOWN"};
    const char *types[5];
    enum_types("System.Management.Automation.Runspaces.ApartmentState", types);
    wr_cx_enum(w, "ApartmentState", types, v >= 0 && v <= 2 ? names[v] : "UNKNOWN", v);
}

int wr_psrp_build_init_runspacepool(wr_buf *xml, int32_t min_runspaces, int32_t max_runspaces,
                                    const wr_psrp_host_info *host, const winrsh_psobject *app_args)
{
    wr_clixml_writer w;
    size_t start = xml->len;
    const char *types[5];
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    wr_cx_i32(&w, "MinRunspaces", min_runspaces);
    wr_cx_i32(&w, "MaxRunspaces", max_runspaces);
    enum_types("System.Management.Automation.Runspaces.PSThreadOptions", types);
    wr_cx_enum(&w, "PSThreadOptions", types, "Default", 0);
    write_apartment(&w, 2);
    write_host_info(&w, host);
    wr_cx_value(&w, "ApplicationArguments", app_args);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    return finish(&w, xml, start);
}

void wr_psrp_command_init(wr_psrp_command *c, const char *cmd, int is_script)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->is_script = is_script;
    c->use_local_scope = -1;
}

void wr_psrp_pipeline_init(wr_psrp_pipeline *p, const wr_psrp_command *cmds, size_t ncmds)
{
    memset(p, 0, sizeof *p);
    p->cmds = cmds;
    p->ncmds = ncmds;
    p->no_input = 1;
    p->remote_stream_options = 15;
    p->apartment_state = 2;
}

static const char *result_type_name(int32_t v)
{
    static const char *const names[] = {"None",  "Output",      "Error", "Warning", "Verbose",
                                        "Debug", "Information", "All",   "Null"};
    return v >= 0 && v <= 8 ? names[v] : "None";
}

static void write_merge(wr_clixml_writer *w, const char *name, int32_t v)
{
    const char *types[5];
    enum_types("System.Management.Automation.Runspaces.PipelineResultTypes", types);
    wr_cx_enum(w, name, types, result_type_name(v), v);
}

static const char *const PSOBJECT_LIST_TYPES[] = {
    "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, "
    "System.Management.Automation, Version=1.0.0.0, Culture=neutral, "
    "PublicKeyToken=31bf3856ad364e35]]",
    "System.Object", NULL};

static void write_command(wr_clixml_writer *w, const wr_psrp_command *c)
{
    wr_cx_obj_begin(w, NULL, NULL, NULL);
    wr_cx_begin(w, "MS");
    wr_cx_string(w, "Cmd", c->cmd);
    wr_cx_bool(w, "IsScript", c->is_script);
    if (c->use_local_scope < 0)
        wr_cx_nil(w, "UseLocalScope");
    else
        wr_cx_bool(w, "UseLocalScope", c->use_local_scope);
    write_merge(w, "MergeMyResult", c->merge_my_result);
    write_merge(w, "MergeToResult", c->merge_to_result);
    write_merge(w, "MergePreviousResults", c->merge_previous_results);
    wr_cx_obj_begin(w, "Args", PSOBJECT_LIST_TYPES, NULL);
    wr_cx_begin(w, "LST");
    for (size_t i = 0; i < c->nargs; i++) {
        wr_cx_obj_begin(w, NULL, NULL, NULL);
        wr_cx_begin(w, "MS");
        if (c->args[i].name)
            wr_cx_string(w, "N", c->args[i].name);
        else
            wr_cx_nil(w, "N");
        wr_cx_value(w, "V", c->args[i].value);
        wr_cx_end(w, "MS");
        wr_cx_obj_end(w);
    }
    wr_cx_end(w, "LST");
    wr_cx_obj_end(w);
    write_merge(w, "MergeError", c->merge_error);
    write_merge(w, "MergeWarning", c->merge_warning);
    write_merge(w, "MergeVerbose", c->merge_verbose);
    write_merge(w, "MergeDebug", c->merge_debug);
    write_merge(w, "MergeInformation", c->merge_information);
    wr_cx_end(w, "MS");
    wr_cx_obj_end(w);
}

int wr_psrp_build_create_pipeline(wr_buf *xml, const wr_psrp_pipeline *p)
{
    if (!p || !p->ncmds || !p->cmds)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "a pipeline needs a command");
    for (size_t i = 0; i < p->ncmds; i++)
        if (!p->cmds[i].cmd || (p->cmds[i].nargs && !p->cmds[i].args))
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "command %zu is empty", i);
    wr_clixml_writer w;
    size_t start = xml->len;
    const char *types[5];
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    wr_cx_bool(&w, "NoInput", p->no_input);
    write_apartment(&w, p->apartment_state);
    enum_types("System.Management.Automation.Runspaces.RemoteStreamOptions", types);
    wr_cx_enum(&w, "RemoteStreamOptions", types,
               p->remote_stream_options == 15  ? "AddInvocationInfo"
               : p->remote_stream_options == 0 ? "None"
                                               : "AddInvocationInfoToErrorRecord",
               p->remote_stream_options);
    wr_cx_bool(&w, "AddToHistory", p->add_to_history);
    write_host_info(&w, p->host);
    wr_cx_obj_begin(&w, "PowerShell", NULL, NULL);
    wr_cx_begin(&w, "MS");
    wr_cx_bool(&w, "IsNested", p->is_nested);
    wr_cx_nil(&w, "ExtraCmds");
    wr_cx_obj_begin(&w, "Cmds", PSOBJECT_LIST_TYPES, NULL);
    wr_cx_begin(&w, "LST");
    for (size_t i = 0; i < p->ncmds; i++)
        write_command(&w, &p->cmds[i]);
    wr_cx_end(&w, "LST");
    wr_cx_obj_end(&w);
    if (p->history)
        wr_cx_string(&w, "History", p->history);
    else
        wr_cx_nil(&w, "History");
    wr_cx_bool(&w, "RedirectShellErrorOutputPipe", 0);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    wr_cx_bool(&w, "IsNested", p->is_nested);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    return finish(&w, xml, start);
}

int wr_psrp_build_pipeline_input(wr_buf *xml, const winrsh_psobject *o)
{
    wr_clixml_writer w;
    size_t start = xml->len;
    wr_clixml_writer_init(&w, xml);
    wr_cx_value(&w, NULL, o);
    return finish(&w, xml, start);
}

int wr_psrp_build_pipeline_input_string(wr_buf *xml, const char *s, size_t len)
{
    wr_clixml_writer w;
    size_t start = xml->len;
    wr_clixml_writer_init(&w, xml);
    wr_cx_prim(&w, "S", NULL, s ? s : "", s ? len : 0);
    return finish(&w, xml, start);
}

int wr_psrp_build_host_response(wr_buf *xml, int64_t call_id, int method_id,
                                const winrsh_psobject *result, const winrsh_psobject *error)
{
    const char *name = wr_psrp_host_method_name(method_id);
    if (!name)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "unknown host method %d",
                            method_id);
    wr_clixml_writer w;
    size_t start = xml->len;
    const char *types[5];
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    wr_cx_i64(&w, "ci", call_id);
    enum_types("System.Management.Automation.Remoting.RemoteHostMethodId", types);
    wr_cx_enum(&w, "mi", types, name, method_id);
    if (error)
        wr_cx_value(&w, "me", error);
    else
        wr_cx_value(&w, "mr", result);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    return finish(&w, xml, start);
}

int wr_psrp_build_public_key(wr_buf *xml, const void *blob, size_t len)
{
    wr_buf b64 = WR_BUF_INIT;
    if (wr_base64_encode(&b64, blob, len))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    wr_clixml_writer w;
    size_t start = xml->len;
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    wr_cx_prim(&w, "S", "PublicKey", wr_buf_cstr(&b64), b64.len);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    wr_buf_free(&b64);
    return finish(&w, xml, start);
}

static const char *const STRING_ARRAY_TYPES[] = {"System.String[]", "System.Array", "System.Object",
                                                 NULL};

int wr_psrp_build_get_command_metadata(wr_buf *xml, const char *const *names, size_t nnames,
                                       int32_t command_type)
{
    return wr_psrp_build_get_command_metadata_ns(xml, names, nnames, command_type, NULL, 0);
}

/* ---- pool calls (runspace_admin.c) ------------------------------------------ */

static const char *const OBJECT_ARRAY_TYPES[] = {"System.Object[]", "System.Array", "System.Object",
                                                 NULL};

static void write_strings(wr_clixml_writer *w, const char *name, const char *const *types,
                          const char *const *v, size_t n)
{
    wr_cx_obj_begin(w, name, types, NULL);
    wr_cx_begin(w, "LST");
    for (size_t i = 0; i < n; i++)
        wr_cx_string(w, NULL, v[i]);
    wr_cx_end(w, "LST");
    wr_cx_obj_end(w);
}

int wr_psrp_build_get_command_metadata_ns(wr_buf *xml, const char *const *names, size_t nnames,
                                          int32_t command_type, const char *const *namespaces,
                                          size_t nnamespaces)
{
    if ((nnames && !names) || (nnamespaces && !namespaces))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "GET_COMMAND_METADATA: NULL name list");
    for (size_t i = 0; i < nnames; i++)
        if (!names[i])
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "GET_COMMAND_METADATA: name %zu is NULL", i);
    for (size_t i = 0; i < nnamespaces; i++)
        if (!namespaces[i])
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "GET_COMMAND_METADATA: namespace %zu is NULL", i);
    wr_clixml_writer w;
    size_t start = xml->len;
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    write_strings(&w, "Name", STRING_ARRAY_TYPES, names, nnames);
    wr_cx_i32(&w, "CommandType", command_type);
    if (nnamespaces)
        write_strings(&w, "Namespace", OBJECT_ARRAY_TYPES, namespaces, nnamespaces);
    else
        wr_cx_nil(&w, "Namespace");
    wr_cx_nil(&w, "ArgumentList");
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    return finish(&w, xml, start);
}

/* <Obj><MS>[<I32 N=name>n</I32>]<I64 N="ci">ci</I64></MS></Obj>, the layout
 * of the spec's examples (2.2.2.6). pypsrp wrote "CI"; the spec and
 * PowerShell say "ci". */
static int build_pool_call(wr_buf *xml, const char *name, int32_t n, int64_t call_id)
{
    wr_clixml_writer w;
    size_t start = xml->len;
    wr_clixml_writer_init(&w, xml);
    wr_cx_obj_begin(&w, NULL, NULL, NULL);
    wr_cx_begin(&w, "MS");
    if (name)
        wr_cx_i32(&w, name, n);
    wr_cx_i64(&w, "ci", call_id);
    wr_cx_end(&w, "MS");
    wr_cx_obj_end(&w);
    return finish(&w, xml, start);
}

int wr_psrp_build_set_max_runspaces(wr_buf *xml, int32_t max_runspaces, int64_t call_id)
{
    return build_pool_call(xml, "MaxRunspaces", max_runspaces, call_id);
}

int wr_psrp_build_set_min_runspaces(wr_buf *xml, int32_t min_runspaces, int64_t call_id)
{
    return build_pool_call(xml, "MinRunspaces", min_runspaces, call_id);
}

int wr_psrp_build_call_id(wr_buf *xml, int64_t call_id)
{
    return build_pool_call(xml, NULL, 0, call_id);
}

int wr_psrp_availability_read(const winrsh_psobject *o, wr_psrp_availability *a)
{
    memset(a, 0, sizeof *a);
    const winrsh_psobject *ci = winrsh_psobject_prop(o, "ci");
    const winrsh_psobject *r = winrsh_psobject_prop(o, "SetMinMaxRunspacesResponse");
    if (!ci || winrsh_psobject_get_int64(ci, &a->call_id) || !r)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "RUNSPACE_AVAILABILITY without ci or SetMinMaxRunspacesResponse");
    if (winrsh_psobject_get_kind(r) == WINRSH_PSOBJ_BOOL) {
        int b = 0;
        winrsh_psobject_get_bool(r, &b);
        a->is_bool = 1;
        a->value = b != 0;
        return 0;
    }
    if (winrsh_psobject_get_int64(r, &a->value))
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "RUNSPACE_AVAILABILITY: SetMinMaxRunspacesResponse is a %s, not a "
                            "bool or an integer",
                            winrsh_psobject_kind_name(winrsh_psobject_get_kind(r)));
    return 0;
}
