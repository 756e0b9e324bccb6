/*
 * The value tree: the decoded form of a DataJoint blob (formats.md §2).
 *
 * It keeps everything needed to re-emit the exact bytes Python wrote (formats.md §2.13): exact
 * float bits, int width on the wire, Decimal text, the raw datetime fields, list vs tuple vs set,
 * wire order of sets/dicts/struct fields, the array type id (bool vs uint8, datetime unit),
 * char arrays as u16 code units in wire shape.
 *
 * Ownership: every node is malloc'd and owns its children and buffers; dj_value_free() releases
 * a whole tree. Nodes are not shared. Not thread-safe per tree; distinct trees are independent.
 */
#ifndef DJ_CODECS_VALUE_H
#define DJ_CODECS_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum dj_vkind {
	DJ_V_NONE,     /* FF */
	DJ_V_BOOL,     /* 0B */
	DJ_V_INT,      /* 0A: arbitrary size */
	DJ_V_FLOAT,    /* 0D */
	DJ_V_COMPLEX,  /* 0C */
	DJ_V_STR,      /* 05: UTF-8 */
	DJ_V_BYTES,    /* 06 */
	DJ_V_DECIMAL,  /* 'd': ASCII text as on the wire */
	DJ_V_DATETIME, /* 't' */
	DJ_V_UUID,     /* 'u' */
	DJ_V_TUPLE,    /* 01 */
	DJ_V_LIST,     /* 02 */
	DJ_V_SET,      /* 03 */
	DJ_V_DICT,     /* 04 */
	DJ_V_ARRAY,    /* 'A' */
	DJ_V_STRUCT,   /* 'S': MATLAB struct array */
	DJ_V_CELL,     /* 'C': MATLAB cell array */
	DJ_V_RECORD,   /* 'F': numpy structured array */
} dj_vkind;

/* Array element type ids exactly as on the wire (formats.md §2.4). */
enum {
	DJ_TYPE_BOOL = 3,
	DJ_TYPE_CHAR = 4,   /* u16 code units */
	DJ_TYPE_OBJECT = 5, /* VOID: one nested item per element */
	DJ_TYPE_FLOAT64 = 6,
	DJ_TYPE_FLOAT32 = 7,
	DJ_TYPE_INT8 = 8,
	DJ_TYPE_UINT8 = 9,
	DJ_TYPE_INT16 = 10,
	DJ_TYPE_UINT16 = 11,
	DJ_TYPE_INT32 = 12,
	DJ_TYPE_UINT32 = 13,
	DJ_TYPE_INT64 = 14,
	DJ_TYPE_UINT64 = 15,
	DJ_TYPE_DATETIME64 = 65536, /* + unit index: Y M W D h m s ms us ns ps fs as (0..12) */
	DJ_TYPE_DATETIME64_LAST = 65548,
};

typedef struct dj_value dj_value;

typedef struct dj_array {
	uint32_t type_id;
	bool is_complex;   /* data holds n real parts, then n imaginary parts */
	size_t ndim;       /* 0 = 0-d (one element) */
	uint64_t *shape;   /* ndim entries; NULL when ndim == 0 */
	size_t count;      /* product of shape (1 for 0-d) */
	uint8_t *data;     /* element bytes in wire (column-major) order, little-endian;
	                      NULL for DJ_TYPE_OBJECT */
	size_t data_len;   /* count * itemsize * (is_complex ? 2 : 1) */
	dj_value **objs;   /* DJ_TYPE_OBJECT: count elements, column-major */
} dj_array;

struct dj_value {
	dj_vkind kind;
	union {
		bool b;
		struct {
			uint8_t *bytes; /* two's-complement little-endian, `n` bytes as on the wire */
			size_t n;
		} i;
		double f;
		struct {
			double re, im;
		} c;
		struct {
			char *p; /* NUL-terminated for convenience; may contain NULs (bytes) */
			size_t n;
		} s; /* DJ_V_STR, DJ_V_BYTES, DJ_V_DECIMAL */
		struct {
			int32_t date; /* (y*100+m)*100+d, or -1 */
			int64_t time; /* ((h*100+m)*100+s)*1000000+us, or -1 */
		} dt;
		uint8_t uuid[16]; /* RFC 4122 byte order */
		struct {
			dj_value **items; /* DJ_V_DICT: 2*n entries, key then value */
			size_t n;         /* number of items (dict: number of pairs) */
		} seq;
		dj_array arr;
		struct {
			size_t ndim;
			uint64_t *shape;
			size_t count;   /* product of shape */
			size_t nfields;
			char **fields;  /* UTF-8 names, wire order */
			dj_value **elems; /* count * nfields; element e field f at [e*nfields + f] */
		} st;
		struct {
			size_t ndim;
			uint64_t *shape;
			size_t count;
			dj_value **elems; /* column-major */
		} cell;
		struct {
			size_t nfields;
			char **fields;
			dj_value **vals; /* one whole item per field (an ARRAY or a nested RECORD) */
		} rec;
	} u;
};

void dj_value_free(dj_value *v);

/* Constructors. Each returns NULL when out of memory. Copies what it is given. */
dj_value *dj_value_new(dj_vkind kind); /* zeroed node; containers empty */
dj_value *dj_value_none(void);
dj_value *dj_value_bool(bool b);
dj_value *dj_value_int64(int64_t x);           /* Python's minimal width (§2.9) */
dj_value *dj_value_int_bytes(const uint8_t *le, size_t n);
dj_value *dj_value_float(double f);
dj_value *dj_value_complex(double re, double im);
dj_value *dj_value_str(const char *p, size_t n);
dj_value *dj_value_bytes(const void *p, size_t n);
dj_value *dj_value_decimal(const char *text, size_t n);
dj_value *dj_value_datetime(int32_t date, int64_t time);
dj_value *dj_value_uuid(const uint8_t bytes[16]);

/*
 * A numeric/bool/char/datetime64 array (not OBJECT) with room for its elements: `data` is
 * allocated (zeroed) with data_len bytes for the caller to fill. Fails (NULL, err set) on an
 * unknown type id, an overflowing shape, or out of memory.
 */
dj_value *dj_value_array(uint32_t type_id, bool is_complex, size_t ndim, const uint64_t *shape,
			 dj_err *err);

/* Append to a TUPLE/LIST/SET (takes ownership of item, also on failure). */
int dj_value_seq_push(dj_value *seq, dj_value *item);
/* Append a pair to a DICT (takes ownership of both, also on failure). */
int dj_value_dict_push(dj_value *dict, dj_value *key, dj_value *val);

/* Element size in bytes for a type id, 0 for OBJECT or an unknown id. */
size_t dj_type_itemsize(uint32_t type_id);
/* numpy dtype name: "float64", "bool", "S1" (char), "object", "datetime64[us]"; NULL if unknown. */
const char *dj_type_name(uint32_t type_id);
/* Inverse of dj_type_name; returns 0 when unknown. */
uint32_t dj_type_from_name(const char *name);

/* Python int fits int64? Then store it in *out and return 0; else DJ_ENOTSUP. */
int dj_value_get_int64(const dj_value *v, int64_t *out);

/* Deep structural equality, including float bits and wire widths. */
bool dj_value_equal(const dj_value *a, const dj_value *b);

#endif
