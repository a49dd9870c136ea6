/*
 * clixml.h: CLIXML, the XML form of PowerShell objects (MS-PSRP 2.2.5),
 * read into winrsh_psobject trees (include/winrsh/psobject.h) and written
 * for the client's messages.
 *
 * Element names are PowerShell's SerializationStrings:
 *
 *   +-----------+---------------------------------+----------------------+
 *   | element   | value                           | MS-PSRP              |
 *   +-----------+---------------------------------+----------------------+
 *   | Nil       | null                            | 2.2.5.1.20           |
 *   | S         | string, _xHHHH_ escaped         | 2.2.5.1.1            |
 *   | C         | char, as its UTF-16 code number | 2.2.5.1.2            |
 *   | B         | bool: true / false              | 2.2.5.1.3            |
 *   | DT, TS    | xs:dateTime, xs:duration        | 2.2.5.1.4, 2.2.5.1.5 |
 *   | By, SB    | u8, i8                          | 2.2.5.1.6, 2.2.5.1.7 |
 *   | U16..I64  | u16 i16 u32 i32 u64 i64         | 2.2.5.1.8 - .13      |
 *   | Sg, Db, D | float, double, decimal          | 2.2.5.1.14 - .16     |
 *   | BA        | byte[] as base64                | 2.2.5.1.17           |
 *   | G         | GUID text                       | 2.2.5.1.18           |
 *   | URI       | URI text                        | 2.2.5.1.19           |
 *   | Version   | a.b[.c[.d]]                     | 2.2.5.1.21           |
 *   | XD        | XML document text               | 2.2.5.1.22           |
 *   | SBK       | script block text               | 2.2.5.1.23           |
 *   | SS        | SecureString, encrypted base64  | 2.2.5.1.24           |
 *   | Obj       | RefId; TN|TNRef, ToString,      | 2.2.5.2              |
 *   |           | one base value or collection,   |                      |
 *   |           | Props (adapted), MS (extended)  |                      |
 *   | TN / T    | type names, RefId'd; TNRef      | 2.2.5.2.3            |
 *   | Ref       | an Obj already sent (RefId)     | 2.2.5.2.4            |
 *   | LST IE    | list / enumerable               | 2.2.5.2.6.3          |
 *   | STK QUE   | stack / queue                   | 2.2.5.2.6.1, .2      |
 *   | DCT / En  | dictionary; En has N="Key" and  | 2.2.5.2.6.4          |
 *   |           | N="Value" children              |                      |
 *   +-----------+---------------------------------+----------------------+
 *
 * Child values of Props, MS and En are named by the N attribute.
 * String escaping (2.2.5.3.2): a UTF-16 code unit that XML cannot carry is
 * written _xHHHH_ (hex); a '_' that starts "_x" is itself written _x005F_.
 */
#ifndef WR_PSRP_CLIXML_H
#define WR_PSRP_CLIXML_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "winrsh/psobject.h"

/* Limits against hostile input. */
#define WR_CLIXML_MAX_DEPTH 64        /* nested values */
#define WR_CLIXML_MAX_VALUES 2000000u /* values in one document */
#define WR_CLIXML_MAX_INPUT (256u * 1024u * 1024u)

/* Parse (same as winrsh_psobject_from_clixml). */
int wr_clixml_parse(winrsh_psobject **out, const char *xml, size_t len);
/* The same, always through libxml2: without the fast path for a lone
 * primitive (<I32>5</I32>), which must give the same result (tests). */
int wr_clixml_parse_full(winrsh_psobject **out, const char *xml, size_t len);

/* Free the calling thread's cached parser context and retire the
 * per-thread key (winrsh_global_shutdown: before libxml2's clean-up, and so
 * that no destructor of ours runs after the library is unloaded). */
void wr_clixml_global_release(void);

/* Decode _xHHHH_ escapes (surrogate pairs joined; a lone surrogate becomes
 * U+FFFD) and append the UTF-8 to out. */
int wr_clixml_unescape(wr_buf *out, const char *s, size_t len);
/* Append s with XML special characters as entities and the characters XML
 * cannot carry as _xHHHH_; attr also escapes '"'. WINRSH_EINVAL if s is not
 * valid UTF-8. */
int wr_clixml_escape(wr_buf *out, const char *s, size_t len, int attr);

/*
 * A streaming writer for the client's messages. Calls never fail on their
 * own: the first error sticks in `err` and later calls do nothing, so a
 * builder writes everything and checks wr_clixml_writer_finish() once.
 * RefIds for <Obj> and <TN> count from 0 per writer; a type-name list
 * written before becomes a <TNRef>.
 */
typedef struct wr_clixml_writer {
    wr_buf *out;
    int err;
    uint32_t next_obj_ref;
    uint32_t next_tn_ref;
    char **tn_keys; /* type lists written so far, index = TN RefId */
    size_t tn_count, tn_cap;
    struct wr_ptrmap *written; /* values already written, for <Ref> */
} wr_clixml_writer;

void wr_clixml_writer_init(wr_clixml_writer *w, wr_buf *out);
/* Release the writer; returns the sticky error (0 if all went well). */
int wr_clixml_writer_finish(wr_clixml_writer *w);

/* <Obj [N=name] RefId=n>[<TN>...|<TNRef/>][<ToString>..]; types is a
 * NULL-terminated list or NULL; tostring may be NULL. */
void wr_cx_obj_begin(wr_clixml_writer *w, const char *name, const char *const *types,
                     const char *tostring);
void wr_cx_obj_end(wr_clixml_writer *w);
/* A bare container element: "MS", "Props", "LST", "DCT", "En"... */
void wr_cx_begin(wr_clixml_writer *w, const char *tag);
void wr_cx_end(wr_clixml_writer *w, const char *tag);
/* <tag [N=name]>escaped text</tag>, for any primitive tag. */
void wr_cx_prim(wr_clixml_writer *w, const char *tag, const char *name, const char *text,
                size_t len);
void wr_cx_string(wr_clixml_writer *w, const char *name, const char *s);
void wr_cx_bool(wr_clixml_writer *w, const char *name, int v);
void wr_cx_i32(wr_clixml_writer *w, const char *name, int32_t v);
void wr_cx_i64(wr_clixml_writer *w, const char *name, int64_t v);
void wr_cx_nil(wr_clixml_writer *w, const char *name);
/* An enum: <Obj N=name><TN>types</TN><ToString>tostring</ToString><I32>v</I32></Obj>. */
void wr_cx_enum(wr_clixml_writer *w, const char *name, const char *const *types,
                const char *tostring, int32_t v);
/* Any value (NULL writes <Nil>); shared values become <Ref>. */
void wr_cx_value(wr_clixml_writer *w, const char *name, const winrsh_psobject *o);

/* Structural equality of two values (kinds, values, type names, ToString,
 * property names and values in order, items, entries; cycle-safe). */
int wr_psobject_equal(const winrsh_psobject *a, const winrsh_psobject *b);
/* Number of values held by o's document. */
size_t wr_psobject_doc_size(const winrsh_psobject *o);

#endif
