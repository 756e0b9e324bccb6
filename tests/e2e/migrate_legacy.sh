#!/usr/bin/env bash
# djrun migrate legacy-external end to end on MariaDB with file stores and the S3 server, under
# mpirun -n 1 and -n 4:
#  - the legacy014 fixture (written by datajoint-python 0.14) restored under a name of this run,
#    its store unpacked into file stores: the dry run changes nothing and its --json --rows plan
#    equals expected-migration.json (columns, objects, every row's 2.x JSON, orphans)
#  - fill under mpirun -n 4 (--until fill), one new object corrupted in the store: the next run
#    (-n 1, --move) detects it (exit 1, "hash mismatch", the key), resets those rows and keeps
#    their 0.14 object while it removes the verified ones; a further run repairs and swaps
#  - after the swap every value decodes (djrun fetch) equal to what 0.14 decoded (expected.json),
#    the metadata text is byte for byte json.dumps of the expected dict, the objects are the
#    expected ones; --finalize leaves exactly the DDL the reference migration produced
#  - a generated 0.14 schema (blob, nullable blob, attach, filepath columns, shared objects) of
#    a few MB, SIGKILLed (mpirun and every rank) at random points three times under mpirun -n 4
#    and resumed: every row verified, every value decodes as generated
#  - the fixture again on S3 stores (objects uploaded to the S3 server), mpirun -n 1, --move
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}" "${DJ_SHARED_DIR:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/checks.sh"
if ! need DJ_TEST_MYSQL_HOST; then [ "$fails" -gt 0 ] && exit 1; exit 77; fi
FX=$DJ_SHARED_DIR/fixtures/legacy014
tmp=$(mktemp -d)
S=djt_$$_leg G=djt_$$_lgen S3S=djt_$$_ls3 M=djt_$$_lmis
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
drop() { for s in $S $G $S3S $M; do my -e "DROP DATABASE IF EXISTS $s" 2>/dev/null; done; }
trap 'drop; rm -rf "$tmp"' EXIT
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
export DJ_IGNORE_CONFIG_FILE=1 DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT \
	DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
cd "$tmp" || exit 1
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
mpi() { timeout 300 "$MPIEXEC" --oversubscribe "$@"; }
db() { my -N "$1" -e "$2"; }

# --- helpers (Python: the checks compute what is expected, nothing is hard-coded) ------------
cat >cmp_plan.py <<'PY'
import json, sys
exp_path, got_path, schema = sys.argv[1:4]
exp = json.loads(open(exp_path).read().replace("fx_legacy014", schema))
got = json.load(open(got_path))
bad = []
def canon(x): return json.dumps(x, sort_keys=True)
gc = [{k: c[k] for k in exp["columns"][0]} for c in got["columns"]]
if sorted(map(canon, gc)) != sorted(map(canon, exp["columns"])): bad.append(("columns", gc))
for p, o in exp["objects"].items():
    want = {k: o[k] for k in ("store", "from", "size", "attachment_name", "transform")}
    if got["objects"].get(p) != want: bad.append(("object", p, got["objects"].get(p), want))
if set(got["objects"]) != set(exp["objects"]): bad.append(("object set", sorted(got["objects"])))
keys = ("table", "column", "key", "legacy_hash", "legacy_path", "new_path", "json")
er = sorted(canon({k: r.get(k) for k in keys}) for r in exp["rows"])
gr = sorted(canon({k: r.get(k) for k in keys}) for r in got["rows"])
if er != gr: bad.append(("rows", [x for x in gr if x not in er], [x for x in er if x not in gr]))
if sorted(map(canon, got["unreferenced_external"])) != sorted(map(canon, exp["unreferenced_external"])):
    bad.append(("unreferenced", got["unreferenced_external"]))
for b in bad: print("MISMATCH", b)
print("plan rows", len(gr), "objects", len(got["objects"]), "bad", len(bad))
sys.exit(1 if bad else 0)
PY
cat >cmp_values.py <<'PY'
# every value djrun fetch decodes after the migration == what datajoint 0.14 decoded
import hashlib, json, os, struct, sys
exp_path, table, fetched, store_root = sys.argv[1:5]
exp = json.load(open(exp_path))["tables"][table]["rows"]
got = [json.loads(l) for l in open(fetched)]
FMT = {"uint8": "B", "int8": "b", "uint16": "H", "int16": "h", "uint32": "I", "int32": "i",
       "uint64": "Q", "int64": "q", "float32": "f", "float64": "d"}
def flat(x): return [z for y in x for z in flat(y)] if isinstance(x, list) else [x]
def same(e, g, where):
    if isinstance(e, dict) and len(e) == 1 and next(iter(e)).startswith("$"):
        tag, v = next(iter(e.items()))
        if tag in ("$date", "$uuid", "$datetime", "$dict"):
            return g == v or (where, v, g)
        if tag == "$ndarray":
            if g.get("dtype") != v["dtype"] or g.get("shape") != v["shape"]:
                return (where, "dtype/shape", v, g.get("dtype"), g.get("shape"))
            data = struct.pack("<%d%s" % (len(g["data"]), FMT[v["dtype"]]), *g["data"])
            if hashlib.sha256(data).hexdigest() != v["sha256_le"]: return (where, "array bytes")
            if "values" in v and flat(v["values"]) != g["data"]: return (where, "values")
            return True
        if tag == "$attach":
            a = g.get("$attach", {})
            b = open(a["path"], "rb").read()
            return (a["name"] == v["name"] and len(b) == v["size"] and
                    hashlib.sha256(b).hexdigest() == v["sha256"]) or (where, v["name"], a)
        if tag == "$file":
            o = g.get("$object", {})
            b = open(os.path.join(store_root, o["store"], o["path"]), "rb").read()
            return (o["size"] == v["size"] == len(b) and
                    hashlib.sha256(b).hexdigest() == v["sha256"]) or (where, o)
        return (where, "unknown tag", tag)
    return e == g or (where, e, g)
bad, n = [], 0
if len(exp) != len(got): bad.append(("row count", len(exp), len(got)))
for e, g in zip(exp, got):
    for k, v in e.items():
        n += 1
        r = same(v, g.get(k), (table, k, {x: e[x] for x in ("animal_id", "scan_idx") if x in e}))
        if r is not True: bad.append(r)
for b in bad: print("MISMATCH", b)
print(table, "values", n, "bad", len(bad))
sys.exit(1 if bad else 0)
PY
cat >cmp_meta.py <<'PY'
# the column text is exactly json.dumps of the dict the reference migration wrote
import json, sys
exp = json.loads(open(sys.argv[1]).read().replace("fx_legacy014", sys.argv[2]))
want = {}
for r in exp["rows"]:
    k = (r["table"], r["column"], tuple(str(r["key"][x]) for x in sorted(r["key"])))
    want[k] = None if r["json"] is None else json.dumps(r["json"])
bad = 0
for line in open(sys.argv[3]):
    t, c, keys, text = line.rstrip("\n").split("\t")
    k = (t, c, tuple(keys.split(",")))
    text = None if text == "NULL" else text
    if want.pop(k, "missing") != text:
        bad += 1; print("MISMATCH", k, text)
print("metadata values", len(want) == 0, "bad", bad, "left", len(want))
sys.exit(1 if bad or want else 0)
PY
cat >ddl.py <<'PY'
# the CREATE TABLE statements EXPECTED.md gives for the tables after the reference migration
import re, sys
md, schema = open(sys.argv[1]).read(), sys.argv[2]
part = md.split("Resulting DDL of the user tables:")[1]
for b in re.findall(r"```sql\n(.*?)\n```", part, re.S)[:3]:
    print(b.replace("fx_legacy014", schema)); print("--")
PY
# metadata of every external column as "table<TAB>column<TAB>key values<TAB>text"
meta_dump() {
	local s=$1
	for tc in animal:photo:animal_id scan:movie:animal_id,scan_idx scan:settings:animal_id,scan_idx \
		scan:raw_file:animal_id,scan_idx __trace:trace:animal_id,scan_idx; do
		IFS=: read -r t c k <<<"$tc"
		db "$s" "SELECT '$t', '$c', CONCAT_WS(',', $k), IFNULL($c, 'NULL') FROM \`$t\`"
	done
}
show_ddl() { for t in __trace animal scan; do my -N "$1" -e "SHOW CREATE TABLE \`$t\`" | cut -f2- | sed 's/\\n/\n/g'; echo "--"; done; }
fetch_all() { # SCHEMA CONFIG STORE_ROOT TAG: fetch the three tables and compare with expected.json
	local ok=0
	for p in animal:Animal scan:Scan __trace:Trace; do
		t=${p%%:*} c=${p#*:}
		rm -rf "dl_$4_$t"
		"$DJRUN" fetch "$1.$c" --config "$2" --download "dl_$4_$t" >"f_$4_$t.jsonl" 2>>"fetch_$4.err" || ok=1
		python3 cmp_values.py "$FX/expected.json" "$t" "f_$4_$t.jsonl" "$3" >>"values_$4.txt" 2>&1 || ok=1
	done
	return $ok
}

# --- the fixture on file stores -----------------------------------------------------------------
sed "s/fx_legacy014/$S/g" "$FX/mariadb.sql" | my
check "fixture restored" "[ \"\$(db $S 'SELECT COUNT(*) FROM scan')\" = 4 ]"
mkdir -p fx && tar -xzf "$FX/store.tar.gz" -C fx && mv fx/archive/fx_legacy014 "fx/archive/$S"
cat >cfg.json <<EOF
{"stores": {"archive": {"protocol": "file", "location": "$tmp/fx/archive"},
            "raw": {"protocol": "file", "location": "$tmp/fx/raw", "stage": "$tmp/fx/raw"}}}
EOF
legacy_files() { find fx/archive/$S -type f | wc -l; }
n_legacy=$(legacy_files)
"$DJRUN" migrate legacy-external $S --config cfg.json >plan.txt 2>err; rc=$?
check "dry run: exit 0 and the plan" "[ $rc -eq 0 ] && grep -q 'dry run' plan.txt && grep -q 'objects *7 to write' plan.txt && grep -q 'unreferenced 4' plan.txt && grep -q 'estimate' plan.txt && grep -q \"path *_hash/$S/\" plan.txt || { cat plan.txt err >&2; false; }"
check "dry run: nothing changed" "[ ! -e fx/archive/_hash ] && [ -z \"\$(db $S \"SELECT column_name FROM information_schema.columns WHERE table_schema='$S' AND (column_name LIKE '%migrating' OR column_name LIKE '%backup')\")\" ]"
"$DJRUN" migrate legacy-external $S --config cfg.json --json --rows >plan.json 2>err
check "dry run --json --rows = expected-migration.json" "python3 cmp_plan.py $FX/expected-migration.json plan.json $S || { cat err >&2; false; }"
echo '{"stores": {"archive": {"protocol": "file", "location": "/nowhere"}}}' >nostore.json
"$DJRUN" migrate legacy-external $S --config nostore.json >/dev/null 2>err; rc=$?
check "a store the config lacks: exit 2 naming it" "[ $rc -eq 2 ] && grep -q \"store 'raw', which is not configured\" err"
"$DJRUN" migrate legacy-external nosuch_$$ --config cfg.json >/dev/null 2>err; rc=$?
check "unknown schema: exit 1" "[ $rc -eq 1 ] && grep -q 'no schema' err"
"$DJRUN" migrate legacy-external $S --finalize --config cfg.json >/dev/null 2>err; rc=$?
check "finalize before the swap: refused" "[ $rc -eq 2 ] && grep -q 'needs every column swapped' err"

mpi -n 4 "$DJRUN" migrate legacy-external $S --execute --until fill --item-rows 1 --config cfg.json >/dev/null 2>fill.err; rc=$?
check "fill under mpirun -n 4 (--until fill)" "[ $rc -eq 0 ] && grep -q '14 rows filled' fill.err && grep -q 'stopped after fill' fill.err || { cat fill.err >&2; false; }"
"$DJRUN" migrate status $S --config cfg.json >status 2>&1
check "status: in flight, 4 of 4 movies migrated" "grep -q 'scan.movie .*in flight: 4 rows, 4 values, 4 migrated' status || { cat status >&2; false; }"
victim=_hash/$S/bvgswn2cx2ffbbs5aagweuaove # scan.movie of (1,1) and (1,2)
check "victim object written" "[ -f fx/archive/$victim ]"
printf 'corrupted' >"fx/archive/$victim"
mpi -n 1 "$DJRUN" migrate legacy-external $S --execute --move --config cfg.json >/dev/null 2>corrupt.err; rc=$?
check "corruption detected: exit 1, hash mismatch, the key" "[ $rc -eq 1 ] && grep -q 'hash mismatch' corrupt.err && grep -q 'scan.movie {animal_id=1, scan_idx=[12]}' corrupt.err && grep -q ' 2 bad' corrupt.err || { cat corrupt.err >&2; false; }"
check "the two bad rows were reset, nothing swapped" "[ \"\$(db $S 'SELECT COUNT(*) FROM scan WHERE _movie_migrating IS NULL')\" = 2 ] && [ \"\$(db $S \"SELECT DATA_TYPE FROM information_schema.columns WHERE table_schema='$S' AND table_name='scan' AND column_name='movie'\")\" = binary ]"
check "--move kept the 0.14 object of the bad rows, removed the verified ones" "[ -f fx/archive/$S/0d/4d/0d4d2b3742be8a50865d000d62500ea9 ] && [ ! -f fx/archive/$S/ba/48/ba48100035fe6a9076a2e49d22fd5ddb ] && [ ! -f fx/archive/$S/19/c9/19c9864389f4377b35de1484c6e85b61.animal1.png ]"
mpi -n 4 "$DJRUN" migrate legacy-external $S --execute --move --json --config cfg.json >run.json 2>run.err; rc=$?
check "rerun under mpirun -n 4 repairs, verifies every row and swaps" "[ $rc -eq 0 ] && python3 -c 'import json; j=json.load(open(\"run.json\")); assert j[\"swapped\"] and j[\"rows_verified\"]==14 and j[\"rows_filled\"]==2 and j[\"ranks\"]==4, j' || { cat run.json run.err >&2; false; }"
check "--move: only the 4 unreferenced 0.14 objects are left" "[ \$(legacy_files) -eq 3 ] && [ -f fx/archive/$S/15/e9/15e9fc1a70a204baf3a24d4c4a2e17a8 ] && [ -f fx/raw/scans/animal2/scan2.tif ] && [ $n_legacy -eq 10 ]"
python3 - "$FX/expected-migration.json" "$S" fx/archive >objects.txt 2>&1 <<'PY'
import hashlib, json, os, sys
exp = json.loads(open(sys.argv[1]).read().replace("fx_legacy014", sys.argv[2]))
bad = 0
for p, o in exp["objects"].items():
    b = open(os.path.join(sys.argv[3], p), "rb").read()
    if len(b) != o["size"] or hashlib.sha256(b).hexdigest() != o["sha256"]: bad += 1; print("bad", p)
have = sorted(os.listdir(os.path.join(sys.argv[3], "_hash", sys.argv[2])))
print("objects", len(have), "bad", bad); sys.exit(bad or len(have) != len(exp["objects"]))
PY
check "the new objects are exactly the expected ones (size, sha256)" "grep -q 'objects 7 bad 0' objects.txt || { cat objects.txt >&2; false; }"
meta_dump $S >meta.txt
check "metadata text byte for byte json.dumps of the expected dict" "python3 cmp_meta.py $FX/expected-migration.json $S meta.txt >metacheck || { cat metacheck >&2; false; }"
check "every value decodes as 0.14 decoded it (54 values)" "fetch_all $S cfg.json fx file && [ \"\$(grep -o 'values [0-9]*' values_file.txt | awk '{s+=\$2} END {print s}')\" = 54 ] || { cat values_file.txt fetch_file.err >&2; false; }"
"$DJRUN" migrate legacy-external $S --execute --config cfg.json >/dev/null 2>again.err; rc=$?
check "a second run has nothing to do" "[ $rc -eq 0 ] && grep -q 'already swapped' again.err || { cat again.err >&2; false; }"
"$DJRUN" migrate legacy-external $S --finalize --config cfg.json >fin.out 2>err; rc=$?
check "finalize drops the 5 backup columns" "[ $rc -eq 0 ] && grep -q 'dropped 5 backup columns' fin.out || { cat fin.out err >&2; false; }"
show_ddl $S >ddl.got
python3 ddl.py "$FX/EXPECTED.md" $S >ddl.want
check "the tables' DDL is the reference migration's" "diff ddl.want ddl.got >&2"
check "values still decode after finalize" "fetch_all $S cfg.json fx file2"
"$DJRUN" migrate status $S --config cfg.json >status 2>&1
check "status after finalize: nothing to migrate" "grep -q 'nothing to migrate' status"

# --- a generated 0.14 schema, killed and resumed under mpirun -n 4 ------------------------------
mkdir -p gen
N=120
python3 - "$G" "$tmp/gen" $N >gen.sql <<'PY'
import hashlib, json, os, random, struct, sys, zlib
s, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(14)
def blob(data):  # a packed 1-d uint8 array as 0.14 wrote it (compressed when that helps)
    body = b"mYm\0A" + struct.pack("<QQII", 1, len(data), 9, 0) + data
    if len(body) > 1000:
        w = b"ZL123\0" + struct.pack("<Q", len(body)) + zlib.compress(body, 6)
        if len(w) < len(body): return w
    return body
ext = {}  # uuid hex -> (size, attachment_name, filepath, contents_hash)
def put(rel, data):
    p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(data)
def ext_blob(b):
    h = hashlib.md5(b).hexdigest()
    put(f"{s}/{h[:2]}/{h[2:4]}/{h}", b); ext[h] = (len(b), None, None, None); return h
def ext_attach(name, data):
    h = hashlib.md5(name.encode() + b"\0" + data).hexdigest()
    put(f"{s}/{h[:2]}/{h[2:4]}/{h}.{name}", data); ext[h] = (len(data), name, None, None); return h
def ext_file(rel, data):
    h = hashlib.md5(rel.encode()).hexdigest()
    put(rel, data); ext[h] = (len(data), None, rel, hashlib.md5(data).hexdigest()); return h
print(f"CREATE DATABASE {s}; USE {s};")
print("""CREATE TABLE `~external_gs` (
  `hash` binary(16) NOT NULL COMMENT ':uuid:hash of contents (blob), of filename + contents (attach), or relative filepath (filepath)',
  `size` bigint unsigned NOT NULL COMMENT 'size of object in bytes',
  `attachment_name` varchar(255) DEFAULT NULL COMMENT 'the filename of an attachment',
  `filepath` varchar(1000) DEFAULT NULL COMMENT 'relative filepath or attachment filename',
  `contents_hash` binary(16) DEFAULT NULL COMMENT ':uuid:used for the filepath datatype',
  `timestamp` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'automatic timestamp',
  PRIMARY KEY (`hash`)) ENGINE=InnoDB COMMENT 'external storage tracking';
CREATE TABLE `rec` (
  `subject` varchar(16) NOT NULL,
  `rec_id` int NOT NULL,
  `data` binary(16) NOT NULL COMMENT ':blob@gs:the recording',
  `extra` binary(16) DEFAULT NULL COMMENT ':blob@gs:',
  `doc` binary(16) DEFAULT NULL COMMENT ':attach@gs:notes',
  `raw` binary(16) DEFAULT NULL COMMENT ':filepath@gs:',
  `small` longblob COMMENT 'in-table',
  PRIMARY KEY (`subject`, `rec_id`),
  FOREIGN KEY (`data`) REFERENCES `~external_gs` (`hash`),
  FOREIGN KEY (`extra`) REFERENCES `~external_gs` (`hash`),
  FOREIGN KEY (`doc`) REFERENCES `~external_gs` (`hash`),
  FOREIGN KEY (`raw`) REFERENCES `~external_gs` (`hash`)) ENGINE=InnoDB COMMENT 'recordings';""")
shared = bytes(rnd.getrandbits(8) for _ in range(30000))
rows, want = [], []
for i in range(n):
    subj = "mouse%02d" % (i % 7)
    d = shared if i % 9 == 0 else bytes(40000) if i % 5 == 0 else rnd.randbytes(rnd.choice([50, 3000, 20000, 60000]))
    x = None if i % 3 == 0 else rnd.randbytes(100 + i)
    doc = None if i % 4 == 0 else (b"note %d\n" % i) * (i % 5 + 1)
    raw = None if i % 6 == 0 else rnd.randbytes(500 + i)
    hd = ext_blob(blob(d)); hx = x and ext_blob(blob(x))
    ha = doc and ext_attach(f"note{i}.txt", doc); hr = raw and ext_file(f"raw/{subj}/r{i}.dat", raw)
    lit = lambda h: "NULL" if not h else f"X'{h}'"
    rows.append(f"('{subj}', {i}, {lit(hd)}, {lit(hx)}, {lit(ha)}, {lit(hr)}, X'{blob(bytes([i % 256] * 4)).hex()}')")
    want.append({"subject": subj, "rec_id": i, "data": hashlib.sha256(d).hexdigest(),
                 "extra": x and hashlib.sha256(x).hexdigest(), "doc": doc and [f"note{i}.txt", hashlib.sha256(doc).hexdigest()],
                 "raw": raw and [f"raw/{subj}/r{i}.dat", hashlib.sha256(raw).hexdigest()]})
for h, (size, an, fp, ch) in ext.items():
    q = lambda v: "NULL" if v is None else "'%s'" % v
    print(f"INSERT INTO `~external_gs` VALUES (X'{h}', {size}, {q(an)}, {q(fp)}, {('X%s' % q(ch)) if ch else 'NULL'}, DEFAULT);")
print("INSERT INTO rec VALUES " + ",\n".join(rows) + ";")
json.dump(want, open(os.path.join(root, "..", "gen_want.json"), "w"))
PY
my <gen.sql
check "generated schema loaded" "[ \"\$(db $G 'SELECT COUNT(*) FROM rec')\" = $N ]"
cat >gcfg.json <<EOF
{"stores": {"gs": {"protocol": "file", "location": "$tmp/gen"}}}
EOF
values=$(db $G "SELECT COUNT(data) + COUNT(extra) + COUNT(doc) + COUNT(raw) FROM rec")
objs=$(db $G "SELECT COUNT(DISTINCT h) FROM (SELECT data h FROM rec UNION SELECT extra FROM rec UNION SELECT doc FROM rec) x WHERE h IS NOT NULL")
for k in 1 2 3; do
	base=$(find gen/_hash -type f 2>/dev/null | wc -l)
	at=$(python3 -c "import random; print($objs if $k == 3 else min($objs - 1, $base + random.randint(2, $objs // 4)))")
	setsid "$MPIEXEC" --oversubscribe -n 4 "$DJRUN" migrate legacy-external $G --execute \
		--item-rows 2 --batch 1 --config gcfg.json >/dev/null 2>"kill$k.err" &
	pid=$!
	for _ in $(seq 1 3000); do
		n=$(find gen/_hash -type f 2>/dev/null | wc -l)
		{ [ "$n" -ge "$at" ] || ! kill -0 $pid 2>/dev/null; } && break
		sleep 0.02
	done
	[ $k -eq 3 ] && sleep "0.$((RANDOM % 5))"
	pkill -KILL -s "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sleep 0.2
	pkill -KILL -s "$pid" 2>/dev/null
	echo "kill $k at $n objects (target $at of $objs), ${SECONDS}s"
done
"$DJRUN" migrate status $G --config gcfg.json >gstatus 2>&1; rc=$?
check "status after the kills" "[ $rc -eq 0 ] && grep -Eq 'in flight|swapped|not started' gstatus || { cat gstatus >&2; false; }"
# (the third kill lands in verify or swap; a fast machine may finish the swap first: the killed
# run then verified every row itself, since nothing is swapped before that)
mpi -n 4 "$DJRUN" migrate legacy-external $G --execute --json --item-rows 8 --config gcfg.json >gen.json 2>gen.err; rc=$?
check "resumed run: exit 0, every value verified, swapped" "[ $rc -eq 0 ] && python3 -c 'import json; j=json.load(open(\"gen.json\")); assert j[\"rows_bad\"]==0 and ((j[\"rows_verified\"]==$values and j[\"swapped\"]) or j[\"end\"].startswith(\"already swapped\")), j' || { cat gen.json gen.err >&2; false; }"
check "no temporary files left in the store" "[ -z \"\$(find gen -name '*.tmp*' -o -name '.*' -type f)\" ]"
rm -rf dl_gen
"$DJRUN" fetch $G.Rec --config gcfg.json --download dl_gen >gen_after.jsonl 2>err
python3 - gen_want.json gen_after.jsonl gen >gencheck 2>&1 <<'PY'
import hashlib, json, os, sys
want = json.load(open(sys.argv[1])); got = [json.loads(l) for l in open(sys.argv[2])]
key = lambda r: (r["subject"], r["rec_id"])
got = {key(r): r for r in got}; bad = 0
for w in want:
    g = got.get(key(w))
    sha = lambda a: a and hashlib.sha256(bytes(a["data"])).hexdigest()
    ok = g and sha(g["data"]) == w["data"] and sha(g["extra"]) == w["extra"]
    if ok and w["doc"]:
        a = g["doc"]["$attach"]; ok = a["name"] == w["doc"][0] and hashlib.sha256(open(a["path"], "rb").read()).hexdigest() == w["doc"][1]
    elif ok: ok = g["doc"] is None
    if ok and w["raw"]:
        o = g["raw"]["$object"]; ok = o["path"] == w["raw"][0] and hashlib.sha256(open(os.path.join(sys.argv[3], o["path"]), "rb").read()).hexdigest() == w["raw"][1]
    elif ok: ok = g["raw"] is None
    if not ok: bad += 1; print("bad", key(w))
print("rows", len(want), "bad", bad); sys.exit(1 if bad or len(got) != len(want) else 0)
PY
check "every generated value decodes as generated" "grep -q \"rows $N bad 0\" gencheck || { head -5 gencheck err >&2; false; }"

# --- a 0.14 object missing from the store: named, nothing swapped --------------------------------

sed "s/fx_legacy014/$M/g" "$FX/mariadb.sql" | my
mkdir -p mis && tar -xzf "$FX/store.tar.gz" -C mis && mv mis/archive/fx_legacy014 "mis/archive/$M"
rm "mis/archive/$M/7f/88/7f883246f3f28e5a1f246e9d8ecf8de9" # scan.movie of (2,1)
sed "s|$tmp/fx/|$tmp/mis/|g" cfg.json >miscfg.json
mpi -n 2 "$DJRUN" migrate legacy-external $M --execute --config miscfg.json >/dev/null 2>mis.err; rc=$?
check "missing 0.14 object: exit 1 naming key and path, 13 rows filled, nothing swapped" "[ $rc -eq 1 ] && grep -q 'scan.movie {animal_id=2, scan_idx=1}: 0.14 object $M/7f/88/7f883246f3f28e5a1f246e9d8ecf8de9 is missing' mis.err && grep -q '13 rows filled.* 1 failed' mis.err && [ \"\$(db $M \"SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='$M' AND column_name LIKE '%backup'\")\" = 0 ] || { cat mis.err >&2; false; }"
my -e "DROP DATABASE IF EXISTS $M"

# --- the fixture on S3 stores, one process, --move ---------------------------------------------
if need DJ_TEST_S3_ENDPOINT; then
	sed "s/fx_legacy014/$S3S/g" "$FX/mariadb.sql" | my
	mkdir -p s3fx && tar -xzf "$FX/store.tar.gz" -C s3fx && mv s3fx/archive/fx_legacy014 "s3fx/archive/$S3S"
	python3 - "$tmp" "$S3S" >s3cfg.json <<'PY'
import json, os, sys
e = os.environ
st = lambda loc: {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"], "bucket": e["DJ_TEST_S3_BUCKET"],
                  "location": loc, "access_key": e["DJ_TEST_S3_ACCESS_KEY"], "secret_key": e["DJ_TEST_S3_SECRET_KEY"], "secure": False}
print(json.dumps({"stores": {"archive": st(f"{sys.argv[2]}/archive"), "raw": st(f"{sys.argv[2]}/raw")}}))
PY
	up=0
	for st in archive raw; do
		(cd s3fx/$st && find . -type f | sed 's|^\./||') | while read -r k; do
			"$DJRUN" store put $st "$k" "s3fx/$st/$k" --config s3cfg.json >/dev/null || echo fail
		done >>upload.err
	done
	check "fixture store uploaded to the S3 server" "[ ! -s upload.err ] && [ \$(\"$DJRUN\" store ls archive --config s3cfg.json | wc -l) -eq 10 ]"
	"$DJRUN" migrate legacy-external $S3S --config s3cfg.json --json --rows >s3plan.json 2>err
	check "S3: the plan = expected-migration.json" "python3 cmp_plan.py $FX/expected-migration.json s3plan.json $S3S || { cat err >&2; false; }"
	mpi -n 1 "$DJRUN" migrate legacy-external $S3S --execute --move --json --config s3cfg.json >s3run.json 2>s3.err; rc=$?
	check "S3: mpirun -n 1 --move: every row verified, swapped" "[ $rc -eq 0 ] && python3 -c 'import json; j=json.load(open(\"s3run.json\")); assert j[\"swapped\"] and j[\"rows_verified\"]==14, j' || { cat s3run.json s3.err >&2; false; }"
	check "S3: 7 new objects, only the 3 unreferenced 0.14 objects left" "[ \$(\"$DJRUN\" store ls archive _hash/$S3S/ --config s3cfg.json | wc -l) -eq 7 ] && [ \$(\"$DJRUN\" store ls archive $S3S/ --config s3cfg.json | wc -l) -eq 3 ]"
	meta_dump $S3S >s3meta.txt
	check "S3: metadata byte for byte" "python3 cmp_meta.py $FX/expected-migration.json $S3S s3meta.txt >/dev/null"
	mkdir -p s3root/raw/scans && for f in $(cd s3fx/raw && find . -type f); do mkdir -p "s3root/raw/$(dirname "$f")"; "$DJRUN" store get raw "${f#./}" -o "s3root/raw/$f" --config s3cfg.json; done
	check "S3: every value decodes as 0.14 decoded it" "fetch_all $S3S s3cfg.json s3root s3 || { cat values_s3.txt fetch_s3.err >&2; false; }"
	"$DJRUN" migrate legacy-external $S3S --finalize --config s3cfg.json >/dev/null 2>&1
	show_ddl $S3S >s3ddl.got
	python3 ddl.py "$FX/EXPECTED.md" $S3S >s3ddl.want
	check "S3: finalized DDL is the reference migration's" "diff s3ddl.want s3ddl.got >&2"
fi

echo "migrate_legacy: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
