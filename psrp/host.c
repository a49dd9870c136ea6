/*
 * host.c: the client's PSHost as the server sees it: host calls
 * (RUNSPACEPOOL_HOST_CALL 2.2.2.15, PIPELINE_HOST_CALL 2.2.2.27) and their
 * responses (2.2.2.16, 2.2.2.28). Method ids and their parameters are
 * MS-PSRP 2.2.3.17 (message.h has the enum):
 *
 *   +-------------------------+------------------+---------------------------+
 *   | method (id)             | mp               | what we do                |
 *   +-------------------------+------------------+---------------------------+
 *   | Write1 (13)             | text             | host_write(OUT, no NL)    |
 *   | Write2 (14)             | fg, bg, text     | host_write(OUT, no NL)    |
 *   | WriteLine1/2/3 (15-17)  | - / text / fg,bg,| host_write(OUT, NL)       |
 *   |                         | text             |                           |
 *   | WriteErrorLine (18),    | text             | host_write(ERROR, DEBUG,  |
 *   | Debug (19), Verbose (21)|                  | VERBOSE, WARNING; NL)     |
 *   | Warning (22)            |                  |                           |
 *   | WriteProgress (20)      | sourceId, record | nothing: the same record  |
 *   |                         |                  | also comes as a           |
 *   |                         |                  | PROGRESS_RECORD, which    |
 *   |                         |                  | goes to the progress cb   |
 *   | SetShouldExit (6)       | exit code        | recorded (exit status)    |
 *   | other void methods      | (setters...)     | host_call, else nothing   |
 *   | ReadLine (11)           | -                | host_read_line, else me   |
 *   | ReadLineAsSecure-       | -                | host_read_secret, sent as |
 *   | String (12)             |                  | <SS> (session key)        |
 *   | Prompt (23)             | caption, message,| host_write the labels,    |
 *   |                         | fields           | host_read_line each;      |
 *   |                         |                  | SecureString fields with  |
 *   |                         |                  | host_read_secret,         |
 *   |                         |                  | PSCredential ones as 24,  |
 *   |                         |                  | arrays line by line up to |
 *   |                         |                  | an empty line             |
 *   | PromptForCredential1/2  | caption, message,| host_credential, else     |
 *   | (24, 25)                | user, target...  | "User: " host_read_line + |
 *   |                         |                  | host_read_secret; a       |
 *   |                         |                  | PSCredential {UserName S, |
 *   |                         |                  | Password SS}              |
 *   | PromptForChoice (26)    | caption, message,| host_write the choices,   |
 *   |                         | choices, default | host_read_line the answer |
 *   | PromptForChoice-        | caption, message,| "Choice[n]: " lines up to |
 *   | MultipleSelection (56)  | choices, defaults| an empty one; a list of   |
 *   |                         |                  | the indexes (I32)         |
 *   | RawUI getters (27-44)   | -                | the HostInfo we sent      |
 *   | GetName/Version/        | -                | "winrsh", our version,    |
 *   | InstanceId (1-3)        |                  | the pool id               |
 *   | GetKeyAvailable (45),   | -                | false                     |
 *   | GetIsRunspacePushed (54)|                  |                           |
 *   | other value methods     |                  | host_call, else an error  |
 *   |                         |                  | response (`me`)           |
 *   +-------------------------+------------------+---------------------------+
 *
 * Only methods that return a value get a response (PROTOCOL.md 4); the
 * server blocks the calling script until it comes, so every such call is
 * answered, with an error record when nothing better is possible. Every
 * method goes to the caller's host_call first, when there is one.
 *
 * Answers holding a SecureString need the session key: such a call is
 * deferred until the runspace has run the key exchange (securestring.h),
 * then dispatched again. Plaintext secrets live in buffers wiped before
 * they are freed and are never traced. RawUI
 * values are encoded as PowerShell's RemoteHostEncoder encodes structs: an
 * object whose note properties are the struct's fields (Size: width,
 * height; Coordinates: x, y), enums as their Int32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "psrp/clixml.h"
#include "psrp/records.h"
#include "psrp/runspace.h"
#include "psrp/securestring.h"
#include "common/mem.h"
#include "winrsh/errors.h"

#define READ_LINE_MAX 65536
#define USER_MAX 1024
/* Lines an array field of Prompt may take. */
#define ARRAY_FIELD_MAX 1000

static const char *const SECURE_STRING_TYPE = "System.Security.SecureString";
static const char *const CREDENTIAL_TYPE = "System.Management.Automation.PSCredential";

static int cb_result(int r)
{
    return r ? WINRSH_EUSER : 0;
}

static const winrsh_psobject *param(const wr_psrp_host_call *hc, size_t i)
{
    return winrsh_psobject_list_item(hc->params, i);
}

static const char *param_text(const wr_psrp_host_call *hc, size_t i, size_t *len)
{
    const winrsh_psobject *o = param(hc, i);
    const char *t =
        o && winrsh_psobject_get_kind(o) != WINRSH_PSOBJ_NULL ? winrsh_psobject_text(o, len) : NULL;
    if (!t) {
        *len = 0;
        return "";
    }
    return t;
}

static int host_write(winrsh_runspace *rs, winrsh_host_stream s, const wr_psrp_host_call *hc,
                      size_t text_index, int newline)
{
    size_t len = 0;
    const char *text = text_index == (size_t)-1 ? "" : param_text(hc, text_index, &len);
    if (!rs->opts.host_write)
        return 0;
    return cb_result(rs->opts.host_write(s, text, len, newline, rs->opts.host_payload));
}

/* ---- values ---------------------------------------------------------------- */

static int new_pair(winrsh_psobject **out, const char *n1, int32_t v1, const char *n2, int32_t v2)
{
    winrsh_psobject *o = NULL, *a = NULL, *b = NULL;
    int rc = winrsh_psobject_new_object(&o, NULL);
    if (!rc)
        rc = winrsh_psobject_new_int32(&a, v1);
    if (!rc) {
        rc = winrsh_psobject_add_property(o, n1, a);
        a = NULL;
    }
    if (!rc)
        rc = winrsh_psobject_new_int32(&b, v2);
    if (!rc) {
        rc = winrsh_psobject_add_property(o, n2, b);
        b = NULL;
    }
    winrsh_psobject_free(a);
    winrsh_psobject_free(b);
    if (rc) {
        winrsh_psobject_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* <tag>value</tag> parsed: for the primitive kinds without a constructor. */
static int from_clixml(winrsh_psobject **out, const char *tag, const char *value)
{
    char xml[256];
    snprintf(xml, sizeof xml, "<%s>%s</%s>", tag, value, tag);
    return winrsh_psobject_from_clixml(out, xml, strlen(xml));
}

static int add_string_prop(winrsh_psobject *o, const char *name, const char *value)
{
    winrsh_psobject *v = NULL;
    int rc =
        value ? winrsh_psobject_new_string(&v, value, strlen(value)) : winrsh_psobject_new_null(&v);
    if (!rc)
        rc = winrsh_psobject_add_property(o, name, v);
    else
        winrsh_psobject_free(v);
    return rc;
}

/* An ErrorRecord as ErrorRecord.FromPSObjectForRemoting reads it: every
 * property it asks for must be present, even if $null. */
static int new_error_record(winrsh_psobject **out, const char *message)
{
    static const char *const er_types[] = {"System.Management.Automation.ErrorRecord",
                                           "System.Object", NULL};
    static const char *const ex_types[] = {"System.Management.Automation.HostException",
                                           "System.Exception", "System.Object", NULL};
    winrsh_psobject *er = NULL, *ex = NULL, *v = NULL;
    int rc = winrsh_psobject_new_object(&er, er_types);
    if (!rc)
        rc = winrsh_psobject_new_object(&ex, ex_types);
    if (!rc)
        rc = add_string_prop(ex, "Message", message);
    if (!rc) {
        rc = winrsh_psobject_add_property(er, "Exception", ex);
        ex = NULL;
    }
    if (!rc)
        rc = add_string_prop(er, "TargetObject", NULL);
    if (!rc)
        rc = add_string_prop(er, "FullyQualifiedErrorId", "HostFunctionNotImplemented");
    if (!rc)
        rc = add_string_prop(er, "InvocationInfo", NULL);
    if (!rc && !(rc = winrsh_psobject_new_int32(&v, 0))) { /* NotSpecified */
        rc = winrsh_psobject_add_property(er, "ErrorCategory_Category", v);
        v = NULL;
    }
    if (!rc)
        rc = add_string_prop(er, "ErrorCategory_Activity", "");
    if (!rc)
        rc = add_string_prop(er, "ErrorCategory_Reason", "HostException");
    if (!rc)
        rc = add_string_prop(er, "ErrorCategory_TargetName", "");
    if (!rc)
        rc = add_string_prop(er, "ErrorCategory_TargetType", "");
    if (!rc)
        rc = add_string_prop(er, "ErrorCategory_Message", "NotSpecified: (:) [], HostException");
    if (!rc && !(rc = winrsh_psobject_new_bool(&v, 0))) {
        rc = winrsh_psobject_add_property(er, "SerializeExtendedInfo", v);
        v = NULL;
    }
    winrsh_psobject_free(ex);
    winrsh_psobject_free(v);
    if (rc) {
        winrsh_psobject_free(er);
        return rc;
    }
    *out = er;
    return 0;
}

/* ---- secrets ------------------------------------------------------------------ */

/* An <SS> value of `len` bytes of UTF-8, encrypted with the session key. */
static int new_secure_string(winrsh_runspace *rs, const char *text, size_t len,
                             winrsh_psobject **out)
{
    const unsigned char *key = wr_rs_session_key(rs);
    if (!key)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "no SecureString session key with the server");
    wr_buf xml = WR_BUF_INIT;
    int rc = wr_buf_puts(&xml, "<SS>");
    if (!rc)
        rc = wr_ss_encrypt(key, text, len, &xml);
    if (!rc)
        rc = wr_buf_puts(&xml, "</SS>");
    if (!rc)
        rc = winrsh_psobject_from_clixml(out, (const char *)xml.data, xml.len);
    wr_buf_free(&xml);
    return rc;
}

/* A buffer for a secret line: wiped and freed with free_secret(). */
static char *secret_buf(void)
{
    char *b = malloc(READ_LINE_MAX);
    if (b)
        b[0] = 0;
    return b;
}

static void free_secret(char *b)
{
    if (b) {
        wr_wipe(b, READ_LINE_MAX);
        free(b);
    }
}

static int read_secret(winrsh_runspace *rs, char *buf)
{
    buf[0] = 0;
    int r = rs->opts.host_read_secret(buf, READ_LINE_MAX, rs->opts.host_payload);
    buf[READ_LINE_MAX - 1] = 0;
    return r;
}

/* ReadLineAsSecureString (Read-Host -AsSecureString). */
static int read_secure_line(winrsh_runspace *rs, winrsh_psobject **result, char *why, size_t whylen)
{
    if (!rs->opts.host_read_secret) {
        snprintf(why, whylen, "the winrsh host cannot read a secret (no terminal)");
        return 1;
    }
    char *buf = secret_buf();
    if (!buf)
        return WINRSH_ENOMEM;
    int rc = 1;
    if (read_secret(rs, buf))
        snprintf(why, whylen, "no input is available for Read-Host -AsSecureString");
    else
        rc = new_secure_string(rs, buf, strlen(buf), result);
    free_secret(buf);
    return rc;
}

static void say(winrsh_runspace *rs, const char *text, int newline);
static void prompt_header(winrsh_runspace *rs, const wr_psrp_host_call *hc);

/* A PSCredential as RemoteHostEncoder.DecodeObject reads one for
 * PromptForCredential: an object with UserName and Password (SS). */
static int new_credential(winrsh_runspace *rs, const char *user, const char *password,
                          winrsh_psobject **out)
{
    static const char *const types[] = {"System.Management.Automation.PSCredential",
                                        "System.Object", NULL};
    winrsh_psobject *o = NULL, *u = NULL, *pw = NULL;
    int rc = winrsh_psobject_new_object(&o, types);
    if (!rc)
        rc = winrsh_psobject_new_string(&u, user, strlen(user));
    if (!rc) {
        rc = winrsh_psobject_add_property(o, "UserName", u);
        u = NULL;
    }
    if (!rc)
        rc = new_secure_string(rs, password, strlen(password), &pw);
    if (!rc) {
        rc = winrsh_psobject_add_property(o, "Password", pw);
        pw = NULL;
    }
    winrsh_psobject_free(u);
    winrsh_psobject_free(pw);
    if (rc) {
        winrsh_psobject_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* A credential from host_credential, or from the terminal as PowerShell's
 * console asks for one ("User: ", "Password for user X: "). An empty user
 * name is a cancel: $null. */
static int ask_credential(winrsh_runspace *rs, const char *caption, const char *message,
                          const char *user_name, const char *target, winrsh_psobject **result,
                          char *why, size_t whylen)
{
    if (!rs->opts.host_credential && (!rs->opts.host_read_line || !rs->opts.host_read_secret)) {
        snprintf(why, whylen, "the winrsh host cannot prompt for a credential (no terminal)");
        return 1;
    }
    char user[USER_MAX];
    char *pw = secret_buf();
    if (!pw)
        return WINRSH_ENOMEM;
    user[0] = 0;
    int r;
    if (rs->opts.host_credential) {
        r = rs->opts.host_credential(caption, message, user_name, target, user, sizeof user, pw,
                                     READ_LINE_MAX, rs->opts.host_payload);
        user[sizeof user - 1] = 0;
        pw[READ_LINE_MAX - 1] = 0;
    } else {
        if (*caption)
            say(rs, caption, 1);
        if (*message)
            say(rs, message, 1);
        r = 0;
        if (*user_name) {
            snprintf(user, sizeof user, "%s", user_name);
        } else {
            say(rs, "User: ", 0);
            r = rs->opts.host_read_line(user, sizeof user, rs->opts.host_payload);
            user[sizeof user - 1] = 0;
        }
        if (!r && *user) {
            char label[USER_MAX + 32];
            snprintf(label, sizeof label, "Password for user %s: ", user);
            say(rs, label, 0);
            r = read_secret(rs, pw);
        }
    }
    int rc;
    if (r) {
        snprintf(why, whylen, "no credential was entered");
        rc = 1;
    } else if (!*user) {
        rc = winrsh_psobject_new_null(result);
    } else {
        rc = new_credential(rs, user, pw, result);
    }
    free_secret(pw);
    wr_wipe(user, sizeof user);
    return rc;
}

/* ---- prompts through host_write + host_read_line ---------------------- */

static void say(winrsh_runspace *rs, const char *text, int newline)
{
    if (rs->opts.host_write)
        (void)rs->opts.host_write(WINRSH_HOST_OUTPUT, text, strlen(text), newline,
                                  rs->opts.host_payload);
}

/* A label without its hot-key marker: "&Yes" -> "Yes". */
static void strip_amp(const char *label, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = label; *p && n + 1 < size; p++)
        if (*p != '&')
            out[n++] = *p;
    out[n] = 0;
}

/* The hot key of a label: the character after '&' (ASCII), or 0. */
static char hot_key(const char *label)
{
    const char *amp = strchr(label, '&');
    return amp && amp[1] && (unsigned char)amp[1] < 0x80 ? amp[1] : 0;
}

static const char *prop_text(const winrsh_psobject *o, const char *name)
{
    const winrsh_psobject *v = winrsh_psobject_prop(o, name);
    const char *t = v && winrsh_psobject_get_kind(v) != WINRSH_PSOBJ_NULL
                        ? winrsh_psobject_text(v, NULL)
                        : NULL;
    return t ? t : "";
}

static int read_answer(winrsh_runspace *rs, char *buf, size_t size)
{
    buf[0] = 0;
    int r = rs->opts.host_read_line(buf, size, rs->opts.host_payload);
    buf[size - 1] = 0;
    return r;
}

static void prompt_header(winrsh_runspace *rs, const wr_psrp_host_call *hc)
{
    size_t len;
    const char *caption = param_text(hc, 0, &len);
    if (*caption)
        say(rs, caption, 1);
    const char *message = param_text(hc, 1, &len);
    if (*message)
        say(rs, message, 1);
}

/* One line per element, "label[i]: ", up to an empty line: a list. */
static int prompt_array(winrsh_runspace *rs, const char *shown, int secure, char *buf,
                        winrsh_psobject **out, char *why, size_t whylen)
{
    winrsh_psobject *list = NULL;
    int rc = winrsh_psobject_new_list(&list);
    for (int i = 0; !rc && i < ARRAY_FIELD_MAX; i++) {
        char label[600];
        snprintf(label, sizeof label, "%s[%d]: ", shown, i);
        say(rs, label, 0);
        int r = secure ? read_secret(rs, buf) : read_answer(rs, buf, READ_LINE_MAX);
        if (r) {
            snprintf(why, whylen, "no input is available for the prompt");
            rc = 1;
            break;
        }
        if (!buf[0])
            break;
        winrsh_psobject *v = NULL;
        rc = secure ? new_secure_string(rs, buf, strlen(buf), &v)
                    : winrsh_psobject_new_string(&v, buf, strlen(buf));
        if (!rc)
            rc = winrsh_psobject_list_append(list, v);
        else
            winrsh_psobject_free(v);
    }
    if (rc) {
        winrsh_psobject_free(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* Prompt (Read-Host with a prompt, mandatory parameters): a Hashtable of
 * field name -> what was typed: a string, an <SS> for SecureString, a
 * PSCredential, or a list for array types. Other types go as strings,
 * which PowerShell converts as it binds them. */
static int prompt_fields(winrsh_runspace *rs, const wr_psrp_host_call *hc, winrsh_psobject **result,
                         char *why, size_t whylen)
{
    const winrsh_psobject *fields = param(hc, 2);
    size_t n = winrsh_psobject_list_count(fields);
    char *buf = secret_buf();
    winrsh_psobject *dict = NULL;
    int rc = buf ? winrsh_psobject_new_dict(&dict) : WINRSH_ENOMEM;
    if (!rc)
        prompt_header(rs, hc);
    for (size_t i = 0; i < n && !rc; i++) {
        const winrsh_psobject *f = winrsh_psobject_list_item(fields, i);
        const char *name = prop_text(f, "name");
        const char *label = prop_text(f, "label");
        const char *type = prop_text(f, "parameterTypeFullName");
        size_t tlen = strlen(type);
        int is_array = tlen > 2 && strcmp(type + tlen - 2, "[]") == 0;
        char shown[512];
        strip_amp(*label ? label : name, shown, sizeof shown);
        winrsh_psobject *v = NULL;
        if (strcmp(type, CREDENTIAL_TYPE) == 0) {
            say(rs, shown, 1);
            rc = ask_credential(rs, "", "", "", "", &v, why, whylen);
        } else if (is_array) {
            int secure = strncmp(type, SECURE_STRING_TYPE, strlen(SECURE_STRING_TYPE)) == 0;
            if (secure && !rs->opts.host_read_secret) {
                snprintf(why, whylen, "the winrsh host cannot read a secret (no terminal)");
                rc = 1;
            } else {
                rc = prompt_array(rs, shown, secure, buf, &v, why, whylen);
            }
        } else {
            int secure = strcmp(type, SECURE_STRING_TYPE) == 0;
            strncat(shown, ": ", sizeof shown - strlen(shown) - 1);
            if (secure && !rs->opts.host_read_secret) {
                snprintf(why, whylen, "the winrsh host cannot read a secret (no terminal)");
                rc = 1;
                break;
            }
            say(rs, shown, 0);
            if (secure ? read_secret(rs, buf) : read_answer(rs, buf, READ_LINE_MAX)) {
                snprintf(why, whylen, "no input is available for the prompt");
                rc = 1;
                break;
            }
            rc = secure ? new_secure_string(rs, buf, strlen(buf), &v)
                        : winrsh_psobject_new_string(&v, buf, strlen(buf));
        }
        winrsh_psobject *k = NULL;
        if (!rc)
            rc = winrsh_psobject_new_string(&k, name, strlen(name));
        if (!rc) {
            rc = winrsh_psobject_dict_add(dict, k, v);
            k = v = NULL;
        }
        winrsh_psobject_free(k);
        winrsh_psobject_free(v);
    }
    free_secret(buf);
    if (rc) {
        winrsh_psobject_free(dict);
        return rc;
    }
    *result = dict;
    return 0;
}

/* Does the answer to this call hold a SecureString (so it needs the
 * session key)? Only when the host can produce one at all. */
static int needs_session_key(const winrsh_runspace *rs, const wr_psrp_host_call *hc)
{
    int can_secret = rs->opts.host_read_secret != NULL;
    int can_cred = rs->opts.host_credential || (rs->opts.host_read_line && can_secret);
    switch (hc->method_id) {
    case WR_PSRP_HOST_READ_LINE_AS_SECURE_STRING:
        return can_secret;
    case WR_PSRP_HOST_PROMPT_FOR_CREDENTIAL1:
    case WR_PSRP_HOST_PROMPT_FOR_CREDENTIAL2:
        return can_cred;
    case WR_PSRP_HOST_PROMPT: {
        if (!rs->opts.host_read_line)
            return 0;
        const winrsh_psobject *fields = param(hc, 2);
        size_t n = winrsh_psobject_list_count(fields);
        for (size_t i = 0; i < n; i++) {
            const char *type =
                prop_text(winrsh_psobject_list_item(fields, i), "parameterTypeFullName");
            if (strncmp(type, SECURE_STRING_TYPE, strlen(SECURE_STRING_TYPE)) == 0 && can_secret)
                return 1;
            if (strcmp(type, CREDENTIAL_TYPE) == 0 && can_cred)
                return 1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

/* "[Y] Yes  [N] No  [?] Help (default is "Y"): " for the choices and the
 * default indexes (PowerShell's console layout). */
static void choice_line(const winrsh_psobject *choices, const int32_t *defs, size_t ndefs,
                        wr_buf *line)
{
    size_t n = winrsh_psobject_list_count(choices);
    for (size_t i = 0; i < n; i++) {
        const char *label = prop_text(winrsh_psobject_list_item(choices, i), "label");
        char shown[256];
        strip_amp(label, shown, sizeof shown);
        char key = hot_key(label);
        if (key)
            wr_buf_printf(line, "[%c] %s  ", key >= 'a' && key <= 'z' ? key - 32 : key, shown);
        else
            wr_buf_printf(line, "%s  ", shown);
    }
    wr_buf_puts(line, "[?] Help");
    size_t shown_defs = 0;
    for (size_t d = 0; d < ndefs; d++) {
        if (defs[d] < 0 || (size_t)defs[d] >= n)
            continue;
        const char *label = prop_text(winrsh_psobject_list_item(choices, (size_t)defs[d]), "label");
        char key = hot_key(label);
        char shown[256];
        strip_amp(label, shown, sizeof shown);
        wr_buf_puts(line, shown_defs  ? ","
                          : ndefs > 1 ? " (default choices are "
                                      : " (default is ");
        if (key)
            wr_buf_printf(line, "\"%c\"", key >= 'a' && key <= 'z' ? key - 32 : key);
        else
            wr_buf_printf(line, "\"%s\"", shown);
        shown_defs++;
    }
    if (shown_defs)
        wr_buf_puts(line, ")");
}

static void choice_help(winrsh_runspace *rs, const winrsh_psobject *choices)
{
    size_t n = winrsh_psobject_list_count(choices);
    for (size_t i = 0; i < n; i++) {
        const winrsh_psobject *c = winrsh_psobject_list_item(choices, i);
        char shown[256], help[600];
        strip_amp(prop_text(c, "label"), shown, sizeof shown);
        snprintf(help, sizeof help, "%s - %s", shown, prop_text(c, "helpMessage"));
        say(rs, help, 1);
    }
}

/* The index an answer picks (its hot key or its label), or -1. */
static int32_t match_choice(const winrsh_psobject *choices, const char *answer)
{
    size_t n = winrsh_psobject_list_count(choices);
    for (size_t i = 0; i < n; i++) {
        const char *label = prop_text(winrsh_psobject_list_item(choices, i), "label");
        char shown[256];
        strip_amp(label, shown, sizeof shown);
        char key = hot_key(label);
        if ((answer[0] && answer[1] == 0 && key && (answer[0] | 0x20) == (key | 0x20)) ||
            strcasecmp(answer, shown) == 0)
            return (int32_t)i;
    }
    return -1;
}

/* PromptForChoice (confirmations, -Confirm, Inquire): the index chosen. */
static int prompt_choice(winrsh_runspace *rs, const wr_psrp_host_call *hc, winrsh_psobject **result,
                         char *why, size_t whylen)
{
    const winrsh_psobject *choices = param(hc, 2);
    size_t n = winrsh_psobject_list_count(choices);
    int32_t def = -1;
    const winrsh_psobject *d = param(hc, 3);
    if (!d || winrsh_psobject_get_int32(d, &def))
        def = -1;
    if (!n) {
        snprintf(why, whylen, "PromptForChoice without choices");
        return 1;
    }
    wr_buf line = WR_BUF_INIT;
    choice_line(choices, &def, 1, &line);
    wr_buf_puts(&line, ": ");
    char answer[512];
    int rc = 1;
    prompt_header(rs, hc);
    for (int tries = 0; tries < 20 && rc == 1; tries++) {
        say(rs, wr_buf_cstr(&line), 0);
        if (read_answer(rs, answer, sizeof answer)) {
            snprintf(why, whylen, "no input is available for the prompt");
            break;
        }
        if (!answer[0] && def >= 0 && (size_t)def < n) {
            rc = winrsh_psobject_new_int32(result, def);
            break;
        }
        if (strcmp(answer, "?") == 0) {
            choice_help(rs, choices);
            continue;
        }
        int32_t i = match_choice(choices, answer);
        if (i >= 0)
            rc = winrsh_psobject_new_int32(result, i);
    }
    if (rc == 1 && !why[0])
        snprintf(why, whylen, "no valid choice was made");
    wr_buf_free(&line);
    return rc;
}

#define MAX_CHOICES 256

/* PromptForChoiceMultipleSelection: "Choice[1]: " lines up to an empty
 * one; the indexes picked, or the defaults if none was. */
static int prompt_choice_multi(winrsh_runspace *rs, const wr_psrp_host_call *hc,
                               winrsh_psobject **result, char *why, size_t whylen)
{
    const winrsh_psobject *choices = param(hc, 2);
    size_t n = winrsh_psobject_list_count(choices);
    if (!n) {
        snprintf(why, whylen, "PromptForChoice without choices");
        return 1;
    }
    int32_t defs[MAX_CHOICES];
    size_t ndefs = 0;
    /* An int[] as RemoteHostEncoder encodes arrays: {mae: the elements,
     * mal: the lengths}; a plain list is taken too. */
    const winrsh_psobject *d = param(hc, 3);
    if (d && winrsh_psobject_prop(d, "mae"))
        d = winrsh_psobject_prop(d, "mae");
    for (size_t i = 0; i < winrsh_psobject_list_count(d) && ndefs < MAX_CHOICES; i++) {
        int32_t v;
        if (!winrsh_psobject_get_int32(winrsh_psobject_list_item(d, i), &v) && v >= 0 &&
            (size_t)v < n)
            defs[ndefs++] = v;
    }
    int32_t picked[MAX_CHOICES];
    size_t npicked = 0;
    wr_buf line = WR_BUF_INIT;
    choice_line(choices, defs, ndefs, &line);
    prompt_header(rs, hc);
    say(rs, wr_buf_cstr(&line), 1);
    wr_buf_free(&line);
    char answer[512];
    for (int tries = 0; tries < 100 && npicked < MAX_CHOICES; tries++) {
        char label[64];
        snprintf(label, sizeof label, "Choice[%zu]: ", npicked + 1);
        say(rs, label, 0);
        if (read_answer(rs, answer, sizeof answer)) {
            snprintf(why, whylen, "no input is available for the prompt");
            return 1;
        }
        if (!answer[0])
            break;
        if (strcmp(answer, "?") == 0) {
            choice_help(rs, choices);
            continue;
        }
        int32_t i = match_choice(choices, answer);
        if (i >= 0)
            picked[npicked++] = i;
    }
    const int32_t *out = npicked ? picked : defs;
    size_t nout = npicked ? npicked : ndefs;
    winrsh_psobject *list = NULL;
    int rc = winrsh_psobject_new_list(&list);
    for (size_t i = 0; i < nout && !rc; i++) {
        winrsh_psobject *v = NULL;
        rc = winrsh_psobject_new_int32(&v, out[i]);
        if (!rc)
            rc = winrsh_psobject_list_append(list, v);
        else
            winrsh_psobject_free(v);
    }
    if (rc) {
        winrsh_psobject_free(list);
        return rc;
    }
    *result = list;
    return 0;
}

/* The default answer to a method that returns a value: 0 with *result, 1
 * when there is none (an error response is sent). */
static int default_value(winrsh_runspace *rs, const wr_psrp_host_call *hc, winrsh_psobject **result,
                         char *why, size_t whylen)
{
    const wr_psrp_host_info *h = &rs->host;
    switch (hc->method_id) {
    case WR_PSRP_HOST_GET_NAME:
        return winrsh_psobject_new_string(result, "winrsh", 6);
    case WR_PSRP_HOST_GET_VERSION:
        return from_clixml(result, "Version", WINRSH_VERSION);
    case WR_PSRP_HOST_GET_INSTANCE_ID:
        return from_clixml(result, "G", rs->id);
    case WR_PSRP_HOST_READ_LINE: {
        if (!rs->opts.host_read_line) {
            snprintf(why, whylen, "the winrsh host cannot read input (no terminal)");
            return 1;
        }
        char *buf = malloc(READ_LINE_MAX);
        if (!buf)
            return WINRSH_ENOMEM;
        buf[0] = 0;
        int r = rs->opts.host_read_line(buf, READ_LINE_MAX, rs->opts.host_payload);
        buf[READ_LINE_MAX - 1] = 0;
        int rc = r ? 1 : winrsh_psobject_new_string(result, buf, strlen(buf));
        if (r)
            snprintf(why, whylen, "no input is available for Read-Host");
        free(buf);
        return rc;
    }
    case WR_PSRP_HOST_READ_LINE_AS_SECURE_STRING:
        return read_secure_line(rs, result, why, whylen);
    case WR_PSRP_HOST_PROMPT_FOR_CREDENTIAL1:
    case WR_PSRP_HOST_PROMPT_FOR_CREDENTIAL2: {
        size_t len;
        char caption[1024], message[4096], user[USER_MAX], target[1024];
        snprintf(caption, sizeof caption, "%s", param_text(hc, 0, &len));
        snprintf(message, sizeof message, "%s", param_text(hc, 1, &len));
        snprintf(user, sizeof user, "%s", param_text(hc, 2, &len));
        snprintf(target, sizeof target, "%s", param_text(hc, 3, &len));
        return ask_credential(rs, caption, message, user, target, result, why, whylen);
    }
    case WR_PSRP_HOST_PROMPT:
    case WR_PSRP_HOST_PROMPT_FOR_CHOICE:
    case WR_PSRP_HOST_PROMPT_FOR_CHOICE_MULTIPLE:
        if (!rs->opts.host_read_line) {
            snprintf(why, whylen, "the winrsh host cannot read input (no terminal)");
            return 1;
        }
        if (hc->method_id == WR_PSRP_HOST_PROMPT)
            return prompt_fields(rs, hc, result, why, whylen);
        if (hc->method_id == WR_PSRP_HOST_PROMPT_FOR_CHOICE)
            return prompt_choice(rs, hc, result, why, whylen);
        return prompt_choice_multi(rs, hc, result, why, whylen);
    case WR_PSRP_HOST_GET_FOREGROUND_COLOR:
        return winrsh_psobject_new_int32(result, h->foreground_color);
    case WR_PSRP_HOST_GET_BACKGROUND_COLOR:
        return winrsh_psobject_new_int32(result, h->background_color);
    case WR_PSRP_HOST_GET_CURSOR_POSITION:
        return new_pair(result, "x", h->cursor_x, "y", h->cursor_y);
    case WR_PSRP_HOST_GET_WINDOW_POSITION:
        return new_pair(result, "x", h->window_x, "y", h->window_y);
    case WR_PSRP_HOST_GET_CURSOR_SIZE:
        return winrsh_psobject_new_int32(result, h->cursor_size);
    case WR_PSRP_HOST_GET_BUFFER_SIZE:
        return new_pair(result, "width", h->buffer_width, "height", h->buffer_height);
    case WR_PSRP_HOST_GET_WINDOW_SIZE:
        return new_pair(result, "width", h->window_width, "height", h->window_height);
    case WR_PSRP_HOST_GET_MAX_WINDOW_SIZE:
        return new_pair(result, "width", h->max_window_width, "height", h->max_window_height);
    case WR_PSRP_HOST_GET_MAX_PHYSICAL_WINDOW_SIZE:
        return new_pair(result, "width", h->max_physical_width, "height", h->max_physical_height);
    case WR_PSRP_HOST_GET_WINDOW_TITLE: {
        const char *t = h->window_title ? h->window_title : "";
        return winrsh_psobject_new_string(result, t, strlen(t));
    }
    case WR_PSRP_HOST_GET_KEY_AVAILABLE:
    case WR_PSRP_HOST_GET_IS_RUNSPACE_PUSHED:
        return winrsh_psobject_new_bool(result, 0);
    default:
        snprintf(why, whylen, "the winrsh host does not implement %s",
                 hc->method_name ? hc->method_name : "this method");
        return 1;
    }
}

static int respond(winrsh_runspace *rs, winrsh_pipeline *p, const wr_psrp_host_call *hc,
                   const winrsh_psobject *result, const winrsh_psobject *error)
{
    wr_buf xml = WR_BUF_INIT;
    int rc = wr_psrp_build_host_response(&xml, hc->call_id, hc->method_id, result, error);
    if (!rc)
        rc = wr_rs_fragment(rs, p ? &p->pid : NULL,
                            p ? WR_PSRP_PIPELINE_HOST_RESPONSE : WR_PSRP_RUNSPACEPOOL_HOST_RESPONSE,
                            xml.data, xml.len, p ? &p->pr_q : &rs->pool_pr_q);
    wr_buf_free(&xml);
    return rc;
}

static int answer(winrsh_runspace *rs, winrsh_pipeline *p, const wr_psrp_host_call *hc)
{
    winrsh_psobject *result = NULL;
    char why[256] = "";
    int r = 1;
    if (rs->opts.host_call) {
        r = rs->opts.host_call(hc->method_id, hc->method_name ? hc->method_name : "", hc->params,
                               &result, rs->opts.host_payload);
        if (r < 0) {
            winrsh_psobject_free(result);
            result = NULL;
            snprintf(why, sizeof why, "the winrsh host failed in %s",
                     hc->method_name ? hc->method_name : "a host method");
        }
    }
    if (r == 1) {
        r = default_value(rs, hc, &result, why, sizeof why);
        if (r == WINRSH_ENOMEM)
            return wr_error_set(r, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        if (r < 0) {
            /* e.g. a SecureString that could not be encrypted: the server
             * still gets an answer. */
            winrsh_psobject_free(result);
            result = NULL;
            const char *m = winrsh_error_last()->message;
            snprintf(why, sizeof why, "the winrsh host failed in %s: %s",
                     hc->method_name ? hc->method_name : "a host method", m ? m : "error");
            winrsh_error_clear();
            r = 1;
        }
    }
    int rc;
    if (r == 0) {
        rc = respond(rs, p, hc, result, NULL);
    } else {
        winrsh_psobject *er = NULL;
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: host call %s answered with an error: %s",
                      hc->method_name ? hc->method_name : "?", why);
        rc = new_error_record(&er, why[0] ? why : "not supported by the winrsh host");
        if (!rc)
            rc = respond(rs, p, hc, NULL, er);
        winrsh_psobject_free(er);
    }
    winrsh_psobject_free(result);
    return rc;
}

/* A method that returns nothing: the caller's host_call first, then ours. */
static int void_method(winrsh_runspace *rs, winrsh_pipeline *p, const wr_psrp_host_call *hc)
{
    if (hc->method_id == WR_PSRP_HOST_SET_SHOULD_EXIT) {
        int32_t code = 0;
        const winrsh_psobject *c = param(hc, 0);
        if (!c || winrsh_psobject_get_int32(c, &code))
            code = 0;
        if (p) {
            p->have_exit = 1;
            p->exit_code = code;
        }
        if (rs->tracer)
            wr_tracef(rs->tracer, "psrp: SetShouldExit(%d)", (int)code);
    }
    if (rs->opts.host_call) {
        winrsh_psobject *ignored = NULL;
        int r = rs->opts.host_call(hc->method_id, hc->method_name ? hc->method_name : "",
                                   hc->params, &ignored, rs->opts.host_payload);
        winrsh_psobject_free(ignored);
        if (r == 0)
            return 0;
    }
    switch (hc->method_id) {
    case WR_PSRP_HOST_WRITE1:
        return host_write(rs, WINRSH_HOST_OUTPUT, hc, 0, 0);
    case WR_PSRP_HOST_WRITE2:
        return host_write(rs, WINRSH_HOST_OUTPUT, hc, 2, 0);
    case WR_PSRP_HOST_WRITE_LINE1:
        return host_write(rs, WINRSH_HOST_OUTPUT, hc, (size_t)-1, 1);
    case WR_PSRP_HOST_WRITE_LINE2:
        return host_write(rs, WINRSH_HOST_OUTPUT, hc, 0, 1);
    case WR_PSRP_HOST_WRITE_LINE3:
        return host_write(rs, WINRSH_HOST_OUTPUT, hc, 2, 1);
    case WR_PSRP_HOST_WRITE_ERROR_LINE:
        return host_write(rs, WINRSH_HOST_ERROR, hc, 0, 1);
    case WR_PSRP_HOST_WRITE_DEBUG_LINE:
        return host_write(rs, WINRSH_HOST_DEBUG, hc, 0, 1);
    case WR_PSRP_HOST_WRITE_VERBOSE_LINE:
        return host_write(rs, WINRSH_HOST_VERBOSE, hc, 0, 1);
    case WR_PSRP_HOST_WRITE_WARNING_LINE:
        return host_write(rs, WINRSH_HOST_WARNING, hc, 0, 1);
    default:
        /* WriteProgress: delivered once, from PROGRESS_RECORD (see the
         * table); setters and the rest: nothing to do. */
        return 0;
    }
}

/* An error response without asking anyone (the key exchange failed). */
static int answer_error(winrsh_runspace *rs, winrsh_pipeline *p, const wr_psrp_host_call *hc,
                        const char *why)
{
    winrsh_psobject *er = NULL;
    if (rs->tracer)
        wr_tracef(rs->tracer, "psrp: host call %s answered with an error: %s",
                  hc->method_name ? hc->method_name : "?", why);
    int rc = new_error_record(&er, why);
    if (!rc)
        rc = respond(rs, p, hc, NULL, er);
    winrsh_psobject_free(er);
    return rc;
}

int wr_host_dispatch(winrsh_runspace *rs, winrsh_pipeline *p, const winrsh_psobject *call)
{
    wr_psrp_host_call hc;
    int rc = wr_psrp_host_call_read(call, &hc);
    if (rc)
        return rc;
    if (rs->tracer && rs->tracer->level >= 2)
        wr_tracef(rs->tracer, "psrp: host call %s (%d)", hc.method_name ? hc.method_name : "?",
                  (int)hc.method_id);
    if (!wr_psrp_host_method_returns(hc.method_id))
        return void_method(rs, p, &hc);
    if (needs_session_key(rs, &hc) && !wr_rs_session_key(rs)) {
        rc = wr_rs_defer_secure_call(rs, p, call);
        if (rc <= 0)
            return rc; /* deferred until the key exchange, or out of memory */
        return answer_error(rs, p, &hc,
                            "the SecureString session key exchange with the server failed");
    }
    return answer(rs, p, &hc);
}
