/*
 * clixml.c: the PowerShell object model (include/winrsh/psobject.h), the
 * CLIXML reader and writer, and JSON output. Element table in clixml.h.
 */
#include "psrp/clixml.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/dict.h>
#include <libxml/globals.h>
#include <libxml/xmlerror.h>

#include "common/base64.h"
#include "common/error.h"
#include "common/guid.h"
#include "common/mem.h"
#include "winrsh/errors.h"

/* ------------------------------------------------------------------------
 * The object model
 * ---------------------------------------------------------------------- */

enum {
    COLL_NONE = 0,
    COLL_LST,
    COLL_IE,
    COLL_STK,
    COLL_QUE,
    COLL_OBJS /* an <Objs> root */
};

typedef struct wr_pstypes {
    struct wr_pstypes *next; /* in the document's list */
    size_t n;
    char **names;
} wr_pstypes;

typedef struct wr_psprop {
    char *name;
    struct winrsh_psobject *value;
} wr_psprop;

typedef struct wr_psdoc {
    size_t refs;
    struct winrsh_psobject *values; /* every value, for freeing */
    size_t nvalues;
    wr_pstypes *types;
} wr_psdoc;

struct winrsh_psobject {
    wr_psdoc *doc;
    struct winrsh_psobject *doc_next;
    winrsh_psobject_kind kind;
    unsigned char is_obj;  /* came as (or is written as) an <Obj> */
    unsigned char coll;    /* COLL_* for LIST */
    unsigned char has_ref; /* the <Obj> carried a RefId */
    const wr_pstypes *types;
    char *tostring; /* NULL if none */
    size_t tostring_len;
    char *text; /* primitives: the string / received text */
    size_t text_len;
    union {
        int64_t i;
        uint64_t u;
        double d;
    } v;
    unsigned char *bytes;
    size_t nbytes;
    wr_psprop *props[2]; /* [WINRSH_PSPROP_ADAPTED], [WINRSH_PSPROP_EXTENDED] */
    size_t nprops[2], capprops[2];
    struct winrsh_psobject **items; /* LIST items; DICT keys and values interleaved */
    size_t nitems, capitems;
    struct winrsh_psobject *base; /* an <Obj> (or <Ref>) as the base of an <Obj> */
};

static int oom(void)
{
    return wr_error_set(WINRSH_ENOMEM, WINRSH_ERRCLASS_NOMEMORY, "out of memory");
}

static int proto(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int proto(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "%s", msg);
}

static void value_free(winrsh_psobject *o)
{
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < o->nprops[s]; i++)
            free(o->props[s][i].name);
        free(o->props[s]);
    }
    free(o->items);
    free(o->tostring);
    free(o->text);
    free(o->bytes);
    free(o);
}

static void doc_destroy(wr_psdoc *d)
{
    winrsh_psobject *o = d->values;
    while (o) {
        winrsh_psobject *next = o->doc_next;
        value_free(o);
        o = next;
    }
    wr_pstypes *t = d->types;
    while (t) {
        wr_pstypes *next = t->next;
        for (size_t i = 0; i < t->n; i++)
            free(t->names[i]);
        free(t->names);
        free(t);
        t = next;
    }
    free(d);
}

static winrsh_psobject *value_new(wr_psdoc *d, winrsh_psobject_kind kind)
{
    if (d->nvalues >= WR_CLIXML_MAX_VALUES)
        return NULL;
    winrsh_psobject *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->doc = d;
    o->kind = kind;
    o->doc_next = d->values;
    d->values = o;
    d->nvalues++;
    return o;
}

static int add_prop(winrsh_psobject *o, int set, char *name, winrsh_psobject *v)
{
    if (o->nprops[set] == o->capprops[set]) {
        size_t cap = o->capprops[set] ? o->capprops[set] * 2 : 8;
        wr_psprop *p = realloc(o->props[set], cap * sizeof *p);
        if (!p)
            return oom();
        o->props[set] = p;
        o->capprops[set] = cap;
    }
    o->props[set][o->nprops[set]].name = name;
    o->props[set][o->nprops[set]].value = v;
    o->nprops[set]++;
    return 0;
}

static int add_item(winrsh_psobject *o, winrsh_psobject *v)
{
    if (o->nitems == o->capitems) {
        size_t cap = o->capitems ? o->capitems * 2 : 8;
        winrsh_psobject **p = realloc(o->items, cap * sizeof *p);
        if (!p)
            return oom();
        o->items = p;
        o->capitems = cap;
    }
    o->items[o->nitems++] = v;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ------------------------------------------------------------------------
 * A small pointer/integer hash map (RefIds while reading, written values
 * while writing).
 * ---------------------------------------------------------------------- */

typedef struct wr_ptrmap {
    uintptr_t *keys; /* 0 is "empty": keys are stored +1 */
    void **vals;
    size_t cap, n;
} wr_ptrmap;

static size_t map_hash(uintptr_t k, size_t cap)
{
    uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static int map_put(wr_ptrmap *m, uintptr_t key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uintptr_t *keys = calloc(cap, sizeof *keys);
        void **vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return oom();
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = map_hash(m->keys[i], cap);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    uintptr_t k = key + 1;
    size_t j = map_hash(k, m->cap);
    while (m->keys[j]) {
        if (m->keys[j] == k) {
            m->vals[j] = val;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = k;
    m->vals[j] = val;
    m->n++;
    return 0;
}

static void *map_get(const wr_ptrmap *m, uintptr_t key, int *found)
{
    *found = 0;
    if (!m->cap)
        return NULL;
    uintptr_t k = key + 1;
    size_t j = map_hash(k, m->cap);
    while (m->keys[j]) {
        if (m->keys[j] == k) {
            *found = 1;
            return m->vals[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static void map_free(wr_ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------------
 * _xHHHH_ escaping (MS-PSRP 2.2.5.3.2)
 * ---------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* An _xHHHH_ at s (n bytes available): the code unit, or -1. */
static long escape_at(const char *s, size_t n)
{
    if (n < 7 || s[0] != '_' || (s[1] != 'x' && s[1] != 'X') || s[6] != '_')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static int put_utf8(wr_buf *out, uint32_t cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return wr_buf_append(out, b, n) ? oom() : 0;
}

int wr_clixml_unescape(wr_buf *out, const char *s, size_t len)
{
    size_t i = 0, run = 0;
    while (i < len) {
        long cu = s[i] == '_' ? escape_at(s + i, len - i) : -1;
        if (cu < 0) {
            i++;
            continue;
        }
        if (i > run && wr_buf_append(out, s + run, i - run))
            return oom();
        i += 7;
        uint32_t cp = (uint32_t)cu;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = i < len ? escape_at(s + i, len - i) : -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                i += 7;
            } else {
                cp = 0xFFFD;
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        int rc = put_utf8(out, cp);
        if (rc)
            return rc;
        run = i;
    }
    if (len > run && wr_buf_append(out, s + run, len - run))
        return oom();
    return 0;
}

/* Decode one UTF-8 sequence; returns its length or 0 if invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        c = s[0] & 0x1Fu;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        c = s[0] & 0x0Fu;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        c = s[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

int wr_clixml_escape(wr_buf *out, const char *s, size_t len, int attr)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        if (!n)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP, "string is not valid UTF-8");
        int rc = 0;
        if (cp < 0x20 || cp == 0x7F || cp == 0xFFFE || cp == 0xFFFF || (cp >= 0x80 && cp <= 0x9F)) {
            rc = wr_buf_printf(out, "_x%04X_", (unsigned int)cp);
        } else if (cp == '_' && i + 1 < len && (p[i + 1] == 'x' || p[i + 1] == 'X')) {
            rc = wr_buf_puts(out, "_x005F_");
        } else if (cp == '&') {
            rc = wr_buf_puts(out, "&amp;");
        } else if (cp == '<') {
            rc = wr_buf_puts(out, "&lt;");
        } else if (cp == '>') {
            rc = wr_buf_puts(out, "&gt;");
        } else if (cp == '"' && attr) {
            rc = wr_buf_puts(out, "&quot;");
        } else {
            rc = wr_buf_append(out, p + i, n);
        }
        if (rc)
            return oom();
        i += n;
    }
    return 0;
}

/* The text of a primitive that is not an encoded string: only what XML
 * needs (&, <, > as entities, CR as a character reference so that it is read
 * back as CR); a character XML cannot carry is an error, not escaped, since
 * the reader would not unescape it. */
static int escape_plain(wr_buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        if (!n)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP, "value is not valid UTF-8");
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE ||
            cp == 0xFFFF)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP,
                                "value holds U+%04X, which XML cannot carry", (unsigned int)cp);
        int rc;
        if (cp == '&')
            rc = wr_buf_puts(out, "&amp;");
        else if (cp == '<')
            rc = wr_buf_puts(out, "&lt;");
        else if (cp == '>')
            rc = wr_buf_puts(out, "&gt;");
        else if (cp == '\r') /* a literal CR would be read back as LF */
            rc = wr_buf_puts(out, "&#13;");
        else
            rc = wr_buf_append(out, p + i, n);
        if (rc)
            return oom();
        i += n;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------- */

typedef struct rd {
    wr_psdoc *doc;
    wr_ptrmap objs;  /* Obj RefId -> value */
    wr_ptrmap types; /* TN RefId -> wr_pstypes */
    wr_buf tmp;
} rd;

static const char *lname(const xmlNode *n)
{
    return (const char *)n->name;
}

static int is_tag(const xmlNode *n, const char *tag)
{
    return n->type == XML_ELEMENT_NODE && strcmp(lname(n), tag) == 0;
}

/* The next element sibling from n (inclusive); non-blank text is an error. */
static int next_element(const xmlNode *n, const xmlNode **out)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            *out = n;
            return 0;
        }
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            for (const xmlChar *c = n->content; c && *c; c++)
                if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
                    return proto("unexpected text in CLIXML near <%s>",
                                 n->parent ? lname(n->parent) : "?");
        } else if (n->type != XML_COMMENT_NODE) {
            return proto("unexpected node in CLIXML near <%s>", n->parent ? lname(n->parent) : "?");
        }
    }
    *out = NULL;
    return 0;
}

/* The text content of an element that may hold only text. */
static int elem_text(const xmlNode *el, xmlChar **out)
{
    for (const xmlNode *c = el->children; c; c = c->next)
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
            return proto("<%s> must hold only text", lname(el));
    *out = xmlNodeGetContent(el);
    if (!*out)
        *out = xmlStrdup((const xmlChar *)"");
    return *out ? 0 : oom();
}

static int get_attr(const xmlNode *el, const char *name, xmlChar **out)
{
    *out = NULL;
    for (const xmlAttr *a = el->properties; a; a = a->next) {
        if (strcmp((const char *)a->name, name) == 0) {
            *out = xmlNodeGetContent((const xmlNode *)a);
            return *out ? 0 : oom();
        }
    }
    return 0;
}

static int parse_u32_text(const char *s, uint32_t *v)
{
    if (!*s || strlen(s) > 10)
        return -1;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (x > UINT32_MAX)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static int refid_attr(const xmlNode *el, int required, int *present, uint32_t *id)
{
    xmlChar *a;
    int rc = get_attr(el, "RefId", &a);
    if (rc)
        return rc;
    *present = a != NULL;
    if (!a)
        return required ? proto("<%s> without RefId", lname(el)) : 0;
    rc = parse_u32_text((const char *)a, id) ? proto("<%s> has a bad RefId", lname(el)) : 0;
    xmlFree(a);
    return rc;
}

/* Unescaped copy of s. */
static int unescaped(rd *r, const char *s, size_t n, char **out, size_t *outlen)
{
    if (!memchr(s, '_', n)) { /* no _xHHHH_: a plain copy */
        *out = dup_n(s, n);
        if (!*out)
            return oom();
        if (outlen)
            *outlen = n;
        return 0;
    }
    wr_buf_clear(&r->tmp);
    int rc = wr_clixml_unescape(&r->tmp, s, n);
    if (rc)
        return rc;
    *out = dup_n(r->tmp.data ? (const char *)r->tmp.data : "", r->tmp.len);
    if (!*out)
        return oom();
    if (outlen)
        *outlen = r->tmp.len;
    return 0;
}

static int parse_int_text(const char *s, int is_signed, int64_t min, uint64_t max,
                          winrsh_psobject *o)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        if (!is_signed && *p == '-' && strcmp(p, "-0") != 0)
            return -1;
        neg = *p == '-';
        p++;
    }
    if (!*p || strlen(p) > 20)
        return -1;
    uint64_t x = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (is_signed) {
        if (neg) {
            if (x > (uint64_t)INT64_MAX + 1 || (x && (int64_t)(0 - x) < min) ||
                (x == (uint64_t)INT64_MAX + 1 && min != INT64_MIN))
                return -1;
            o->v.i = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
        } else {
            if (x > max)
                return -1;
            o->v.i = (int64_t)x;
        }
    } else {
        if (x > max)
            return -1;
        o->v.u = x;
    }
    return 0;
}

static int parse_double_text(const char *s, double *out)
{
    if (strcmp(s, "INF") == 0 || strcmp(s, "Infinity") == 0) {
        *out = HUGE_VAL;
        return 0;
    }
    if (strcmp(s, "-INF") == 0 || strcmp(s, "-Infinity") == 0) {
        *out = -HUGE_VAL;
        return 0;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    char buf[128];
    size_t n = strlen(s);
    if (!n || n >= sizeof buf)
        return -1;
    const char *dp = localeconv()->decimal_point;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            return -1;
        if (c == '.' && dp && dp[0] && !dp[1])
            c = dp[0];
        buf[j++] = c;
    }
    buf[j] = 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end || end == buf)
        return -1;
    *out = d;
    return 0;
}

static int valid_decimal(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    int digits = 0, dot = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else
            return 0;
    }
    return digits > 0;
}

static int valid_version(const char *s)
{
    int parts = 0;
    const char *p = s;
    for (;;) {
        const char *st = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == st || p - st > 10)
            return 0;
        parts++;
        if (!*p)
            break;
        if (*p != '.')
            return 0;
        p++;
    }
    return parts >= 2 && parts <= 4;
}

/* n decimal digits at p. */
static int digits(const char *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/*
 * xs:dateTime as .NET's XmlConvert writes a DateTime (MS-PSRP 2.2.5.1.4):
 * YYYY-MM-DDThh:mm:ss[.f{1,9}][Z|(+|-)hh:mm], e.g.
 * 2008-04-11T10:42:32.2731993-07:00. The time may be left out
 * (YYYY-MM-DD): a lenient reader of what other serialisers write. Ranges
 * are checked (month 1-12, day 1-31, hour 0-23, minute/second 0-59), not
 * the calendar. Nothing else (spaces, text after the zone) is accepted.
 */
static int valid_datetime(const char *s)
{
    const char *p = s;
    if (!digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' || !digits(p + 8, 2))
        return 0;
    int mon = (p[5] - '0') * 10 + (p[6] - '0'), day = (p[8] - '0') * 10 + (p[9] - '0');
    if (mon < 1 || mon > 12 || day < 1 || day > 31)
        return 0;
    p += 10;
    if (!*p)
        return 1;
    if (*p != 'T' || !digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2) || p[6] != ':' ||
        !digits(p + 7, 2))
        return 0;
    int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0'),
        ss = (p[7] - '0') * 10 + (p[8] - '0');
    if (hh > 23 || mm > 59 || ss > 59)
        return 0;
    p += 9;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            n++;
        if (n < 1 || n > 9)
            return 0;
    }
    if (*p == 'Z')
        return p[1] == 0;
    if (*p == '+' || *p == '-') {
        if (!digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2) || p[6])
            return 0;
        return (p[1] - '0') * 10 + (p[2] - '0') <= 14 && (p[4] - '0') * 10 + (p[5] - '0') <= 59;
    }
    return *p == 0;
}

/*
 * xs:duration as .NET's XmlConvert writes a TimeSpan: [-]P[nD][T[nH][nM][n[.f]S]].
 * Years and months are refused (a TimeSpan never has them).
 */
static int parse_duration(const char *s, int64_t *ticks)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (*p++ != 'P' || !*p)
        return -1;
    int in_time = 0, any = 0;
    long double total = 0;
    while (*p) {
        if (*p == 'T') {
            if (in_time)
                return -1;
            in_time = 1;
            p++;
            if (!*p)
                return -1;
            continue;
        }
        const char *st = p;
        unsigned long long whole = 0;
        while (*p >= '0' && *p <= '9') {
            if (whole > 100000000000ull)
                return -1;
            whole = whole * 10 + (unsigned long long)(*p - '0');
            p++;
        }
        long double frac = 0, scale = 1;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                scale /= 10;
                frac += (long double)(*p - '0') * scale;
                p++;
            }
        }
        if (p == st)
            return -1;
        long double val = (long double)whole + frac;
        char unit = *p++;
        if (!in_time && unit == 'D' && frac == 0)
            total += val * 864000000000.0L;
        else if (in_time && unit == 'H' && frac == 0)
            total += val * 36000000000.0L;
        else if (in_time && unit == 'M' && frac == 0)
            total += val * 600000000.0L;
        else if (in_time && unit == 'S')
            total += val * 10000000.0L;
        else
            return -1;
        any = 1;
    }
    if (!any || total > 9.2e18L)
        return -1;
    int64_t t = (int64_t)(total + 0.5L);
    *ticks = neg ? -t : t;
    return 0;
}

typedef struct prim_def {
    const char *tag;
    winrsh_psobject_kind kind;
} prim_def;

static const prim_def PRIMS[] = {
    {"S", WINRSH_PSOBJ_STRING},        {"C", WINRSH_PSOBJ_CHAR},
    {"B", WINRSH_PSOBJ_BOOL},          {"DT", WINRSH_PSOBJ_DATETIME},
    {"TS", WINRSH_PSOBJ_TIMESPAN},     {"By", WINRSH_PSOBJ_UINT8},
    {"SB", WINRSH_PSOBJ_INT8},         {"U16", WINRSH_PSOBJ_UINT16},
    {"I16", WINRSH_PSOBJ_INT16},       {"U32", WINRSH_PSOBJ_UINT32},
    {"I32", WINRSH_PSOBJ_INT32},       {"U64", WINRSH_PSOBJ_UINT64},
    {"I64", WINRSH_PSOBJ_INT64},       {"Sg", WINRSH_PSOBJ_FLOAT},
    {"Db", WINRSH_PSOBJ_DOUBLE},       {"D", WINRSH_PSOBJ_DECIMAL},
    {"BA", WINRSH_PSOBJ_BYTES},        {"G", WINRSH_PSOBJ_GUID},
    {"URI", WINRSH_PSOBJ_URI},         {"Version", WINRSH_PSOBJ_VERSION},
    {"XD", WINRSH_PSOBJ_XML},          {"SBK", WINRSH_PSOBJ_SCRIPTBLOCK},
    {"SS", WINRSH_PSOBJ_SECURESTRING},
};

/* The kinds whose text is a string encoded as MS-PSRP 2.2.5.3.2 says
 * (_xHHHH_ escapes): String (2.2.5.1.1) and the other string-like kinds
 * PowerShell's serializer encodes the same way: URI, XML document,
 * ScriptBlock. Every other primitive is written as is (numbers, dates,
 * GUIDs, the base64 of BA and SS...): the reader unescapes exactly these
 * kinds (read_primitive) and the writer escapes exactly these (wr_cx_prim),
 * so that what is read is written back the same. */
static int encoded_tag(const char *tag)
{
    return strcmp(tag, "S") == 0 || strcmp(tag, "URI") == 0 || strcmp(tag, "XD") == 0 ||
           strcmp(tag, "SBK") == 0;
}

static const char *prim_tag(winrsh_psobject_kind k)
{
    for (size_t i = 0; i < sizeof PRIMS / sizeof PRIMS[0]; i++)
        if (PRIMS[i].kind == k)
            return PRIMS[i].tag;
    return NULL;
}

static int prim_kind(const char *tag, winrsh_psobject_kind *k)
{
    for (size_t i = 0; i < sizeof PRIMS / sizeof PRIMS[0]; i++) {
        if (strcmp(PRIMS[i].tag, tag) == 0) {
            *k = PRIMS[i].kind;
            return 1;
        }
    }
    return 0;
}

/* Fill o (already allocated) with the primitive whose element text is t
 * (tl bytes, NUL-terminated); tag names the element in errors. */
static int read_primitive_text(rd *r, winrsh_psobject *o, winrsh_psobject_kind kind, const char *t,
                               size_t tl, const char *tag)
{
    int rc = 0;
    int bad = 0;
    o->kind = kind;
    switch (kind) {
    case WINRSH_PSOBJ_STRING: /* the kinds of encoded_tag() */
    case WINRSH_PSOBJ_URI:
    case WINRSH_PSOBJ_XML:
    case WINRSH_PSOBJ_SCRIPTBLOCK:
        rc = unescaped(r, t, tl, &o->text, &o->text_len);
        break;
    case WINRSH_PSOBJ_CHAR: {
        uint32_t cu;
        if (parse_u32_text(t, &cu) || cu > 0xFFFF) {
            bad = 1;
            break;
        }
        o->v.u = cu;
        wr_buf_clear(&r->tmp);
        rc = put_utf8(&r->tmp, (cu >= 0xD800 && cu <= 0xDFFF) ? 0xFFFD : cu);
        if (!rc) {
            o->text = dup_n((const char *)r->tmp.data, r->tmp.len);
            o->text_len = r->tmp.len;
            rc = o->text ? 0 : oom();
        }
        break;
    }
    case WINRSH_PSOBJ_BOOL:
        if (strcmp(t, "true") == 0 || strcmp(t, "1") == 0)
            o->v.i = 1;
        else if (strcmp(t, "false") == 0 || strcmp(t, "0") == 0)
            o->v.i = 0;
        else
            bad = 1;
        break;
    case WINRSH_PSOBJ_UINT8:
        bad = parse_int_text(t, 0, 0, UINT8_MAX, o);
        break;
    case WINRSH_PSOBJ_INT8:
        bad = parse_int_text(t, 1, INT8_MIN, INT8_MAX, o);
        break;
    case WINRSH_PSOBJ_UINT16:
        bad = parse_int_text(t, 0, 0, UINT16_MAX, o);
        break;
    case WINRSH_PSOBJ_INT16:
        bad = parse_int_text(t, 1, INT16_MIN, INT16_MAX, o);
        break;
    case WINRSH_PSOBJ_UINT32:
        bad = parse_int_text(t, 0, 0, UINT32_MAX, o);
        break;
    case WINRSH_PSOBJ_INT32:
        bad = parse_int_text(t, 1, INT32_MIN, INT32_MAX, o);
        break;
    case WINRSH_PSOBJ_UINT64:
        bad = parse_int_text(t, 0, 0, UINT64_MAX, o);
        break;
    case WINRSH_PSOBJ_INT64:
        bad = parse_int_text(t, 1, INT64_MIN, INT64_MAX, o);
        break;
    case WINRSH_PSOBJ_FLOAT:
    case WINRSH_PSOBJ_DOUBLE:
        bad = parse_double_text(t, &o->v.d);
        break;
    case WINRSH_PSOBJ_DECIMAL:
        bad = !valid_decimal(t);
        break;
    case WINRSH_PSOBJ_VERSION:
        bad = !valid_version(t);
        break;
    case WINRSH_PSOBJ_DATETIME:
        bad = !valid_datetime(t);
        break;
    case WINRSH_PSOBJ_TIMESPAN: {
        int64_t ticks = 0;
        bad = parse_duration(t, &ticks);
        o->v.i = ticks;
        break;
    }
    case WINRSH_PSOBJ_GUID: {
        wr_guid g;
        bad = tl != 36 || wr_guid_parse(&g, t) != 0;
        break;
    }
    case WINRSH_PSOBJ_BYTES: {
        wr_buf b = WR_BUF_INIT;
        if (wr_base64_decode(&b, t, tl)) {
            wr_buf_free(&b);
            bad = 1;
            break;
        }
        o->nbytes = b.len;
        o->bytes = wr_buf_detach(&b, NULL);
        if (!o->bytes)
            o->bytes = (unsigned char *)dup_n("", 0);
        rc = o->bytes ? 0 : oom();
        break;
    }
    case WINRSH_PSOBJ_SECURESTRING: {
        wr_buf b = WR_BUF_INIT;
        bad = wr_base64_decode(&b, t, tl) != 0;
        wr_buf_free(&b);
        break;
    }
    default:
        bad = 1;
        break;
    }
    if (!rc && !bad && !o->text) {
        o->text = dup_n(t, tl);
        o->text_len = tl;
        if (!o->text)
            rc = oom();
    }
    if (!rc && bad)
        rc = wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "bad <%s> value '%.40s'", tag, t);
    return rc;
}

/* Fill o (already allocated) with the primitive in el. */
static int read_primitive(rd *r, winrsh_psobject *o, winrsh_psobject_kind kind, const xmlNode *el)
{
    xmlChar *x;
    int rc = elem_text(el, &x);
    if (rc)
        return rc;
    rc = read_primitive_text(r, o, kind, (const char *)x, strlen((const char *)x), lname(el));
    xmlFree(x);
    return rc;
}

static int read_value(rd *r, const xmlNode *el, int depth, winrsh_psobject **out);

static int read_types(rd *r, const xmlNode *el, const wr_pstypes **out)
{
    int present;
    uint32_t id;
    int rc = refid_attr(el, 1, &present, &id);
    if (rc)
        return rc;
    int found;
    map_get(&r->types, id, &found);
    if (found)
        return proto("<TN> RefId reused");
    wr_pstypes *t = calloc(1, sizeof *t);
    if (!t)
        return oom();
    t->next = r->doc->types;
    r->doc->types = t;
    size_t cap = 0;
    const xmlNode *c = el->children;
    for (;;) {
        if ((rc = next_element(c, &c)) != 0)
            return rc;
        if (!c)
            break;
        if (!is_tag(c, "T"))
            return proto("<%s> inside <TN>", lname(c));
        if (t->n == cap) {
            cap = cap ? cap * 2 : 4;
            if (cap > 4096)
                return proto("too many type names in <TN>");
            char **p = realloc(t->names, cap * sizeof *p);
            if (!p)
                return oom();
            t->names = p;
        }
        xmlChar *x;
        if ((rc = elem_text(c, &x)) != 0)
            return rc;
        t->names[t->n] = dup_n((const char *)x, strlen((const char *)x));
        xmlFree(x);
        if (!t->names[t->n])
            return oom();
        t->n++;
        c = c->next;
    }
    *out = t;
    return map_put(&r->types, id, t);
}

static int read_named_children(rd *r, const xmlNode *el, winrsh_psobject *o, int set, int depth)
{
    const xmlNode *c = el->children;
    for (;;) {
        int rc = next_element(c, &c);
        if (rc)
            return rc;
        if (!c)
            return 0;
        xmlChar *n;
        if ((rc = get_attr(c, "N", &n)) != 0)
            return rc;
        if (!n)
            return proto("a property in <%s> has no N", lname(el));
        char *name;
        rc = unescaped(r, (const char *)n, strlen((const char *)n), &name, NULL);
        xmlFree(n);
        if (rc)
            return rc;
        winrsh_psobject *v;
        if ((rc = read_value(r, c, depth + 1, &v)) != 0 || (rc = add_prop(o, set, name, v)) != 0) {
            free(name);
            return rc;
        }
        c = c->next;
    }
}

static int read_items(rd *r, const xmlNode *el, winrsh_psobject *o, int depth)
{
    const xmlNode *c = el->children;
    for (;;) {
        int rc = next_element(c, &c);
        if (rc)
            return rc;
        if (!c)
            return 0;
        winrsh_psobject *v;
        if ((rc = read_value(r, c, depth + 1, &v)) != 0 || (rc = add_item(o, v)) != 0)
            return rc;
        c = c->next;
    }
}

static int read_dict(rd *r, const xmlNode *el, winrsh_psobject *o, int depth)
{
    const xmlNode *en = el->children;
    for (;;) {
        int rc = next_element(en, &en);
        if (rc)
            return rc;
        if (!en)
            return 0;
        if (!is_tag(en, "En"))
            return proto("<%s> inside <DCT>", lname(en));
        winrsh_psobject *kv[2] = {NULL, NULL};
        const xmlNode *c = en->children;
        for (;;) {
            if ((rc = next_element(c, &c)) != 0)
                return rc;
            if (!c)
                break;
            xmlChar *n;
            if ((rc = get_attr(c, "N", &n)) != 0)
                return rc;
            int slot = !n                                      ? -1
                       : strcmp((const char *)n, "Key") == 0   ? 0
                       : strcmp((const char *)n, "Value") == 0 ? 1
                                                               : -1;
            xmlFree(n);
            if (slot < 0 || kv[slot])
                return proto("<En> child <%s> is not one Key and one Value", lname(c));
            if ((rc = read_value(r, c, depth + 1, &kv[slot])) != 0)
                return rc;
            c = c->next;
        }
        if (!kv[0] || !kv[1])
            return proto("<En> lacks its %s", kv[0] ? "Value" : "Key");
        if ((rc = add_item(o, kv[0])) != 0 || (rc = add_item(o, kv[1])) != 0)
            return rc;
        en = en->next;
    }
}

static int coll_of(const char *tag)
{
    if (strcmp(tag, "LST") == 0)
        return COLL_LST;
    if (strcmp(tag, "IE") == 0)
        return COLL_IE;
    if (strcmp(tag, "STK") == 0)
        return COLL_STK;
    if (strcmp(tag, "QUE") == 0)
        return COLL_QUE;
    return COLL_NONE;
}

static int read_obj(rd *r, const xmlNode *el, int depth, winrsh_psobject **out)
{
    winrsh_psobject *o = value_new(r->doc, WINRSH_PSOBJ_OBJECT);
    if (!o)
        return r->doc->nvalues >= WR_CLIXML_MAX_VALUES ? proto("CLIXML holds too many values")
                                                       : oom();
    o->is_obj = 1;
    int present;
    uint32_t id;
    int rc = refid_attr(el, 0, &present, &id);
    if (rc)
        return rc;
    if (present) {
        int found;
        map_get(&r->objs, id, &found);
        if (found)
            return proto("<Obj> RefId reused");
        /* Registered before the children, so a child may point back. */
        if ((rc = map_put(&r->objs, id, o)) != 0)
            return rc;
        o->has_ref = 1;
    }
    int have_types = 0, have_tostring = 0, have_base = 0, have_set[2] = {0, 0};
    const xmlNode *c = el->children;
    for (;;) {
        if ((rc = next_element(c, &c)) != 0)
            return rc;
        if (!c)
            break;
        const char *tag = lname(c);
        winrsh_psobject_kind k;
        int coll;
        if (strcmp(tag, "TN") == 0 || strcmp(tag, "TNRef") == 0) {
            if (have_types++)
                return proto("<Obj> with two type name lists");
            if (tag[2] == 0) {
                rc = read_types(r, c, &o->types);
            } else {
                int found;
                rc = refid_attr(c, 1, &present, &id);
                if (rc)
                    return rc;
                o->types = map_get(&r->types, id, &found);
                if (!found)
                    return proto("<TNRef> to an unknown <TN>");
            }
        } else if (strcmp(tag, "ToString") == 0) {
            xmlChar *x;
            if (have_tostring++)
                return proto("<Obj> with two <%s>", tag);
            if ((rc = elem_text(c, &x)) != 0)
                return rc;
            rc = unescaped(r, (const char *)x, strlen((const char *)x), &o->tostring,
                           &o->tostring_len);
            xmlFree(x);
        } else if (strcmp(tag, "Props") == 0 || strcmp(tag, "MS") == 0) {
            int set = tag[0] == 'M' ? WINRSH_PSPROP_EXTENDED : WINRSH_PSPROP_ADAPTED;
            if (have_set[set]++)
                return proto("<Obj> with two <%s>", tag);
            rc = read_named_children(r, c, o, set, depth);
        } else if ((coll = coll_of(tag)) != COLL_NONE) {
            if (have_base++)
                return proto("<Obj> with a second value <%s>", tag);
            o->kind = WINRSH_PSOBJ_LIST;
            o->coll = (unsigned char)coll;
            rc = read_items(r, c, o, depth);
        } else if (strcmp(tag, "DCT") == 0) {
            if (have_base++)
                return proto("<Obj> with a second value <%s>", tag);
            o->kind = WINRSH_PSOBJ_DICT;
            rc = read_dict(r, c, o, depth);
        } else if (strcmp(tag, "Obj") == 0 || strcmp(tag, "Ref") == 0) {
            /* A PSObject whose base object is itself an object. */
            if (have_base++)
                return proto("<Obj> with a second value <%s>", tag);
            rc = read_value(r, c, depth + 1, &o->base);
        } else if (prim_kind(tag, &k)) {
            if (have_base++)
                return proto("<Obj> with a second value <%s>", tag);
            if (c->properties)
                return proto("attributes on the base value <%s> of an <Obj>", tag);
            rc = read_primitive(r, o, k, c);
        } else {
            return proto("unknown element <%s> in <Obj>", tag);
        }
        if (rc)
            return rc;
        c = c->next;
    }
    *out = o;
    return 0;
}

static int read_value(rd *r, const xmlNode *el, int depth, winrsh_psobject **out)
{
    if (depth > WR_CLIXML_MAX_DEPTH)
        return proto("CLIXML nested deeper than the limit at <%s>", lname(el));
    const char *tag = lname(el);
    winrsh_psobject_kind k;
    if (strcmp(tag, "Obj") == 0)
        return read_obj(r, el, depth, out);
    if (strcmp(tag, "Ref") == 0) {
        int present, found;
        uint32_t id;
        int rc = refid_attr(el, 1, &present, &id);
        if (rc)
            return rc;
        if (el->children)
            return proto("<%s> must be empty", tag);
        *out = map_get(&r->objs, id, &found);
        return found ? 0 : proto("<Ref> to an unknown <Obj>");
    }
    if (strcmp(tag, "Nil") == 0) {
        const xmlNode *c;
        int rc = next_element(el->children, &c);
        if (rc)
            return rc;
        if (c)
            return proto("<%s> must be empty", tag);
        for (const xmlNode *t = el->children; t; t = t->next)
            if (t->type != XML_COMMENT_NODE)
                return proto("<%s> must be empty", tag);
        *out = value_new(r->doc, WINRSH_PSOBJ_NULL);
        return *out ? 0 : oom();
    }
    if (prim_kind(tag, &k)) {
        winrsh_psobject *o = value_new(r->doc, k);
        if (!o)
            return r->doc->nvalues >= WR_CLIXML_MAX_VALUES ? proto("CLIXML holds too many values")
                                                           : oom();
        *out = o;
        return read_primitive(r, o, k, el);
    }
    return proto("unknown CLIXML element <%s>", tag);
}

static wr_psdoc *doc_new(void)
{
    wr_psdoc *d = calloc(1, sizeof *d);
    if (d)
        d->refs = 1;
    return d;
}

/*
 * One libxml2 parser context per thread, reused (xmlCtxtReadMemory resets
 * it): a new context and dictionary per document were most of libxml2's
 * share (a third) of the client's CPU per PSRP output object. Per thread,
 * not shared: sessions may
 * run on several threads. Freed when the thread ends (the key's
 * destructor); the main thread's stays reachable until exit. A context is
 * dropped after a document it failed to parse and when its dictionary has
 * grown past CTX_DICT_MAX names (hostile input could otherwise fill it up
 * to libxml2's dictionary limit, and then fail every later parse).
 */
#define CTX_DICT_MAX 8192

static pthread_once_t g_ctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_ctx_key;
static int g_ctx_key_ok;

static void ctx_destroy(void *p)
{
    xmlFreeParserCtxt(p);
}

static void ctx_key_init(void)
{
    g_ctx_key_ok = pthread_key_create(&g_ctx_key, ctx_destroy) == 0;
}

/* This thread's context, or a new one; *kept says whether it is the
 * thread's (else the caller frees it). */
static xmlParserCtxtPtr ctx_get(int *kept)
{
    *kept = 0;
    pthread_once(&g_ctx_once, ctx_key_init);
    xmlParserCtxtPtr c = g_ctx_key_ok ? pthread_getspecific(g_ctx_key) : NULL;
    if (c) {
        *kept = 1;
        return c;
    }
    c = xmlNewParserCtxt();
    if (c && g_ctx_key_ok && pthread_setspecific(g_ctx_key, c) == 0)
        *kept = 1;
    return c;
}

static void ctx_put(xmlParserCtxtPtr c, int kept, int drop)
{
    if (kept && !drop && c->dict && xmlDictSize(c->dict) <= CTX_DICT_MAX)
        return;
    if (kept)
        pthread_setspecific(g_ctx_key, NULL);
    xmlFreeParserCtxt(c);
}

void wr_clixml_global_release(void)
{
    pthread_once(&g_ctx_once, ctx_key_init);
    if (!g_ctx_key_ok)
        return;
    xmlParserCtxtPtr c = pthread_getspecific(g_ctx_key);
    if (c) {
        pthread_setspecific(g_ctx_key, NULL);
        xmlFreeParserCtxt(c);
    }
    /* No destructor of ours may run once the library is unloaded: the key
     * goes, and later parses (after a new winrsh_global_init) use a context
     * per document. Contexts of threads still alive are left to the OS. */
    pthread_key_delete(g_ctx_key);
    g_ctx_key_ok = 0;
}

static void quiet_error(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

/* XML text that stands for itself, as libxml2 would read it: no markup or
 * references, no CR (line ends are normalised), no ']' (for "]]>"), only
 * characters XML allows, valid UTF-8. Anything else is left to libxml2. */
static int plain_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n') || c == '<' || c == '&' || c == ']' ||
                c == 0x7F)
                return 0;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_next(s + i, n - i, &cp);
        if (!k || cp == 0xFFFE || cp == 0xFFFF)
            return 0;
        i += k;
    }
    return 1;
}

static int is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The common tiny messages, <I32>5</I32>, <S>text</S>, <Nil />, read
 * without libxml2: a primitive element without attributes whose text is
 * plain (plain_text), then only white space. Returns 1 if xml is such a
 * document (*out or the error set: rc), 0 to take the full parser.
 */
static int parse_tiny(winrsh_psobject **out, const char *xml, size_t len, int *rc)
{
    while (len && is_xml_space(xml[len - 1]))
        len--;
    if (len < 4 || len > 65536 || xml[0] != '<' || xml[len - 1] != '>')
        return 0;
    char tag[8];
    size_t tn = 0;
    for (char c; tn + 1 < len && tn < sizeof tag - 1; tn++) {
        c = xml[1 + tn];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            break;
        tag[tn] = c;
    }
    tag[tn] = 0;
    if (!tn || 1 + tn >= len)
        return 0;
    winrsh_psobject_kind k;
    const char *p = xml + 1 + tn;
    size_t rest = len - 1 - tn; /* from p to the final '>' inclusive */
    if (strcmp(tag, "Nil") == 0) {
        if (!((rest == 2 && memcmp(p, "/>", 2) == 0) || (rest == 3 && memcmp(p, " />", 3) == 0)))
            return 0;
        k = WINRSH_PSOBJ_NULL;
    } else {
        /* >text</tag> */
        if (!prim_kind(tag, &k) || rest < tn + 4 || p[0] != '>' ||
            memcmp(xml + len - tn - 3, "</", 2) != 0 || memcmp(xml + len - tn - 1, tag, tn) != 0)
            return 0;
        p++;
        rest -= tn + 4;
        if (!plain_text((const unsigned char *)p, rest))
            return 0;
    }
    rd r;
    memset(&r, 0, sizeof r);
    r.doc = doc_new();
    winrsh_psobject *o = r.doc ? value_new(r.doc, k) : NULL;
    if (!o) {
        *rc = oom();
    } else if (k == WINRSH_PSOBJ_NULL) {
        *rc = 0;
    } else {
        char sbuf[256];
        char *t = rest < sizeof sbuf ? sbuf : malloc(rest + 1);
        if (!t) {
            *rc = oom();
        } else {
            memcpy(t, p, rest);
            t[rest] = 0;
            *rc = read_primitive_text(&r, o, k, t, rest, tag);
            if (t != sbuf)
                free(t);
        }
    }
    wr_buf_free(&r.tmp);
    if (*rc) {
        if (r.doc)
            doc_destroy(r.doc);
        *out = NULL;
    } else {
        *out = o;
    }
    return 1;
}

static int parse_doc(winrsh_psobject **out, const char *xml, size_t len, int tiny)
{
    *out = NULL;
    if (len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0) {
        xml += 3;
        len -= 3;
    }
    if (len > WR_CLIXML_MAX_INPUT || len > INT_MAX)
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "CLIXML too large (%zu bytes)",
                            len);
    int rc = 0;
    if (tiny && parse_tiny(out, xml, len, &rc))
        return rc;
    int kept;
    xmlParserCtxtPtr ctxt = ctx_get(&kept);
    if (!ctxt)
        return oom();
    /* No network, no entity substitution, no DTD loading; libxml2's own
     * messages are off (we raise our own error). The data of a PSRP
     * message is UTF-8 by definition (MS-PSRP 2.2.1). NOERROR reaches only
     * errors raised with a context: a silent structured handler (per
     * thread) keeps the others, encoding errors, off stderr too (as in
     * wsman/xml.c). */
    /* Naming "UTF-8" makes libxml2 pass the input through its UTF-8 to
     * UTF-8 converter (a fifth of the parse). A document that starts with
     * '<' and then neither '?' (an XML declaration) nor a NUL (UTF-16 or
     * UCS-4) is read as UTF-8 anyway, validated the same way, and nothing
     * later in it can name another encoding: no need to name it then. */
    int plain_utf8 = len >= 2 && xml[0] == '<' && xml[1] != '?' && xml[1] != 0;
    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, quiet_error);
    xmlDocPtr x = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, plain_utf8 ? NULL : "UTF-8",
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                        XML_PARSE_NOCDATA);
    xmlSetStructuredErrorFunc(saved_ctx, saved_fn);
    ctx_put(ctxt, kept, x == NULL);
    if (!x) {
        xmlResetLastError();
        return wr_error_set(WINRSH_EPROTO, WINRSH_ERRCLASS_PSRP, "CLIXML is not well-formed XML");
    }
    rd r;
    memset(&r, 0, sizeof r);
    r.doc = doc_new();
    xmlNode *root = xmlDocGetRootElement(x);
    if (!r.doc)
        rc = oom();
    else if (x->intSubset || x->extSubset)
        rc = proto("CLIXML with a DTD");
    else if (!root)
        rc = proto("empty CLIXML");
    if (!rc) {
        winrsh_psobject *v = NULL;
        if (strcmp(lname(root), "Objs") == 0) {
            v = value_new(r.doc, WINRSH_PSOBJ_LIST);
            if (!v) {
                rc = oom();
            } else {
                v->coll = COLL_OBJS;
                rc = read_items(&r, root, v, 0);
            }
        } else {
            rc = read_value(&r, root, 0, &v);
        }
        if (!rc) {
            /* The root goes to the front of the document's list. */
            *out = v;
        }
    }
    map_free(&r.objs);
    map_free(&r.types);
    wr_buf_free(&r.tmp);
    xmlFreeDoc(x);
    if (rc && r.doc) {
        doc_destroy(r.doc);
        *out = NULL;
    }
    return rc;
}

int wr_clixml_parse(winrsh_psobject **out, const char *xml, size_t len)
{
    return parse_doc(out, xml, len, 1);
}

int wr_clixml_parse_full(winrsh_psobject **out, const char *xml, size_t len)
{
    return parse_doc(out, xml, len, 0);
}

/* ------------------------------------------------------------------------
 * Public: documents and constructors
 * ---------------------------------------------------------------------- */

WINRSH_EXTERN(int) winrsh_psobject_from_clixml(winrsh_psobject **out, const char *xml, size_t len)
{
    if (!out || (!xml && len))
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad arguments");
    return wr_clixml_parse(out, xml ? xml : "", len);
}

WINRSH_EXTERN(winrsh_psobject *) winrsh_psobject_ref(const winrsh_psobject *o)
{
    if (!o)
        return NULL;
    o->doc->refs++;
    return (winrsh_psobject *)(uintptr_t)o;
}

WINRSH_EXTERN(void) winrsh_psobject_free(winrsh_psobject *o)
{
    if (!o)
        return;
    if (--o->doc->refs == 0)
        doc_destroy(o->doc);
}

WINRSH_EXTERN(void) winrsh_psobject_free_string(char *s)
{
    free(s);
}

static int new_scalar(winrsh_psobject **out, winrsh_psobject_kind k, winrsh_psobject **o)
{
    if (!out)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad arguments");
    *out = NULL;
    wr_psdoc *d = doc_new();
    if (!d)
        return oom();
    *o = value_new(d, k);
    if (!*o) {
        doc_destroy(d);
        return oom();
    }
    *out = *o;
    return 0;
}

static int set_text(winrsh_psobject *o, const char *s, size_t n)
{
    o->text = dup_n(s, n);
    o->text_len = n;
    if (!o->text) {
        winrsh_psobject_free(o);
        return oom();
    }
    return 0;
}

WINRSH_EXTERN(int) winrsh_psobject_new_null(winrsh_psobject **out)
{
    winrsh_psobject *o;
    return new_scalar(out, WINRSH_PSOBJ_NULL, &o);
}

WINRSH_EXTERN(int) winrsh_psobject_new_string(winrsh_psobject **out, const char *s, size_t len)
{
    winrsh_psobject *o;
    if (!s && len)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad arguments");
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (!n)
            return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                                "string is not valid UTF-8");
        i += n;
    }
    int rc = new_scalar(out, WINRSH_PSOBJ_STRING, &o);
    return rc ? rc : set_text(o, s ? s : "", len);
}

WINRSH_EXTERN(int) winrsh_psobject_new_bool(winrsh_psobject **out, int value)
{
    winrsh_psobject *o;
    int rc = new_scalar(out, WINRSH_PSOBJ_BOOL, &o);
    if (rc)
        return rc;
    o->v.i = value != 0;
    return set_text(o, value ? "true" : "false", value ? 4 : 5);
}

static int new_int(winrsh_psobject **out, winrsh_psobject_kind k, int64_t value)
{
    winrsh_psobject *o;
    char buf[32];
    int rc = new_scalar(out, k, &o);
    if (rc)
        return rc;
    o->v.i = value;
    int n = snprintf(buf, sizeof buf, "%lld", (long long)value);
    return set_text(o, buf, (size_t)n);
}

WINRSH_EXTERN(int) winrsh_psobject_new_int32(winrsh_psobject **out, int32_t value)
{
    return new_int(out, WINRSH_PSOBJ_INT32, value);
}

WINRSH_EXTERN(int) winrsh_psobject_new_int64(winrsh_psobject **out, int64_t value)
{
    return new_int(out, WINRSH_PSOBJ_INT64, value);
}

/* Shortest text that reads back as the same double, with '.' as the point. */
static void format_double(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "INF" : "-INF");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        double back;
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s", buf);
        if (sscanf(tmp, "%lf", &back) == 1 && back == v)
            break;
    }
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1])
        for (char *p = buf; *p; p++)
            if (*p == dp[0])
                *p = '.';
}

WINRSH_EXTERN(int) winrsh_psobject_new_double(winrsh_psobject **out, double value)
{
    winrsh_psobject *o;
    char buf[64];
    int rc = new_scalar(out, WINRSH_PSOBJ_DOUBLE, &o);
    if (rc)
        return rc;
    o->v.d = value;
    format_double(value, buf, sizeof buf);
    return set_text(o, buf, strlen(buf));
}

static const char *const ARRAYLIST_TYPES[] = {"System.Collections.ArrayList", "System.Object",
                                              NULL};

WINRSH_EXTERN(int) winrsh_psobject_new_list(winrsh_psobject **out)
{
    winrsh_psobject *o;
    int rc = new_scalar(out, WINRSH_PSOBJ_LIST, &o);
    if (rc)
        return rc;
    o->is_obj = 1;
    o->coll = COLL_LST;
    wr_pstypes *t = calloc(1, sizeof *t);
    if (t) {
        t->names = calloc(2, sizeof *t->names);
        t->next = o->doc->types;
        o->doc->types = t;
    }
    if (!t || !t->names)
        goto fail;
    for (size_t i = 0; i < 2; i++) {
        t->names[i] = dup_n(ARRAYLIST_TYPES[i], strlen(ARRAYLIST_TYPES[i]));
        if (!t->names[i])
            goto fail;
        t->n++;
    }
    o->types = t;
    return 0;
fail:
    winrsh_psobject_free(o);
    *out = NULL;
    return oom();
}

/* Move every value of item's document into to (item's document must be
 * held only by the caller and differ from to). */
static int adopt(wr_psdoc *to, winrsh_psobject *item)
{
    if (!item || item->doc == to || item->doc->refs != 1)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID,
                            "the value must be a fresh document held once");
    wr_psdoc *from = item->doc;
    winrsh_psobject *last = NULL;
    for (winrsh_psobject *v = from->values; v; v = v->doc_next) {
        v->doc = to;
        last = v;
    }
    if (last) {
        last->doc_next = to->values;
        to->values = from->values;
    }
    to->nvalues += from->nvalues;
    wr_pstypes *lt = NULL;
    for (wr_pstypes *t = from->types; t; t = t->next)
        lt = t;
    if (lt) {
        lt->next = to->types;
        to->types = from->types;
    }
    free(from);
    return 0;
}

WINRSH_EXTERN(int) winrsh_psobject_list_append(winrsh_psobject *list, winrsh_psobject *item)
{
    if (!list || !item || list->kind != WINRSH_PSOBJ_LIST || item->doc == list->doc ||
        item->doc->refs != 1)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad list append");
    int rc = add_item(list, item);
    return rc ? rc : adopt(list->doc, item);
}

WINRSH_EXTERN(int) winrsh_psobject_new_object(winrsh_psobject **out, const char *const *types)
{
    winrsh_psobject *o;
    int rc = new_scalar(out, WINRSH_PSOBJ_OBJECT, &o);
    if (rc)
        return rc;
    o->is_obj = 1;
    size_t n = 0;
    while (types && types[n])
        n++;
    if (!n)
        return 0;
    wr_pstypes *t = calloc(1, sizeof *t);
    if (t) {
        t->names = calloc(n, sizeof *t->names);
        t->next = o->doc->types;
        o->doc->types = t;
    }
    if (!t || !t->names)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        t->names[i] = dup_n(types[i], strlen(types[i]));
        if (!t->names[i])
            goto fail;
        t->n++;
    }
    o->types = t;
    return 0;
fail:
    winrsh_psobject_free(o);
    *out = NULL;
    return oom();
}

WINRSH_EXTERN(int)
winrsh_psobject_add_property(winrsh_psobject *obj, const char *name, winrsh_psobject *value)
{
    if (!obj || !name || !value || value->doc == obj->doc || value->doc->refs != 1)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad property");
    char *n = dup_n(name, strlen(name));
    if (!n)
        return oom();
    obj->is_obj = 1;
    int rc = add_prop(obj, WINRSH_PSPROP_EXTENDED, n, value);
    if (rc) {
        free(n);
        return rc;
    }
    return adopt(obj->doc, value);
}

WINRSH_EXTERN(int) winrsh_psobject_new_dict(winrsh_psobject **out)
{
    static const char *const types[] = {"System.Collections.Hashtable", "System.Object", NULL};
    int rc = winrsh_psobject_new_object(out, types);
    if (!rc)
        (*out)->kind = WINRSH_PSOBJ_DICT;
    return rc;
}

WINRSH_EXTERN(int)
winrsh_psobject_dict_add(winrsh_psobject *dict, winrsh_psobject *key, winrsh_psobject *value)
{
    if (!dict || dict->kind != WINRSH_PSOBJ_DICT || !key || !value || key->doc == value->doc ||
        key->doc == dict->doc || value->doc == dict->doc || key->doc->refs != 1 ||
        value->doc->refs != 1)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad dictionary entry");
    if (dict->nitems + 2 > dict->capitems) {
        size_t cap = dict->capitems ? dict->capitems * 2 : 8;
        winrsh_psobject **p = realloc(dict->items, cap * sizeof *p);
        if (!p)
            return oom();
        dict->items = p;
        dict->capitems = cap;
    }
    dict->items[dict->nitems++] = key;
    dict->items[dict->nitems++] = value;
    adopt(dict->doc, key);
    adopt(dict->doc, value);
    return 0;
}

/* ------------------------------------------------------------------------
 * Public: accessors
 * ---------------------------------------------------------------------- */

WINRSH_EXTERN(winrsh_psobject_kind) winrsh_psobject_get_kind(const winrsh_psobject *o)
{
    return o ? o->kind : WINRSH_PSOBJ_NULL;
}

WINRSH_EXTERN(const char *) winrsh_psobject_kind_name(winrsh_psobject_kind kind)
{
    static const char *const names[] = {
        "null",  "string",      "char",         "bool",   "datetime", "timespan", "uint8",
        "int8",  "uint16",      "int16",        "uint32", "int32",    "uint64",   "int64",
        "float", "double",      "decimal",      "bytes",  "guid",     "uri",      "version",
        "xml",   "scriptblock", "securestring", "list",   "dict",     "object"};
    if ((unsigned)kind < sizeof names / sizeof names[0])
        return names[kind];
    return "unknown";
}

WINRSH_EXTERN(size_t) winrsh_psobject_type_count(const winrsh_psobject *o)
{
    return o && o->types ? o->types->n : 0;
}

WINRSH_EXTERN(const char *) winrsh_psobject_type_name(const winrsh_psobject *o, size_t i)
{
    return o && o->types && i < o->types->n ? o->types->names[i] : NULL;
}

WINRSH_EXTERN(int) winrsh_psobject_is_type(const winrsh_psobject *o, const char *name)
{
    if (!o || !o->types || !name)
        return 0;
    for (size_t i = 0; i < o->types->n; i++)
        if (strcmp(o->types->names[i], name) == 0)
            return 1;
    return 0;
}

WINRSH_EXTERN(const char *) winrsh_psobject_tostring(const winrsh_psobject *o)
{
    return o ? o->tostring : NULL;
}

WINRSH_EXTERN(const char *) winrsh_psobject_text(const winrsh_psobject *o, size_t *len)
{
    if (len)
        *len = 0;
    if (!o)
        return NULL;
    if (o->text) {
        if (len)
            *len = o->text_len;
        return o->text;
    }
    if (o->tostring) {
        if (len)
            *len = o->tostring_len;
        return o->tostring;
    }
    return NULL;
}

static int is_signed_kind(winrsh_psobject_kind k)
{
    return k == WINRSH_PSOBJ_INT8 || k == WINRSH_PSOBJ_INT16 || k == WINRSH_PSOBJ_INT32 ||
           k == WINRSH_PSOBJ_INT64;
}

static int is_unsigned_kind(winrsh_psobject_kind k)
{
    return k == WINRSH_PSOBJ_UINT8 || k == WINRSH_PSOBJ_UINT16 || k == WINRSH_PSOBJ_UINT32 ||
           k == WINRSH_PSOBJ_UINT64 || k == WINRSH_PSOBJ_CHAR;
}

static int einval(void)
{
    return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "value of another kind or range");
}

WINRSH_EXTERN(int) winrsh_psobject_get_bool(const winrsh_psobject *o, int *value)
{
    if (!o || o->kind != WINRSH_PSOBJ_BOOL || !value)
        return einval();
    *value = o->v.i != 0;
    return 0;
}

WINRSH_EXTERN(int) winrsh_psobject_get_int64(const winrsh_psobject *o, int64_t *value)
{
    if (!o || !value)
        return einval();
    if (is_signed_kind(o->kind)) {
        *value = o->v.i;
        return 0;
    }
    if (is_unsigned_kind(o->kind) && o->v.u <= INT64_MAX) {
        *value = (int64_t)o->v.u;
        return 0;
    }
    return einval();
}

WINRSH_EXTERN(int) winrsh_psobject_get_int32(const winrsh_psobject *o, int32_t *value)
{
    int64_t v;
    if (!value || winrsh_psobject_get_int64(o, &v) || v < INT32_MIN || v > INT32_MAX)
        return einval();
    *value = (int32_t)v;
    return 0;
}

WINRSH_EXTERN(int) winrsh_psobject_get_uint64(const winrsh_psobject *o, uint64_t *value)
{
    if (!o || !value)
        return einval();
    if (is_unsigned_kind(o->kind)) {
        *value = o->v.u;
        return 0;
    }
    if (is_signed_kind(o->kind) && o->v.i >= 0) {
        *value = (uint64_t)o->v.i;
        return 0;
    }
    return einval();
}

WINRSH_EXTERN(int) winrsh_psobject_get_double(const winrsh_psobject *o, double *value)
{
    if (!o || !value)
        return einval();
    if (o->kind == WINRSH_PSOBJ_FLOAT || o->kind == WINRSH_PSOBJ_DOUBLE) {
        *value = o->v.d;
        return 0;
    }
    if (o->kind == WINRSH_PSOBJ_DECIMAL)
        return parse_double_text(o->text, value) ? einval() : 0;
    if (is_signed_kind(o->kind)) {
        *value = (double)o->v.i;
        return 0;
    }
    if (is_unsigned_kind(o->kind)) {
        *value = (double)o->v.u;
        return 0;
    }
    return einval();
}

WINRSH_EXTERN(int) winrsh_psobject_get_timespan(const winrsh_psobject *o, int64_t *ticks)
{
    if (!o || o->kind != WINRSH_PSOBJ_TIMESPAN || !ticks)
        return einval();
    *ticks = o->v.i;
    return 0;
}

WINRSH_EXTERN(int) winrsh_psobject_get_guid(const winrsh_psobject *o, char out[37])
{
    wr_guid g;
    if (!o || o->kind != WINRSH_PSOBJ_GUID || !out || wr_guid_parse(&g, o->text))
        return einval();
    wr_guid_format(&g, 0, out);
    return 0;
}

WINRSH_EXTERN(const unsigned char *) winrsh_psobject_bytes(const winrsh_psobject *o, size_t *len)
{
    if (len)
        *len = 0;
    if (!o || o->kind != WINRSH_PSOBJ_BYTES)
        return NULL;
    if (len)
        *len = o->nbytes;
    return o->bytes;
}

WINRSH_EXTERN(int)
winrsh_psobject_enum_value(const winrsh_psobject *o, int32_t *value, const char **name)
{
    if (!o || !value)
        return einval();
    int is_enum = winrsh_psobject_is_type(o, "System.Enum") ||
                  (o->kind == WINRSH_PSOBJ_INT32 && o->is_obj && o->tostring);
    if (!is_enum || winrsh_psobject_get_int32(o, value))
        return einval();
    if (name)
        *name = o->tostring;
    return 0;
}

WINRSH_EXTERN(size_t) winrsh_psobject_prop_count(const winrsh_psobject *o, winrsh_psprop_set set)
{
    if (!o || (set != WINRSH_PSPROP_ADAPTED && set != WINRSH_PSPROP_EXTENDED))
        return 0;
    return o->nprops[set];
}

WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_prop_at(const winrsh_psobject *o, winrsh_psprop_set set, size_t i,
                        const char **name)
{
    if (name)
        *name = NULL;
    if (i >= winrsh_psobject_prop_count(o, set))
        return NULL;
    if (name)
        *name = o->props[set][i].name;
    return o->props[set][i].value;
}

static int name_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && wr_strncasecmp(a, b, la) == 0;
}

WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_prop_in(const winrsh_psobject *o, winrsh_psprop_set set, const char *name)
{
    size_t n = winrsh_psobject_prop_count(o, set);
    if (!name)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (name_eq(o->props[set][i].name, name))
            return o->props[set][i].value;
    return NULL;
}

WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_prop(const winrsh_psobject *o, const char *name)
{
    /* Bounded walk down base objects (which a hostile peer could chain). */
    for (int hops = 0; o && hops <= WR_CLIXML_MAX_DEPTH; hops++, o = o->base) {
        const winrsh_psobject *v = winrsh_psobject_prop_in(o, WINRSH_PSPROP_EXTENDED, name);
        if (!v)
            v = winrsh_psobject_prop_in(o, WINRSH_PSPROP_ADAPTED, name);
        if (v)
            return v;
    }
    return NULL;
}

WINRSH_EXTERN(const winrsh_psobject *) winrsh_psobject_base(const winrsh_psobject *o)
{
    return o ? o->base : NULL;
}

WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_path(const winrsh_psobject *o, const char *path)
{
    char part[256];
    if (!path)
        return NULL;
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = 0;
        o = winrsh_psobject_prop(o, part);
        path += n + (dot ? 1 : 0);
    }
    return o;
}

WINRSH_EXTERN(size_t) winrsh_psobject_list_count(const winrsh_psobject *o)
{
    return o && o->kind == WINRSH_PSOBJ_LIST ? o->nitems : 0;
}

WINRSH_EXTERN(const winrsh_psobject *) winrsh_psobject_list_item(const winrsh_psobject *o, size_t i)
{
    return i < winrsh_psobject_list_count(o) ? o->items[i] : NULL;
}

WINRSH_EXTERN(size_t) winrsh_psobject_dict_count(const winrsh_psobject *o)
{
    return o && o->kind == WINRSH_PSOBJ_DICT ? o->nitems / 2 : 0;
}

WINRSH_EXTERN(const winrsh_psobject *) winrsh_psobject_dict_key(const winrsh_psobject *o, size_t i)
{
    return i < winrsh_psobject_dict_count(o) ? o->items[2 * i] : NULL;
}

WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_dict_value(const winrsh_psobject *o, size_t i)
{
    return i < winrsh_psobject_dict_count(o) ? o->items[2 * i + 1] : NULL;
}

WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_dict_get(const winrsh_psobject *o, const char *key)
{
    size_t n = winrsh_psobject_dict_count(o);
    if (!key)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = winrsh_psobject_text(o->items[2 * i], NULL);
        if (t && name_eq(t, key))
            return o->items[2 * i + 1];
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Writing
 * ---------------------------------------------------------------------- */

void wr_clixml_writer_init(wr_clixml_writer *w, wr_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

int wr_clixml_writer_finish(wr_clixml_writer *w)
{
    for (size_t i = 0; i < w->tn_count; i++)
        free(w->tn_keys[i]);
    free(w->tn_keys);
    w->tn_keys = NULL;
    w->tn_count = w->tn_cap = 0;
    if (w->written) {
        map_free(w->written);
        free(w->written);
        w->written = NULL;
    }
    return w->err;
}

static void wput(wr_clixml_writer *w, const char *s)
{
    if (!w->err && wr_buf_puts(w->out, s))
        w->err = oom();
}

static void wesc(wr_clixml_writer *w, const char *s, size_t n, int attr)
{
    if (!w->err)
        w->err = wr_clixml_escape(w->out, s, n, attr);
}

static void wname(wr_clixml_writer *w, const char *name)
{
    if (name) {
        wput(w, " N=\"");
        wesc(w, name, strlen(name), 1);
        wput(w, "\"");
    }
}

static void wtypes(wr_clixml_writer *w, const char *const *types, size_t n)
{
    wr_buf key = WR_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (wr_buf_puts(&key, types[i]) || wr_buf_putc(&key, '\n'))
            w->err = w->err ? w->err : oom();
    if (w->err) {
        wr_buf_free(&key);
        return;
    }
    for (size_t i = 0; i < w->tn_count; i++) {
        if (strcmp(w->tn_keys[i], wr_buf_cstr(&key)) == 0) {
            if (!w->err && wr_buf_printf(w->out, "<TNRef RefId=\"%zu\" />", i))
                w->err = oom();
            wr_buf_free(&key);
            return;
        }
    }
    if (w->tn_count == w->tn_cap) {
        size_t cap = w->tn_cap ? w->tn_cap * 2 : 8;
        char **p = realloc(w->tn_keys, cap * sizeof *p);
        if (!p) {
            w->err = oom();
            wr_buf_free(&key);
            return;
        }
        w->tn_keys = p;
        w->tn_cap = cap;
    }
    char *k = (char *)wr_buf_detach(&key, NULL);
    if (!k) {
        w->err = oom();
        return;
    }
    w->tn_keys[w->tn_count] = k;
    if (wr_buf_printf(w->out, "<TN RefId=\"%zu\">", w->tn_count))
        w->err = oom();
    w->tn_count++;
    for (size_t i = 0; i < n; i++) {
        wput(w, "<T>");
        wesc(w, types[i], strlen(types[i]), 0);
        wput(w, "</T>");
    }
    wput(w, "</TN>");
}

static void obj_open(wr_clixml_writer *w, const char *name, const char *const *types, size_t ntypes,
                     const char *tostring, size_t tostring_len)
{
    if (w->err)
        return;
    wput(w, "<Obj");
    wname(w, name);
    if (!w->err && wr_buf_printf(w->out, " RefId=\"%u\">", (unsigned)w->next_obj_ref++))
        w->err = oom();
    if (types && ntypes)
        wtypes(w, types, ntypes);
    if (tostring) {
        wput(w, "<ToString>");
        wesc(w, tostring, tostring_len, 0);
        wput(w, "</ToString>");
    }
}

void wr_cx_obj_begin(wr_clixml_writer *w, const char *name, const char *const *types,
                     const char *tostring)
{
    size_t n = 0;
    while (types && types[n])
        n++;
    obj_open(w, name, types, n, tostring, tostring ? strlen(tostring) : 0);
}

void wr_cx_obj_end(wr_clixml_writer *w)
{
    wput(w, "</Obj>");
}

void wr_cx_begin(wr_clixml_writer *w, const char *tag)
{
    wput(w, "<");
    wput(w, tag);
    wput(w, ">");
}

void wr_cx_end(wr_clixml_writer *w, const char *tag)
{
    wput(w, "</");
    wput(w, tag);
    wput(w, ">");
}

void wr_cx_prim(wr_clixml_writer *w, const char *tag, const char *name, const char *text,
                size_t len)
{
    wput(w, "<");
    wput(w, tag);
    wname(w, name);
    wput(w, ">");
    if (encoded_tag(tag))
        wesc(w, text, len, 0);
    else if (!w->err)
        w->err = escape_plain(w->out, text, len);
    wput(w, "</");
    wput(w, tag);
    wput(w, ">");
}

void wr_cx_string(wr_clixml_writer *w, const char *name, const char *s)
{
    wr_cx_prim(w, "S", name, s ? s : "", s ? strlen(s) : 0);
}

void wr_cx_bool(wr_clixml_writer *w, const char *name, int v)
{
    wr_cx_prim(w, "B", name, v ? "true" : "false", v ? 4 : 5);
}

void wr_cx_i32(wr_clixml_writer *w, const char *name, int32_t v)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d", (int)v);
    wr_cx_prim(w, "I32", name, buf, (size_t)n);
}

void wr_cx_i64(wr_clixml_writer *w, const char *name, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
    wr_cx_prim(w, "I64", name, buf, (size_t)n);
}

void wr_cx_nil(wr_clixml_writer *w, const char *name)
{
    wput(w, "<Nil");
    wname(w, name);
    wput(w, " />");
}

void wr_cx_enum(wr_clixml_writer *w, const char *name, const char *const *types,
                const char *tostring, int32_t v)
{
    wr_cx_obj_begin(w, name, types, tostring);
    wr_cx_i32(w, NULL, v);
    wr_cx_obj_end(w);
}

static const char *coll_tag(int coll)
{
    switch (coll) {
    case COLL_IE:
        return "IE";
    case COLL_STK:
        return "STK";
    case COLL_QUE:
        return "QUE";
    default:
        return "LST";
    }
}

static void write_value(wr_clixml_writer *w, const char *name, const winrsh_psobject *o, int depth);

static void write_base(wr_clixml_writer *w, const winrsh_psobject *o, const char *name, int depth)
{
    const char *tag = prim_tag(o->kind);
    if (o->kind == WINRSH_PSOBJ_NULL) {
        wr_cx_nil(w, name);
    } else if (o->kind == WINRSH_PSOBJ_BYTES) {
        wr_buf b64 = WR_BUF_INIT;
        if (wr_base64_encode(&b64, o->bytes, o->nbytes))
            w->err = w->err ? w->err : oom();
        wr_cx_prim(w, "BA", name, wr_buf_cstr(&b64), b64.len);
        wr_buf_free(&b64);
    } else if (o->kind == WINRSH_PSOBJ_CHAR) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%u", (unsigned)o->v.u);
        wr_cx_prim(w, "C", name, buf, (size_t)n);
    } else if (tag) {
        wr_cx_prim(w, tag, name, o->text ? o->text : "", o->text ? o->text_len : 0);
    } else if (o->kind == WINRSH_PSOBJ_LIST) {
        const char *t = coll_tag(o->coll);
        wr_cx_begin(w, t);
        for (size_t i = 0; i < o->nitems; i++)
            write_value(w, NULL, o->items[i], depth + 1);
        wr_cx_end(w, t);
    } else if (o->kind == WINRSH_PSOBJ_DICT) {
        wr_cx_begin(w, "DCT");
        for (size_t i = 0; i + 1 < o->nitems; i += 2) {
            wr_cx_begin(w, "En");
            write_value(w, "Key", o->items[i], depth + 1);
            write_value(w, "Value", o->items[i + 1], depth + 1);
            wr_cx_end(w, "En");
        }
        wr_cx_end(w, "DCT");
    }
}

static void write_value(wr_clixml_writer *w, const char *name, const winrsh_psobject *o, int depth)
{
    if (w->err)
        return;
    if (!o) {
        wr_cx_nil(w, name);
        return;
    }
    if (depth > WR_CLIXML_MAX_DEPTH) {
        w->err = wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_PSRP, "value nested too deeply");
        return;
    }
    int needs_obj = o->is_obj || o->kind == WINRSH_PSOBJ_LIST || o->kind == WINRSH_PSOBJ_DICT ||
                    o->kind == WINRSH_PSOBJ_OBJECT || o->types || o->tostring || o->nprops[0] ||
                    o->nprops[1];
    if (!needs_obj) {
        write_base(w, o, name, depth);
        return;
    }
    if (!w->written) {
        w->written = calloc(1, sizeof *w->written);
        if (!w->written) {
            w->err = oom();
            return;
        }
    }
    int found;
    void *ref = map_get(w->written, (uintptr_t)o, &found);
    if (found) {
        wput(w, "<Ref");
        wname(w, name);
        if (!w->err && wr_buf_printf(w->out, " RefId=\"%u\" />", (unsigned)(uintptr_t)ref))
            w->err = oom();
        return;
    }
    int rc = map_put(w->written, (uintptr_t)o, (void *)(uintptr_t)w->next_obj_ref);
    if (rc) {
        w->err = rc;
        return;
    }
    obj_open(w, name, o->types ? (const char *const *)o->types->names : NULL,
             o->types ? o->types->n : 0, o->tostring, o->tostring_len);
    if (o->kind != WINRSH_PSOBJ_OBJECT)
        write_base(w, o, NULL, depth);
    else if (o->base)
        write_value(w, NULL, o->base, depth + 1);
    static const char *const set_tag[2] = {"Props", "MS"};
    for (int s = 0; s < 2; s++) {
        if (!o->nprops[s])
            continue;
        wr_cx_begin(w, set_tag[s]);
        for (size_t i = 0; i < o->nprops[s]; i++)
            write_value(w, o->props[s][i].name, o->props[s][i].value, depth + 1);
        wr_cx_end(w, set_tag[s]);
    }
    wr_cx_obj_end(w);
}

void wr_cx_value(wr_clixml_writer *w, const char *name, const winrsh_psobject *o)
{
    write_value(w, name, o, 0);
}

WINRSH_EXTERN(int) winrsh_psobject_to_clixml(const winrsh_psobject *o, char **out, size_t *len)
{
    if (!out)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad arguments");
    *out = NULL;
    wr_buf b = WR_BUF_INIT;
    wr_clixml_writer w;
    wr_clixml_writer_init(&w, &b);
    if (o && o->coll == COLL_OBJS) {
        wput(
            &w,
            "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">");
        for (size_t i = 0; i < o->nitems; i++)
            write_value(&w, NULL, o->items[i], 1);
        wput(&w, "</Objs>");
    } else {
        write_value(&w, NULL, o, 0);
    }
    int rc = wr_clixml_writer_finish(&w);
    if (!rc && !b.data && wr_buf_reserve(&b, 1))
        rc = oom();
    if (rc) {
        wr_buf_free(&b);
        return rc;
    }
    if (len)
        *len = b.len;
    *out = (char *)wr_buf_detach(&b, NULL);
    return 0;
}

/* ------------------------------------------------------------------------
 * Equality and size
 * ---------------------------------------------------------------------- */

static int str_eq(const char *a, size_t la, const char *b, size_t lb)
{
    if (!a || !b)
        return a == b;
    return la == lb && memcmp(a, b, la) == 0;
}

static int types_eq(const wr_pstypes *a, const wr_pstypes *b)
{
    size_t na = a ? a->n : 0, nb = b ? b->n : 0;
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return 1;
}

static int equal_rec(wr_ptrmap *seen, const winrsh_psobject *a, const winrsh_psobject *b, int depth)
{
    if (!a || !b)
        return a == b;
    if (depth > 4 * WR_CLIXML_MAX_DEPTH)
        return 0;
    int found;
    void *m = map_get(seen, (uintptr_t)a, &found);
    if (found)
        return m == b; /* shared or cyclic: must be shared the same way */
    if (map_put(seen, (uintptr_t)a, (void *)(uintptr_t)b))
        return 0;
    if (a->kind != b->kind || !types_eq(a->types, b->types) ||
        !str_eq(a->tostring, a->tostring_len, b->tostring, b->tostring_len) ||
        /* BA: the bytes are the value, its text only one base64 spelling of
         * them (the writer encodes the bytes again, without line breaks). */
        (a->kind != WINRSH_PSOBJ_BYTES && !str_eq(a->text, a->text_len, b->text, b->text_len)) ||
        a->nitems != b->nitems ||
        (a->kind == WINRSH_PSOBJ_LIST && coll_tag(a->coll) != coll_tag(b->coll)))
        return 0;
    if (a->kind == WINRSH_PSOBJ_BYTES &&
        (a->nbytes != b->nbytes || (a->nbytes && memcmp(a->bytes, b->bytes, a->nbytes))))
        return 0;
    if (a->kind == WINRSH_PSOBJ_CHAR && a->v.u != b->v.u)
        return 0;
    for (int s = 0; s < 2; s++) {
        if (a->nprops[s] != b->nprops[s])
            return 0;
        for (size_t i = 0; i < a->nprops[s]; i++)
            if (strcmp(a->props[s][i].name, b->props[s][i].name) != 0 ||
                !equal_rec(seen, a->props[s][i].value, b->props[s][i].value, depth + 1))
                return 0;
    }
    for (size_t i = 0; i < a->nitems; i++)
        if (!equal_rec(seen, a->items[i], b->items[i], depth + 1))
            return 0;
    if (!a->base != !b->base || (a->base && !equal_rec(seen, a->base, b->base, depth + 1)))
        return 0;
    return 1;
}

int wr_psobject_equal(const winrsh_psobject *a, const winrsh_psobject *b)
{
    wr_ptrmap seen;
    memset(&seen, 0, sizeof seen);
    int eq = equal_rec(&seen, a, b, 0);
    map_free(&seen);
    return eq;
}

size_t wr_psobject_doc_size(const winrsh_psobject *o)
{
    return o ? o->doc->nvalues : 0;
}

/* ------------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------- */

static int json_str(wr_buf *b, const char *s, size_t n)
{
    int rc = wr_buf_putc(b, '"');
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            rc = wr_buf_putc(b, '\\');
            if (!rc)
                rc = wr_buf_putc(b, c);
        } else if (c == '\n') {
            rc = wr_buf_puts(b, "\\n");
        } else if (c == '\r') {
            rc = wr_buf_puts(b, "\\r");
        } else if (c == '\t') {
            rc = wr_buf_puts(b, "\\t");
        } else if (c < 0x20) {
            rc = wr_buf_printf(b, "\\u%04x", c);
        } else {
            rc = wr_buf_putc(b, c);
        }
    }
    if (!rc)
        rc = wr_buf_putc(b, '"');
    return rc ? oom() : 0;
}

static int json_number_ok(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return 0;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == 0;
}

static int json_value(wr_buf *b, const winrsh_psobject *o, int level, int depth);

static int json_props(wr_buf *b, const winrsh_psobject *o, int level, int depth)
{
    int rc = wr_buf_putc(b, '{') ? oom() : 0;
    int first = 1;
    static const int order[2] = {WINRSH_PSPROP_EXTENDED, WINRSH_PSPROP_ADAPTED};
    for (int k = 0; !rc && k < 2; k++) {
        int s = order[k];
        for (size_t i = 0; !rc && i < o->nprops[s]; i++) {
            if (!first && wr_buf_putc(b, ','))
                return oom();
            first = 0;
            rc = json_str(b, o->props[s][i].name, strlen(o->props[s][i].name));
            if (!rc)
                rc = wr_buf_putc(b, ':') ? oom() : 0;
            if (!rc)
                rc = json_value(b, o->props[s][i].value, level + 1, depth);
        }
    }
    if (!rc && wr_buf_putc(b, '}'))
        rc = oom();
    return rc;
}

static int json_value(wr_buf *b, const winrsh_psobject *o, int level, int depth)
{
    if (!o || o->kind == WINRSH_PSOBJ_NULL)
        return wr_buf_puts(b, "null") ? oom() : 0;
    int rc = 0;
    int32_t ev;
    switch (o->kind) {
    case WINRSH_PSOBJ_BOOL:
        return wr_buf_puts(b, o->v.i ? "true" : "false") ? oom() : 0;
    case WINRSH_PSOBJ_UINT8:
    case WINRSH_PSOBJ_INT8:
    case WINRSH_PSOBJ_UINT16:
    case WINRSH_PSOBJ_INT16:
    case WINRSH_PSOBJ_UINT32:
    case WINRSH_PSOBJ_INT32:
    case WINRSH_PSOBJ_UINT64:
    case WINRSH_PSOBJ_INT64:
        if (winrsh_psobject_enum_value(o, &ev, NULL) == 0)
            return wr_buf_printf(b, "%d", (int)ev) ? oom() : 0;
        if (is_signed_kind(o->kind))
            return wr_buf_printf(b, "%lld", (long long)o->v.i) ? oom() : 0;
        return wr_buf_printf(b, "%llu", (unsigned long long)o->v.u) ? oom() : 0;
    case WINRSH_PSOBJ_FLOAT:
    case WINRSH_PSOBJ_DOUBLE:
    case WINRSH_PSOBJ_DECIMAL:
        if (json_number_ok(o->text))
            return wr_buf_puts(b, o->text) ? oom() : 0;
        return json_str(b, o->text, o->text_len);
    case WINRSH_PSOBJ_BYTES:
        rc = wr_buf_putc(b, '[') ? oom() : 0;
        for (size_t i = 0; !rc && i < o->nbytes; i++)
            rc = wr_buf_printf(b, i ? ",%u" : "%u", o->bytes[i]) ? oom() : 0;
        if (!rc && wr_buf_putc(b, ']'))
            rc = oom();
        return rc;
    case WINRSH_PSOBJ_LIST:
        if (level > depth)
            break;
        rc = wr_buf_putc(b, '[') ? oom() : 0;
        for (size_t i = 0; !rc && i < o->nitems; i++) {
            if (i && wr_buf_putc(b, ','))
                return oom();
            rc = json_value(b, o->items[i], level + 1, depth);
        }
        if (!rc && wr_buf_putc(b, ']'))
            rc = oom();
        return rc;
    case WINRSH_PSOBJ_DICT:
        if (level > depth)
            break;
        rc = wr_buf_putc(b, '{') ? oom() : 0;
        for (size_t i = 0; !rc && i + 1 < o->nitems; i += 2) {
            if (i && wr_buf_putc(b, ','))
                return oom();
            size_t kl;
            const char *k = winrsh_psobject_text(o->items[i], &kl);
            rc = json_str(b, k ? k : "", k ? kl : 0);
            if (!rc)
                rc = wr_buf_putc(b, ':') ? oom() : 0;
            if (!rc)
                rc = json_value(b, o->items[i + 1], level + 1, depth);
        }
        if (!rc && wr_buf_putc(b, '}'))
            rc = oom();
        return rc;
    case WINRSH_PSOBJ_OBJECT:
        if (o->base && !o->nprops[0] && !o->nprops[1] && level <= depth)
            return json_value(b, o->base, level + 1, depth);
        if (level > depth || (!o->nprops[0] && !o->nprops[1] && o->tostring))
            break;
        return json_props(b, o, level, depth);
    default: {
        size_t n;
        const char *t = winrsh_psobject_text(o, &n);
        return json_str(b, t ? t : "", t ? n : 0);
    }
    }
    /* Too deep (or a bare object): its ToString, as ConvertTo-Json does. */
    if (o->tostring)
        return json_str(b, o->tostring, o->tostring_len);
    if (o->types && o->types->n)
        return json_str(b, o->types->names[0], strlen(o->types->names[0]));
    return json_str(b, "", 0);
}

WINRSH_EXTERN(int)
winrsh_psobject_to_json(const winrsh_psobject *o, int depth, char **out, size_t *len)
{
    if (!out)
        return wr_error_set(WINRSH_EINVAL, WINRSH_ERRCLASS_INVALID, "bad arguments");
    *out = NULL;
    if (depth <= 0)
        depth = 2;
    if (depth > 100)
        depth = 100;
    wr_buf b = WR_BUF_INIT;
    int rc = json_value(&b, o, 0, depth);
    if (rc) {
        wr_buf_free(&b);
        return rc;
    }
    if (len)
        *len = b.len;
    *out = (char *)wr_buf_detach(&b, NULL);
    return 0;
}
