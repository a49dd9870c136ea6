/*
 * fault.h: SOAP faults as WS-Management servers send them (MS-WSMV 2.2.4.43),
 * turned into the error record (common/error.h) with a one-line message.
 */
#ifndef WR_WSMAN_FAULT_H
#define WR_WSMAN_FAULT_H

#include <libxml/tree.h>

#include "common/error.h"

/* The s:Fault element inside a reply body, or NULL if the body is no fault. */
xmlNodePtr wr_fault_find(const xmlNode *body);

/* Parse an s:Fault element into a new wr_fault chain (*out, owned by the
 * caller; nested provider faults follow ->provider). 0 or WINRSH_ENOMEM. */
int wr_fault_parse(const xmlNode *fault, wr_fault **out);

/* Write the one-line description of a fault into buf, e.g.
 * "WS-Man fault 2150858843 (w:InvalidSelectors) from HOST: The request ...". */
void wr_fault_describe(const wr_fault *f, char *buf, size_t size);

/* Raise WINRSH_EFAULT with class SOAP, the description as message and `f`
 * (ownership passes) as the fault; attach `http_status` if non-zero.
 * Returns WINRSH_EFAULT. */
int wr_fault_raise(wr_fault *f, long http_status);

/* Whether the fault (public or internal form) carries this WS-Man code. */
int wr_fault_has_code(const winrsh_fault *f, uint32_t code);

#endif
