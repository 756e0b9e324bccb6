/*
 * Object paths inside a store (relative to its location):
 *   hash section   [hash_prefix/]schema/[folds/]hash                       (formats.md §5.1)
 *   schema section [schema_prefix/]{partition/}schema/table/{key/}field_TOKEN[.ext]  (§6.1)
 * plus the random token (§6.3) and the primary-key value rendering of §6.2.
 * Pure functions (the token generator reads OpenSSL's RNG); any thread.
 */
#ifndef DJ_STORES_PATHS_H
#define DJ_STORES_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "stores/spec.h"

/*
 * Append the hash path of content hash `hash` for `schema`: the store's hash_prefix with '/'
 * stripped on both sides (section omitted when that is empty; NULL means the default "_hash"),
 * then the schema name verbatim, then one folder per subfolding entry (consecutive slices of
 * the hash, Python slice semantics), then the hash. DJ_EUSAGE for an invalid hash or an empty
 * schema, DJ_ENOMEM.
 */
int dj_path_hash(dj_buf *out, const dj_store_spec *spec, const char *schema, const char *hash,
		 dj_err *err);

/* A primary-key value, typed by the Python type the value would have (§6.2). */
typedef enum dj_pk_kind {
	DJ_PK_INT,      /* Python int: str() */
	DJ_PK_UINT,     /* int above INT64_MAX (bigint unsigned) */
	DJ_PK_BOOL,     /* "True" / "False" */
	DJ_PK_FLOAT,    /* text = Python repr (dj_pyfloat_format), used verbatim */
	DJ_PK_STR,      /* text = UTF-8 string: §6.2 rule 4 */
	DJ_PK_DECIMAL,  /* text = str(Decimal), e.g. "1.50": rule 4 */
	DJ_PK_UUID,     /* 16 bytes: canonical lowercase form, rule 4 */
	DJ_PK_DATE,     /* isoformat(): YYYY-MM-DD */
	DJ_PK_DATETIME, /* strftime("%Y-%m-%dT%H-%M-%S"): fraction and zone dropped */
	DJ_PK_TIME,     /* datetime.time isoformat(): HH:MM:SS[.ffffff], ':' kept */
} dj_pk_kind;

typedef struct dj_pk_value {
	dj_pk_kind kind;
	union {
		int64_t i;
		uint64_t u;
		bool b;
		const char *text; /* FLOAT, STR, DECIMAL; borrowed, NUL-terminated */
		uint8_t uuid[16];
		struct {
			int year, month, day, hour, minute, second, usec;
		} t; /* DATE uses y/m/d, TIME h/m/s/usec, DATETIME all */
	} u;
} dj_pk_value;

typedef struct dj_pk_field {
	const char *name; /* attribute name */
	dj_pk_value value;
} dj_pk_field;

/* Append encode_pk_value(v) (§6.2). DJ_EUSAGE for a NULL text, DJ_EFORMAT for non-UTF-8 text. */
int dj_path_pk_value(dj_buf *out, const dj_pk_value *v, dj_err *err);

#define DJ_TOKEN_MIN 4
#define DJ_TOKEN_MAX 16
#define DJ_TOKEN_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/*
 * Fill out[0..len) with a fresh random token (§6.3) and NUL-terminate it; `len` is clamped to
 * 4..16 first and the clamped length is returned (>= 4), or DJ_ERROR when the RNG fails.
 * `out` must hold DJ_TOKEN_MAX + 1 bytes.
 */
int dj_path_token(char out[DJ_TOKEN_MAX + 1], int len, dj_err *err);

typedef struct dj_schema_path_args {
	const char *schema;          /* database / schema name */
	const char *table;           /* SQL table name with tier prefix ("#param", "__analysis") */
	const char *field;           /* attribute name */
	const dj_pk_field *key;      /* primary-key values in the table's key order */
	size_t nkey;
	const char *ext;             /* NULL or "" = none; a missing leading '.' is added */
	const char *token;           /* NULL = draw one with the spec's token_length; else used as is */
} dj_schema_path_args;

/*
 * Append the schema-addressed path (§6.1): schema_prefix stripped of '/' (omitted when empty;
 * NULL = "_schema"), then `attr=value` for each {name} placeholder of partition_pattern (regex
 * \{(\w+)\}, pattern order, only names present in the key), then schema, table, the remaining
 * key attributes in key order, and field "_" token ext. The token used is copied to
 * `token_out` when not NULL (DJ_TOKEN_MAX + 1 bytes). DJ_EUSAGE for a missing name or a bad
 * token, DJ_EFORMAT for non-UTF-8 text, DJ_ENOMEM, DJ_ERROR when the RNG fails.
 */
int dj_path_schema(dj_buf *out, const dj_store_spec *spec, const dj_schema_path_args *a,
		   char *token_out, dj_err *err);

#endif
