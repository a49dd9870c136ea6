/*
 * stream_vsock.h: a Linux AF_VSOCK stream (target vsock://CID:PORT).
 *
 * CID and PORT are decimal 32-bit numbers (CID 2 is the host, as seen from
 * a guest). From a Linux guest on Hyper-V (hv_sock), port P reaches the
 * host service GUID PPPPPPPP-facb-11e6-bd58-64006a7986d3 (PROTOCOL.md 5);
 * the PowerShell Direct services cannot be named that way, which is why
 * vmbus:// is Windows-only. Whatever listens there must speak the
 * out-of-process framing (transport/outofproc.h).
 *
 * Connecting is bounded by the stream options' connect_timeout_ms; errors
 * are WINRSH_EINVAL (bad target text) or WINRSH_ECONNECT with the target,
 * the reason, and a hint where the kernel's answer is obscure (ENODEV: no
 * vsock transport for that CID; EAFNOSUPPORT: no vsock in this kernel).
 */
#ifndef WR_TRANSPORT_STREAM_VSOCK_H
#define WR_TRANSPORT_STREAM_VSOCK_H

#include <stdint.h>

#include "transport/stream.h"

/* Parse "vsock://CID:PORT". 0 or WINRSH_EINVAL. */
int wr_vsock_target_parse(const char *target, uint32_t *cid, uint32_t *port);

extern const wr_stream_type wr_stream_vsock;

#endif
