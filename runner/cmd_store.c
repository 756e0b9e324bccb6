/*
 * djrun store ls|get|put|rm|stat|du: operator access to a configured store through the same
 * stores/ code the jobs use. Results go to stdout, errors to stderr (STYLE.md §8); `du` sums
 * bytes and objects per section and schema (formats.md §5.1, §6.1, §7), listing its prefixes
 * from several threads, each with its own store handle (stores/store.h: one thread per handle).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "runner/cli.h"
#include "runner/config.h"
#include "runner/exit.h"
#include "stores/store.h"


/* get: bytes asked for at a time. Cloud stores fetch a chunk as 8 ranged GETs in parallel; a
 * file store's chunk is only copied through memory, best while it stays in the CPU cache. */
#define CHUNK (64u << 20)
#define FILE_CHUNK (2u << 20)
#define PART (8u << 20) /* put from stdin: part size of the streamed upload */
#define MAX_THREADS 64

typedef struct store_args {
	const char *verb, *store, *config_file, *output, *range;
	const char **pos; /* positionals after STORE */
	size_t npos;
	bool long_fmt, if_absent;
	unsigned parallel;
} store_args;

static void help(void)
{
	printf(
	    "usage: djrun store ls STORE [PREFIX] [--long]\n"
	    "       djrun store get STORE KEY [-o FILE] [--range OFF:LEN]\n"
	    "       djrun store put STORE KEY [FILE|-] [--if-absent]\n"
	    "       djrun store rm STORE KEY...\n"
	    "       djrun store stat STORE KEY\n"
	    "       djrun store du STORE [SCHEMA] [--parallel N]\n\n"
	    "Operate on a store configured in datajoint.json (file, s3, gcs or azure). STORE is\n"
	    "the store's name; \"\" means stores.default. KEY is relative to the store's location,\n"
	    "as the codecs write it (e.g. _hash/lab/2qoyzwmpaczaj2mabgmoz6ccpy).\n\n"
	    "  ls     every object whose key starts with PREFIX (a string prefix: end it with '/'\n"
	    "         for one folder), one key per line; --long: SIZE<TAB>MTIME<TAB>KEY\n"
	    "  get    the object's bytes to stdout, or to FILE; --range OFF:LEN only those bytes\n"
	    "         (OFF: to the end). Streams: memory stays bounded for any size\n"
	    "  put    upload FILE, or stdin when FILE is '-' or absent (streamed in parts);\n"
	    "         --if-absent: write nothing and fail when KEY exists\n"
	    "  rm     delete objects (a missing key is not an error)\n"
	    "  stat   kind, size and mtime of KEY; exit 1 when it does not exist\n"
	    "  du     bytes and object counts per section, schema and table:\n"
	    "         BYTES<TAB>OBJECTS<TAB>SECTION<TAB>SCHEMA<TAB>TABLE, sections hash\n"
	    "         (hash_prefix/SCHEMA), schema (schema_prefix/[partitions/]SCHEMA/TABLE)\n"
	    "         and filepath (everything else), then a total line. With SCHEMA only\n"
	    "         its rows. Prefixes are listed by --parallel N threads (default 8)\n\n"
	    "options:\n"
	    "  --config FILE  read FILE instead of searching for datajoint.json\n"
	    "  --help         this text\n\n"
	    "exit codes:\n"
	    "  0   done\n"
	    "  1   the operation failed (e.g. KEY not found)\n"
	    "  2   usage or configuration error\n"
	    "  3   store unreachable, or credentials refused\n");
}

/* ---- arguments ---- */

static int parse_opt(int argc, char **argv, int *i, store_args *a)
{
	const char *s = argv[*i];
	char *end;
	if (!strcmp(s, "--long") || !strcmp(s, "-l"))
		a->long_fmt = true;
	else if (!strcmp(s, "--if-absent"))
		a->if_absent = true;
	else if ((!strcmp(s, "-o") || !strcmp(s, "--output")) && *i + 1 < argc)
		a->output = argv[++*i];
	else if (!strcmp(s, "--range") && *i + 1 < argc)
		a->range = argv[++*i];
	else if (!strcmp(s, "--config") && *i + 1 < argc)
		a->config_file = argv[++*i];
	else if (!strncmp(s, "--config=", 9))
		a->config_file = s + 9;
	else if (!strcmp(s, "--parallel") && *i + 1 < argc) {
		unsigned long v = strtoul(argv[++*i], &end, 10);
		if (*end || v < 1 || v > MAX_THREADS)
			return dj_cli_usage_error("store", "--parallel takes 1 to %d", MAX_THREADS);
		a->parallel = (unsigned)v;
	} else
		return dj_cli_usage_error("store", "unknown option '%s'", s);
	return DJ_EXIT_OK;
}

static int check_arity(const store_args *a)
{
	static const struct {
		const char *verb;
		size_t min, max;
		const char *what;
	} verbs[] = {
	    {"ls", 0, 1, "STORE [PREFIX]"},    {"get", 1, 1, "STORE KEY"},
	    {"put", 1, 2, "STORE KEY [FILE]"}, {"rm", 1, SIZE_MAX, "STORE KEY..."},
	    {"stat", 1, 1, "STORE KEY"},       {"du", 0, 1, "STORE [SCHEMA]"},
	};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(a->verb, verbs[i].verb) != 0)
			continue;
		if (!a->store || a->npos < verbs[i].min || a->npos > verbs[i].max)
			return dj_cli_usage_error("store", "expected: djrun store %s %s", a->verb,
			                          verbs[i].what);
		return DJ_EXIT_OK;
	}
	return dj_cli_usage_error(
	    "store", "unknown store command '%s' (ls, get, put, rm, stat, du)", a->verb);
}

static int parse_args(int argc, char **argv, store_args *a, bool *done)
{
	int rc;
	if (!(a->pos = calloc((size_t)argc, sizeof(*a->pos))))
		return DJ_EXIT_FAILED;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			help();
			*done = true;
			return DJ_EXIT_OK;
		} else if (s[0] == '-' && s[1] && !(s[1] == '-' && !s[2])) {
			if ((rc = parse_opt(argc, argv, &i, a)) != DJ_EXIT_OK)
				return rc;
		} else if (!a->verb) {
			a->verb = s;
		} else if (!a->store) {
			a->store = s;
		} else {
			a->pos[a->npos++] = s;
		}
	}
	if (!a->verb)
		return dj_cli_usage_error("store",
		                          "expected a command: ls, get, put, rm, stat, du");
	return check_arity(a);
}

/* ---- outcomes ---- */

/* Exit code for a failed store call: unreachable and refused credentials are 3 (stores/store.h:
 * DJ_ETRANSIENT once retries are spent; DJ_EUSAGE "authentication failed"). */
static int fail(const store_args *a, int rc, const dj_err *err)
{
	fprintf(stderr, "djrun: store %s: %s\n", a->verb, err->msg);
	if (rc == DJ_ETRANSIENT || (rc == DJ_EUSAGE && (strstr(err->msg, "authentication failed") ||
	                                                strstr(err->msg, "access denied"))))
		return DJ_EXIT_UNREACHABLE;
	return rc == DJ_EUSAGE ? DJ_EXIT_USAGE : DJ_EXIT_FAILED;
}

static void iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm)) {
		strcpy(out, "-");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- ls, stat, rm ---- */

static int print_entry(const dj_store_entry *e, void *payload)
{
	const store_args *a = payload;
	char t[32];
	if (a->long_fmt) {
		iso_time(e->mtime, t);
		printf("%" PRIu64 "\t%s\t%s\n", e->size, t, e->key);
	} else {
		printf("%s\n", e->key);
	}
	return ferror(stdout) ? DJ_ERROR : 0;
}

static int do_ls(dj_store *st, const store_args *a)
{
	dj_err err = DJ_ERR_INIT;
	int rc = dj_store_list(st, a->npos ? a->pos[0] : "", print_entry, (void *)a, &err);
	return rc < 0 ? fail(a, rc, &err) : DJ_EXIT_OK;
}

static int do_stat(dj_store *st, const store_args *a)
{
	dj_err err = DJ_ERR_INIT;
	dj_store_stat s;
	char t[32];
	int rc = dj_store_head(st, a->pos[0], &s, &err);
	if (rc < 0)
		return fail(a, rc, &err);
	if (!s.exists) {
		fprintf(stderr, "djrun: store stat: store '%s': '%s' not found\n",
		        dj_store_name(st), a->pos[0]);
		return DJ_EXIT_FAILED;
	}
	printf("key: %s\nkind: %s\n", a->pos[0], s.is_dir ? "folder" : "object");
	if (!s.is_dir) {
		iso_time(s.mtime, t);
		printf("size: %" PRIu64 "\nmtime: %s\n", s.size, t);
	}
	return DJ_EXIT_OK;
}

static int do_rm(dj_store *st, const store_args *a)
{
	dj_err err = DJ_ERR_INIT;
	int rc = dj_store_remove_many(st, a->pos, a->npos, &err);
	return rc < 0 ? fail(a, rc, &err) : DJ_EXIT_OK;
}

/* ---- get ---- */

static int parse_range(const store_args *a, uint64_t *off, uint64_t *len)
{
	char *end;
	*off = 0, *len = 0;
	if (!a->range)
		return DJ_EXIT_OK;
	errno = 0;
	*off = strtoull(a->range, &end, 10);
	if (end == a->range || *end != ':' || errno)
		return dj_cli_usage_error("store", "--range takes OFF:LEN or OFF: (bytes)");
	if (end[1]) {
		const char *l = end + 1;
		*len = strtoull(l, &end, 10);
		if (end == l || *end || errno || *len == 0)
			return dj_cli_usage_error("store", "--range takes OFF:LEN with LEN > 0");
	}
	return DJ_EXIT_OK;
}

/* Copy bytes [off, end) of `key` to `out`, CHUNK bytes at a time. */
static int stream(dj_store *st, const store_args *a, uint64_t off, uint64_t end, FILE *out)
{
	dj_buf b = DJ_BUF_INIT;
	dj_err err = DJ_ERR_INIT;
	size_t chunk = strcmp(dj_store_scheme(st), "file") ? CHUNK : FILE_CHUNK;
	int rc = 0;
	for (uint64_t at = off; at < end && rc == 0;) {
		size_t n = end - at < chunk ? (size_t)(end - at) : chunk;
		dj_buf_reset(&b);
		if ((rc = dj_store_get_range(st, a->pos[0], at, n, &b, &err)) < 0) {
			rc = fail(a, rc, &err);
		} else if (b.len == 0) {
			break; /* the object shrank meanwhile */
		} else if (fwrite(b.ptr, 1, b.len, out) != b.len) {
			fprintf(stderr, "djrun: store get: cannot write: %s\n", strerror(errno));
			rc = DJ_EXIT_FAILED;
		}
		at += b.len;
	}
	dj_buf_dispose(&b);
	return rc;
}

static int do_get(dj_store *st, const store_args *a)
{
	dj_err err = DJ_ERR_INIT;
	dj_store_stat s;
	uint64_t off, len, end;
	FILE *out = stdout;
	int rc;
	if ((rc = parse_range(a, &off, &len)) != DJ_EXIT_OK)
		return rc;
	if ((rc = dj_store_head(st, a->pos[0], &s, &err)) < 0)
		return fail(a, rc, &err);
	if (!s.exists || s.is_dir) {
		fprintf(stderr, "djrun: store get: store '%s': '%s' %s\n", dj_store_name(st),
		        a->pos[0], s.is_dir ? "is a folder" : "not found");
		return DJ_EXIT_FAILED;
	}
	end = len && off + len < s.size ? off + len : s.size;
	if (a->output && !(out = fopen(a->output, "wb"))) {
		fprintf(stderr, "djrun: store get: cannot write '%s': %s\n", a->output,
		        strerror(errno));
		return DJ_EXIT_FAILED;
	}
	rc = stream(st, a, off, end, out);
	if (out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "djrun: store get: cannot write '%s': %s\n", a->output,
		        strerror(errno));
		rc = DJ_EXIT_FAILED;
	}
	if (out == stdout && fflush(stdout) != 0 && rc == 0)
		rc = DJ_EXIT_FAILED;
	return rc;
}

/* ---- put ---- */

/* Read up to n bytes (fewer only at the end of input). */
static size_t read_full(FILE *in, uint8_t *p, size_t n)
{
	size_t got = 0, k;
	while (got < n && (k = fread(p + got, 1, n - got, in)) > 0)
		got += k;
	return got;
}

/* stdin of unknown length: one put when it fits in a part, else a cooperative upload written
 * part by part, so memory stays at one part. */
static int put_stream(dj_store *st, const store_args *a, unsigned flags, dj_err *err)
{
	dj_store_writer w = DJ_STORE_WRITER_INIT;
	dj_store_part *parts = NULL;
	uint8_t *buf = malloc(PART);
	size_t n, np = 0;
	int rc;
	if (!buf)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	n = read_full(stdin, buf, PART);
	if (ferror(stdin))
		rc = dj_err_os(err, "cannot read stdin");
	else if (n < PART)
		rc = dj_store_put(st, a->pos[0], buf, n, flags, err);
	else if ((rc = dj_store_writer_create(st, a->pos[0], PART, flags, &w, err)) == 0) {
		while (rc == 0 && n > 0) {
			dj_store_part *t = realloc(parts, (np + 1) * sizeof(*parts));
			if (!t) {
				rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
				break;
			}
			parts = t;
			if ((rc = dj_store_writer_part(st, &w, (uint32_t)np + 1, buf, n, &parts[np],
			                               err)) == 0)
				np++;
			if (rc == 0 && n == PART)
				n = read_full(stdin, buf, PART);
			else
				n = 0;
			if (rc == 0 && ferror(stdin))
				rc = dj_err_os(err, "cannot read stdin");
		}
		if (rc == 0)
			rc = dj_store_writer_complete(st, &w, parts, np, err);
		if (rc < 0 && rc != DJ_EEXISTS)
			dj_store_writer_abort(st, &w, NULL);
		dj_store_writer_dispose(&w);
	}
	free(parts);
	free(buf);
	return rc;
}

static int do_put(dj_store *st, const store_args *a)
{
	dj_err err = DJ_ERR_INIT;
	unsigned flags = a->if_absent ? DJ_STORE_IF_ABSENT : 0;
	const char *src = a->npos > 1 ? a->pos[1] : "-";
	int rc = strcmp(src, "-") ? dj_store_put_file(st, a->pos[0], src, flags, &err)
	                          : put_stream(st, a, flags, &err);
	if (rc == DJ_EEXISTS) {
		fprintf(stderr, "djrun: store put: %s; nothing written\n", err.msg);
		return DJ_EXIT_FAILED;
	}
	return rc < 0 ? fail(a, rc, &err) : DJ_EXIT_OK;
}

/* ---- du ---- */

enum { SEC_HASH, SEC_SCHEMA, SEC_FILEPATH };
static const char *const section_name[] = {"hash", "schema", "filepath"};

typedef struct du_row {
	int sec;
	char *schema, *table; /* "" when none */
	uint64_t bytes, count;
} du_row;

typedef struct du_rows {
	du_row *v;
	size_t n, cap;
} du_rows;

/* One prefix to list: every object below it belongs to (sec, schema); schema-section objects
 * are grouped by their next segment, the table. */
typedef struct du_item {
	int sec;
	char *prefix, *schema;
	du_rows rows;
	uint64_t bytes, count;
} du_item;

typedef struct du_plan {
	const dj_store_spec *spec;
	const char *only; /* SCHEMA argument or NULL */
	char *hash, *sch; /* section prefixes, slashes stripped; "" = no such section */
	du_item *items;
	size_t nitems, cap;
	du_rows loose; /* objects found while planning */
	pthread_mutex_t lock;
	size_t next; /* next item to list */
	int rc;      /* first failure */
	dj_err err;
} du_plan;

static int add_row(du_rows *r, int sec, const char *schema, const char *table, size_t tlen,
                   uint64_t bytes, uint64_t count)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].sec == sec && !strcmp(r->v[i].schema, schema) &&
		    strlen(r->v[i].table) == tlen && !strncmp(r->v[i].table, table, tlen)) {
			r->v[i].bytes += bytes, r->v[i].count += count;
			return 0;
		}
	if (r->n == r->cap) {
		du_row *t = realloc(r->v, (r->cap = r->cap ? 2 * r->cap : 16) * sizeof(*t));
		if (!t)
			return DJ_ENOMEM;
		r->v = t;
	}
	r->v[r->n] = (du_row){sec, strdup(schema), strndup(table, tlen), bytes, count};
	if (!r->v[r->n].schema || !r->v[r->n].table)
		return DJ_ENOMEM;
	r->n++;
	return 0;
}

static void rows_free(du_rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].schema);
		free(r->v[i].table);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int add_item(du_plan *p, int sec, const char *prefix, const char *schema)
{
	du_item *it;
	if (p->nitems == p->cap) {
		du_item *t = realloc(p->items, (p->cap = p->cap ? 2 * p->cap : 16) * sizeof(*t));
		if (!t)
			return DJ_ENOMEM;
		p->items = t;
	}
	it = &p->items[p->nitems];
	memset(it, 0, sizeof(*it));
	it->sec = sec;
	if (!(it->prefix = malloc(strlen(prefix) + 2)) || !(it->schema = strdup(schema))) {
		free(it->prefix);
		return DJ_ENOMEM;
	}
	sprintf(it->prefix, "%s/", prefix);
	p->nitems++;
	return 0;
}

/* One level of the tree, collected (planning recurses after the listing has finished). */
typedef struct level {
	char **dirs;
	size_t ndirs, cap;
	uint64_t bytes, count; /* objects directly in it */
} level;

static int on_level(const dj_store_entry *e, void *payload)
{
	level *l = payload;
	const char *slash = strrchr(e->key, '/');
	if (!e->is_dir) {
		l->bytes += e->size, l->count++;
		return 0;
	}
	if (l->ndirs == l->cap) {
		char **t = realloc(l->dirs, (l->cap = l->cap ? 2 * l->cap : 16) * sizeof(*t));
		if (!t)
			return DJ_ENOMEM;
		l->dirs = t;
	}
	if (!(l->dirs[l->ndirs] = strdup(slash ? slash + 1 : e->key)))
		return DJ_ENOMEM;
	l->ndirs++;
	return 0;
}

static void level_free(level *l)
{
	for (size_t i = 0; i < l->ndirs; i++)
		free(l->dirs[i]);
	free(l->dirs);
}

static int read_level(dj_store *st, const char *dir, level *l, dj_err *err)
{
	memset(l, 0, sizeof(*l));
	return dj_store_list_dir(st, dir, on_level, l, err);
}

static char *join(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 2);
	if (s)
		sprintf(s, "%s%s%s", a, *a ? "/" : "", b);
	return s;
}

/* Below the schema prefix: `attr=value` folders are partitions (schema names have no '='). */
static int plan_schema(du_plan *p, dj_store *st, const char *dir, dj_err *err)
{
	level l;
	int rc = read_level(st, dir, &l, err);
	if (rc == 0 && l.count && !p->only)
		rc = add_row(&p->loose, SEC_SCHEMA, "", "", 0, l.bytes, l.count);
	for (size_t i = 0; rc == 0 && i < l.ndirs; i++) {
		char *sub = join(dir, l.dirs[i]);
		if (!sub)
			rc = DJ_ENOMEM;
		else if (strchr(l.dirs[i], '='))
			rc = plan_schema(p, st, sub, err);
		else if (!p->only || !strcmp(p->only, l.dirs[i]))
			rc = add_item(p, SEC_SCHEMA, sub, l.dirs[i]);
		free(sub);
	}
	level_free(&l);
	return rc;
}

static int plan_hash(du_plan *p, dj_store *st, dj_err *err)
{
	level l;
	int rc;
	if (p->only) {
		char *sub = join(p->hash, p->only);
		rc = sub ? add_item(p, SEC_HASH, sub, p->only) : DJ_ENOMEM;
		free(sub);
		return rc;
	}
	rc = read_level(st, p->hash, &l, err);
	if (rc == 0 && l.count)
		rc = add_row(&p->loose, SEC_HASH, "", "", 0, l.bytes, l.count);
	for (size_t i = 0; rc == 0 && i < l.ndirs; i++) {
		char *sub = join(p->hash, l.dirs[i]);
		rc = sub ? add_item(p, SEC_HASH, sub, l.dirs[i]) : DJ_ENOMEM;
		free(sub);
	}
	level_free(&l);
	return rc;
}

/* Is `dir` a proper ancestor folder of the section prefix `sec`? */
static bool above(const char *dir, const char *sec)
{
	size_t n = strlen(dir);
	return *sec && (!n || (!strncmp(sec, dir, n) && sec[n] == '/'));
}

/* Everything outside the sections is the filepath area: listed folder by folder. */
static int plan_tree(du_plan *p, dj_store *st, const char *dir, dj_err *err)
{
	level l;
	int rc = read_level(st, dir, &l, err);
	if (rc == 0 && l.count)
		rc = add_row(&p->loose, SEC_FILEPATH, "", "", 0, l.bytes, l.count);
	for (size_t i = 0; rc == 0 && i < l.ndirs; i++) {
		char *sub = join(dir, l.dirs[i]);
		if (!sub)
			rc = DJ_ENOMEM;
		else if (*p->hash && !strcmp(sub, p->hash))
			rc = plan_hash(p, st, err);
		else if (*p->sch && !strcmp(sub, p->sch))
			rc = plan_schema(p, st, sub, err);
		else if (above(sub, p->hash) || above(sub, p->sch))
			rc = plan_tree(p, st, sub, err);
		else
			rc = add_item(p, SEC_FILEPATH, sub, "");
		free(sub);
	}
	level_free(&l);
	return rc;
}

static int plan(du_plan *p, dj_store *st, dj_err *err)
{
	int rc;
	if (!p->only)
		rc = plan_tree(p, st, "", err);
	else if ((rc = *p->hash ? plan_hash(p, st, err) : 0) == 0 && *p->sch)
		rc = plan_schema(p, st, p->sch, err);
	if (rc == DJ_ENOMEM)
		dj_err_set(err, rc, "out of memory");
	return rc;
}

static int count_object(const dj_store_entry *e, void *payload)
{
	du_item *it = payload;
	const char *rest, *slash;
	if (it->sec != SEC_SCHEMA) {
		it->bytes += e->size, it->count++;
		return 0;
	}
	rest = e->key + strlen(it->prefix);
	slash = strchr(rest, '/');
	return add_row(&it->rows, SEC_SCHEMA, it->schema, slash ? rest : "",
	               slash ? (size_t)(slash - rest) : 0, e->size, 1);
}

static void *du_worker(void *arg)
{
	du_plan *p = arg;
	dj_store *st = NULL;
	dj_err err = DJ_ERR_INIT;
	int rc = dj_store_open(&st, p->spec, &err);
	for (;;) {
		size_t i;
		pthread_mutex_lock(&p->lock);
		if (rc < 0 && p->rc == 0)
			p->rc = rc, p->err = err;
		i = p->rc == 0 ? p->next++ : p->nitems;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->nitems)
			break;
		rc = dj_store_list(st, p->items[i].prefix, count_object, &p->items[i], &err);
		if (rc == DJ_ENOMEM && !err.msg[0])
			dj_err_set(&err, rc, "out of memory");
	}
	dj_store_close(st);
	return NULL;
}

static int run_workers(du_plan *p, unsigned n)
{
	pthread_t t[MAX_THREADS];
	unsigned started = 0;
	if (n > p->nitems)
		n = (unsigned)p->nitems;
	for (; started < n; started++)
		if (pthread_create(&t[started], NULL, du_worker, p) != 0)
			break;
	if (started == 0 && p->nitems)
		du_worker(p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	return p->rc;
}

static int cmp_row(const void *x, const void *y)
{
	const du_row *a = x, *b = y;
	int c = a->sec - b->sec;
	if (!c)
		c = strcmp(a->schema, b->schema);
	return c ? c : strcmp(a->table, b->table);
}

static int print_rows(du_plan *p)
{
	du_rows all = {0};
	uint64_t bytes = 0, count = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->loose.n; i++)
		rc = add_row(&all, p->loose.v[i].sec, p->loose.v[i].schema, p->loose.v[i].table,
		             strlen(p->loose.v[i].table), p->loose.v[i].bytes, p->loose.v[i].count);
	for (size_t i = 0; rc == 0 && i < p->nitems; i++) {
		du_item *it = &p->items[i];
		if (it->count)
			rc = add_row(&all, it->sec, it->schema, "", 0, it->bytes, it->count);
		for (size_t k = 0; rc == 0 && k < it->rows.n; k++)
			rc = add_row(&all, it->rows.v[k].sec, it->rows.v[k].schema,
			             it->rows.v[k].table, strlen(it->rows.v[k].table),
			             it->rows.v[k].bytes, it->rows.v[k].count);
	}
	if (rc == 0 && all.n)
		qsort(all.v, all.n, sizeof(*all.v), cmp_row);
	for (size_t i = 0; rc == 0 && i < all.n; i++) {
		const du_row *r = &all.v[i];
		printf("%" PRIu64 "\t%" PRIu64 "\t%s\t%s\t%s\n", r->bytes, r->count,
		       section_name[r->sec], *r->schema ? r->schema : "-",
		       *r->table ? r->table : "-");
		bytes += r->bytes, count += r->count;
	}
	if (rc == 0)
		printf("%" PRIu64 "\t%" PRIu64 "\ttotal\t%s\t-\n", bytes, count,
		       p->only ? p->only : "-");
	rows_free(&all);
	return rc;
}

static char *section_prefix(const char *s, const char *dflt)
{
	size_t n;
	const char *p = dj_strip_slashes(s ? s : dflt, &n);
	return strndup(p, n);
}

static int do_du(dj_store *st, const dj_store_spec *spec, const store_args *a)
{
	du_plan p = {0};
	dj_err err = DJ_ERR_INIT;
	int rc;
	p.spec = spec;
	p.only = a->npos ? a->pos[0] : NULL;
	p.hash = section_prefix(spec->hash_prefix, "_hash");
	p.sch = section_prefix(spec->schema_prefix, "_schema");
	pthread_mutex_init(&p.lock, NULL);
	if (!p.hash || !p.sch)
		rc = dj_err_set(&err, DJ_ENOMEM, "out of memory");
	else if (p.only && (!*p.only || strchr(p.only, '/')))
		rc = dj_err_set(&err, DJ_EUSAGE, "'%s' is not a schema name", p.only);
	else if ((rc = plan(&p, st, &err)) == 0 &&
	         (rc = run_workers(&p, a->parallel ? a->parallel : 8)) < 0)
		err = p.err;
	if (rc == 0 && print_rows(&p) < 0)
		rc = dj_err_set(&err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; i < p.nitems; i++) {
		free(p.items[i].prefix);
		free(p.items[i].schema);
		rows_free(&p.items[i].rows);
	}
	free(p.items);
	rows_free(&p.loose);
	free(p.hash);
	free(p.sch);
	pthread_mutex_destroy(&p.lock);
	return rc < 0 ? fail(a, rc, &err) : DJ_EXIT_OK;
}

/* ---- the command ---- */

static int open_store(const store_args *a, dj_config *cfg, const dj_store_spec **spec,
                      dj_store **st)
{
	dj_err err = DJ_ERR_INIT;
	char cmd[64];
	int rc;
	snprintf(cmd, sizeof(cmd), "store %s", a->verb);
	if ((rc = dj_cli_load_config(cmd, a->config_file, cfg)) != DJ_EXIT_OK)
		return rc;
	if (dj_config_store(cfg, a->store, spec, &err) < 0) {
		fprintf(stderr, "djrun: %s: %s\n", cmd, err.msg);
		return DJ_EXIT_USAGE;
	}
	if ((rc = dj_config_check_store(*spec, &err)) < 0 ||
	    (rc = dj_store_open(st, *spec, &err)) < 0) {
		fprintf(stderr, "djrun: store %s: %s\n", a->verb, err.msg);
		return rc == DJ_ENOTFOUND ? DJ_EXIT_UNREACHABLE : DJ_EXIT_USAGE;
	}
	return DJ_EXIT_OK;
}

int dj_cmd_store(int argc, char **argv)
{
	store_args a = {0};
	dj_config cfg = {0};
	const dj_store_spec *spec = NULL;
	dj_store *st = NULL;
	bool done = false;
	int rc = parse_args(argc, argv, &a, &done);
	if (rc == DJ_EXIT_OK && !done && (rc = open_store(&a, &cfg, &spec, &st)) == DJ_EXIT_OK) {
		if (!strcmp(a.verb, "ls"))
			rc = do_ls(st, &a);
		else if (!strcmp(a.verb, "get"))
			rc = do_get(st, &a);
		else if (!strcmp(a.verb, "put"))
			rc = do_put(st, &a);
		else if (!strcmp(a.verb, "rm"))
			rc = do_rm(st, &a);
		else if (!strcmp(a.verb, "stat"))
			rc = do_stat(st, &a);
		else
			rc = do_du(st, spec, &a);
	}
	dj_store_close(st);
	dj_config_free(&cfg);
	free(a.pos);
	return rc;
}
