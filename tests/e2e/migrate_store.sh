#!/usr/bin/env bash
# djrun migrate to-store end to end on MariaDB (migrate_store_postgres.sh runs this script with
# MIG_BACKEND=postgresql) with a file store and the S3 server, under mpirun -n 1 and -n 4:
#  - a generated Manual table (composite key) with an in-table <blob> (random and compressible
#    packed uint8 arrays, some values repeated), a nullable <blob> with NULLs, an <attach>
#  - the dry run prints the plan and changes nothing (no column, no object)
#  - usage errors: wrong codec, unknown store, unknown attribute
#  - <blob> -> <blob@f> under mpirun -n 4, SIGKILLed (whole process group) at random points three
#    times, status in flight, then resumed to the end: every row verified, swapped; every row
#    decodes as before (djrun fetch before/after), metadata exactly json.dumps of
#    {hash, path, schema, store, size} computed here with hashlib from the backup bytes, the
#    objects hold the old bytes
#  - <attach> -> <attach@f> with --until fill, one object corrupted in the store: the next run
#    detects it (exit 1, the key and "hash mismatch"), resets that row, a further run repairs
#    the object and swaps; --finalize drops the backup; a second --finalize is refused
#  - nullable <blob> -> <blob@s3> on the S3 server in one process: NULLs stay NULL
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
backend=${MIG_BACKEND:-mysql}
. "$(dirname "${BASH_SOURCE[0]}")/../lib/checks.sh"
need=DJ_TEST_MYSQL_HOST
[ "$backend" = postgresql ] && need=DJ_TEST_PG_HOST
if ! need $need; then [ "$fails" -gt 0 ] && exit 1; exit 77; fi
tmp=$(mktemp -d)
S=djt_$$_mig
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
pg() { PGPASSWORD=$DJ_TEST_PG_PASS psql -X -q -v ON_ERROR_STOP=1 -h "$DJ_TEST_PG_HOST" -p "$DJ_TEST_PG_PORT" -U "$DJ_TEST_PG_USER" -d "${DJ_TEST_PG_DB:-postgres}" "$@"; }
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
export DJ_IGNORE_CONFIG_FILE=1
if [ "$backend" = postgresql ]; then
	db() { pg -tA -c "SET search_path TO $S" -c "$1"; }
	drop() { pg -c "DROP SCHEMA IF EXISTS $S CASCADE" 2>/dev/null; }
	hexof() { echo "encode($1, 'hex')"; }
	export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
		DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
else
	db() { my -N "$S" -e "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'); $1"; }
	drop() { my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; }
	hexof() { echo "LOWER(HEX($1))"; }
	export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER \
		DJ_PASS=$DJ_TEST_MYSQL_PASS
fi
trap 'drop; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
# the same rows, each the same object (PostgreSQL cannot keep a column's position, so key order
# may change: compare parsed objects)
same() { python3 -c 'import json,sys; a,b=([json.loads(l) for l in open(f)] for f in sys.argv[1:3]); sys.exit(a!=b)' "$1" "$2"; }
mpi() { timeout 300 "$MPIEXEC" --oversubscribe "$@"; }

# --- stores and data --------------------------------------------------------------------------
mkdir -p store
S3=${DJ_TEST_S3_ENDPOINT:-}
python3 - "$tmp" "$S" <<'PY'
import json, os, sys
tmp, s = sys.argv[1], sys.argv[2]
e = os.environ
stores = {"default": "f", "f": {"protocol": "file", "location": f"{tmp}/store", "subfolding": [2, 2]}}
if e.get("DJ_TEST_S3_ENDPOINT"):
    stores["s3"] = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"],
                    "bucket": e["DJ_TEST_S3_BUCKET"], "location": f"djt_{os.getpid()}_mig",
                    "access_key": e["DJ_TEST_S3_ACCESS_KEY"], "secret_key": e["DJ_TEST_S3_SECRET_KEY"],
                    "secure": False}
json.dump({"stores": stores}, open(f"{tmp}/datajoint.json", "w"))
PY
cfg=$tmp/datajoint.json
N=80
python3 - "$backend" "$S" $N >data.sql <<'PY'
import random, struct, sys, zlib
backend, s, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(6)
def blob(data):  # a packed 1-d uint8 array, compressed as the library does
    body = b"mYm\0A" + struct.pack("<QQII", 1, len(data), 9, 0) + data
    if len(body) > 1000:
        w = b"ZL123\0" + struct.pack("<Q", len(body)) + zlib.compress(body, 6)
        if len(w) < len(body):
            return w
    return body
def lit(b):
    return "X'%s'" % b.hex() if backend == "mysql" else "'\\x%s'::bytea" % b.hex()
if backend == "mysql":
    print(f"CREATE DATABASE {s}; USE {s};")
    print("""CREATE TABLE recording (
  subject varchar(16) NOT NULL COMMENT ':varchar(16):',
  rec_id int NOT NULL COMMENT ':int32:',
  trace longblob NOT NULL COMMENT ':<blob>:raw trace',
  extra longblob DEFAULT NULL COMMENT ':<blob>:',
  doc longblob NOT NULL COMMENT ':<attach>:notes',
  PRIMARY KEY (subject, rec_id)) ENGINE=InnoDB COMMENT 'recordings';""")
else:
    print(f"CREATE SCHEMA {s}; SET search_path TO {s};")
    print("""CREATE TABLE recording (subject varchar(16) NOT NULL, rec_id integer NOT NULL,
  trace bytea NOT NULL, extra bytea, doc bytea NOT NULL, PRIMARY KEY (subject, rec_id));
COMMENT ON TABLE recording IS 'recordings';
COMMENT ON COLUMN recording.subject IS ':varchar(16):';
COMMENT ON COLUMN recording.rec_id IS ':int32:';
COMMENT ON COLUMN recording.trace IS ':<blob>:raw trace';
COMMENT ON COLUMN recording.extra IS ':<blob>:';
COMMENT ON COLUMN recording.doc IS ':<attach>:notes';""")
shared = blob(bytes(rnd.getrandbits(8) for _ in range(5000)))
for i in range(n):
    subj = "mouse%02d" % (i % 7)
    size = rnd.choice([10, 900, 4000, 20000])
    if i % 9 == 0:
        tr = shared  # the same value in several rows: one object
    elif i % 5 == 0:
        tr = blob(bytes(size))  # compressible: ZL123-wrapped
    else:
        tr = blob(rnd.randbytes(size))
    ex = "NULL" if i % 3 == 0 else lit(blob(rnd.randbytes(100 + i)))
    doc = lit(b"note%d.txt\0" % i + b"contents of %d\n" % i * (i % 4 + 1))
    print(f"INSERT INTO recording VALUES ('{subj}', {i}, {lit(tr)}, {ex}, {doc});")
PY
if [ "$backend" = postgresql ]; then pg -f data.sql >/dev/null; else my <data.sql; fi
check "table loaded" "[ \"\$(db 'SELECT COUNT(*) FROM recording')\" = $N ]"

"$DJRUN" fetch "$S.Recording" --config "$cfg" >before.jsonl 2>err
check "fetch before" "[ \$(wc -l <before.jsonl) -eq $N ] || { cat err >&2; false; }"

# --- dry run and usage --------------------------------------------------------------------------
T=$S.Recording.trace
"$DJRUN" migrate to-store "$T" --codec '<blob@f>' --config "$cfg" >plan 2>err; rc=$?
check "dry run: exit 0" "[ $rc -eq 0 ] || { cat err >&2; false; }"
check "dry run: the plan" "grep -q 'dry run' plan && grep -q 'rows *$N' plan && grep -q \"path *_hash/$S/../../\" plan && grep -q estimate plan"
check "dry run: no column, no object" "[ -z \"\$(find store -type f)\" ] && [ -z \"\$(db \"SELECT column_name FROM information_schema.columns WHERE table_schema='$S' AND column_name LIKE '%migrating'\")\" ]"
"$DJRUN" migrate to-store "$T" --codec '<blob@f>' --json --config "$cfg" >plan.json 2>err
check "dry run --json" "python3 -c 'import json,sys; j=json.load(open(\"plan.json\")); assert j[\"to_fill\"]==$N and j[\"state\"]==\"not started\" and len(j[\"sample_paths\"])==3, j'"
"$DJRUN" migrate to-store "$T" --codec '<npy@f>' --config "$cfg" >/dev/null 2>err; rc=$?
check "npy codec refused: exit 2" "[ $rc -eq 2 ] && grep -q 'blob@store' err"
"$DJRUN" migrate to-store "$T" --codec '<blob@nope>' --config "$cfg" >/dev/null 2>err; rc=$?
check "unknown store: exit 2" "[ $rc -eq 2 ] && grep -q \"store 'nope' is not configured\" err"
"$DJRUN" migrate to-store "$S.Recording.nope" --codec '<blob@f>' --config "$cfg" >/dev/null 2>err; rc=$?
check "unknown attribute: exit 1 naming it" "[ $rc -eq 1 ] && grep -q \"no attribute 'nope'\" err"
"$DJRUN" migrate to-store "$S.Recording.doc" --codec '<blob@f>' --config "$cfg" >/dev/null 2>err; rc=$?
check "attach column to <blob@>: refused" "[ $rc -eq 2 ] && grep -q 'only an in-table <blob>' err"
mpi -n 3 "$DJRUN" migrate to-store "$S.Recording.doc" --codec '<blob@f>' --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "refused at start under mpirun -n 3: every rank ends (no hang)" "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'only an in-table <blob>' err"

# --- killed at random points, resumed under mpirun -n 4 ----------------------------------------
# each run is killed (SIGKILL to mpirun and every rank) once the number of objects in the store
# reaches a random point; the third waits until the fill is nearly over, so it dies late in the
# fill, in verify or in the swap
D=$(db "SELECT COUNT(DISTINCT MD5(trace)) FROM recording") # objects once all are written
for k in 1 2 3; do
	base=$(find store/_hash -type f 2>/dev/null | wc -l)
	at=$(python3 -c "import random; print($D if $k == 3 else min($D - 1, $base + random.randint(2, $D // 4)))")
	setsid "$MPIEXEC" --oversubscribe -n 4 "$DJRUN" migrate to-store "$T" --codec '<blob@f>' \
		--execute --item-mb 0.02 --batch 1 --config "$cfg" >/dev/null 2>"kill$k.err" &
	pid=$!
	for _ in $(seq 1 2000); do
		n=$(find store/_hash -type f 2>/dev/null | wc -l)
		{ [ "$n" -ge "$at" ] || ! kill -0 $pid 2>/dev/null; } && break
		sleep 0.02
	done
	[ $k -eq 3 ] && sleep "0.$((RANDOM % 3))"
	# the ranks run in process groups of their own: kill the whole session setsid made
	pkill -KILL -s "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sleep 0.2
	pkill -KILL -s "$pid" 2>/dev/null
	echo "kill $k at $n objects (target $at), ${SECONDS}s"
done
filled=$(db "SELECT COUNT(_trace_migrating) FROM recording" 2>/dev/null || echo swapped)
echo "after 3 kills: filled=$filled of $N"
"$DJRUN" migrate status "$T" --config "$cfg" >status 2>err; rc=$?
check "status in flight after kills (or already swapped)" "[ $rc -eq 0 ] && { grep -q 'in flight' status || grep -q swapped status; } || { cat status err >&2; false; }"
mpi -n 4 "$DJRUN" migrate to-store "$T" --codec '<blob@f>' --execute --item-mb 0.3 --config "$cfg" >/dev/null 2>run.err; rc=$?
# (a killed run that got as far as the swap had verified every row before it)
check "resumed run: exit 0, every row verified, swapped" "[ $rc -eq 0 ] && { grep -q \" $N verified, 0 bad.*; swapped\" run.err || grep -q 'already swapped' run.err; } || { cat run.err >&2; false; }"
check "column types after the swap" "\"$DJRUN\" describe $S --config $cfg 2>/dev/null | grep -Eq '^ +trace +<blob@f> '"
"$DJRUN" fetch "$S.Recording" --config "$cfg" >after.jsonl 2>err
check "every row decodes as before" "same before.jsonl after.jsonl || { cat err >&2; false; }"
db "SELECT rec_id, $(hexof _trace_backup), trace FROM recording ORDER BY rec_id" | tr '|\t' '  ' >meta.txt
python3 - "$S" "$tmp/store" meta.txt <<'PY' >metacheck 2>&1
import base64, hashlib, json, os, sys
s, store, path = sys.argv[1:4]
bad = 0; n = 0
for line in open(path):
    rid, hx, meta = line.rstrip("\n").split(" ", 2)
    b = bytes.fromhex(hx)
    h = base64.b32encode(hashlib.md5(b).digest()).decode().rstrip("=").lower()
    p = f"_hash/{s}/{h[:2]}/{h[2:4]}/{h}"
    want = json.dumps({"hash": h, "path": p, "schema": s, "store": "f", "size": len(b)})
    got = meta if meta.startswith("{") else None
    if json.loads(meta) != json.loads(want) or open(os.path.join(store, p), "rb").read() != b:
        bad += 1; print("bad", rid, meta, want)
    if got != want:
        print("text", rid, meta)  # MariaDB keeps the text: it must be json.dumps' bytes
    n += 1
print("rows", n, "bad", bad)
PY
check "metadata = json.dumps of Python's dict, objects hold the old bytes" "grep -q \"rows $N bad 0\" metacheck && { [ $backend = postgresql ] || ! grep -q '^text' metacheck; } || { head -5 metacheck >&2; false; }"
"$DJRUN" migrate to-store "$T" --codec '<blob@f>' --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "a second run has nothing to do" "[ $rc -eq 0 ] && grep -q 'already swapped' err"

# --- corruption between fill and verify (attach, one process) ----------------------------------
A=$S.Recording.doc
"$DJRUN" migrate to-store "$A" --codec '<attach@f>' --execute --until fill --config "$cfg" >/dev/null 2>err; rc=$?
check "attach fill (--until fill)" "[ $rc -eq 0 ] && grep -q 'stopped after fill' err || { cat err >&2; false; }"
victim=$(db "SELECT _doc_migrating FROM recording WHERE rec_id = 17" | python3 -c 'import sys,json; print(json.loads(sys.stdin.read())["path"])')
check "victim object exists" "[ -f \"store/$victim\" ]"
printf 'corrupted' >"store/$victim"
"$DJRUN" migrate to-store "$A" --codec '<attach@f>' --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "corruption detected: exit 1 naming the key" "[ $rc -eq 1 ] && grep -q \"rec_id=17\" err && grep -q 'hash mismatch' err || { cat err >&2; false; }"
check "the bad row was reset, nothing swapped" "[ \"\$(db 'SELECT COUNT(*) FROM recording WHERE _doc_migrating IS NULL')\" = 1 ]"
"$DJRUN" migrate status "$A" --config "$cfg" >status 2>&1
check "status: in flight, N-1 migrated" "grep -q 'in flight' status && grep -q \"$((N - 1)) migrated\" status"
"$DJRUN" migrate to-store "$A" --codec '<attach@f>' --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "rerun repairs and swaps" "[ $rc -eq 0 ] && grep -q \" $N verified, 0 bad\" err || { cat err >&2; false; }"
check "repaired object holds the attach payload" "head -c 10 \"store/$victim\" | grep -q '^note17.txt'"
"$DJRUN" fetch "$S.Recording" --config "$cfg" >after2.jsonl 2>err
check "attachments decode as before" "same before.jsonl after2.jsonl"
"$DJRUN" migrate to-store "$A" --codec '<attach@f>' --finalize --config "$cfg" >out 2>err; rc=$?
check "finalize drops the backup" "[ $rc -eq 0 ] && [ -z \"\$(db \"SELECT column_name FROM information_schema.columns WHERE table_schema='$S' AND column_name = '_doc_backup'\")\" ]"
"$DJRUN" migrate to-store "$A" --codec '<attach@f>' --finalize --config "$cfg" >out 2>err; rc=$?
check "second finalize refused" "[ $rc -eq 2 ] && grep -q 'needs a swapped migration' err"
"$DJRUN" migrate status "$A" --config "$cfg" >status 2>&1
check "status: done" "grep -q 'state *done' status"

# --- nullable blob to S3, one process -----------------------------------------------------------
if need DJ_TEST_S3_ENDPOINT; then
	E=$S.Recording.extra
	mpi -n 1 "$DJRUN" migrate to-store "$E" --codec '<blob@s3>' --execute --json --config "$cfg" >s3.json 2>err; rc=$?
	check "extra -> <blob@s3>: exit 0" "[ $rc -eq 0 ] || { cat err >&2; false; }"
	check "report counts the non-NULL values" "python3 -c 'import json; j=json.load(open(\"s3.json\")); assert j[\"swapped\"] and j[\"rows_verified\"]==$((N - (N + 2) / 3)), j'"
	check "NULLs stay NULL" "[ \"\$(db 'SELECT COUNT(*) FROM recording WHERE extra IS NULL')\" = $(((N + 2) / 3)) ]"
	"$DJRUN" fetch "$S.Recording" --config "$cfg" >after3.jsonl 2>err
	check "S3 values decode as before" "same before.jsonl after3.jsonl || { cat err >&2; false; }"
fi

echo "migrate_store ($backend): $passes passed, $fails failed"
[ "$fails" -eq 0 ]
