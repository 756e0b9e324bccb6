#!/usr/bin/env bash
# djrun migrate to-npy / to-object end to end on MariaDB (migrate_array_postgres.sh runs it with
# MIG_BACKEND=postgresql), file store and the S3 server, mpirun -n 1, 2 and 4. The expected
# values come from numpy (Debian's /usr/bin/python3 with numpy, h5py, zarr):
#  - a generated table (composite key) whose <blob> columns hold packed numpy arrays (float64,
#    int32, uint8, bool, complex128, float32; 0-d to 3-d), one nullable column with a str and a
#    MATLAB char array among the arrays, and a <blob@f> column with its hash objects
#  - the dry run prints the plan (rows, bytes, schema-addressed paths, estimate), changes nothing
#  - usage errors: to-object without/with a bad --format, unknown store, a non-blob column
#  - trace <blob> -> <npy@f> under mpirun -n 4, SIGKILLed three times at random points, status
#    in flight, resumed: every row verified, swapped; `djrun fetch --load` gives the values of
#    before; each .npy is byte for byte np.save of the array Python's blob reader returns; the
#    metadata is json.dumps of {path, store, dtype, shape} (MariaDB keeps the text)
#  - mixed <blob> -> <npy@s3> in one process: the str and the char array are refused naming
#    their keys (exit 1), their rows untouched, the rest converted and verified, not swapped;
#    once those two rows are cleared a rerun swaps; NULLs stay NULL
#  - cube <blob> -> <object@f> --format hdf5 --until fill, one .h5 corrupted in the store: the
#    next run detects it (exit 1, key, "hash mismatch"), resets the row; the rerun repairs and
#    swaps; h5py reads every file (dataset "data"; chunked, gzip but for 0-d) equal to the arrays
#  - hashed <blob@f> -> <object@f> --format zarr under mpirun -n 2: zarr reads every folder
#    equal to the arrays; the .manifest.json lists the folder's files; metadata as ObjectCodec's
#  - --finalize drops the backup
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
backend=${MIG_BACKEND:-mysql}
. "$(dirname "${BASH_SOURCE[0]}")/../lib/checks.sh"
PY=/usr/bin/python3
need=DJ_TEST_MYSQL_HOST
[ "$backend" = postgresql ] && need=DJ_TEST_PG_HOST
if ! need $need; then [ "$fails" -gt 0 ] && exit 1; exit 77; fi
if ! $PY -c 'import numpy, h5py, zarr' 2>/dev/null; then
	echo "migrate_array: needs Debian's python3-numpy, python3-h5py, python3-zarr (scripts/setup)"
	[ "${DJ_TEST_REQUIRE_SERVICES:-0}" = 1 ] && exit 1
	exit 77
fi
tmp=$(mktemp -d)
S=djt_$$_arr
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
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\nleak:libhdf5\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
same() { $PY -c 'import json,sys; a,b=([json.loads(l) for l in open(f)] for f in sys.argv[1:3]); sys.exit(a!=b)' "$1" "$2"; }
mpi() { timeout 300 "$MPIEXEC" --oversubscribe "$@"; }

# --- stores and data --------------------------------------------------------------------------
mkdir -p store expected
$PY - "$tmp" "$S" <<'PY'
import json, os, sys
tmp, s = sys.argv[1], sys.argv[2]
e = os.environ
stores = {"default": "f", "f": {"protocol": "file", "location": f"{tmp}/store"}}
if e.get("DJ_TEST_S3_ENDPOINT"):
    stores["s3"] = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"],
                    "bucket": e["DJ_TEST_S3_BUCKET"], "location": f"djt_{os.getpid()}_arr",
                    "access_key": e["DJ_TEST_S3_ACCESS_KEY"], "secret_key": e["DJ_TEST_S3_SECRET_KEY"],
                    "secure": False}
json.dump({"stores": stores}, open(f"{tmp}/datajoint.json", "w"))
PY
cfg=$tmp/datajoint.json
N=40
$PY - "$backend" "$S" $N "$tmp" >data.sql <<'PY'
import base64, hashlib, json, os, struct, sys, zlib
import numpy as np
backend, s, n, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(7)
TYPES = {np.dtype("bool"): 3, np.dtype("float64"): 6, np.dtype("float32"): 7, np.dtype("int8"): 8,
         np.dtype("uint8"): 9, np.dtype("int16"): 10, np.dtype("uint16"): 11, np.dtype("int32"): 12,
         np.dtype("uint32"): 13, np.dtype("int64"): 14, np.dtype("uint64"): 15,
         np.dtype("complex128"): 6, np.dtype("complex64"): 7}
def wrap(body):  # the library's compression rule (formats.md §2.1)
    if len(body) > 1000:
        w = b"ZL123\0" + struct.pack("<Q", len(body)) + zlib.compress(body, 6)
        if len(w) < len(body):
            return w
    return body
def pack(a):  # a numpy array as datajoint-python packs it ('A', column-major)
    head = b"mYm\0" if a.ndim else b"dj0\0"
    cplx = a.dtype.kind == "c"
    data = (a.real.tobytes(order="F") + a.imag.tobytes(order="F")) if cplx else a.tobytes(order="F")
    body = head + b"A" + struct.pack("<Q", a.ndim) + b"".join(struct.pack("<Q", d) for d in a.shape)
    return wrap(body + struct.pack("<II", TYPES[a.dtype], 1 if cplx else 0) + data)
def pack_str(t):
    b = t.encode()
    return wrap(b"dj0\0\x05" + struct.pack("<Q", len(b)) + b)
def pack_chars(t):  # a MATLAB char array (type 4)
    u = t.encode("utf-16-le")
    return wrap(b"mYm\0A" + struct.pack("<QQQ", 2, 1, len(t)) + struct.pack("<II", 4, 0) + u)
def lit(b):
    return "X'%s'" % b.hex() if backend == "mysql" else "'\\x%s'::bytea" % b.hex()
def jlit(t):
    return "'%s'" % t.replace("'", "''")
def arr(i, kind):
    shapes = [(), (5,), (3, 4), (2, 3, 4), (1, 7), (6, 1), (0, 3), (17, 9)]
    sh = shapes[i % len(shapes)] if kind != "cube" else (3 + i % 4, 5, 2 + i % 3)
    if kind == "cube" and i % 10 in (4, 9):  # a scalar dataset and an empty one
        sh = () if i % 10 == 4 else (0, 3)
    dt = ["float64", "int32", "uint8", "bool", "complex128", "float32", "int16", "uint64"][i % 8]
    if kind == "cube":
        dt = ["float32", "float64", "int32", "bool", "complex128"][i % 5]
    if dt == "bool":
        return rng.integers(0, 2, sh).astype(bool)
    if dt.startswith("complex"):
        return (rng.standard_normal(sh) + 1j * rng.standard_normal(sh)).astype(dt)
    if dt.startswith("float"):
        return rng.standard_normal(sh).astype(dt)
    return rng.integers(0, 100, sh).astype(dt)
if backend == "mysql":
    print(f"CREATE DATABASE {s}; USE {s};")
    print("""CREATE TABLE recording (
  subject varchar(16) NOT NULL COMMENT ':varchar(16):',
  rec_id int NOT NULL COMMENT ':int32:',
  trace longblob NOT NULL COMMENT ':<blob>:raw trace',
  mixed longblob DEFAULT NULL COMMENT ':<blob>:',
  cube longblob NOT NULL COMMENT ':<blob>:',
  hashed json NOT NULL COMMENT ':<blob@f>:',
  note varchar(32) NOT NULL COMMENT ':varchar(32):',
  PRIMARY KEY (subject, rec_id)) ENGINE=InnoDB COMMENT 'recordings';""")
else:
    print(f"CREATE SCHEMA {s}; SET search_path TO {s};")
    print("""CREATE TABLE recording (subject varchar(16) NOT NULL, rec_id integer NOT NULL,
  trace bytea NOT NULL, mixed bytea, cube bytea NOT NULL, hashed jsonb NOT NULL,
  note varchar(32) NOT NULL, PRIMARY KEY (subject, rec_id));
COMMENT ON TABLE recording IS 'recordings';
COMMENT ON COLUMN recording.subject IS ':varchar(16):';
COMMENT ON COLUMN recording.rec_id IS ':int32:';
COMMENT ON COLUMN recording.trace IS ':<blob>:raw trace';
COMMENT ON COLUMN recording.mixed IS ':<blob>:';
COMMENT ON COLUMN recording.cube IS ':<blob>:';
COMMENT ON COLUMN recording.hashed IS ':<blob@f>:';
COMMENT ON COLUMN recording.note IS ':varchar(32):';""")
for i in range(n):
    subj = "mouse%02d" % (i % 5)
    tr, cu, ha = arr(i, "trace"), arr(i, "cube"), arr(i + 3, "trace")
    np.save(f"{tmp}/expected/trace_{i}.npy", tr)
    np.save(f"{tmp}/expected/cube_{i}.npy", cu)
    np.save(f"{tmp}/expected/hashed_{i}.npy", ha)
    if i == 7:
        mx = pack_str("not an array")
    elif i == 23:
        mx = pack_chars("chars")
    elif i % 4 == 1:
        mx = None
    else:
        mx = pack(arr(i + 1, "trace"))
    hb = pack(ha)
    h = base64.b32encode(hashlib.md5(hb).digest()).decode().rstrip("=").lower()
    p = f"_hash/{s}/{h}"
    os.makedirs(os.path.dirname(f"{tmp}/store/{p}"), exist_ok=True)
    open(f"{tmp}/store/{p}", "wb").write(hb)
    meta = json.dumps({"hash": h, "path": p, "schema": s, "store": "f", "size": len(hb)})
    print(f"INSERT INTO recording VALUES ('{subj}', {i}, {lit(pack(tr))}, "
          f"{'NULL' if mx is None else lit(mx)}, {lit(pack(cu))}, {jlit(meta)}, 'row {i}');")
PY
if [ "$backend" = postgresql ]; then pg -f data.sql >/dev/null; else my <data.sql; fi
check "table loaded" "[ \"\$(db 'SELECT COUNT(*) FROM recording')\" = $N ]"
"$DJRUN" fetch "$S.Recording" --config "$cfg" >before.jsonl 2>err
check "fetch before" "[ \$(wc -l <before.jsonl) -eq $N ] || { cat err >&2; false; }"
nschema() { find store/_schema -name "$1" 2>/dev/null | wc -l; }

# --- dry run and usage --------------------------------------------------------------------------
T=$S.Recording.trace
"$DJRUN" migrate to-npy "$T" --config "$cfg" >plan 2>err; rc=$?
check "dry run: exit 0" "[ $rc -eq 0 ] || { cat err >&2; false; }"
check "dry run: rows, paths, estimate" "grep -q 'dry run' plan && grep -q 'rows *$N' plan && grep -Eq \"path *_schema/$S/recording/subject=mouse0[0-9]/rec_id=[0-9]+/trace_[A-Za-z0-9_-]{8}\\.npy\" plan && grep -q estimate plan || { cat plan >&2; false; }"
check "dry run: no column, no object" "[ ! -d store/_schema ] && [ -z \"\$(db \"SELECT column_name FROM information_schema.columns WHERE table_schema='$S' AND column_name LIKE '%migrating'\")\" ]"
"$DJRUN" migrate to-object "$S.Recording.hashed" --format zarr --json --config "$cfg" >plan.json 2>err
check "dry run --json (<blob@> source: bytes from the metadata)" "$PY -c 'import json; j=json.load(open(\"plan.json\")); assert j[\"to_fill\"]==$N and j[\"bytes\"]>$N*40 and j[\"sample_paths\"][0][\"path\"].endswith(\".zarr\"), j'"
"$DJRUN" migrate to-object "$T" --config "$cfg" >/dev/null 2>err; rc=$?
check "to-object without --format: exit 2" "[ $rc -eq 2 ] && grep -q 'format hdf5' err"
"$DJRUN" migrate to-object "$T" --format tiff --config "$cfg" >/dev/null 2>err; rc=$?
check "bad --format: exit 2" "[ $rc -eq 2 ] && grep -q \"not 'tiff'\" err"
"$DJRUN" migrate to-npy "$T" --store nope --config "$cfg" >/dev/null 2>err; rc=$?
check "unknown store: exit 2" "[ $rc -eq 2 ] && grep -q \"store 'nope' is not configured\" err"
"$DJRUN" migrate to-npy "$S.Recording.note" --config "$cfg" >/dev/null 2>err; rc=$?
check "a varchar column: refused" "[ $rc -eq 2 ] && grep -q 'only a <blob> or <blob@> column' err"

# --- trace -> <npy@f>: killed at random points, resumed under mpirun -n 4 ----------------------
for k in 1 2 3; do
	base=$(nschema '*.npy')
	at=$($PY -c "import random; print($N if $k == 3 else min($N - 1, $base + random.randint(2, $N // 4)))")
	setsid "$MPIEXEC" --oversubscribe -n 4 "$DJRUN" migrate to-npy "$T" --execute \
		--item-mb 0.002 --batch 1 --config "$cfg" >/dev/null 2>"kill$k.err" &
	pid=$!
	for _ in $(seq 1 2000); do
		n=$(nschema '*.npy')
		{ [ "$n" -ge "$at" ] || ! kill -0 $pid 2>/dev/null; } && break
		sleep 0.02
	done
	[ $k -eq 3 ] && sleep "0.$((RANDOM % 3))"
	pkill -KILL -s "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sleep 0.2
	pkill -KILL -s "$pid" 2>/dev/null
	echo "kill $k at $n .npy files (target $at), ${SECONDS}s"
done
filled=$(db "SELECT COUNT(_trace_migrating) FROM recording" 2>/dev/null || echo swapped)
echo "after 3 kills: filled=$filled of $N"
"$DJRUN" migrate status "$T" --config "$cfg" >status 2>err; rc=$?
check "status in flight after kills (or already swapped)" "[ $rc -eq 0 ] && { grep -q 'in flight' status || grep -q swapped status; } && grep -q 'npy@f' status || { cat status err >&2; false; }"
mpi -n 4 "$DJRUN" migrate to-npy "$T" --execute --config "$cfg" >/dev/null 2>run.err; rc=$?
check "resumed run: exit 0, every row verified, swapped" "[ $rc -eq 0 ] && { grep -q \" $N verified, 0 bad.*; swapped\" run.err || grep -q 'already swapped' run.err; } || { cat run.err >&2; false; }"
check "column type after the swap" "\"$DJRUN\" describe $S --config $cfg 2>/dev/null | grep -Eq '^ +trace +<npy@f> '"
"$DJRUN" fetch "$S.Recording" --load --config "$cfg" >after.jsonl 2>err
check "every row decodes (fetch --load) as before" "same before.jsonl after.jsonl || { cat err >&2; false; }"
db "SELECT rec_id, trace FROM recording ORDER BY rec_id" | tr '|\t' '  ' >meta.txt
$PY - "$S" "$tmp" meta.txt <<'PY' >metacheck 2>&1
import io, json, re, sys
import numpy as np
s, tmp, path = sys.argv[1:4]
bad = text = n = 0
for line in open(path):
    rid, meta = line.rstrip("\n").split(" ", 1)
    a = np.load(f"{tmp}/expected/trace_{rid}.npy")
    m = json.loads(meta)
    want = {"path": m["path"], "store": "f", "dtype": str(a.dtype), "shape": list(a.shape)}
    f = io.BytesIO(); np.save(f, np.asfortranarray(a) if a.ndim else a)  # what the blob reader returns
    ok = m == want and re.fullmatch(rf"_schema/{s}/recording/subject=mouse0\d/rec_id={rid}/trace_[\w-]{{8}}\.npy", m["path"])
    ok = ok and open(f"{tmp}/store/{m['path']}", "rb").read() == f.getvalue()
    ok = ok and np.array_equal(np.load(f"{tmp}/store/{m['path']}"), a)
    if not ok:
        bad += 1; print("bad", rid, meta)
    if meta != json.dumps(want):
        text += 1; print("text", rid, meta)
    n += 1
print("rows", n, "bad", bad, "text", text)
PY
check ".npy files = np.save bytes, metadata = {path, store, dtype, shape}" "grep -q \"rows $N bad 0\" metacheck && { [ $backend = postgresql ] || grep -q 'text 0' metacheck; } || { head -5 metacheck >&2; false; }"
"$DJRUN" migrate to-npy "$T" --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "a second run has nothing to do" "[ $rc -eq 0 ] && grep -q 'already swapped' err"
"$DJRUN" migrate to-npy "$T" --finalize --config "$cfg" >/dev/null 2>err; rc=$?
check "finalize drops the backup" "[ $rc -eq 0 ] && [ -z \"\$(db \"SELECT column_name FROM information_schema.columns WHERE table_schema='$S' AND column_name = '_trace_backup'\")\" ]"

# --- mixed -> <npy@s3>: values that are not arrays are refused --------------------------------
if need DJ_TEST_S3_ENDPOINT; then
	X=$S.Recording.mixed
	db "SELECT rec_id, $(hexof mixed) FROM recording WHERE rec_id IN (7, 23) ORDER BY rec_id" >refused.before
	mpi -n 1 "$DJRUN" migrate to-npy "$X" --store s3 --execute --json --config "$cfg" >s3.json 2>err; rc=$?
	check "refusals: exit 1 naming both keys" "[ $rc -eq 1 ] && grep -q \"rec_id=7}: refused: a string cannot go to npy\" err && grep -q \"rec_id=23}: refused: a char array\" err || { cat err >&2; false; }"
	values=$((N - (N + 2) / 4))
	check "the rest converted and verified, not swapped" "$PY -c 'import json; j=json.load(open(\"s3.json\")); assert j[\"rows_refused\"]==2 and j[\"rows_verified\"]==$values-2 and not j[\"swapped\"], j'"
	db "SELECT rec_id, $(hexof mixed) FROM recording WHERE rec_id IN (7, 23) ORDER BY rec_id" >refused.after
	check "refused rows untouched" "cmp -s refused.before refused.after && [ \"\$(db 'SELECT COUNT(*) FROM recording WHERE rec_id IN (7, 23) AND _mixed_migrating IS NULL')\" = 2 ]"
	db "UPDATE recording SET mixed = NULL WHERE rec_id IN (7, 23)" >/dev/null
	"$DJRUN" fetch "$S.Recording" --config "$cfg" >before2.jsonl 2>err
	mpi -n 1 "$DJRUN" migrate to-npy "$X" --store s3 --execute --config "$cfg" >/dev/null 2>err; rc=$?
	check "once cleared: exit 0, swapped" "[ $rc -eq 0 ] && grep -q '; swapped' err || { cat err >&2; false; }"
	check "NULLs stay NULL" "[ \"\$(db 'SELECT COUNT(*) FROM recording WHERE mixed IS NULL')\" = $((N - values + 2)) ]"
	"$DJRUN" fetch "$S.Recording" --load --config "$cfg" >after2.jsonl 2>err
	check "S3 values decode as before" "$PY -c '
import json,sys
a=[json.loads(l) for l in open(\"before2.jsonl\")]; b=[json.loads(l) for l in open(\"after2.jsonl\")]
for r in a: r.pop(\"trace\")
for r in b: r.pop(\"trace\")
sys.exit(a!=b)' || { cat err >&2; false; }"
	p=$(db "SELECT mixed FROM recording WHERE rec_id = 2" | $PY -c 'import sys,json; print(json.loads(sys.stdin.read())["path"])')
	"$DJRUN" store get s3 "$p" -o s3.npy --config "$cfg" 2>err
	check "the S3 object is a .npy numpy reads" "$PY -c 'import numpy as np; a=np.load(\"s3.npy\"); assert a.size > 0'"
fi

# --- cube -> <object@f> hdf5: corruption between fill and verify -------------------------------
C=$S.Recording.cube
"$DJRUN" migrate to-object "$C" --format hdf5 --execute --until fill --config "$cfg" >/dev/null 2>err; rc=$?
check "hdf5 fill (--until fill)" "[ $rc -eq 0 ] && grep -q 'stopped after fill' err || { cat err >&2; false; }"
victim=$(db "SELECT _cube_migrating FROM recording WHERE rec_id = 17" | $PY -c 'import sys,json; print(json.loads(sys.stdin.read())["path"])')
check "victim .h5 exists" "[ -f \"store/$victim\" ]"
$PY -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-20]^=0xff; open(p,'wb').write(b)" "store/$victim"
"$DJRUN" migrate to-object "$C" --format hdf5 --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "corruption detected: exit 1 naming the key" "[ $rc -eq 1 ] && grep -q 'rec_id=17' err && grep -q 'hash mismatch' err || { cat err >&2; false; }"
check "the bad row was reset, nothing swapped" "[ \"\$(db 'SELECT COUNT(*) FROM recording WHERE _cube_migrating IS NULL')\" = 1 ]"
"$DJRUN" migrate status "$C" --config "$cfg" >status 2>&1
check "status: in flight, N-1 migrated" "grep -q 'in flight' status && grep -q \"$((N - 1)) migrated\" status || { cat status >&2; false; }"
mpi -n 4 "$DJRUN" migrate to-object "$C" --format hdf5 --execute --config "$cfg" >/dev/null 2>err; rc=$?
check "rerun repairs and swaps (mpirun -n 4)" "[ $rc -eq 0 ] && grep -q \" $N verified, 0 bad.*; swapped\" err || { cat err >&2; false; }"
db "SELECT rec_id, cube FROM recording ORDER BY rec_id" | tr '|\t' '  ' >h5meta.txt
$PY - "$tmp" h5meta.txt <<'PY' >h5check 2>&1
import json, os, re, sys
import h5py, numpy as np
tmp, path = sys.argv[1:3]
bad = n = 0
for line in open(path):
    rid, meta = line.rstrip("\n").split(" ", 1)
    a = np.load(f"{tmp}/expected/cube_{rid}.npy")
    m = json.loads(meta)
    f = f"{tmp}/store/{m['path']}"
    ok = set(m) == {"path", "store", "size", "ext", "is_dir", "item_count", "timestamp"}
    ok = ok and m["store"] == "f" and m["ext"] == ".h5" and m["is_dir"] is False and m["item_count"] is None
    ok = ok and m["size"] == os.path.getsize(f) and m["path"].endswith(".h5")
    ok = ok and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", m["timestamp"])
    with h5py.File(f, "r") as h:
        d = h["data"]
        ok = ok and list(h.keys()) == ["data"]
        ok = ok and d.dtype == a.dtype and d.shape == a.shape and np.array_equal(d[...], a)
        if a.ndim == 3:
            ok = ok and d.chunks is not None and d.compression == "gzip"
            ok = ok and np.array_equal(d[1:2, :, -1], a[1:2, :, -1])  # a partial read
    if not ok:
        bad += 1; print("bad", rid, meta)
    n += 1
print("rows", n, "bad", bad)
PY
check "h5py reads every file: dataset 'data', chunked, gzip, equal values (0-d, empty too)" "grep -q \"rows $N bad 0\" h5check || { head -5 h5check >&2; false; }"

# --- hashed <blob@f> -> <object@f> zarr, mpirun -n 2 -----------------------------------------
H=$S.Recording.hashed
mpi -n 2 "$DJRUN" migrate to-object "$H" --format zarr --execute --chunk-mb 0.0002 --config "$cfg" >/dev/null 2>err; rc=$?
check "zarr from <blob@f>: exit 0, swapped" "[ $rc -eq 0 ] && grep -q \" $N verified, 0 bad.*; swapped\" err || { cat err >&2; false; }"
db "SELECT rec_id, hashed FROM recording ORDER BY rec_id" | tr '|\t' '  ' >zmeta.txt
$PY - "$tmp" zmeta.txt <<'PY' >zcheck 2>&1
import json, os, sys
import numpy as np, zarr
tmp, path = sys.argv[1:3]
bad = n = chunked = 0
for line in open(path):
    rid, meta = line.rstrip("\n").split(" ", 1)
    a = np.load(f"{tmp}/expected/hashed_{rid}.npy")
    m = json.loads(meta)
    d = f"{tmp}/store/{m['path']}"
    files = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
    man = json.load(open(d + ".manifest.json"))
    ok = m["store"] == "f" and m["ext"] == ".zarr" and m["is_dir"] is True and m["path"].endswith(".zarr")
    ok = ok and m["item_count"] == len(files) and m["size"] == sum(os.path.getsize(os.path.join(d, f)) for f in files)
    ok = ok and sorted(x["path"] for x in man["files"]) == files and man["item_count"] == len(files)
    ok = ok and man["total_size"] == m["size"]
    z = zarr.open(d, mode="r")
    ok = ok and z.dtype == a.dtype and z.shape == a.shape and np.array_equal(z[...], a)
    ok = ok and z.compressor.codec_id == "zlib"
    chunked += len(files) > 2
    if not ok:
        bad += 1; print("bad", rid, meta, files)
    n += 1
print("rows", n, "bad", bad, "chunked", chunked)
PY
check "zarr reads every folder equal to the arrays; manifests list the files" "grep -q \"rows $N bad 0\" zcheck && ! grep -q 'chunked 0$' zcheck || { head -5 zcheck >&2; false; }"

echo "migrate_array ($backend): $passes passed, $fails failed"
[ "$fails" -eq 0 ]
