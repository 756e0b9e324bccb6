#!/usr/bin/env bash
# djrun gc reads references in primary-key pages (keyset pagination). With pages of 7 rows, on
# MariaDB and on PostgreSQL, against a file store: a composite key (text with quotes, backslashes,
# non-ASCII and trailing spaces; integers; dates; uuid) whose first column spans many pages, a
# table with two reference columns and NULLs, and a float key (read in one statement instead).
# Every referenced object is found (exact referenced count, exactly the unreferenced orphans),
# at 1 rank and at 2, and the same as with the default page size.
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/fixture_env.sh"
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
schema=djt_$$_gcp
trap '[ -n "${DJ_TEST_MYSQL_HOST:-}" ] && my -e "DROP DATABASE IF EXISTS $schema" 2>/dev/null; [ -n "${DJ_TEST_PG_HOST:-}" ] && pg -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null; cleanup' EXIT

# gen BACKEND STORE: the tables' SQL on stdout; objects (referenced + 40 orphans) in STORE;
# expected.json: referenced count and the orphan paths
gen() {
	python3 - "$1" "$2" "$schema" <<'PY'
import base64, hashlib, json, os, sys, uuid
backend, root, s = sys.argv[1:4]
d = os.path.join(root, "_hash", s)
os.makedirs(d, exist_ok=True)
n = 0
def obj(tag):
    h = base64.b32encode(hashlib.md5(tag.encode()).digest()).decode().rstrip("=").lower()
    open(os.path.join(d, h), "wb").write(tag.encode())
    return "_hash/%s/%s" % (s, h)
def meta(p):
    return json.dumps({"hash": p.rsplit("/", 1)[1], "path": p, "schema": s, "store": "main", "size": 3})
def lit(v):
    return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'" if backend == "mysql" else "'" + v.replace("'", "''") + "'"
ref = set()
subjects = ["a'b", "c\\d", "m\u00fcnchen", "tail  ", "zz"]
rows = []
for i in range(180):
    p = obj("multi%d" % i); ref.add(p)
    u = uuid.UUID(int=(i * 7919) % 1000)
    rows.append((subjects[i % 5 if i < 150 else 0], i // 10, "2024-01-%02d" % (1 + i % 3), u, p))
two = []
for i in range(60):
    a = obj("twoa%d" % i); ref.add(a)
    b = None
    if i % 3:
        b = obj("twob%d" % i); ref.add(b)
    two.append((i, a, b))
fl = []
for i in range(30):
    p = obj("float%d" % i); ref.add(p)
    fl.append((i / 3.0 + 0.1, p))
orphans = sorted(obj("orphan%d" % i) for i in range(40))
q = "`" if backend == "mysql" else '"'
T = lambda t: "%s%s%s.%s%s%s" % (q, s, q, q, t, q)
out = []
if backend == "mysql":
    out.append("CREATE DATABASE %s;" % s)
    out.append("CREATE TABLE %s (subject varchar(16) NOT NULL COMMENT ':varchar(16):', sess int NOT NULL COMMENT ':int32:', day date NOT NULL COMMENT ':date:', uid binary(16) NOT NULL COMMENT ':uuid:', data json NOT NULL COMMENT ':<hash@main>:', PRIMARY KEY (subject, sess, day, uid)) COMMENT 'multi';" % T("multi"))
    out.append("CREATE TABLE %s (id int NOT NULL COMMENT ':int32:', a json NOT NULL COMMENT ':<hash@main>:', b json DEFAULT NULL COMMENT ':<blob@main>:', PRIMARY KEY (id)) COMMENT 'two';" % T("two"))
    out.append("CREATE TABLE %s (x double NOT NULL COMMENT ':float64:', data json NOT NULL COMMENT ':<hash@main>:', PRIMARY KEY (x)) COMMENT 'floats';" % T("floaty"))
    uid = lambda u: "X'%s'" % u.hex
else:
    out.append("CREATE SCHEMA %s;" % s)
    out.append("CREATE TABLE %s (subject varchar(16) NOT NULL, sess integer NOT NULL, day date NOT NULL, uid uuid NOT NULL, data jsonb NOT NULL, PRIMARY KEY (subject, sess, day, uid));" % T("multi"))
    out.append("CREATE TABLE %s (id integer NOT NULL, a jsonb NOT NULL, b jsonb, PRIMARY KEY (id));" % T("two"))
    out.append("CREATE TABLE %s (x double precision NOT NULL, data jsonb NOT NULL, PRIMARY KEY (x));" % T("floaty"))
    for t, c in [("multi", "multi"), ("two", "two"), ("floaty", "floats")]:
        out.append("COMMENT ON TABLE %s IS '%s';" % (T(t), c))
    for t, col, ty in [("multi", "subject", ":varchar(16):"), ("multi", "sess", ":int32:"), ("multi", "day", ":date:"),
                       ("multi", "uid", ":uuid:"), ("multi", "data", ":<hash@main>:"), ("two", "id", ":int32:"),
                       ("two", "a", ":<hash@main>:"), ("two", "b", ":<blob@main>:"), ("floaty", "x", ":float64:"),
                       ("floaty", "data", ":<hash@main>:")]:
        out.append("COMMENT ON COLUMN %s.%s IS '%s';" % (T(t), col, ty))
    uid = lambda u: "'%s'" % u
for sj, se, dy, u, p in rows:
    out.append("INSERT INTO %s VALUES (%s, %d, '%s', %s, '%s');" % (T("multi"), lit(sj), se, dy, uid(u), meta(p)))
for i, a, b in two:
    out.append("INSERT INTO %s VALUES (%d, '%s', %s);" % (T("two"), i, meta(a), "'%s'" % meta(b) if b else "NULL"))
for x, p in fl:
    out.append("INSERT INTO %s VALUES (%r, '%s');" % (T("floaty"), x, meta(p)))
print("\n".join(out))
json.dump({"referenced": len(ref), "orphans": orphans}, open("expected.json", "w"))
PY
}

run_backend() { # NAME
	local name=$1
	mkdir -p "$tmp/$name"
	printf '{"stores": {"default": "main", "main": {"protocol": "file", "location": "%s"}}}\n' "$tmp/$name" >"$tmp/$name.json"
	if [ "$name" = mysql ]; then
		gen mysql "$tmp/$name" | my
	else
		gen postgresql "$tmp/$name" | pg
	fi
	check "$name: tables and objects created" '[ -s expected.json ]'
	for args in "1 --scan-page 7" "2 --scan-page 7" "1"; do
		set -- $args
		local n=$1; shift
		if [ "$n" -le 1 ]; then
			"$DJRUN" gc "$schema" --config "$tmp/$name.json" --grace 0s --json "$@" >g.json 2>err; rc=$?
		else
			"$MPIEXEC" --oversubscribe -n "$n" "$DJRUN" gc "$schema" --config "$tmp/$name.json" --grace 0s --json "$@" >g.json 2>err; rc=$?
		fi
		python3 - g.json expected.json <<'PY' >cmp.out 2>&1; ok=$?
import json, sys
g, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = []
if g["hash_paths_referenced"] != e["referenced"]:
    bad.append("referenced %d != %d" % (g["hash_paths_referenced"], e["referenced"]))
if g["orphaned_hash_paths"] != e["orphans"]:
    bad.append("orphans differ: %d found, %d expected" % (len(g["orphaned_hash_paths"]), len(e["orphans"])))
if g["scan_errors"]:
    bad.append("scan errors: %s" % g["scan_errors"])
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
		[ $ok -eq 0 ] || { cat cmp.out err >&2; }
		check "$name -n $n ${*:-(default page)}: every reference found, exactly the 40 orphans" '[ $rc -eq 0 ] && [ $ok -eq 0 ]'
	done
}

ran=0
if need DJ_TEST_MYSQL_HOST; then
	export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
	run_backend mysql; ran=1
fi
if need DJ_TEST_PG_HOST; then
	export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
		DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
	run_backend postgresql; ran=1
fi
[ $ran -eq 1 ] || { [ $fails -eq 0 ] && exit 77; }
echo "gc pages checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
