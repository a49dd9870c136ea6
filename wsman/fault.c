/*
 * fault.c: reading SOAP faults (SOAP 1.2 part 1, 5.4; MS-WSMV 2.2.4.43).
 *
 * | path (namespaces by URI, prefixes vary)                 | wr_fault field  |
 * |---------------------------------------------------------|-----------------|
 * | s:Fault/s:Code/s:Value                                  | code            |
 * | s:Fault/s:Code/s:Subcode/s:Value                        | subcode         |
 * | s:Fault/s:Reason/s:Text (first)                         | reason          |
 * | s:Fault/s:Detail/f:WSManFault/@Code (decimal uint32)    | wsman_code      |
 * | s:Fault/s:Detail/f:WSManFault/@Machine                  | machine         |
 * | .../f:WSManFault/f:Message (its own text)               | message         |
 * | .../f:Message/f:ProviderFault/@provider                 | provider_name   |
 * | .../f:Message/f:ProviderFault (its own text)            | message, if the |
 * |                                                         | above is empty  |
 * | .../f:ProviderFault/f:WSManFault (same shape, recursive)| provider        |
 *
 * A Windows fault often says nothing in the outer f:Message and puts the text
 * in the provider's fault; `message` then takes the innermost text so that
 * every level has the most useful words (the nested chain is kept as well).
 * f:ProviderFault/f:ExtendedError (WMI __ExtendedStatus) is ignored.
 */
#include "fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "xml.h"

/* Deeper nesting than this is not seen in practice; stop rather than recurse
 * on hostile input. */
#define FAULT_MAX_DEPTH 8

xmlNodePtr wr_fault_find(const xmlNode *body)
{
    return wr_xml_child(body, WR_NS_SOAP, "Fault");
}

/* Trim surrounding whitespace in place; NULL for an empty result. */
static char *trimmed(char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s), start = 0;
    while (start < len && strchr(" \t\r\n", s[start]))
        start++;
    while (len > start && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (start == len) {
        free(s);
        return NULL;
    }
    memmove(s, s + start, len - start);
    s[len - start] = 0;
    return s;
}

static uint32_t parse_code(const char *s)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX || *s == '-')
        return 0;
    return (uint32_t)v;
}

static int parse_wsman_fault(const xmlNode *wf, wr_fault *f, int depth)
{
    int rc = 0;
    char *code = wr_xml_attr(wf, "Code", &rc);
    f->wsman_code = parse_code(code);
    free(code);
    f->machine = trimmed(wr_xml_attr(wf, "Machine", &rc));

    xmlNodePtr msg = wr_xml_child(wf, WR_NS_FAULT, "Message");
    f->message = wr_xml_text(msg, &rc);
    xmlNodePtr pf = wr_xml_child(msg, WR_NS_FAULT, "ProviderFault");
    xmlNodePtr nested = wr_xml_child(pf ? pf : msg, WR_NS_FAULT, "WSManFault");
    if (pf) {
        f->provider_name = trimmed(wr_xml_attr(pf, "provider", &rc));
        if (!f->message)
            f->message = wr_xml_text(pf, &rc);
    }
    if (nested && depth < FAULT_MAX_DEPTH && !rc) {
        f->provider = calloc(1, sizeof(*f->provider));
        if (!f->provider)
            return WINRSH_ENOMEM;
        rc = parse_wsman_fault(nested, f->provider, depth + 1);
        if (!rc && !f->message && f->provider->message) {
            f->message = strdup(f->provider->message);
            if (!f->message)
                rc = WINRSH_ENOMEM;
        }
    }
    return rc;
}

int wr_fault_parse(const xmlNode *fault, wr_fault **out)
{
    *out = NULL;
    wr_fault *f = calloc(1, sizeof(*f));
    if (!f)
        return WINRSH_ENOMEM;
    int rc = 0;
    xmlNodePtr code = wr_xml_child(fault, WR_NS_SOAP, "Code");
    f->code = wr_xml_text(wr_xml_child(code, WR_NS_SOAP, "Value"), &rc);
    f->subcode = wr_xml_text(wr_xml_path(code, WR_NS_SOAP, "Subcode", "Value", NULL), &rc);
    f->reason = wr_xml_text(wr_xml_path(fault, WR_NS_SOAP, "Reason", "Text", NULL), &rc);
    xmlNodePtr wf = wr_xml_path(fault, WR_NS_SOAP, "Detail", NULL);
    wf = wr_xml_child(wf, WR_NS_FAULT, "WSManFault");
    if (wf && !rc)
        rc = parse_wsman_fault(wf, f, 0);
    if (rc) {
        wr_fault_free(f);
        return WINRSH_ENOMEM;
    }
    *out = f;
    return 0;
}

/* Copy `s` into buf with whitespace runs (line breaks, the indentation of
 * pretty-printed faults) collapsed to one space and the ends trimmed. */
static void collapse(char *buf, size_t size, const char *s)
{
    size_t pos = 0;
    int space = 0;
    for (; *s && pos + 1 < size; s++) {
        if (strchr(" \t\r\n", *s)) {
            space = 1;
            continue;
        }
        if (space && pos > 0) {
            buf[pos++] = ' ';
            if (pos + 1 >= size)
                break;
        }
        space = 0;
        buf[pos++] = *s;
    }
    buf[pos] = 0;
}

void wr_fault_describe(const wr_fault *f, char *buf, size_t size)
{
    if (!size)
        return;
    char code[32] = "";
    if (f->wsman_code)
        snprintf(code, sizeof(code), " %lu", (unsigned long)f->wsman_code);
    const char *sub = f->subcode ? f->subcode : f->code;
    const char *text = f->message ? f->message : f->reason;
    char raw[2048];
    snprintf(raw, sizeof(raw), "%s%s%s%s%s%s%s: %s", f->wsman_code ? "WS-Man fault" : "SOAP fault",
             code, sub ? " (" : "", sub ? sub : "", sub ? ")" : "", f->machine ? " from " : "",
             f->machine ? f->machine : "", text ? text : "no reason given");
    collapse(buf, size, raw);
}

int wr_fault_raise(wr_fault *f, long http_status)
{
    char msg[1024];
    wr_fault_describe(f, msg, sizeof(msg));
    wr_error_set(WINRSH_EFAULT, WINRSH_ERRCLASS_SOAP, "%s", msg);
    if (http_status)
        wr_error_set_http_status(http_status);
    wr_error_set_fault(f);
    return WINRSH_EFAULT;
}

int wr_fault_has_code(const winrsh_fault *f, uint32_t code)
{
    for (; f; f = f->provider)
        if (f->wsman_code == code)
            return 1;
    return 0;
}
