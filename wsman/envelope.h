/*
 * envelope.h: building WS-Management request envelopes and taking replies
 * apart into header fields and body (MS-WSMV 2.2.4, PROTOCOL.md 1).
 * Pure functions: no I/O, so the exact bytes are unit-tested.
 */
#ifndef WR_WSMAN_ENVELOPE_H
#define WR_WSMAN_ENVELOPE_H

#include <libxml/tree.h>
#include <stddef.h>

#include "common/buf.h"

/* One w:Option of a w:OptionSet (MS-WSMV 2.2.4.24). */
typedef struct wr_option {
    const char *name;
    const char *value;
    int must_comply; /* MustComply="true": the server faults if it cannot */
} wr_option;

/* The headers of one request. NULL/0 fields are left out where optional. */
typedef struct wr_envelope {
    const char *to;                  /* a:To, the endpoint URL */
    const char *resource_uri;        /* w:ResourceURI */
    const char *action;              /* a:Action */
    const char *message_id;          /* a:MessageID, "uuid:GUID" */
    unsigned long max_envelope_size; /* w:MaxEnvelopeSize: the largest reply we take */
    const char *locale;              /* xml:lang of w:Locale and p:DataLocale; NULL = en-US */
    long operation_timeout_ms;       /* w:OperationTimeout; <= 0 leaves it out */
    const char *session_id;          /* p:SessionId "uuid:GUID"; NULL leaves it out */
    const wr_option *options;        /* w:OptionSet; none if noptions == 0 */
    size_t noptions;
    const char *shell_id; /* w:SelectorSet/w:Selector Name="ShellId"; NULL = none */
} wr_envelope;

/*
 * Append the whole envelope: headers from `e`, then `body` (already XML, may
 * use the s, a, w, p and rsp prefixes; NULL or empty for an empty s:Body).
 * WINRSH_EINVAL if a header value cannot be put in XML.
 */
int wr_envelope_build(wr_buf *out, const wr_envelope *e, const char *body, size_t body_len);

/* The Identify request (DSP0226 11): no WS-Addressing headers at all. */
int wr_envelope_build_identify(wr_buf *out);

/* xs:duration as Windows writes it: "PT20.000S". */
void wr_duration_format(char out[32], long ms);

/* A parsed reply. The nodes belong to `doc`. */
typedef struct wr_reply {
    xmlDocPtr doc;
    xmlNodePtr header; /* s:Header, or NULL */
    xmlNodePtr body;   /* s:Body (never NULL after a successful parse) */
    char *action;      /* a:Action text, or NULL */
    char *relates_to;  /* a:RelatesTo text, or NULL */
} wr_reply;

#define WR_REPLY_INIT                                                                              \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL                                                               \
    }

/* Parse a reply into `r`. WINRSH_EPROTO (raised) unless it is a SOAP 1.2
 * envelope with a body. `r` must be freed either way. */
int wr_reply_parse(wr_reply *r, const char *data, size_t len);
void wr_reply_free(wr_reply *r);

#endif
