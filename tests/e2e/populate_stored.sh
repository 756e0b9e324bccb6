#!/usr/bin/env bash
# djrun populate with store-backed outputs and inputs of every kind the make protocol carries,
# on MariaDB (populate_stored_postgres.sh runs it with POP_BACKEND=postgresql): a Computed table with
# <blob@> (an array, and a nullable one deduplicated against it), <npy@>, <object@> and
# <attach@> from {"file": ...}, an in-table <attach>, and a part with <blob@> arrays.
#  - one process (rank 0 writes the objects while it commits) and mpirun -n 3 (the workers write
#    them and send rank 0 only their metadata): the same decoded values, the same content hashes,
#    every object verified by `djrun verify --deep`, and under MPI rank 0 receives a small
#    fraction of the bytes (the summary's bytes_moved)
#  - a downstream table fetching <blob@>, <npy@> and <object@> inputs: under MPI the workers
#    read them from the store (rank 0 ships metadata), a damaged object fails its key alone
#    with an InputError, and the values equal the one-process run's
#  - a key whose output the worker cannot encode (a JSON list for a <blob@>): an error job with
#    the OutputError, no row; the other keys go on
#  - the same under mpirun -n 2 on the S3 server (SigV4 checked), and with a wrong secret: every
#    key fails with an error naming the refused authentication, no row is written
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
backend=${POP_BACKEND:-mysql}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"
if [ "$backend" = postgresql ]; then
	need DJ_TEST_PG_HOST || exit $([ $fails -gt 0 ] && echo 1 || echo 77)
else
	need DJ_TEST_MYSQL_HOST || exit $([ $fails -gt 0 ] && echo 1 || echo 77)
fi
tmp=$(mktemp -d)
P=djt_$$_st
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
pg() { PGPASSWORD=$DJ_TEST_PG_PASS psql -X -q -v ON_ERROR_STOP=1 -h "$DJ_TEST_PG_HOST" -p "$DJ_TEST_PG_PORT" -U "$DJ_TEST_PG_USER" -d "${DJ_TEST_PG_DB:-postgres}" "$@"; }
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
export DJ_IGNORE_CONFIG_FILE=1
if [ "$backend" = postgresql ]; then
	sql() { pg -tA -c "SET search_path TO $1" -c "$2"; }
	declare_schema() { pg -c "CREATE SCHEMA $1" && pg -c "SET search_path TO $1" -f "$2"; }
	drop() { for s in one mpi s3 bad; do pg -c "DROP SCHEMA IF EXISTS ${P}_$s CASCADE" 2>/dev/null; done; }
	export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
		DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
else
	sql() { my -N "$1" -e "$2"; }
	declare_schema() { my -e "CREATE DATABASE $1" && my "$1" <"$2"; }
	drop() { for s in one mpi s3 bad; do my -e "DROP DATABASE IF EXISTS ${P}_$s" 2>/dev/null; done; }
	export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER \
		DJ_PASS=$DJ_TEST_MYSQL_PASS
fi
trap 'drop; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
# Open MPI's own allocations are never freed: keep LeakSanitizer on for our code only.
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
mpi() { timeout 300 "$MPIEXEC" --oversubscribe "$@"; }

# --- stores: a file store, and the S3 server with the right and a wrong secret ----------------
mkdir -p store
python3 - "$tmp" "$P" <<'PY'
import copy, json, os, sys
tmp, p = sys.argv[1], sys.argv[2]
e = os.environ
stores = {"default": "f", "f": {"protocol": "file", "location": f"{tmp}/store"}}
if e.get("DJ_TEST_S3_ENDPOINT"):
    stores["s3"] = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"],
                    "bucket": e["DJ_TEST_S3_BUCKET"], "location": p,
                    "access_key": e["DJ_TEST_S3_ACCESS_KEY"], "secret_key": e["DJ_TEST_S3_SECRET_KEY"],
                    "secure": False}
json.dump({"stores": stores}, open(f"{tmp}/datajoint.json", "w"))
if "s3" in stores:
    bad = copy.deepcopy(stores)
    bad["s3"]["secret_key"] = "not-the-secret"
    json.dump({"stores": bad}, open(f"{tmp}/bad.json", "w"))
PY
cfg=$tmp/datajoint.json

# --- the pipeline, declared as datajoint-python 2.x declares it -------------------------------
N=12
ddl() { # ddl STORE > file.sql
	python3 - "$backend" "$1" "$N" <<'PY'
import sys
backend, st, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = ",".join(f"({i},'2026-02-{i:02d}')" for i in range(1, n + 1))
if backend == "mysql":
    print(f"""
CREATE TABLE `recording` (
  `rec_id` int NOT NULL COMMENT ':int32:',
  `rec_date` date NOT NULL COMMENT ':date:',
  PRIMARY KEY (`rec_id`,`rec_date`)
) ENGINE=InnoDB COMMENT='a recording';
CREATE TABLE `__features` (
  `rec_id` int NOT NULL COMMENT ':int32:',
  `rec_date` date NOT NULL COMMENT ':date:',
  `trace` json NOT NULL COMMENT ':<blob@{st}>:the trace',
  `spectrum` json NOT NULL COMMENT ':<npy@{st}>:',
  `report` json NOT NULL COMMENT ':<object@{st}>:',
  `stamp` json NOT NULL COMMENT ':<attach@{st}>:',
  `notes` longblob NOT NULL COMMENT ':<attach>:',
  `extra` json DEFAULT NULL COMMENT ':<blob@{st}>:',
  `mean` double NOT NULL COMMENT ':float64:',
  PRIMARY KEY (`rec_id`,`rec_date`),
  CONSTRAINT `__features_ibfk_1` FOREIGN KEY (`rec_id`,`rec_date`) REFERENCES `recording` (`rec_id`,`rec_date`) ON UPDATE CASCADE
) ENGINE=InnoDB COMMENT='features';
CREATE TABLE `__features__peak` (
  `rec_id` int NOT NULL COMMENT ':int32:',
  `rec_date` date NOT NULL COMMENT ':date:',
  `peak_idx` smallint NOT NULL COMMENT ':int16:',
  `shape` json NOT NULL COMMENT ':<blob@{st}>:',
  PRIMARY KEY (`rec_id`,`rec_date`,`peak_idx`),
  CONSTRAINT `__features__peak_ibfk_1` FOREIGN KEY (`rec_id`,`rec_date`) REFERENCES `__features` (`rec_id`,`rec_date`) ON UPDATE CASCADE
) ENGINE=InnoDB COMMENT='a peak';
CREATE TABLE `__summary` (
  `rec_id` int NOT NULL COMMENT ':int32:',
  `rec_date` date NOT NULL COMMENT ':date:',
  `total` double NOT NULL COMMENT ':float64:',
  `report_len` int NOT NULL COMMENT ':int32:',
  PRIMARY KEY (`rec_id`,`rec_date`),
  CONSTRAINT `__summary_ibfk_1` FOREIGN KEY (`rec_id`,`rec_date`) REFERENCES `__features` (`rec_id`,`rec_date`) ON UPDATE CASCADE
) ENGINE=InnoDB COMMENT='from the features';
INSERT INTO `recording` VALUES {rows};""")
else:
    print(f"""
CREATE TABLE "recording" ("rec_id" integer NOT NULL, "rec_date" date NOT NULL,
  PRIMARY KEY ("rec_id","rec_date"));
COMMENT ON TABLE "recording" IS 'a recording';
COMMENT ON COLUMN "recording"."rec_id" IS ':int32:';
COMMENT ON COLUMN "recording"."rec_date" IS ':date:';
CREATE TABLE "__features" ("rec_id" integer NOT NULL, "rec_date" date NOT NULL,
  "trace" jsonb NOT NULL, "spectrum" jsonb NOT NULL, "report" jsonb NOT NULL,
  "stamp" jsonb NOT NULL, "notes" bytea NOT NULL, "extra" jsonb DEFAULT NULL,
  "mean" double precision NOT NULL,
  PRIMARY KEY ("rec_id","rec_date"),
  FOREIGN KEY ("rec_id","rec_date") REFERENCES "recording" ("rec_id","rec_date") ON UPDATE CASCADE);
COMMENT ON TABLE "__features" IS 'features';
COMMENT ON COLUMN "__features"."rec_id" IS ':int32:';
COMMENT ON COLUMN "__features"."rec_date" IS ':date:';
COMMENT ON COLUMN "__features"."trace" IS ':<blob@{st}>:the trace';
COMMENT ON COLUMN "__features"."spectrum" IS ':<npy@{st}>:';
COMMENT ON COLUMN "__features"."report" IS ':<object@{st}>:';
COMMENT ON COLUMN "__features"."stamp" IS ':<attach@{st}>:';
COMMENT ON COLUMN "__features"."notes" IS ':<attach>:';
COMMENT ON COLUMN "__features"."extra" IS ':<blob@{st}>:';
COMMENT ON COLUMN "__features"."mean" IS ':float64:';
CREATE TABLE "__features__peak" ("rec_id" integer NOT NULL, "rec_date" date NOT NULL,
  "peak_idx" smallint NOT NULL, "shape" jsonb NOT NULL,
  PRIMARY KEY ("rec_id","rec_date","peak_idx"),
  FOREIGN KEY ("rec_id","rec_date") REFERENCES "__features" ("rec_id","rec_date") ON UPDATE CASCADE);
COMMENT ON TABLE "__features__peak" IS 'a peak';
COMMENT ON COLUMN "__features__peak"."rec_id" IS ':int32:';
COMMENT ON COLUMN "__features__peak"."rec_date" IS ':date:';
COMMENT ON COLUMN "__features__peak"."peak_idx" IS ':int16:';
COMMENT ON COLUMN "__features__peak"."shape" IS ':<blob@{st}>:';
CREATE TABLE "__summary" ("rec_id" integer NOT NULL, "rec_date" date NOT NULL,
  "total" double precision NOT NULL, "report_len" integer NOT NULL,
  PRIMARY KEY ("rec_id","rec_date"),
  FOREIGN KEY ("rec_id","rec_date") REFERENCES "__features" ("rec_id","rec_date") ON UPDATE CASCADE);
COMMENT ON TABLE "__summary" IS 'from the features';
COMMENT ON COLUMN "__summary"."rec_id" IS ':int32:';
COMMENT ON COLUMN "__summary"."rec_date" IS ':date:';
COMMENT ON COLUMN "__summary"."total" IS ':float64:';
COMMENT ON COLUMN "__summary"."report_len" IS ':int32:';
INSERT INTO "recording" VALUES {rows};""")
PY
}
ddl f >f.sql && ddl s3 >s3.sql || exit 1
for s in one mpi; do declare_schema ${P}_$s f.sql >/dev/null; done
check "schemas declared" "[ \"\$(sql ${P}_mpi 'SELECT COUNT(*) FROM recording')\" = $N ]"

# The make: .npy files written with the standard library only; key 6 gives a JSON list for a
# <blob@> column (refused where it is encoded).
cat >make.py <<'PY'
#!/usr/bin/env python3
import json, os, struct
def npy(path, fmt, descr, shape, values):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % d for d in shape) if len(shape) > 1 else "%d," % shape[0])
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))
key = json.load(open(os.environ["DJRUN_KEY_JSON"]))
i = key["rec_id"]
assert key["rec_date"] == "2026-02-%02d" % i, key
out = os.environ["DJRUN_OUTPUT_DIR"]
os.makedirs(os.path.join(out, "parts"))
trace = [i * 1000.0 + k / 8 for k in range(1000)]
npy(os.path.join(out, "t.npy"), "d", "<f8", (1000,), trace)
npy(os.path.join(out, "s.npy"), "i", "<i4", (2, 3), [i, i + 1, i + 2, i + 3, i + 4, i + 5])
open(os.path.join(out, "report.txt"), "w").write("report for recording %d\n" % i)
open(os.path.join(out, "stamp.bin"), "wb").write(bytes(range(i, i + 40)))
open(os.path.join(out, "notes.txt"), "w").write("notes %d" % i)
row = {"trace": {"npy": "t.npy"}, "spectrum": {"npy": "s.npy"}, "report": {"file": "report.txt"},
       "stamp": {"file": "stamp.bin"}, "notes": {"file": "notes.txt"},
       "extra": None if i % 2 == 0 else {"npy": "t.npy"}, "mean": sum(trace) / len(trace)}
if i == 6:
    row["trace"] = [1, 2, 3]
json.dump(row, open(os.path.join(out, "row.json"), "w"))
with open(os.path.join(out, "parts", "Peak.jsonl"), "w") as f:
    for p in range(2):
        npy(os.path.join(out, "p%d.npy" % p), "h", "<i2", (3,), [i, p, i * p])
        f.write(json.dumps({"peak_idx": p, "shape": {"npy": "p%d.npy" % p}}) + "\n")
PY
chmod +x make.py

# fetch SCHEMA: every row of Features and Peak, decoded (<npy@> loaded), as normalised JSON:
# object paths and timestamps (schema- and run-specific) replaced by their extension and size.
fetch_norm() {
	"$DJRUN" fetch "$1.Features" --load --config "$cfg" >"$1.f.jsonl" 2>>fetch.err &&
		"$DJRUN" fetch "$1.Features.Peak" --config "$cfg" >"$1.p.jsonl" 2>>fetch.err || return 1
	python3 - "$1" <<'PY'
import json, sys
s = sys.argv[1]
def norm(v):
    if isinstance(v, dict) and "$object" in v:
        o = v["$object"]
        return {"object": [o.get("ext"), o.get("size"), o.get("is_dir")]}
    return v
rows = [{k: norm(v) for k, v in json.loads(l).items()} for l in open(s + ".f.jsonl")]
peaks = [json.loads(l) for l in open(s + ".p.jsonl")]
json.dump({"rows": rows, "peaks": peaks}, open(s + ".norm.json", "w"), sort_keys=True)
PY
}
# hashes SCHEMA: the content hashes of every <blob@> and <attach@> value, by key
hashes() {
	if [ "$backend" = postgresql ]; then
		sql "$1" "SELECT rec_id, trace->>'hash', stamp->>'hash', COALESCE(extra->>'hash','-') FROM __features ORDER BY rec_id"
	else
		sql "$1" "SELECT rec_id, JSON_VALUE(trace,'\$.hash'), JSON_VALUE(stamp,'\$.hash'), COALESCE(JSON_VALUE(extra,'\$.hash'),'-') FROM __features ORDER BY rec_id"
	fi
}
summary_bytes() { python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if '\"summary\"' in l or 'bytes_moved' in l][-1]['bytes_moved'])" "$1"; }
q='`'
[ "$backend" = postgresql ] && q='"'
error_of() { sql "$1" "SELECT error_message FROM $q~~features$q WHERE status='error'"; }
jobs_left() { sql "$1" "SELECT COUNT(*) FROM $q~~features$q"; }
summary_errors() { sql "$1" "SELECT error_message FROM $q~~summary$q WHERE status='error'"; }

# --- one process: rank 0 writes the objects ----------------------------------------------------
"$DJRUN" populate ${P}_one.Features --reserve-jobs --json --config "$cfg" -- "$tmp/make.py" >one.json 2>one.err
rc=$?
check "one process: exit 1 (key 6 failed)" "[ $rc -eq 1 ]"
check "one process: $((N - 1)) rows" "[ \"\$(sql ${P}_one 'SELECT COUNT(*) FROM __features')\" = $((N - 1)) ]"
check "one process: key 6's OutputError names the list" "error_of ${P}_one | grep -q 'OutputError.*JSON arrays are not taken'"

# --- mpirun -n 3: the workers (and rank 0's own thread) write the objects ------------------------
mpi -n 3 "$DJRUN" populate ${P}_mpi.Features --json --config "$cfg" -- "$tmp/make.py" >mpi.json 2>mpi.err
rc=$?
check "mpirun -n 3: exit 1 (key 6 failed)" "[ $rc -eq 1 ] || { cat mpi.err >&2; false; }"
check "mpirun -n 3: $((N - 1)) rows, $((2 * (N - 1))) part rows" \
	"[ \"\$(sql ${P}_mpi 'SELECT COUNT(*) FROM __features')\" = $((N - 1)) ] && [ \"\$(sql ${P}_mpi 'SELECT COUNT(*) FROM __features__peak')\" = $((2 * (N - 1))) ]"
check "mpirun -n 3: key 6's OutputError names the list" "error_of ${P}_mpi | grep -q 'OutputError.*JSON arrays are not taken'"
check "mpirun -n 3: no job left but key 6's error" \
	"[ \"\$(jobs_left ${P}_mpi)\" = 1 ]"
fetch_norm ${P}_one && fetch_norm ${P}_mpi
check "decoded values: MPI run == one process (arrays, npy, objects, attachments)" \
	"cmp -s ${P}_one.norm.json ${P}_mpi.norm.json || { diff <(python3 -m json.tool ${P}_one.norm.json) <(python3 -m json.tool ${P}_mpi.norm.json) | head -20 >&2; false; }"
cat >key3.py <<'PY'
import json, sys
r = [x for x in json.load(open(sys.argv[1]))["rows"] if x["rec_id"] == 3][0]
t = r["trace"]
assert t["shape"] == [1000] and t["data"][:2] == [3000.0, 3000.125], t["data"][:3]
assert r["extra"] == t, "extra differs from trace"
assert r["notes"]["$attach"]["name"] == "notes.txt", r["notes"]
assert r["report"] == {"object": [".txt", 23, False]}, r["report"]
PY
check "decoded values: key 3's trace, extra, notes and report are right" "python3 key3.py ${P}_mpi.norm.json"
check "content hashes: MPI run == one process" "[ \"\$(hashes ${P}_one)\" = \"\$(hashes ${P}_mpi)\" ] && [ -n \"\$(hashes ${P}_one)\" ]"
check "objects: the <npy@> and <object@> files are in the MPI schema's section" \
	"[ \$(find store/_schema/${P}_mpi -name '*.npy' | wc -l) -eq $((N - 1)) ] && [ \$(find store/_schema/${P}_mpi -name '*.txt' | wc -l) -eq $((N - 1)) ]"
"$DJRUN" verify ${P}_mpi --deep --config "$cfg" >verify.out 2>&1
rc=$?
check "verify --deep: every object of the MPI run is intact" "[ $rc -eq 0 ] || { cat verify.out >&2; false; }"
one_b=$(summary_bytes one.json) mpi_b=$(summary_bytes mpi.json)
check "MPI: rank 0 received the metadata, not the arrays ($mpi_b vs $one_b bytes)" \
	"[ -n '$mpi_b' ] && [ -n '$one_b' ] && [ \$((mpi_b * 3)) -lt $one_b ]"

# --- inputs from the store: under MPI the workers read them (rank 0 ships the metadata) ---------
cat >summary.py <<'PY'
#!/usr/bin/env python3
import ast, json, os, struct
def npy(path):
    raw = open(path, "rb").read()
    hl = struct.unpack("<H", raw[8:10])[0]
    h = ast.literal_eval(raw[10:10 + hl].decode())
    n = 1
    for d in h["shape"]:
        n *= d
    return struct.unpack("<%d%s" % (n, {"<f8": "d", "<i4": "i"}[h["descr"]]), raw[10 + hl:])
key = json.load(open(os.environ["DJRUN_KEY_JSON"]))
trace, spec = npy("inputs/Features.trace.npy"), npy("inputs/Features.spectrum.npy")
report = open("inputs/Features.report.txt").read()
assert report == "report for recording %d\n" % key["rec_id"], report
json.dump({"total": sum(trace) + sum(spec), "report_len": len(report)},
          open(os.path.join(os.environ["DJRUN_OUTPUT_DIR"], "row.json"), "w"))
PY
chmod +x summary.py
inputs=(--fetch Features.trace --fetch Features.spectrum --fetch Features.report)
"$DJRUN" populate ${P}_one.Summary "${inputs[@]}" --json --config "$cfg" -- "$tmp/summary.py" >sum1.json 2>sum1.err
rc=$?
check "inputs, one process: exit 0, $((N - 1)) rows" \
	"[ $rc -eq 0 ] && [ \"\$(sql ${P}_one 'SELECT COUNT(*) FROM __summary')\" = $((N - 1)) ] || { tail -3 sum1.err >&2; false; }"
# key 4's trace object damaged in the MPI schema's store: its worker must notice
bad=$(sql ${P}_mpi "SELECT trace FROM __features WHERE rec_id = 4" | python3 -c "import json,sys; print(json.load(sys.stdin)['path'])")
chmod u+w "store/$bad" && printf 'XXXX' | dd of="store/$bad" bs=1 seek=40 conv=notrunc 2>/dev/null
mpi -n 3 "$DJRUN" populate ${P}_mpi.Summary "${inputs[@]}" --json --config "$cfg" -- "$tmp/summary.py" >sum3.json 2>sum3.err
rc=$?
check "inputs, mpirun -n 3: exit 1, $((N - 2)) rows (key 4's input is damaged)" \
	"[ $rc -eq 1 ] && [ \"\$(sql ${P}_mpi 'SELECT COUNT(*) FROM __summary')\" = $((N - 2)) ] || { tail -3 sum3.err >&2; false; }"
check "inputs, mpirun -n 3: key 4 failed with an InputError naming its input" \
	"summary_errors ${P}_mpi | grep -q 'InputError: --fetch Features.trace' || { summary_errors ${P}_mpi >&2; false; }"
check "inputs, mpirun -n 3: the same totals as one process" \
	"[ \"\$(sql ${P}_mpi 'SELECT rec_id, total, report_len FROM __summary ORDER BY rec_id')\" = \"\$(sql ${P}_one 'SELECT rec_id, total, report_len FROM __summary WHERE rec_id <> 4 ORDER BY rec_id')\" ]"
s1=$(summary_bytes sum1.json) s3=$(summary_bytes sum3.json)
check "inputs, MPI: rank 0 shipped the metadata, not the arrays ($s3 vs $s1 bytes)" \
	"[ -n '$s3' ] && [ -n '$s1' ] && [ \$((s3 * 3)) -lt $s1 ]"

# --- S3: the workers write to the S3 server; a wrong secret fails every key ---------------------
if need DJ_TEST_S3_ENDPOINT; then
	declare_schema ${P}_s3 s3.sql >/dev/null && declare_schema ${P}_bad s3.sql >/dev/null
	mpi -n 2 "$DJRUN" populate ${P}_s3.Features --config "$cfg" -- "$tmp/make.py" >s3.out 2>s3.err
	rc=$?
	check "S3, mpirun -n 2: exit 1, $((N - 1)) rows" \
		"[ $rc -eq 1 ] && [ \"\$(sql ${P}_s3 'SELECT COUNT(*) FROM __features')\" = $((N - 1)) ] || { tail -5 s3.err >&2; error_of ${P}_s3 | head -3 >&2; false; }"
	fetch_norm ${P}_s3
	check "S3: decoded values == one process on the file store" "cmp -s ${P}_one.norm.json ${P}_s3.norm.json"
	"$DJRUN" verify ${P}_s3 --deep --config "$cfg" >verify3.out 2>&1
	rc=$?
	check "S3: verify --deep passes" "[ $rc -eq 0 ] || { cat verify3.out >&2; false; }"
	mpi -n 2 "$DJRUN" populate ${P}_bad.Features --config bad.json -- "$tmp/make.py" >bad.out 2>bad.err
	rc=$?
	check "S3, wrong secret: exit 1, no row" \
		"[ $rc -eq 1 ] && [ \"\$(sql ${P}_bad 'SELECT COUNT(*) FROM __features')\" = 0 ]"
	check "S3, wrong secret: every key's error names the refused authentication" \
		"[ \"\$(error_of ${P}_bad | grep -c 'authentication failed')\" = $((N - 1)) ] || { error_of ${P}_bad | head -3 >&2; false; }"
fi

echo "populate_stored ($backend): $passes passed, $fails failed"
[ $fails -eq 0 ]
