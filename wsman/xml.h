/*
 * xml.h: the small XML toolkit of the wsman layer.
 *
 * Writing: envelopes are built as text (see envelope.c for why); every piece
 * of caller data goes through wr_xml_escape(), which also rejects what XML 1.0
 * cannot carry at all (control characters, invalid UTF-8).
 * Reading: replies are parsed with libxml2 (wr_xml_parse, no network, no
 * entity expansion, no error spew on stderr) and walked by namespace URI and
 * local name, never by prefix: servers choose their own prefixes (OMI uses
 * SOAP-ENV/wsman, Windows s/w).
 */
#ifndef WR_WSMAN_XML_H
#define WR_WSMAN_XML_H

#include <libxml/tree.h>
#include <stddef.h>

#include "common/buf.h"

/* Append `s` (`len` bytes) escaped for text and for "..."-quoted attributes.
 * WINRSH_EINVAL (error raised, naming `what`) for bytes XML cannot hold. */
int wr_xml_escape(wr_buf *out, const char *s, size_t len, const char *what);
/* wr_xml_escape of a C string. */
int wr_xml_escape_str(wr_buf *out, const char *s, const char *what);

/* Parse a reply. WINRSH_EPROTO (raised) if it is not well-formed XML. */
int wr_xml_parse(xmlDocPtr *out, const char *data, size_t len);

/* Whether `n` is an element with this namespace URI and local name. */
int wr_xml_is(const xmlNode *n, const char *ns, const char *name);
/* The first child element of `parent` with ns/name, or NULL. */
xmlNodePtr wr_xml_child(const xmlNode *parent, const char *ns, const char *name);
/* The next sibling element after `n` with ns/name, or NULL. */
xmlNodePtr wr_xml_next(const xmlNode *n, const char *ns, const char *name);
/* Follow a path of children in one namespace: wr_xml_path(n, ns, "A", "B", NULL). */
xmlNodePtr wr_xml_path(const xmlNode *n, const char *ns, ...);

/* The attribute `name` (no namespace) as a heap copy (free()), or NULL if
 * absent or on allocation failure (*rc = WINRSH_ENOMEM). */
char *wr_xml_attr(const xmlNode *n, const char *name, int *rc);

/* The text directly inside `n` (its text/CDATA children only, not those of
 * child elements), with leading and trailing whitespace removed, as a heap
 * string. NULL if empty or on allocation failure (*rc = WINRSH_ENOMEM). */
char *wr_xml_text(const xmlNode *n, int *rc);

#endif
