/*
 * recording.h: read pypsrp's recorded exchanges (the .yml files in
 * tests/fixtures/pypsrp/responses) without a YAML library. Every request and response is
 * one line, "- request: XML" or "  response: XML", either plain or
 * single-quoted ('' stands for '); "  transport_error:" follows a response
 * that came with HTTP 500.
 */
#ifndef WINRSH_TEST_RECORDING_H
#define WINRSH_TEST_RECORDING_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

typedef struct rec_message {
    char *request;  /* NULL if the entry has none */
    char *response; /* NULL if the entry has none */
    int http_500;   /* transport_error code 500 */
} rec_message;

typedef struct recording {
    rec_message *msgs;
    size_t n;
} recording;

static inline char *rec_unquote(const char *v)
{
    size_t len = strlen(v);
    while (len && (v[len - 1] == '\n' || v[len - 1] == '\r'))
        len--;
    char *out = malloc(len + 1);
    if (!out)
        abort();
    if (len >= 2 && v[0] == '\'' && v[len - 1] == '\'') {
        size_t o = 0;
        for (size_t i = 1; i + 1 < len; i++) {
            out[o++] = v[i];
            if (v[i] == '\'' && v[i + 1] == '\'')
                i++;
        }
        out[o] = 0;
    } else {
        memcpy(out, v, len);
        out[len] = 0;
    }
    return out;
}

/* Load WINRSH_FIXTURES/pypsrp/responses/<name>; aborts if missing. */
static inline recording rec_load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/pypsrp/responses/%s", WINRSH_FIXTURES, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    recording r = {NULL, 0};
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, f)) > 0) {
        if (strncmp(line, "- ", 2) == 0) {
            if (r.n == cap) {
                cap = cap ? cap * 2 : 16;
                r.msgs = realloc(r.msgs, cap * sizeof(*r.msgs));
                if (!r.msgs)
                    abort();
            }
            memset(&r.msgs[r.n++], 0, sizeof(*r.msgs));
        }
        if (!r.n)
            continue;
        rec_message *m = &r.msgs[r.n - 1];
        if (strncmp(line, "- request: ", 11) == 0)
            m->request = rec_unquote(line + 11);
        else if (strncmp(line, "  response: ", 12) == 0)
            m->response = rec_unquote(line + 12);
        else if (strstr(line, "code: 500"))
            m->http_500 = 1;
    }
    free(line);
    fclose(f);
    return r;
}

static inline void rec_free(recording *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->msgs[i].request);
        free(r->msgs[i].response);
    }
    free(r->msgs);
    r->msgs = NULL;
    r->n = 0;
}

/* Read a whole file under WINRSH_FIXTURES; *len gets its size. */
static inline char *rec_read_file(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", WINRSH_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size)
        abort();
    data[size] = 0;
    fclose(f);
    *len = (size_t)size;
    return data;
}

/*
 * A fake transport for wr_wsman (wr_post_fn): answers each request with the
 * next queued response and status, after putting the request's a:MessageID
 * into the response's a:RelatesTo (unless keep_relates_to), so recorded
 * replies answer our freshly numbered requests. Requests are kept.
 */
typedef struct rec_fake {
    const char *responses[64];
    long statuses[64];
    size_t n, next;
    int keep_relates_to;
    char *requests[64];
    size_t nrequests;
} rec_fake;

static inline void rec_fake_push(rec_fake *f, const char *response, long status)
{
    f->responses[f->n] = response;
    f->statuses[f->n++] = status;
}

static inline void rec_fake_free(rec_fake *f)
{
    for (size_t i = 0; i < f->nrequests; i++)
        free(f->requests[i]);
    f->nrequests = 0;
}

static inline int rec_fake_post(void *ctx, const char *body, size_t len, long timeout_ms,
                                wr_buf *resp, long *status)
{
    (void)timeout_ms;
    rec_fake *f = ctx;
    char *req = malloc(len + 1);
    if (!req)
        abort();
    memcpy(req, body, len);
    req[len] = 0;
    f->requests[f->nrequests++] = req;
    if (f->next >= f->n) {
        fprintf(stderr, "fake transport: no response queued\n");
        abort();
    }
    const char *r = f->responses[f->next];
    *status = f->statuses[f->next++];
    const char *id = strstr(req, "<a:MessageID>");
    const char *rel = strstr(r, "RelatesTo>");
    if (f->keep_relates_to || !id || !rel)
        return wr_buf_puts(resp, r);
    id += strlen("<a:MessageID>");
    size_t idlen = strcspn(id, "<");
    rel += strlen("RelatesTo>");
    size_t old = strcspn(rel, "<");
    wr_buf_append(resp, r, (size_t)(rel - r));
    wr_buf_append(resp, id, idlen);
    return wr_buf_puts(resp, rel + old);
}

#endif
