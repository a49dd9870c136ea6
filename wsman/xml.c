#include "xml.h"

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Length of the UTF-8 sequence at p (at most `left` bytes) if it encodes a
 * character XML 1.0 allows (2.2 Char), else 0. */
static size_t xml_char_len(const unsigned char *p, size_t left)
{
    unsigned int c;
    size_t n;
    if (p[0] < 0x80) {
        c = p[0];
        n = 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        c = p[0] & 0x1fu;
        n = 2;
    } else if ((p[0] & 0xf0) == 0xe0) {
        c = p[0] & 0x0fu;
        n = 3;
    } else if ((p[0] & 0xf8) == 0xf0) {
        c = p[0] & 0x07u;
        n = 4;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    /* Reject overlong forms, surrogates and what XML excludes. */
    static const unsigned int min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    if (c < 0x20 && c != 0x9 && c != 0xa && c != 0xd)
        return 0;
    if (c == 0xfffe || c == 0xffff)
        return 0;
    return n;
}

int wr_xml_escape(wr_buf *out, const char *s, size_t len, const char *what)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes [run, i) are copied verbatim */
    int rc = 0;
    while (i < len && !rc) {
        const char *ent = NULL;
        switch (p[i]) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        /* Character references keep these exact: a parser turns a literal
         * CR into LF and, inside attributes, tab/LF into spaces. */
        case '\r':
            ent = "&#13;";
            break;
        case '\n':
            ent = "&#10;";
            break;
        case '\t':
            ent = "&#9;";
            break;
        default:
            break;
        }
        if (ent) {
            rc = wr_buf_append(out, p + run, i - run);
            if (!rc)
                rc = wr_buf_puts(out, ent);
            run = ++i;
            continue;
        }
        size_t n = xml_char_len(p + i, len - i);
        if (!n)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "%s holds a byte XML cannot carry (control character or "
                                "invalid UTF-8) at offset %zu",
                                what, i);
        i += n;
    }
    if (!rc)
        rc = wr_buf_append(out, p + run, i - run);
    if (rc)
        return wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory building an envelope");
    return 0;
}

int wr_xml_escape_str(wr_buf *out, const char *s, const char *what)
{
    return wr_xml_escape(out, s, strlen(s), what);
}

/* libxml2's structured error handler while we parse: drops everything. The
 * error is still recorded (xmlGetLastError), which is all we read. */
static void quiet_error(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    (void)err;
}

int wr_xml_parse(xmlDocPtr *out, const char *data, size_t len)
{
    *out = NULL;
    if (len > (size_t)INT32_MAX)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP, "reply too large to parse");
    /* No network, no DTD loading, no entity substitution (XXE), quiet: a
     * reply is untrusted input and errors are reported through ours. */
    int flags = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    /* NOERROR/NOWARNING reach only errors raised with a parser context.
     * libxml2 (2.9) raises encoding errors ("input conversion failed",
     * "encoder error") without one, through the process-wide handlers,
     * which print to stderr: a server could write to the user's terminal.
     * So a no-op structured handler is installed around the parse (those
     * handlers are per thread in a threaded libxml2) and the caller's
     * handler put back after. A structured handler takes precedence over
     * the generic one for every error, with or without a context.
     *
     * The encoding argument stays NULL (the document decides: BOM, XML
     * declaration, UTF-8 by default) rather than "UTF-8". WinRM answers in
     * the charset of the request, and we send UTF-8, but a reply in UTF-16
     * with a byte-order mark, or one whose declaration names the encoding it
     * really uses (ISO-8859-1 from a gateway, say), is well-formed XML that
     * libxml2 decodes correctly; forcing "UTF-8" makes libxml2 ignore the
     * BOM and the declaration and turns such a reply into a parse error. A
     * reply whose bytes do not match its declared encoding fails to parse
     * either way, now quietly. (psrp/clixml.c passes "UTF-8": the data of a
     * PSRP message is UTF-8 by definition, MS-PSRP 2.2.1.) */
    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, quiet_error);
    xmlDocPtr doc = xmlReadMemory(data, (int)len, "reply.xml", NULL, flags);
    xmlSetStructuredErrorFunc(saved_ctx, saved_fn);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        int line = e ? e->line : 0;
        char msg[160] = "";
        if (e && e->message) {
            snprintf(msg, sizeof(msg), "%s", e->message);
            msg[strcspn(msg, "\r\n")] = 0;
        }
        xmlResetLastError();
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_SOAP,
                            "reply is not well-formed XML (line %d: %s)", line,
                            msg[0] ? msg : "no detail");
    }
    *out = doc;
    return 0;
}

int wr_xml_is(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->name, name) == 0 && strcmp((const char *)n->ns->href, ns) == 0;
}

xmlNodePtr wr_xml_next(const xmlNode *n, const char *ns, const char *name)
{
    for (xmlNodePtr c = n ? n->next : NULL; c; c = c->next)
        if (wr_xml_is(c, ns, name))
            return c;
    return NULL;
}

xmlNodePtr wr_xml_child(const xmlNode *parent, const char *ns, const char *name)
{
    if (!parent)
        return NULL;
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (wr_xml_is(c, ns, name))
            return c;
    return NULL;
}

xmlNodePtr wr_xml_path(const xmlNode *n, const char *ns, ...)
{
    va_list ap;
    va_start(ap, ns);
    const char *name;
    xmlNodePtr cur = (xmlNodePtr)n;
    while (cur && (name = va_arg(ap, const char *)) != NULL)
        cur = wr_xml_child(cur, ns, name);
    va_end(ap);
    return cur;
}

char *wr_xml_attr(const xmlNode *n, const char *name, int *rc)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *copy = strdup((const char *)v);
    xmlFree(v);
    if (!copy && rc)
        *rc = WINRSH_ENOMEM;
    return copy;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *wr_xml_text(const xmlNode *n, int *rc)
{
    if (!n)
        return NULL;
    wr_buf b = WR_BUF_INIT;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content &&
            wr_buf_puts(&b, (const char *)c->content)) {
            wr_buf_free(&b);
            if (rc)
                *rc = WINRSH_ENOMEM;
            return NULL;
        }
    }
    size_t start = 0, end = b.len;
    while (start < end && is_space(b.data[start]))
        start++;
    while (end > start && is_space(b.data[end - 1]))
        end--;
    if (start == end) {
        wr_buf_free(&b);
        return NULL;
    }
    memmove(b.data, b.data + start, end - start);
    b.data[end - start] = 0;
    return (char *)b.data;
}
