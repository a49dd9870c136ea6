/*
 * hvsocket_layout.c: compiled (never run) by check_mingw.sh against the
 * Windows headers: the constants in transport/hvsocket.h and the 36-byte
 * address wr_hvsocket_sockaddr() builds must be the SDK's (PROTOCOL.md 5).
 */
#ifndef _WIN32
#error "compile this with a Windows compiler (check_mingw.sh)"
#endif
#include <stddef.h>
#include <winsock2.h>
#include <ws2def.h>
#if __has_include(<hvsocket.h>)
#include <hvsocket.h>
#define HAVE_SDK_HVSOCKET 1
#endif

#include "transport/hvsocket.h"

#ifdef HAVE_SDK_HVSOCKET
_Static_assert(sizeof(SOCKADDR_HV) == WR_HV_SOCKADDR_SIZE, "SOCKADDR_HV is 36 bytes");
_Static_assert(offsetof(SOCKADDR_HV, Family) == 0, "Family at 0");
_Static_assert(offsetof(SOCKADDR_HV, Reserved) == 2, "Reserved at 2");
_Static_assert(offsetof(SOCKADDR_HV, VmId) == 4, "VmId at 4");
_Static_assert(offsetof(SOCKADDR_HV, ServiceId) == 20, "ServiceId at 20");
_Static_assert(HV_PROTOCOL_RAW == WR_HV_PROTOCOL_RAW, "HV_PROTOCOL_RAW");
_Static_assert(HVSOCKET_CONNECT_TIMEOUT == WR_HV_OPT_CONNECT_TIMEOUT, "HVSOCKET_CONNECT_TIMEOUT");
_Static_assert(HVSOCKET_CONTAINER_PASSTHRU == WR_HV_OPT_CONTAINER_PASSTHRU,
               "HVSOCKET_CONTAINER_PASSTHRU");
#endif
#ifdef AF_HYPERV
_Static_assert(AF_HYPERV == WR_HV_AF_HYPERV, "AF_HYPERV");
#endif
/* GUID: Data1 (u32), Data2, Data3 (u16), Data4[8]: 16 bytes, in the
 * little-endian layout wr_guid_to_dotnet() writes. */
_Static_assert(sizeof(GUID) == 16, "GUID is 16 bytes");
_Static_assert(offsetof(GUID, Data4) == 8, "GUID.Data4 at 8");

int wr_hvsocket_layout_checked(void);
int wr_hvsocket_layout_checked(void)
{
    return 1;
}
