/*
 * envelope.c: requests are written as text rather than through a libxml2
 * tree: the layout is fixed, the exact bytes are what the tests pin down, and
 * a Send of several hundred kB of base64 is appended once instead of being
 * copied into a tree and serialised again. Every variable piece is escaped by
 * wr_xml_escape(). Replies are read with libxml2 (xml.c).
 *
 * Request header, in the order we write it (MS-WSMV 2.2.4; PROTOCOL.md 1):
 *
 * | element                                  | mustUnderstand | content                  |
 * |------------------------------------------|----------------|--------------------------|
 * | a:To                                     | -              | endpoint URL             |
 * | w:ResourceURI                            | true           | resource, e.g. .../cmd   |
 * | a:ReplyTo/a:Address                      | true (Address) | addressing/role/anonymous|
 * | a:Action                                 | true           | action URI               |
 * | a:MessageID                              | -              | uuid:GUID (upper case)   |
 * | w:MaxEnvelopeSize                        | true           | bytes                    |
 * | w:Locale xml:lang                        | false          | empty                    |
 * | p:DataLocale xml:lang                    | false          | empty                    |
 * | w:OperationTimeout                       | -              | PTn.mmmS                 |
 * | p:SessionId                              | false          | uuid:GUID, per session   |
 * | w:OptionSet / w:Option Name [MustComply] | true (OptionSet) | value                  |
 * | w:SelectorSet / w:Selector Name=ShellId  | -              | id as the server gave it |
 */
#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ns.h"
#include "build.h"
#include "xml.h"

#define ENVELOPE_OPEN                                                                              \
    "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:a=\"" WR_NS_ADDRESSING                           \
    "\" xmlns:w=\"" WR_NS_WSMAN "\" xmlns:p=\"" WR_NS_WSMV "\" xmlns:rsp=\"" WR_NS_SHELL "\">"

void wr_duration_format(char out[32], long ms)
{
    if (ms < 0)
        ms = 0;
    snprintf(out, 32, "PT%ld.%03ldS", ms / 1000, ms % 1000);
}

int wr_envelope_build(wr_buf *out, const wr_envelope *e, const char *body, size_t body_len)
{
    char num[64];
    int rc = lit(out, ENVELOPE_OPEN "<s:Header>", 0);
    rc = lit(out, "<a:To>", rc);
    rc = val(out, e->to, "the endpoint URL", rc);
    rc = lit(out, "</a:To>", rc);
    if (e->resource_uri) {
        rc = lit(out, "<w:ResourceURI s:mustUnderstand=\"true\">", rc);
        rc = val(out, e->resource_uri, "the resource URI", rc);
        rc = lit(out, "</w:ResourceURI>", rc);
    }
    rc = lit(out,
             "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WR_ADDRESS_ANONYMOUS
             "</a:Address></a:ReplyTo>",
             rc);
    rc = lit(out, "<a:Action s:mustUnderstand=\"true\">", rc);
    rc = val(out, e->action, "the action", rc);
    rc = lit(out, "</a:Action><a:MessageID>", rc);
    rc = val(out, e->message_id, "the message id", rc);
    rc = lit(out, "</a:MessageID>", rc);
    snprintf(num, sizeof(num), "%lu", e->max_envelope_size);
    rc = lit(out, "<w:MaxEnvelopeSize s:mustUnderstand=\"true\">", rc);
    rc = lit(out, num, rc);
    rc = lit(out, "</w:MaxEnvelopeSize>", rc);
    const char *locale = e->locale ? e->locale : "en-US";
    rc = lit(out, "<w:Locale xml:lang=\"", rc);
    rc = val(out, locale, "the locale", rc);
    rc = lit(out, "\" s:mustUnderstand=\"false\"/><p:DataLocale xml:lang=\"", rc);
    rc = val(out, locale, "the locale", rc);
    rc = lit(out, "\" s:mustUnderstand=\"false\"/>", rc);
    if (e->operation_timeout_ms > 0) {
        wr_duration_format(num, e->operation_timeout_ms);
        rc = lit(out, "<w:OperationTimeout>", rc);
        rc = lit(out, num, rc);
        rc = lit(out, "</w:OperationTimeout>", rc);
    }
    if (e->session_id) {
        rc = lit(out, "<p:SessionId s:mustUnderstand=\"false\">", rc);
        rc = val(out, e->session_id, "the session id", rc);
        rc = lit(out, "</p:SessionId>", rc);
    }
    if (e->noptions) {
        rc = lit(out, "<w:OptionSet s:mustUnderstand=\"true\">", rc);
        for (size_t i = 0; i < e->noptions; i++) {
            const wr_option *o = &e->options[i];
            rc = lit(out, "<w:Option Name=\"", rc);
            rc = val(out, o->name, "an option name", rc);
            rc = lit(out, o->must_comply ? "\" MustComply=\"true\">" : "\">", rc);
            rc = val(out, o->value, "an option value", rc);
            rc = lit(out, "</w:Option>", rc);
        }
        rc = lit(out, "</w:OptionSet>", rc);
    }
    if (e->shell_id) {
        rc = lit(out, "<w:SelectorSet><w:Selector Name=\"ShellId\">", rc);
        rc = val(out, e->shell_id, "the shell id", rc);
        rc = lit(out, "</w:Selector></w:SelectorSet>", rc);
    }
    rc = lit(out, "</s:Header><s:Body>", rc);
    if (!rc && body && body_len)
        rc = wr_buf_append(out, body, body_len);
    rc = lit(out, "</s:Body></s:Envelope>", rc);
    if (rc == WINRSH_ENOMEM)
        return wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory building an envelope");
    return rc;
}

int wr_envelope_build_identify(wr_buf *out)
{
    int rc = wr_buf_puts(out, "<s:Envelope xmlns:s=\"" WR_NS_SOAP "\" xmlns:wsmid=\"" WR_NS_IDENTITY
                              "\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>");
    if (rc)
        return wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory building an envelope");
    return 0;
}

void wr_reply_free(wr_reply *r)
{
    if (!r)
        return;
    free(r->action);
    free(r->relates_to);
    if (r->doc)
        xmlFreeDoc(r->doc);
    memset(r, 0, sizeof(*r));
}

/*
 * Reply layout we rely on (SOAP 1.2; MS-WSMV 2.2.4):
 *
 * | path                          | use                                      |
 * |-------------------------------|------------------------------------------|
 * | s:Envelope/s:Header/a:Action  | kept for messages                        |
 * | s:Envelope/s:Header/a:RelatesTo | must equal our a:MessageID (wsman.c)   |
 * | s:Envelope/s:Body             | the payload or an s:Fault                |
 */
int wr_reply_parse(wr_reply *r, const char *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    int rc = wr_xml_parse(&r->doc, data, len);
    if (rc)
        return rc;
    xmlNodePtr env = xmlDocGetRootElement(r->doc);
    if (!wr_xml_is(env, WR_NS_SOAP, "Envelope"))
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "reply is not a SOAP 1.2 envelope (root element <%s>)",
                            env ? (const char *)env->name : "none");
    r->header = wr_xml_child(env, WR_NS_SOAP, "Header");
    r->body = wr_xml_child(env, WR_NS_SOAP, "Body");
    if (!r->body)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP, "reply has no SOAP body");
    rc = 0;
    r->action = wr_xml_text(wr_xml_child(r->header, WR_NS_ADDRESSING, "Action"), &rc);
    r->relates_to = wr_xml_text(wr_xml_child(r->header, WR_NS_ADDRESSING, "RelatesTo"), &rc);
    if (rc)
        return wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory parsing a reply");
    return 0;
}
