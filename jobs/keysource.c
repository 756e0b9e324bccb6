/*
 * The default key_source and pending keys as SQL (jobs/keysource.h, database.md §4).
 */
#include "jobs/keysource.h"

#include <stdlib.h>
#include <string.h>

/* One primary parent as a join operand: its key under the child's names. */
typedef struct operand {
	const dj_table *parent;
	const dj_fkey *fk;
	const char **names; /* renamed key, parent key order */
	const char **orig;  /* the parent's own key column for each */
	size_t n;
} operand;

typedef struct builder {
	dj_db_backend b;
	const dj_schema *s;
	const dj_table *t;
	operand *ops;
	size_t nops;
	bool wrap; /* join subqueries of the keys instead of the tables (§4.4) */
} builder;

static bool has(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/* The child name of parent key column `pc` (a renamed foreign key maps new <- old). */
static const char *child_name(const dj_fkey *fk, const char *pc)
{
	for (size_t k = 0; k < fk->ncols; k++)
		if (!strcmp(fk->ref_cols[k], pc))
			return fk->cols[k];
	return pc;
}

static int make_operand(builder *bd, const dj_fkey *fk, operand *op, dj_err *err)
{
	const dj_table *p = dj_schema_parent(bd->s, fk);
	if (!p)
		return dj_err_set(err, DJ_ENOTFOUND, "%s.%s: parent %s.%s is not loaded",
		                  bd->t->schema, bd->t->name, fk->ref_schema, fk->ref_table);
	op->parent = p;
	op->fk = fk;
	op->names = calloc(p->npk ? p->npk : 1, sizeof(*op->names));
	op->orig = calloc(p->npk ? p->npk : 1, sizeof(*op->orig));
	if (!op->names || !op->orig)
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t k = 0; k < p->npk; k++) {
		op->orig[k] = p->attrs[p->pk[k]].name;
		op->names[k] = child_name(fk, op->orig[k]);
	}
	op->n = p->npk;
	return 0;
}

/* A visible column of parent `i` clashing with another operand, other than a shared key. */
static bool clashes(const builder *bd, size_t i)
{
	const operand *a = &bd->ops[i];
	for (size_t c = 0; c < a->parent->nattrs; c++) {
		const dj_attr *at = &a->parent->attrs[c];
		if (at->hidden)
			continue;
		for (size_t j = 0; j < bd->nops; j++) {
			const operand *o = &bd->ops[j];
			bool key_here = has(a->names, a->n, at->name), key_there;
			if (j == i)
				continue;
			key_there = has(o->names, o->n, at->name);
			if (key_there && key_here)
				continue; /* a join column */
			if (key_there || dj_table_attr(o->parent, at->name))
				return true;
		}
	}
	return false;
}

static int collect(builder *bd, dj_err *err)
{
	const dj_table *t = bd->t;
	int rc = 0;
	if (!(bd->ops = calloc(t->nfks ? t->nfks : 1, sizeof(*bd->ops))))
		return dj_err_set(err, DJ_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < t->nfks; i++)
		if (t->fks[i].primary)
			rc = make_operand(bd, &t->fks[i], &bd->ops[bd->nops++], err);
	if (rc == 0 && bd->nops == 0)
		rc = dj_err_set(err, DJ_EUSAGE,
		                "%s.%s: a table must have dependencies from its primary key for "
		                "auto-populate to work",
		                t->schema, t->name);
	for (size_t i = 0; rc == 0 && i < bd->nops && !bd->wrap; i++)
		bd->wrap = bd->ops[i].fk->aliased || clashes(bd, i);
	return rc;
}

static int table_name(dj_buf *out, dj_db_backend b, const char *schema, const char *table,
                      dj_err *err)
{
	int rc = dj_db_quote_ident(b, out, schema, err);
	if (rc == 0 && (rc = dj_buf_addc(out, '.')) == 0)
		rc = dj_db_quote_ident(b, out, table, err);
	return rc;
}

static int quoted_list(dj_buf *out, dj_db_backend b, const char *const *names, size_t n,
                       const char *sep, dj_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if ((rc = i ? dj_buf_adds(out, sep) : 0) == 0)
			rc = dj_db_quote_ident(b, out, names[i], err);
	return rc;
}

/* `Q(s).Q(p)`, or `(SELECT Q(old) AS Q(new), ... FROM Q(s).Q(p)) AS Q($k)` */
static int operand_sql(dj_buf *out, const builder *bd, size_t k, dj_err *err)
{
	const operand *op = &bd->ops[k];
	int rc = 0;
	if (!bd->wrap)
		return table_name(out, bd->b, op->parent->schema, op->parent->name, err);
	rc = dj_buf_adds(out, "(SELECT ");
	for (size_t i = 0; rc == 0 && i < op->n; i++) {
		if ((rc = i ? dj_buf_addc(out, ',') : 0) < 0 ||
		    (rc = dj_db_quote_ident(bd->b, out, op->orig[i], err)) < 0)
			break;
		if (strcmp(op->orig[i], op->names[i]) != 0 &&
		    (rc = dj_buf_adds(out, " AS ")) == 0)
			rc = dj_db_quote_ident(bd->b, out, op->names[i], err);
	}
	if (rc == 0 && (rc = dj_buf_adds(out, " FROM ")) == 0 &&
	    (rc = table_name(out, bd->b, op->parent->schema, op->parent->name, err)) == 0)
		rc = dj_buf_addf(out, ") AS %s$%zu%s", bd->b == DJ_DB_MYSQL ? "`" : "\"", k + 1,
		                 bd->b == DJ_DB_MYSQL ? "`" : "\"");
	return rc;
}

/* FROM: P1, then JOIN Pk USING (common names) or CROSS JOIN Pk (§4.1 step 2, §4.4). */
static int join_sql(dj_buf *out, dj_keysource *ks, const builder *bd, dj_err *err)
{
	const char **seen = calloc(bd->t->nattrs + 64, sizeof(*seen)), *common[64];
	size_t nseen = 0;
	int rc = seen ? operand_sql(out, bd, 0, err) : DJ_ENOMEM;
	for (size_t k = 0; rc == 0 && k < bd->nops; k++) {
		const operand *op = &bd->ops[k];
		size_t nc = 0;
		for (size_t i = 0; i < op->n && nc < 64; i++)
			if (has(seen, nseen, op->names[i]))
				common[nc++] = op->names[i];
			else if (nseen < bd->t->nattrs + 64)
				seen[nseen++] = op->names[i];
		if (k == 0)
			continue;
		rc = dj_buf_adds(out, nc ? " JOIN " : " CROSS JOIN ");
		if (rc == 0)
			rc = operand_sql(out, bd, k, err);
		if (rc == 0 && nc && (rc = dj_buf_adds(out, " USING (")) == 0 &&
		    (rc = quoted_list(out, bd->b, common, nc, ", ", err)) == 0)
			rc = dj_buf_addc(out, ')');
	}
	if (rc == 0 && !(ks->attrs = calloc(nseen ? nseen : 1, sizeof(*ks->attrs))))
		rc = DJ_ENOMEM;
	for (size_t i = 0; rc == 0 && i < nseen; i++)
		if (!(ks->attrs[ks->nattrs++] = strdup(seen[i])))
			rc = DJ_ENOMEM;
	free(seen);
	return rc == DJ_ENOMEM && (!err || !err->code) ? dj_err_set(err, rc, "out of memory") : rc;
}

static void builder_free(builder *bd)
{
	for (size_t i = 0; i < bd->nops; i++) {
		free(bd->ops[i].names);
		free(bd->ops[i].orig);
	}
	free(bd->ops);
}

/* _jobs_to_do: every key_source attribute must be an attribute of the target (§4.1). */
static int check_target(const dj_keysource *ks, dj_err *err)
{
	for (size_t i = 0; i < ks->nattrs; i++)
		if (!dj_table_attr(ks->target, ks->attrs[i]))
			return dj_err_set(err, DJ_EUSAGE, "%s.%s: the populate target lacks attribute '%s'",
			                  ks->target->schema, ks->target->name, ks->attrs[i]);
	return 0;
}

int dj_keysource_init(dj_keysource *ks, const dj_schema *s, const dj_table *t, dj_err *err)
{
	builder bd = {s->backend, s, t, NULL, 0, false};
	dj_buf from = DJ_BUF_INIT;
	int rc;
	memset(ks, 0, sizeof(*ks));
	ks->backend = s->backend;
	ks->target = t;
	if ((rc = collect(&bd, err)) == 0 && (rc = join_sql(&from, ks, &bd, err)) == 0 &&
	    (rc = check_target(ks, err)) == 0 && !(ks->from = dj_buf_take(&from, NULL)))
		rc = dj_err_set(err, DJ_ENOMEM, "out of memory");
	builder_free(&bd);
	dj_buf_dispose(&from);
	return rc;
}

void dj_keysource_dispose(dj_keysource *ks)
{
	for (size_t i = 0; i < ks->nattrs; i++)
		free(ks->attrs[i]);
	free(ks->attrs);
	free(ks->from);
	memset(ks, 0, sizeof(*ks));
}

int dj_keysource_not_in_target(dj_buf *out, const dj_keysource *ks, dj_err *err)
{
	const dj_table *t = ks->target;
	const char *cols[64];
	size_t n = 0;
	int rc;
	for (size_t k = 0; k < t->npk && n < 64; k++)
		if (has((const char *const *)ks->attrs, ks->nattrs, t->attrs[t->pk[k]].name))
			cols[n++] = t->attrs[t->pk[k]].name;
	if (n == 0)
		return dj_err_set(err, DJ_EUSAGE, "%s.%s shares no key attribute with its key_source",
		                  t->schema, t->name);
	rc = dj_buf_addc(out, '(');
	if (rc == 0 && (rc = quoted_list(out, ks->backend, cols, n, ", ", err)) == 0 &&
	    (rc = dj_buf_adds(out, ") NOT IN (SELECT ")) == 0 &&
	    (rc = quoted_list(out, ks->backend, cols, n, ",", err)) == 0 &&
	    (rc = dj_buf_adds(out, " FROM ")) == 0 &&
	    (rc = table_name(out, ks->backend, t->schema, t->name, err)) == 0)
		rc = dj_buf_addc(out, ')');
	return rc;
}

int dj_keysource_select(dj_buf *out, const dj_keysource *ks, const char *const *cols,
                        size_t ncols, bool distinct, const char *restriction, bool pending,
                        dj_err *err)
{
	bool restricted = restriction && *restriction;
	int rc = dj_buf_adds(out, distinct ? "SELECT DISTINCT " : "SELECT ");
	if (!cols) {
		cols = (const char *const *)ks->attrs;
		ncols = ks->nattrs;
	}
	if (rc == 0 && (rc = quoted_list(out, ks->backend, cols, ncols, ",", err)) == 0)
		rc = dj_buf_addf(out, " FROM %s", ks->from);
	if (rc == 0 && (restricted || pending))
		rc = dj_buf_adds(out, " WHERE ");
	if (rc == 0 && restricted)
		rc = dj_buf_addf(out, "(%s)%s", restriction, pending ? " AND " : "");
	if (rc == 0 && pending)
		rc = dj_keysource_not_in_target(out, ks, err);
	return rc == DJ_ENOMEM && (!err || !err->code) ? dj_err_set(err, rc, "out of memory") : rc;
}

int dj_keysource_sql(dj_buf *out, const dj_keysource *ks, const char *restriction, dj_err *err)
{
	return dj_keysource_select(out, ks, NULL, 0, false, restriction, false, err);
}

int dj_keysource_pending_sql(dj_buf *out, const dj_keysource *ks, const char *restriction,
                             dj_err *err)
{
	return dj_keysource_select(out, ks, NULL, 0, false, restriction, true, err);
}

static int count(dj_db *db, const dj_keysource *ks, const char *restriction, bool pending,
                 int64_t *out, dj_err *err)
{
	dj_buf sql = DJ_BUF_INIT, v = DJ_BUF_INIT;
	int rc = dj_buf_adds(&sql, "SELECT COUNT(*) FROM (");
	if (rc == 0 && (rc = dj_keysource_select(&sql, ks, NULL, 0, false, restriction, pending,
	                                         err)) == 0 &&
	    (rc = dj_buf_addf(&sql, ") AS %s", ks->backend == DJ_DB_MYSQL ? "`$ks`" : "\"$ks\"")) ==
	        0)
		rc = dj_db_query_value(db, sql.ptr, NULL, 0, &v, NULL, err);
	if (rc == 0)
		*out = strtoll(v.ptr, NULL, 10);
	dj_buf_dispose(&sql);
	dj_buf_dispose(&v);
	return rc;
}

int dj_keysource_progress(dj_db *db, const dj_keysource *ks, const char *restriction,
                          int64_t *remaining, int64_t *total, dj_err *err)
{
	int rc = count(db, ks, restriction, false, total, err);
	if (rc == 0)
		rc = count(db, ks, restriction, true, remaining, err);
	if (rc < 0)
		dj_err_context(err, "progress of %s.%s", ks->target->schema, ks->target->name);
	return rc;
}
