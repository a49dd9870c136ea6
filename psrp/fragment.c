/*
 * fragment.c: PSRP fragmenting and reassembly (MS-PSRP 2.2.4; layout table
 * in fragment.h).
 */
#include "psrp/fragment.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "winrsh/errors.h"

struct wr_psrp_partial {
    struct wr_psrp_partial *next;
    uint64_t object_id;
    uint64_t next_fragment_id;
    wr_buf data;
};

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xffu);
        v >>= 8;
    }
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int wr_psrp_fragment_read(wr_psrp_fragment *f, const unsigned char *data, size_t len, size_t *used)
{
    if (len < WR_PSRP_FRAGMENT_HEADER_LEN)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP fragment header truncated (%zu of 21 bytes)", len);
    f->object_id = get_be64(data);
    f->fragment_id = get_be64(data + 8);
    f->flags = data[16];
    f->blob_len = get_be32(data + 17);
    if (f->flags & ~(WR_PSRP_FRAGMENT_START | WR_PSRP_FRAGMENT_END))
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP fragment of object %llu has unknown flags 0x%02x",
                            (unsigned long long)f->object_id, f->flags);
    if (f->blob_len > len - WR_PSRP_FRAGMENT_HEADER_LEN)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP fragment of object %llu claims %u bytes, %zu present",
                            (unsigned long long)f->object_id, f->blob_len,
                            len - WR_PSRP_FRAGMENT_HEADER_LEN);
    f->blob = data + WR_PSRP_FRAGMENT_HEADER_LEN;
    *used = WR_PSRP_FRAGMENT_HEADER_LEN + f->blob_len;
    return 0;
}

int wr_psrp_fragment_write(wr_buf *out, uint64_t object_id, uint64_t fragment_id,
                           unsigned int flags, const void *blob, size_t blob_len)
{
    if (blob_len > UINT32_MAX || (flags & ~(WR_PSRP_FRAGMENT_START | WR_PSRP_FRAGMENT_END)))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP, "bad PSRP fragment parameters");
    unsigned char hdr[WR_PSRP_FRAGMENT_HEADER_LEN];
    put_be64(hdr, object_id);
    put_be64(hdr + 8, fragment_id);
    hdr[16] = (unsigned char)flags;
    put_be32(hdr + 17, (uint32_t)blob_len);
    int rc = wr_buf_reserve(out, sizeof hdr + blob_len);
    if (rc)
        return wr_error_set(rc, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    wr_buf_append(out, hdr, sizeof hdr);
    wr_buf_append(out, blob, blob_len);
    return 0;
}

void wr_psrp_fragmenter_init(wr_psrp_fragmenter *f)
{
    f->next_object_id = 1;
}

int wr_psrp_fragment_message(wr_psrp_fragmenter *f, const void *msg, size_t len, size_t max_blob,
                             wr_buf *out, uint64_t *object_id)
{
    if (max_blob == 0)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP, "PSRP fragment size is zero");
    if (max_blob > UINT32_MAX)
        max_blob = UINT32_MAX;
    const unsigned char *p = msg;
    uint64_t oid = f->next_object_id;
    size_t start_len = out->len;
    uint64_t fid = 0;
    size_t off = 0;
    do {
        size_t n = len - off < max_blob ? len - off : max_blob;
        unsigned int flags = 0;
        if (off == 0)
            flags |= WR_PSRP_FRAGMENT_START;
        if (off + n == len)
            flags |= WR_PSRP_FRAGMENT_END;
        int rc = wr_psrp_fragment_write(out, oid, fid, flags, p + off, n);
        if (rc) {
            out->len = start_len;
            if (out->data)
                out->data[out->len] = 0;
            return rc;
        }
        off += n;
        fid++;
    } while (off < len);
    f->next_object_id++;
    if (object_id)
        *object_id = oid;
    return 0;
}

size_t wr_psrp_max_blob(size_t max_envelope, size_t soap_overhead)
{
    if (max_envelope <= soap_overhead)
        return 0;
    size_t room = (max_envelope - soap_overhead) / 4 * 3;
    return room > WR_PSRP_FRAGMENT_HEADER_LEN ? room - WR_PSRP_FRAGMENT_HEADER_LEN : 0;
}

void wr_psrp_defrag_init(wr_psrp_defrag *d, size_t max_message, size_t max_pending)
{
    d->pending = NULL;
    d->npending = 0;
    d->max_message = max_message ? max_message : WR_PSRP_DEFRAG_MAX_MESSAGE;
    d->max_pending = max_pending ? max_pending : WR_PSRP_DEFRAG_MAX_PENDING;
}

static struct wr_psrp_partial *find_partial(wr_psrp_defrag *d, uint64_t oid,
                                            struct wr_psrp_partial ***link)
{
    struct wr_psrp_partial **pp = &d->pending;
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->object_id == oid) {
            if (link)
                *link = pp;
            return *pp;
        }
    }
    return NULL;
}

static void drop_partial(wr_psrp_defrag *d, struct wr_psrp_partial **link)
{
    struct wr_psrp_partial *p = *link;
    *link = p->next;
    wr_buf_free(&p->data);
    free(p);
    d->npending--;
}

static int feed_one(wr_psrp_defrag *d, const wr_psrp_fragment *f, wr_psrp_message_cb cb,
                    void *payload)
{
    struct wr_psrp_partial **link = NULL;
    struct wr_psrp_partial *p = find_partial(d, f->object_id, &link);
    unsigned long long oid = (unsigned long long)f->object_id;

    if (f->flags & WR_PSRP_FRAGMENT_START) {
        if (p)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                "PSRP object %llu started twice", oid);
        if (f->fragment_id != 0)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                "PSRP object %llu starts with fragment %llu", oid,
                                (unsigned long long)f->fragment_id);
        if (f->blob_len > d->max_message)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                "PSRP message %llu exceeds %zu bytes", oid, d->max_message);
        if (f->flags & WR_PSRP_FRAGMENT_END) {
            /* The common case: one fragment, no copy. */
            return cb ? cb(payload, f->object_id, f->blob, f->blob_len) : 0;
        }
        if (d->npending >= d->max_pending)
            return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                                "more than %zu PSRP objects in flight", d->max_pending);
        p = calloc(1, sizeof *p);
        if (!p)
            return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        p->object_id = f->object_id;
        p->next_fragment_id = 1;
        if (wr_buf_append(&p->data, f->blob, f->blob_len)) {
            free(p);
            return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
        }
        p->next = d->pending;
        d->pending = p;
        d->npending++;
        return 0;
    }

    if (!p)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP fragment %llu of object %llu without a start",
                            (unsigned long long)f->fragment_id, oid);
    if (f->fragment_id != p->next_fragment_id)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP object %llu: fragment %llu where %llu was due", oid,
                            (unsigned long long)f->fragment_id,
                            (unsigned long long)p->next_fragment_id);
    if (f->blob_len > d->max_message - p->data.len)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP,
                            "PSRP message %llu exceeds %zu bytes", oid, d->max_message);
    if (wr_buf_append(&p->data, f->blob, f->blob_len))
        return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
    p->next_fragment_id++;
    if (!(f->flags & WR_PSRP_FRAGMENT_END))
        return 0;
    /* Unlink before the callback so that it may feed again or reset. */
    *link = p->next;
    d->npending--;
    int rc = cb ? cb(payload, p->object_id, p->data.data, p->data.len) : 0;
    wr_buf_free(&p->data);
    free(p);
    return rc;
}

int wr_psrp_defrag_feed(wr_psrp_defrag *d, const void *data, size_t len, wr_psrp_message_cb cb,
                        void *payload)
{
    const unsigned char *p = data;
    size_t off = 0;
    while (off < len) {
        wr_psrp_fragment f;
        size_t used;
        int rc = wr_psrp_fragment_read(&f, p + off, len - off, &used);
        if (rc)
            return rc;
        rc = feed_one(d, &f, cb, payload);
        if (rc)
            return rc;
        off += used;
    }
    return 0;
}

size_t wr_psrp_defrag_pending(const wr_psrp_defrag *d)
{
    return d->npending;
}

void wr_psrp_defrag_reset(wr_psrp_defrag *d)
{
    while (d->pending)
        drop_partial(d, &d->pending);
    d->npending = 0;
}

void wr_psrp_defrag_free(wr_psrp_defrag *d)
{
    wr_psrp_defrag_reset(d);
}
