/*
 * receive_stream.c: a ReceiveResponse read by SAX (see receive_stream.h).
 *
 * | depth | element (namespace by URI)        | what we do                     |
 * |-------|-----------------------------------|--------------------------------|
 * | 1     | s:Envelope                        | anything else: DOM path        |
 * | 2     | s:Header (the first)              |                                |
 * | 3     |   a:RelatesTo (the first)         | its own text, trimmed          |
 * | 2     | s:Body (the first)                |                                |
 * | 3     |   s:Fault                         | DOM path (fault.c reads it)    |
 * | 3     |   rsp:ReceiveResponse (the first) |                                |
 * | 4     |     rsp:Stream                    | @Name @CommandId @End; its own |
 * |       |                                   | text decoded as it comes       |
 * | 4     |     rsp:CommandState              | @CommandId @State              |
 * | 5     |       rsp:ExitCode (the first)    | its own text, trimmed          |
 *
 * "Its own text" is what the DOM path reads: the text and CDATA directly
 * inside the element, not that of child elements, comments skipped,
 * character and predefined entity references resolved (libxml2 hands both
 * to the characters callback as the DOM builder gets them).
 */
#include "receive_stream.h"

#include <libxml/parser.h>
#include <libxml/globals.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "ns.h"

/* libxml2 refuses text nodes above XML_MAX_TEXT_LENGTH (10,000,000 bytes)
 * without XML_PARSE_HUGE, and looks no further than XML_MAX_LOOKUP_LIMIT
 * into its input; bodies this big go the DOM way so that those limits
 * behave exactly as before. Replies are far smaller (MaxEnvelopeSize). */
#define STREAM_MAX_BODY 9000000UL

typedef struct pstate {
    wr_receive_stream *rs;
    int depth;
    int fallback;
    int root_ok;
    int seen_header, seen_body, seen_rr, seen_relates, seen_exit;
    int in_header, in_body, in_rr, in_relates, in_stream, in_state, in_exit;
    wr_buf text; /* a:RelatesTo or rsp:ExitCode being read */
    char *relates_to;
    wr_base64_decoder dec;
} pstate;

/* Not ours: the DOM path reads it. The parse runs on with every callback
 * ignored (xmlStopParser would free the input under the attribute values
 * still to be read in on_start). */
static void give_up(pstate *p)
{
    p->fallback = 1;
}

static int is(const xmlChar *uri, const xmlChar *local, const char *ns, const char *name)
{
    return uri && strcmp((const char *)local, name) == 0 && strcmp((const char *)uri, ns) == 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* wr_xml_text's result from the collected text: trimmed, NULL if empty. */
static char *trimmed_copy(pstate *p)
{
    const unsigned char *s = p->text.data;
    size_t start = 0, end = p->text.len;
    while (start < end && is_space(s[start]))
        start++;
    while (end > start && is_space(s[end - 1]))
        end--;
    if (start == end)
        return NULL;
    char *c = malloc(end - start + 1);
    if (!c) {
        give_up(p);
        return NULL;
    }
    memcpy(c, s + start, end - start);
    c[end - start] = 0;
    return c;
}

/* The attribute `name` without a prefix (xmlGetNoNsProp), as a heap copy;
 * NULL if absent. A value holding '&' is how libxml2 hands over a '&' it
 * left for the DOM builder to resolve: not ours to guess, DOM path. */
static char *attr(pstate *p, int nb, const xmlChar **a, const char *name)
{
    if (p->fallback)
        return NULL;
    for (int i = 0; i < nb; i++, a += 5) {
        if (a[1] || strcmp((const char *)a[0], name) != 0)
            continue;
        size_t n = (size_t)(a[4] - a[3]);
        if (memchr(a[3], '&', n)) {
            give_up(p);
            return NULL;
        }
        char *c = malloc(n + 1);
        if (!c) {
            give_up(p);
            return NULL;
        }
        memcpy(c, a[3], n);
        c[n] = 0;
        return c;
    }
    return NULL;
}

static wr_rs_event *new_event(pstate *p, int kind)
{
    wr_receive_stream *rs = p->rs;
    if (rs->nev == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 8;
        wr_rs_event *ev = realloc(rs->ev, cap * sizeof(*ev));
        if (!ev) {
            give_up(p);
            return NULL;
        }
        rs->ev = ev;
        rs->cap = cap;
    }
    wr_rs_event *e = &rs->ev[rs->nev++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    return e;
}

static void on_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nb_ns, const xmlChar **ns, int nb_attr, int nb_defaulted,
                     const xmlChar **attrs)
{
    (void)prefix;
    (void)nb_ns;
    (void)ns;
    (void)nb_defaulted;
    pstate *p = ((xmlParserCtxtPtr)ctx)->_private;
    if (p->fallback)
        return;
    int d = ++p->depth;
    if (d == 1) {
        if (!is(uri, local, WR_NS_SOAP, "Envelope"))
            give_up(p);
        p->root_ok = 1;
    } else if (d == 2) {
        if (!p->seen_header && is(uri, local, WR_NS_SOAP, "Header"))
            p->seen_header = p->in_header = 1;
        else if (!p->seen_body && is(uri, local, WR_NS_SOAP, "Body"))
            p->seen_body = p->in_body = 1;
    } else if (d == 3) {
        if (p->in_header && !p->seen_relates && is(uri, local, WR_NS_ADDRESSING, "RelatesTo")) {
            p->seen_relates = p->in_relates = 1;
            wr_buf_clear(&p->text);
        } else if (p->in_body && is(uri, local, WR_NS_SOAP, "Fault")) {
            give_up(p);
        } else if (p->in_body && !p->seen_rr && is(uri, local, WR_NS_SHELL, "ReceiveResponse")) {
            p->seen_rr = p->in_rr = 1;
        }
    } else if (d == 4 && p->in_rr) {
        if (is(uri, local, WR_NS_SHELL, "Stream")) {
            wr_rs_event *e = new_event(p, WR_RS_STREAM);
            if (!e)
                return;
            e->name = attr(p, nb_attr, attrs, "Name");
            e->command_id = attr(p, nb_attr, attrs, "CommandId");
            e->end = attr(p, nb_attr, attrs, "End");
            e->off = p->rs->data.len;
            wr_base64_decoder_init(&p->dec);
            p->in_stream = 1;
        } else if (is(uri, local, WR_NS_SHELL, "CommandState")) {
            wr_rs_event *e = new_event(p, WR_RS_STATE);
            if (!e)
                return;
            e->command_id = attr(p, nb_attr, attrs, "CommandId");
            e->state = attr(p, nb_attr, attrs, "State");
            p->in_state = 1;
            p->seen_exit = 0;
        }
    } else if (d == 5 && p->in_state && !p->seen_exit &&
               is(uri, local, WR_NS_SHELL, "ExitCode")) {
        p->seen_exit = p->in_exit = 1;
        wr_buf_clear(&p->text);
    }
}

static void on_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    (void)local;
    (void)prefix;
    (void)uri;
    pstate *p = ((xmlParserCtxtPtr)ctx)->_private;
    if (p->fallback)
        return;
    int d = p->depth--;
    if (d == 2) {
        p->in_header = p->in_body = 0;
    } else if (d == 3) {
        if (p->in_relates)
            p->relates_to = trimmed_copy(p);
        p->in_relates = p->in_rr = 0;
    } else if (d == 4) {
        if (p->in_stream) {
            wr_rs_event *e = &p->rs->ev[p->rs->nev - 1];
            if (!e->bad && wr_base64_decoder_finish(&p->dec))
                e->bad = 1;
            if (e->bad)
                p->rs->data.len = e->off;
            e->len = p->rs->data.len - e->off;
        }
        p->in_stream = p->in_state = 0;
    } else if (d == 5) {
        if (p->in_exit)
            p->rs->ev[p->rs->nev - 1].exit_code = trimmed_copy(p);
        p->in_exit = 0;
    }
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    pstate *p = ((xmlParserCtxtPtr)ctx)->_private;
    if (p->fallback || len <= 0)
        return;
    if (p->depth == 4 && p->in_stream) {
        wr_rs_event *e = &p->rs->ev[p->rs->nev - 1];
        if (!e->bad &&
            wr_base64_decoder_feed(&p->dec, &p->rs->data, (const char *)ch, (size_t)len)) {
            /* The DOM path reports any failure here as invalid base64. */
            e->bad = 1;
            p->rs->data.len = e->off;
        }
    } else if ((p->depth == 3 && p->in_relates) || (p->depth == 5 && p->in_exit)) {
        if (wr_buf_append(&p->text, ch, (size_t)len))
            give_up(p);
    }
}

/* A DTD or an entity the DOM would keep as a node: DOM path. */
static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    give_up(((xmlParserCtxtPtr)ctx)->_private);
}

static void on_reference(void *ctx, const xmlChar *name)
{
    (void)name;
    give_up(((xmlParserCtxtPtr)ctx)->_private);
}

static void quiet_error(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    (void)err;
}

void wr_receive_stream_reset(wr_receive_stream *rs)
{
    for (size_t i = 0; i < rs->nev; i++) {
        free(rs->ev[i].name);
        free(rs->ev[i].command_id);
        free(rs->ev[i].end);
        free(rs->ev[i].state);
        free(rs->ev[i].exit_code);
    }
    rs->nev = 0;
    wr_buf_clear(&rs->data);
}

void wr_receive_stream_free(wr_receive_stream *rs)
{
    if (!rs)
        return;
    wr_receive_stream_reset(rs);
    free(rs->ev);
    wr_buf_free(&rs->data);
    memset(rs, 0, sizeof(*rs));
}

int wr_receive_stream_parse(wr_receive_stream *rs, const char *data, size_t len,
                            const char *message_id)
{
    wr_receive_stream_reset(rs);
    if (!data || !len || len > STREAM_MAX_BODY || data[len] != 0 || !message_id)
        return 0;
    /* The options of wr_xml_parse (xml.c), for the same reading. */
    int flags = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    /* The input as xmlReadMemory makes it (a copy: libxml2 2.9's static
     * input buffers lose text when the parser shrinks them). */
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(data, (int)len);
    if (!ctxt)
        return 0;
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    /* As the DOM builder: blanks are text (xmlSAX2Characters for both). */
    sax.ignorableWhitespace = on_text;
    sax.internalSubset = on_dtd;
    sax.externalSubset = on_dtd;
    sax.reference = on_reference;
    memcpy(ctxt->sax, &sax, sizeof(sax));
    ctxt->userData = ctxt;
    pstate p;
    memset(&p, 0, sizeof(p));
    p.rs = rs;
    ctxt->_private = &p;
    xmlCtxtUseOptions(ctxt, flags);
    /* Quiet, as wr_xml_parse: no libxml2 message reaches stderr. */
    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, quiet_error);
    xmlParseDocument(ctxt);
    xmlSetStructuredErrorFunc(saved_ctx, saved_fn);
    int ok = ctxt->wellFormed && !p.fallback && p.root_ok && p.seen_body && p.seen_rr &&
             p.relates_to && strcasecmp(p.relates_to, message_id) == 0;
    if (!ok)
        xmlResetLastError();
    /* libxml2 may make a document of its own for entity declarations,
     * even in SAX mode; it is the caller's to free. */
    if (ctxt->myDoc)
        xmlFreeDoc(ctxt->myDoc);
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    free(p.relates_to);
    wr_buf_free(&p.text);
    if (!ok)
        wr_receive_stream_reset(rs);
    return ok;
}
