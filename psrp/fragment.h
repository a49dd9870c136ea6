/*
 * fragment.h: PSRP fragments (MS-PSRP 2.2.4).
 *
 * Every PSRP message travels as one or more fragments. The fragmenter cuts a
 * message into fragments whose blob is at most a given size; the
 * defragmenter takes whole fragments (any number of them, of any objects, in
 * one call) and hands back each message once its End fragment arrives.
 *
 * Wire layout of one fragment (all integers big-endian):
 *
 *   +--------+------+-------------------------------------------------+
 *   | offset | size | field                                           |
 *   +--------+------+-------------------------------------------------+
 *   |      0 |    8 | ObjectId: one per message, from 1 per sender    |
 *   |      8 |    8 | FragmentId: 0 for the first fragment, then +1   |
 *   |     16 |    1 | flags: 0x1 Start (S), 0x2 End (E); rest zero    |
 *   |     17 |    4 | BlobLength                                      |
 *   |     21 |    n | Blob: the next n bytes of the message           |
 *   +--------+------+-------------------------------------------------+
 *
 * Fragments of different objects may interleave; those of one object come
 * in order. Whole fragments never straddle a WS-Man Stream element or an
 * OutOfProc Data packet, so a fed buffer must end on a fragment boundary.
 */
#ifndef WR_PSRP_FRAGMENT_H
#define WR_PSRP_FRAGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define WR_PSRP_FRAGMENT_HEADER_LEN 21u
#define WR_PSRP_FRAGMENT_START 0x01u
#define WR_PSRP_FRAGMENT_END 0x02u

/* Default bounds for the defragmenter. */
#define WR_PSRP_DEFRAG_MAX_MESSAGE (64u * 1024u * 1024u) /* one message */
#define WR_PSRP_DEFRAG_MAX_PENDING 256u                  /* objects in flight */

/* One fragment as read from the wire; `blob` points into the input. */
typedef struct wr_psrp_fragment {
    uint64_t object_id;
    uint64_t fragment_id;
    unsigned int flags;
    const unsigned char *blob;
    uint32_t blob_len;
} wr_psrp_fragment;

/*
 * Read one fragment from the start of data[0..len). On success *used is the
 * number of bytes it took (21 + blob). WINRSH_EPROTO when the header is
 * short, the blob runs past the end, or unknown flag bits are set.
 */
int wr_psrp_fragment_read(wr_psrp_fragment *f, const unsigned char *data, size_t len, size_t *used);

/* Append one fragment (header + blob) to out. */
int wr_psrp_fragment_write(wr_buf *out, uint64_t object_id, uint64_t fragment_id,
                           unsigned int flags, const void *blob, size_t blob_len);

/* The sending side: hands out ObjectIds counting up from 1. */
typedef struct wr_psrp_fragmenter {
    uint64_t next_object_id;
} wr_psrp_fragmenter;

void wr_psrp_fragmenter_init(wr_psrp_fragmenter *f);

/*
 * Cut one message into fragments of at most max_blob bytes of blob each and
 * append them, back to back, to out. The message takes the next ObjectId,
 * stored in *object_id if that is not NULL. An empty message still makes
 * one (Start|End) fragment. WINRSH_EINVAL if max_blob is 0.
 */
int wr_psrp_fragment_message(wr_psrp_fragmenter *f, const void *msg, size_t len, size_t max_blob,
                             wr_buf *out, uint64_t *object_id);

/*
 * The largest blob that fits a WS-Man envelope: the base64 of a fragment
 * must fit in max_envelope less the SOAP overhead (PROTOCOL.md 4):
 * floor((max_envelope - overhead) * 3 / 4) - 21. 0 if nothing fits.
 */
size_t wr_psrp_max_blob(size_t max_envelope, size_t soap_overhead);

/* A message the defragmenter completed; data is valid during the callback. */
typedef int (*wr_psrp_message_cb)(void *payload, uint64_t object_id, const unsigned char *msg,
                                  size_t len);

struct wr_psrp_partial;

/* The receiving side. */
typedef struct wr_psrp_defrag {
    struct wr_psrp_partial *pending; /* objects started but not ended */
    size_t npending;
    size_t max_message; /* bytes in one message */
    size_t max_pending; /* objects in flight at once */
} wr_psrp_defrag;

/* max_message / max_pending of 0 take the defaults above. */
void wr_psrp_defrag_init(wr_psrp_defrag *d, size_t max_message, size_t max_pending);

/*
 * Take a buffer of whole fragments. Each message completed by them is given
 * to cb (in the order its End fragment came); a non-zero return from cb
 * stops the feed and is returned. Strict: a fragment that does not start an
 * object must continue one in progress with the next FragmentId; a Start for
 * an object already in progress, a FragmentId other than 0 on Start, a
 * message over max_message, or too many objects in flight are
 * WINRSH_EPROTO, after which the defragmenter should be reset.
 */
int wr_psrp_defrag_feed(wr_psrp_defrag *d, const void *data, size_t len, wr_psrp_message_cb cb,
                        void *payload);

/* Objects still waiting for their End fragment. */
size_t wr_psrp_defrag_pending(const wr_psrp_defrag *d);

/* Drop partial objects (keeps the limits). */
void wr_psrp_defrag_reset(wr_psrp_defrag *d);
void wr_psrp_defrag_free(wr_psrp_defrag *d);

#endif
