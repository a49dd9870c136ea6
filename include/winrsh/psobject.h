/*
 * winrsh: a client for WinRM, WinRS and PowerShell Remoting.
 * psobject.h: PowerShell objects as they come out of CLIXML.
 *
 * A winrsh_psobject is one deserialized value: a primitive (string, number,
 * date...), a collection, a dictionary, or an object with type names, a
 * ToString and properties. An <Obj> wrapping a primitive (an enum is an
 * <Obj> holding an <I32>) has the primitive's kind plus the type names,
 * ToString and properties of the object.
 *
 * Ownership. Values come in documents: everything parsed from one CLIXML
 * text (or built with one constructor) shares one document, which is
 * reference counted. A function that gives a `winrsh_psobject **out`
 * hands the caller one reference; winrsh_psobject_free() drops it and the
 * document goes when the last reference goes. Every `const winrsh_psobject
 * *` returned by an accessor is borrowed: it lives as long as its document.
 * winrsh_psobject_ref() on any value of a document adds a reference to the
 * whole document, so a child may outlive the handle it came from (free it
 * with winrsh_psobject_free() as usual). <Ref> elements make values shared
 * and may make cycles; the document owns every value once, so freeing is
 * always safe, and the walkers in this API bound their depth.
 * Reference counts are not atomic: one document belongs to one thread.
 *
 * Strings are UTF-8. A string may hold NUL characters (sent as _x0000_);
 * the *_len accessors give the length in bytes.
 */
#ifndef WINRSH_PSOBJECT_H
#define WINRSH_PSOBJECT_H

#include "common.h"

WINRSH_BEGIN_DECL

typedef struct winrsh_psobject winrsh_psobject;

/** What a value is (MS-PSRP 2.2.5.1 primitives, 2.2.5.2 complex objects). */
typedef enum {
    WINRSH_PSOBJ_NULL = 0,     /**< <Nil> */
    WINRSH_PSOBJ_STRING,       /**< <S> */
    WINRSH_PSOBJ_CHAR,         /**< <C>: a UTF-16 code unit */
    WINRSH_PSOBJ_BOOL,         /**< <B> */
    WINRSH_PSOBJ_DATETIME,     /**< <DT>: kept as its xs:dateTime text */
    WINRSH_PSOBJ_TIMESPAN,     /**< <TS>: xs:duration text; ticks via get_timespan */
    WINRSH_PSOBJ_UINT8,        /**< <By> */
    WINRSH_PSOBJ_INT8,         /**< <SB> */
    WINRSH_PSOBJ_UINT16,       /**< <U16> */
    WINRSH_PSOBJ_INT16,        /**< <I16> */
    WINRSH_PSOBJ_UINT32,       /**< <U32> */
    WINRSH_PSOBJ_INT32,        /**< <I32> */
    WINRSH_PSOBJ_UINT64,       /**< <U64> */
    WINRSH_PSOBJ_INT64,        /**< <I64> */
    WINRSH_PSOBJ_FLOAT,        /**< <Sg> */
    WINRSH_PSOBJ_DOUBLE,       /**< <Db> */
    WINRSH_PSOBJ_DECIMAL,      /**< <D>: kept as its text */
    WINRSH_PSOBJ_BYTES,        /**< <BA> */
    WINRSH_PSOBJ_GUID,         /**< <G> */
    WINRSH_PSOBJ_URI,          /**< <URI> */
    WINRSH_PSOBJ_VERSION,      /**< <Version>, e.g. "5.1.14393.2248" */
    WINRSH_PSOBJ_XML,          /**< <XD>: the XML document as text */
    WINRSH_PSOBJ_SCRIPTBLOCK,  /**< <SBK>: the script text */
    WINRSH_PSOBJ_SECURESTRING, /**< <SS>: opaque; text is the encrypted base64 */
    WINRSH_PSOBJ_LIST,         /**< <LST>, <IE>, <STK>, <QUE> */
    WINRSH_PSOBJ_DICT,         /**< <DCT> */
    WINRSH_PSOBJ_OBJECT        /**< an <Obj> with no base value */
} winrsh_psobject_kind;

/** Which property set: <Props> (adapted) or <MS> (extended, note). */
typedef enum { WINRSH_PSPROP_ADAPTED = 0, WINRSH_PSPROP_EXTENDED = 1 } winrsh_psprop_set;

/* ---- documents ---------------------------------------------------------- */

/**
 * Parse CLIXML: one value (an <Obj>, a primitive element...), or an <Objs>
 * root, which becomes a LIST of its children. A UTF-8 BOM is skipped.
 * Strict: unknown elements, bad numbers, dangling <Ref>/<TNRef>, too deep
 * nesting or too many values are WINRSH_EPROTO.
 */
WINRSH_EXTERN(int) winrsh_psobject_from_clixml(winrsh_psobject **out, const char *xml, size_t len);

/** Serialize as CLIXML (one element, no BOM); free *out with winrsh_psobject_free_string(). */
WINRSH_EXTERN(int) winrsh_psobject_to_clixml(const winrsh_psobject *o, char **out, size_t *len);

/** Add a reference to o's document; returns o. NULL-safe. */
WINRSH_EXTERN(winrsh_psobject *) winrsh_psobject_ref(const winrsh_psobject *o);

/** Drop a reference to o's document. NULL-safe. */
WINRSH_EXTERN(void) winrsh_psobject_free(winrsh_psobject *o);

/** Free a string this API allocated. NULL-safe. */
WINRSH_EXTERN(void) winrsh_psobject_free_string(char *s);

/* ---- constructors (each makes a new document) --------------------------- */

WINRSH_EXTERN(int) winrsh_psobject_new_null(winrsh_psobject **out);
/** A string of len bytes of UTF-8 (must be valid UTF-8). */
WINRSH_EXTERN(int) winrsh_psobject_new_string(winrsh_psobject **out, const char *s, size_t len);
WINRSH_EXTERN(int) winrsh_psobject_new_bool(winrsh_psobject **out, int value);
WINRSH_EXTERN(int) winrsh_psobject_new_int32(winrsh_psobject **out, int32_t value);
WINRSH_EXTERN(int) winrsh_psobject_new_int64(winrsh_psobject **out, int64_t value);
WINRSH_EXTERN(int) winrsh_psobject_new_double(winrsh_psobject **out, double value);
/** An empty LIST (serialized as an ArrayList <Obj> holding <LST>). */
WINRSH_EXTERN(int) winrsh_psobject_new_list(winrsh_psobject **out);
/**
 * Append item to list; the item's document joins the list's, so the caller's
 * reference to item is consumed (item stays valid, borrowed from list).
 * WINRSH_EINVAL unless list is a LIST and item's document has exactly one
 * reference and is not list's own.
 */
WINRSH_EXTERN(int) winrsh_psobject_list_append(winrsh_psobject *list, winrsh_psobject *item);

/**
 * An object with no base value; types is a NULL-terminated list of type
 * names, most derived first, or NULL.
 */
WINRSH_EXTERN(int) winrsh_psobject_new_object(winrsh_psobject **out, const char *const *types);
/** Add an extended (<MS>) property; value is consumed as in list_append. */
WINRSH_EXTERN(int)
winrsh_psobject_add_property(winrsh_psobject *obj, const char *name, winrsh_psobject *value);
/** An empty Hashtable. */
WINRSH_EXTERN(int) winrsh_psobject_new_dict(winrsh_psobject **out);
/** Add an entry; key and value (two separate fresh documents) are consumed. */
WINRSH_EXTERN(int)
winrsh_psobject_dict_add(winrsh_psobject *dict, winrsh_psobject *key, winrsh_psobject *value);

/* ---- what it is --------------------------------------------------------- */

WINRSH_EXTERN(winrsh_psobject_kind) winrsh_psobject_get_kind(const winrsh_psobject *o);
/** A constant name for a kind, e.g. "int32". */
WINRSH_EXTERN(const char *) winrsh_psobject_kind_name(winrsh_psobject_kind kind);
/** The type names (<TN>), most derived first; 0 when none were sent. */
WINRSH_EXTERN(size_t) winrsh_psobject_type_count(const winrsh_psobject *o);
WINRSH_EXTERN(const char *) winrsh_psobject_type_name(const winrsh_psobject *o, size_t i);
/** 1 if one of the type names equals name (exactly), else 0. */
WINRSH_EXTERN(int) winrsh_psobject_is_type(const winrsh_psobject *o, const char *name);
/** The <ToString> text, or NULL if none was sent. */
WINRSH_EXTERN(const char *) winrsh_psobject_tostring(const winrsh_psobject *o);

/**
 * Text of a value: the string of a STRING, the character of a CHAR, the
 * received text of the other primitives ("true", "42", "2.5", a date, a
 * version...), else the ToString; NULL if there is none. *len (if not
 * NULL) gets the length in bytes.
 */
WINRSH_EXTERN(const char *) winrsh_psobject_text(const winrsh_psobject *o, size_t *len);

/* ---- scalar values (0, or WINRSH_EINVAL for the wrong kind or range) --- */

WINRSH_EXTERN(int) winrsh_psobject_get_bool(const winrsh_psobject *o, int *value);
/** Any integer kind or CHAR that fits an int32. */
WINRSH_EXTERN(int) winrsh_psobject_get_int32(const winrsh_psobject *o, int32_t *value);
/** Any integer kind or CHAR that fits an int64. */
WINRSH_EXTERN(int) winrsh_psobject_get_int64(const winrsh_psobject *o, int64_t *value);
/** Any non-negative integer kind or CHAR. */
WINRSH_EXTERN(int) winrsh_psobject_get_uint64(const winrsh_psobject *o, uint64_t *value);
/** FLOAT, DOUBLE, DECIMAL or any integer kind. */
WINRSH_EXTERN(int) winrsh_psobject_get_double(const winrsh_psobject *o, double *value);
/** A TIMESPAN in 100 ns ticks. */
WINRSH_EXTERN(int) winrsh_psobject_get_timespan(const winrsh_psobject *o, int64_t *ticks);
/** A GUID as lower-case 8-4-4-4-12 text. */
WINRSH_EXTERN(int) winrsh_psobject_get_guid(const winrsh_psobject *o, char out[37]);
/** The bytes of a BYTES value (NULL otherwise). */
WINRSH_EXTERN(const unsigned char *) winrsh_psobject_bytes(const winrsh_psobject *o, size_t *len);
/**
 * An enum: an integer value whose type names include System.Enum (or any
 * INT32 with a ToString). *value gets the number, *name (if not NULL) the
 * ToString, e.g. "Completed".
 */
WINRSH_EXTERN(int)
winrsh_psobject_enum_value(const winrsh_psobject *o, int32_t *value, const char **name);

/* ---- properties ----------------------------------------------------------- */

WINRSH_EXTERN(size_t) winrsh_psobject_prop_count(const winrsh_psobject *o, winrsh_psprop_set set);
/** The i-th property of a set, in the order received; *name gets its name. */
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_prop_at(const winrsh_psobject *o, winrsh_psprop_set set, size_t i,
                        const char **name);
/** A property of one set by name (ASCII case-insensitive, as PowerShell); NULL if absent. */
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_prop_in(const winrsh_psobject *o, winrsh_psprop_set set, const char *name);
/** A property by name, extended first, then adapted; NULL if absent. */
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_prop(const winrsh_psobject *o, const char *name);
/**
 * The base object of an object that wraps another object (an <Obj> whose
 * value is an <Obj>), or NULL. winrsh_psobject_prop() looks there too.
 */
WINRSH_EXTERN(const winrsh_psobject *) winrsh_psobject_base(const winrsh_psobject *o);
/** Follow a dotted path of property names, e.g. "InvocationInfo.PositionMessage". */
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_path(const winrsh_psobject *o, const char *path);

/* ---- collections ------------------------------------------------------------ */

WINRSH_EXTERN(size_t) winrsh_psobject_list_count(const winrsh_psobject *o);
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_list_item(const winrsh_psobject *o, size_t i);
WINRSH_EXTERN(size_t) winrsh_psobject_dict_count(const winrsh_psobject *o);
WINRSH_EXTERN(const winrsh_psobject *) winrsh_psobject_dict_key(const winrsh_psobject *o, size_t i);
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_dict_value(const winrsh_psobject *o, size_t i);
/** The value whose key's text equals key (case-insensitive); NULL if absent. */
WINRSH_EXTERN(const winrsh_psobject *)
winrsh_psobject_dict_get(const winrsh_psobject *o, const char *key);

/* ---- JSON --------------------------------------------------------------- */

/**
 * Write o as `ConvertTo-Json -Compress -Depth depth` would (depth <= 0: 2,
 * PowerShell's default; capped at 100): objects with their properties
 * (extended then adapted) as keys, lists as arrays, dictionaries as objects
 * keyed by the key's text, enums as their number, numbers and booleans as
 * JSON scalars, other primitives as strings; below depth, an object becomes
 * its ToString. *out is NUL-terminated; free it with
 * winrsh_psobject_free_string().
 */
WINRSH_EXTERN(int)
winrsh_psobject_to_json(const winrsh_psobject *o, int depth, char **out, size_t *len);

WINRSH_END_DECL

#endif
