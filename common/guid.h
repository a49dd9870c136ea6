/*
 * guid.h: GUIDs as WS-Man and PSRP use them.
 * Text form is 8-4-4-4-12 hex. The binary form is the .NET layout
 * (Data1-3 little-endian, Data4 as is), which PSRP messages carry
 * (MS-PSRP 2.2.1; PROTOCOL.md 4).
 */
#ifndef WR_GUID_H
#define WR_GUID_H

#include <stddef.h>

typedef struct wr_guid {
    unsigned char b[16]; /* in text order: b[0] is the first hex pair */
} wr_guid;

/* A random (version 4) GUID. 0 or WINRSH_EIO. */
int wr_guid_random(wr_guid *g);
/* Format into out[37]; upper or lower case hex. */
void wr_guid_format(const wr_guid *g, int upper, char out[37]);
/* Parse text (optionally "uuid:"-prefixed, either case). 0 or WINRSH_EPROTO. */
int wr_guid_parse(wr_guid *g, const char *text);
/* .NET byte layout to and from text order. */
void wr_guid_to_dotnet(const wr_guid *g, unsigned char out[16]);
void wr_guid_from_dotnet(wr_guid *g, const unsigned char in[16]);

#endif
