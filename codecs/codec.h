/*
 * The codec registry: what a column's declared type means (formats.md §1.1, database.md §2).
 *
 * A declared type is either a core type (`int32`, `uuid`, `varchar(64)`, ...) or a codec in
 * angle brackets (`<blob>`, `<blob@cold>`, `<npy@>`). It is recovered from the column comment
 * `:<type>:<user comment>`. Each built-in codec is described once in a const table: whether it
 * needs a store, what the column holds, how its objects are addressed, and which codec stores
 * its bytes (<blob@s> and <attach@s> go through <hash@s>). Pure, thread-safe.
 */
#ifndef DJ_CODECS_CODEC_H
#define DJ_CODECS_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef enum dj_codec_id {
	DJ_CODEC_BLOB,
	DJ_CODEC_ATTACH,
	DJ_CODEC_HASH,
	DJ_CODEC_OBJECT,
	DJ_CODEC_NPY,
	DJ_CODEC_FILEPATH,
} dj_codec_id;

typedef enum dj_column_kind {
	DJ_COLUMN_VALUE, /* a plain SQL value (core types other than bytes and json) */
	DJ_COLUMN_BYTES, /* longblob / bytea: the encoded bytes themselves */
	DJ_COLUMN_JSON,  /* json / jsonb: metadata naming an object in a store */
} dj_column_kind;

typedef enum dj_addressing {
	DJ_ADDR_NONE,      /* in-table, no object */
	DJ_ADDR_HASH,      /* §5: _hash/schema/[folds/]hash, deduplicated, GC'd */
	DJ_ADDR_SCHEMA,    /* §6: _schema/schema/table/key/field_token.ext, GC'd */
	DJ_ADDR_REFERENCE, /* §7: an existing object the user manages; never deleted */
} dj_addressing;

typedef struct dj_codec_info {
	const char *name; /* "blob" */
	dj_codec_id id;
	bool store_allowed;  /* `<name@...>` is valid */
	bool store_required; /* `<name>` without '@' is a declaration error */
	/* what the column holds and how objects are addressed, without / with a store */
	dj_column_kind column_plain, column_store;
	dj_addressing addr_plain, addr_store;
	/* with a store, the bytes are handed to this codec (NULL: stored by this codec itself) */
	const struct dj_codec_info *store_via;
} dj_codec_info;

/* The built-in codecs, indexed by dj_codec_id; dj_ncodecs entries. */
extern const dj_codec_info dj_codecs[];
extern const size_t dj_ncodecs;

/* Look a codec up by exact (case-sensitive) name; NULL when unknown. */
const dj_codec_info *dj_codec_find(const char *name, size_t n);

/* Core types (database.md §2.2); the LEGACY ones are markers migrate_columns writes, readable
 * but not declarable in 2.x. */
typedef enum dj_core_type {
	DJ_CORE_INT8, DJ_CORE_INT16, DJ_CORE_INT32, DJ_CORE_INT64,
	DJ_CORE_FLOAT32, DJ_CORE_FLOAT64, DJ_CORE_BOOL, DJ_CORE_UUID, DJ_CORE_JSON, DJ_CORE_BYTES,
	DJ_CORE_DATE, DJ_CORE_DATETIME, DJ_CORE_CHAR, DJ_CORE_VARCHAR, DJ_CORE_ENUM, DJ_CORE_DECIMAL,
	DJ_CORE_LEGACY_UINT8, DJ_CORE_LEGACY_UINT16, DJ_CORE_LEGACY_UINT32, DJ_CORE_LEGACY_UINT64,
	DJ_CORE_LEGACY_INT24, DJ_CORE_LEGACY_UINT24,
} dj_core_type;

#define DJ_STORE_NAME_MAX 128

typedef struct dj_coltype {
	const dj_codec_info *codec; /* NULL for a core type */
	bool has_store;             /* '@' present (codecs only) */
	char store[DJ_STORE_NAME_MAX]; /* resolved store name ("" when !has_store) */
	dj_core_type core;          /* valid when codec == NULL */
	int params[2];              /* char/varchar length, datetime precision (-1 = none),
	                               decimal precision and scale */
} dj_coltype;

/*
 * Parse a declared type string (surrounding blanks ignored).
 * Codecs: `<name>`, `<name@store>`, `<name@>`; as Python's parse_type_spec, the angle brackets
 * and the blanks around name and store are stripped and the text is split at the first '@'.
 * `<name@>` resolves to `default_store` (DESIGN.md: stores.default; never "" or null).
 * Core types: the patterns of declare.py, case-insensitive (`datetime(3)`, `decimal(6, 2)`,
 * `enum('a','b')`, `json`/`jsonb`, ...), plus the legacy uint/int24 markers.
 * Errors (err names the type text): DJ_ENOTSUP "unknown codec <x>" or unknown type;
 * DJ_EFORMAT for `<hash>`, `<object>`, `<npy>`, `<filepath>` without '@';
 * DJ_EUSAGE for `<x@>` with no default store, or a store name over DJ_STORE_NAME_MAX - 1.
 */
int dj_coltype_parse(const char *text, size_t n, const char *default_store, dj_coltype *out,
		     dj_err *err);

/* What the column holds (core types: BYTES for `bytes`, JSON for `json`, else VALUE), how its
 * objects are addressed (core types: NONE), and the codec that stores its bytes in a store
 * (the codec itself, <hash> for <blob@s> and <attach@s>, NULL when nothing is stored). */
dj_column_kind dj_coltype_column(const dj_coltype *t);
dj_addressing dj_coltype_addressing(const dj_coltype *t);
const dj_codec_info *dj_coltype_storer(const dj_coltype *t);

/*
 * Split a column comment with the regex semantics of heading.py, re.match(r":([^:]+):(.*)"):
 * a leading ':', a type of one or more non-':' characters, ':', then the user comment up to
 * the first newline ('.' does not match '\n'). Returns true and sets the views when the comment
 * carries a type marker; otherwise false, `type` empty and `user` the whole comment.
 * `comment` may be NULL (PostgreSQL: no comment).
 */
bool dj_comment_split(const char *comment, const char **type, size_t *type_len,
		      const char **user, size_t *user_len);

#endif
