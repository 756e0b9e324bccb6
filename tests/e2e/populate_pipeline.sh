#!/usr/bin/env bash
# djrun populate on MariaDB with what a real pipeline has (schema in datajoint-python's layout):
# keys with date and uuid attributes, a master with a part table, inputs fetched from the
# parent (--fetch: a <blob> array as .npy, a plain value as .json), and the commit's failure
# paths:
#  - batch commit: one key's value is refused by the server (too long for its column) inside a
#    batch of 20: that key alone fails (an error job naming the server's message), the other 19
#    and their 3 part rows each are inserted
#  - a parent deleted after its key was dispatched, before the insert: the key is skipped (no
#    row, no error, its job gone)
#  - two djrun processes reserving the same table at the same time: every key done exactly once
#  - --priority: only jobs of that priority or more urgent are taken
#  - --fetch of a row that does not exist (the inputs' table restricted by --where): the key
#    fails with InputError before any make runs
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"
need DJ_TEST_MYSQL_HOST || exit $([ $fails -gt 0 ] && echo 1 || echo 77)
tmp=$(mktemp -d)
S=djt_$$_pipe
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
db() { my -N "$S" -e "$1"; }
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
export DJ_IGNORE_CONFIG_FILE=1 DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT \
	DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
trap 'my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
# Open MPI's own allocations are never freed: keep LeakSanitizer on for our code only.
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"

N=20
blob=$(xxd -p -c 1000 "${DJ_SHARED_DIR:?}/vectors/blob/arr_float64_2x3.blob") || exit 1
rows=$(for i in $(seq 1 $N); do
	printf "('mouse%02d','2026-01-%02d',UNHEX(REPLACE('%08x-0000-4000-8000-%012x','-','')),X'%s','note %d')," \
		$((i % 3)) $i $i $i "$blob" $i
done | sed 's/,$//')
my -e "CREATE DATABASE $S" && my "$S" <<SQL
CREATE TABLE \`session\` (
  \`subject\` varchar(16) NOT NULL COMMENT ':varchar(16):',
  \`session_date\` date NOT NULL COMMENT ':date:',
  \`session_uuid\` binary(16) NOT NULL COMMENT ':uuid:',
  \`trace\` longblob NOT NULL COMMENT ':<blob>:a 2x3 array',
  \`note\` varchar(32) NOT NULL COMMENT ':varchar(32):',
  PRIMARY KEY (\`subject\`,\`session_date\`,\`session_uuid\`)
) ENGINE=InnoDB COMMENT='a recording session';
CREATE TABLE \`__analysis\` (
  \`subject\` varchar(16) NOT NULL COMMENT ':varchar(16):',
  \`session_date\` date NOT NULL COMMENT ':date:',
  \`session_uuid\` binary(16) NOT NULL COMMENT ':uuid:',
  \`total\` double NOT NULL COMMENT ':float64:',
  \`label\` varchar(8) NOT NULL COMMENT ':varchar(8):',
  PRIMARY KEY (\`subject\`,\`session_date\`,\`session_uuid\`),
  CONSTRAINT \`__analysis_ibfk_1\` FOREIGN KEY (\`subject\`,\`session_date\`,\`session_uuid\`) REFERENCES \`session\` (\`subject\`,\`session_date\`,\`session_uuid\`) ON UPDATE CASCADE
) ENGINE=InnoDB COMMENT='per-session analysis';
CREATE TABLE \`__analysis__unit\` (
  \`subject\` varchar(16) NOT NULL COMMENT ':varchar(16):',
  \`session_date\` date NOT NULL COMMENT ':date:',
  \`session_uuid\` binary(16) NOT NULL COMMENT ':uuid:',
  \`unit_id\` smallint NOT NULL COMMENT ':int16:',
  \`value\` double NOT NULL COMMENT ':float64:',
  PRIMARY KEY (\`subject\`,\`session_date\`,\`session_uuid\`,\`unit_id\`),
  CONSTRAINT \`__analysis__unit_ibfk_1\` FOREIGN KEY (\`subject\`,\`session_date\`,\`session_uuid\`) REFERENCES \`__analysis\` (\`subject\`,\`session_date\`,\`session_uuid\`) ON UPDATE CASCADE
) ENGINE=InnoDB COMMENT='one unit';
INSERT INTO \`session\` VALUES $rows;
SQL
check "pipeline declared" "[ $? -eq 0 ]"

# The make: checks the key's forms and the fetched inputs, writes the row and 3 part rows.
# Session 7's label is too long for varchar(8) (the server refuses it). POP_HOLD=i: for session
# i, wait until the file 'go' exists (the test deletes the parent meanwhile).
cat >make.py <<'PY'
#!/usr/bin/env python3
import ast, json, os, re, struct, sys, time
key = json.load(open(os.environ["DJRUN_KEY_JSON"]))
i = int(key["session_uuid"].split("-")[0], 16)
assert re.fullmatch(r"[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}", key["session_uuid"]), key
assert key["session_date"] == "2026-01-%02d" % i, key
assert key["subject"] == "mouse%02d" % (i % 3), key
raw = open("inputs/Session.trace.npy", "rb").read()
assert raw[:6] == b"\x93NUMPY", raw[:10]
hl = struct.unpack("<H", raw[8:10])[0]
hdr = ast.literal_eval(raw[10:10 + hl].decode())
assert hdr["descr"] == "<f8" and tuple(hdr["shape"]) == (2, 3), hdr
vals = struct.unpack("<6d", raw[10 + hl:])
note = json.load(open("inputs/Session.note.json"))
assert note == "note %d" % i, note
if os.environ.get("POP_HOLD") == str(i):
    open(os.path.join(os.environ["POP_DIR"], "holding"), "w").close()
    while not os.path.exists(os.path.join(os.environ["POP_DIR"], "go")):
        time.sleep(0.05)
time.sleep(float(os.environ.get("POP_SLEEP", "0")))
out = os.environ["DJRUN_OUTPUT_DIR"]
os.makedirs(os.path.join(out, "parts"))
with open(os.path.join(out, "row.json"), "w") as f:
    json.dump({"total": sum(vals) + i, "label": "waytoolongvalue" if i == 7 else "s%d" % i}, f)
with open(os.path.join(out, "parts", "Unit.jsonl"), "w") as f:
    for u in range(3):
        f.write(json.dumps({"unit_id": u, "value": i * 10.0 + u}) + "\n")
PY
chmod +x make.py
export POP_DIR=$tmp
fetch=(--fetch Session.trace --fetch Session.note)

# verify SKIP...: rows of every session but SKIP, right values, 3 parts each
verify() {
	"$DJRUN" fetch "$S.Analysis" >a.jsonl 2>f.err && "$DJRUN" fetch "$S.Analysis.Unit" >u.jsonl 2>>f.err ||
		{ cat f.err >&2; return 1; }
	python3 - "$N" "$@" <<'PY'
import json, sys
n, skip = int(sys.argv[1]), {int(x) for x in sys.argv[2:]}
rows = [json.loads(l) for l in open("a.jsonl")]
units = [json.loads(l) for l in open("u.jsonl")]
idx = lambda r: int(r["session_uuid"].split("-")[0], 16)
got = sorted(idx(r) for r in rows)
assert got == [i for i in range(1, n + 1) if i not in skip], got
for r in rows:
    i = idx(r)
    assert r["total"] == 15.0 + i and r["label"] == "s%d" % i, r
    assert r["session_date"].startswith("2026-01-%02d" % i), r
assert sorted((idx(u), u["unit_id"]) for u in units) == [(i, u) for i in got for u in range(3)]
assert all(u["value"] == idx(u) * 10.0 + u["unit_id"] for u in units), units
PY
}
jobs() { "$DJRUN" fetch "$S.~~analysis" 2>/dev/null; }

# --- batch commit with one refused value ------------------------------------------------------
"$DJRUN" populate "$S.Analysis" --reserve-jobs --batch 50 --json "${fetch[@]}" -- "$tmp/make.py" \
	>p1.json 2>p1.err
rc=$?
check "batch: exit 1 for the refused key (got $rc)" "[ $rc -eq 1 ] || { cat p1.err >&2; false; }"
check "batch: the 19 other rows and their parts, right values" "verify 7"
jobs >j1.jsonl
check "batch: one error job, for session 7, with the server's message" 'python3 - <<PY
import json
rows = [json.loads(l) for l in open("j1.jsonl")]
assert len(rows) == 1 and rows[0]["status"] == "error", rows
assert rows[0]["session_uuid"].startswith("00000007-"), rows
assert "label" in rows[0]["error_message"] and "too long" in rows[0]["error_message"].lower(), rows
PY'
check "batch: the summary counts 19 done, 1 failed" 'python3 -c "
import json; d = json.loads(open(\"p1.json\").read().splitlines()[-1])
assert (d[\"done\"], d[\"failed\"]) == (19, 1), d"'

# --- a parent deleted between dispatch and insert ---------------------------------------------
db 'DELETE FROM `__analysis__unit`; DELETE FROM `__analysis`; DELETE FROM `~~analysis`'
rm -f holding go
POP_HOLD=3 "$DJRUN" populate "$S.Analysis" --reserve-jobs --json --where 'session_date <= "2026-01-05"' \
	"${fetch[@]}" -- "$tmp/make.py" >p2.json 2>p2.err &
pid=$!
for _ in $(seq 1 200); do [ -e holding ] && break; sleep 0.05; done
check "deleted parent: the make is holding" "[ -e holding ]"
db "DELETE FROM session WHERE session_date = '2026-01-03'"
touch go
wait $pid
rc=$?
check "deleted parent: exit 0 (got $rc)" "[ $rc -eq 0 ] || { cat p2.err >&2; false; }"
check "deleted parent: 4 rows, none for the deleted session" 'python3 - <<PY
import json
d = json.loads(open("p2.json").read().splitlines()[-1])
assert (d["done"], d["skipped"], d["failed"]) == (4, 1, 0), d
PY'
check "deleted parent: no job left behind" "[ -z \"\$(jobs)\" ]"

# --- two processes on one table at once -------------------------------------------------------
db 'DELETE FROM `__analysis__unit`; DELETE FROM `__analysis`; DELETE FROM `~~analysis`'
for k in 1 2; do
	POP_SLEEP=0.05 "$DJRUN" populate "$S.Analysis" --reserve-jobs --json --batch 2 \
		--where 'session_date <> "2026-01-07"' "${fetch[@]}" -- "$tmp/make.py" >c$k.json 2>c$k.err &
done
wait
check "two processes: every row exactly once" "verify 3 7"
check "two processes: the done counts add up to the keys, none failed" 'python3 - <<PY
import json
ds = [json.loads(open(f).read().splitlines()[-1]) for f in ("c1.json", "c2.json")]
assert sum(d["done"] for d in ds) == 18 and all(d["failed"] == 0 for d in ds), ds
assert all(d["done"] > 0 for d in ds), ds
PY'

# --- --priority ----------------------------------------------------------------------------------
db 'DELETE FROM `__analysis__unit`; DELETE FROM `__analysis`; DELETE FROM `~~analysis`'
"$DJRUN" jobs "$S.Analysis" refresh >/dev/null 2>r.err || cat r.err >&2
db "UPDATE \`~~analysis\` SET priority = 2 WHERE session_date IN ('2026-01-01','2026-01-02')"
"$DJRUN" populate "$S.Analysis" --reserve-jobs --priority 2 --json "${fetch[@]}" -- "$tmp/make.py" \
	>q.json 2>q.err
rc=$?
check "priority 2: exit 0, the 2 urgent keys only" 'python3 - <<PY
import json
d = json.loads(open("q.json").read().splitlines()[-1])
assert (d["planned"], d["done"]) == (2, 2), d
PY'
check "priority 2: rows of sessions 1 and 2" "[ \"\$(db 'SELECT COUNT(*) FROM __analysis')\" = 2 ]"

# --- an input that is not there ------------------------------------------------------------------
db 'DELETE FROM `__analysis__unit`; DELETE FROM `__analysis`; DELETE FROM `~~analysis`'
db "CREATE TABLE \`#extra\` (subject varchar(16) NOT NULL COMMENT ':varchar(16):', session_date date NOT NULL COMMENT ':date:', session_uuid binary(16) NOT NULL COMMENT ':uuid:', w int NOT NULL COMMENT ':int32:', PRIMARY KEY (subject, session_date, session_uuid)) COMMENT='extra'"
db "INSERT INTO \`#extra\` SELECT subject, session_date, session_uuid, 1 FROM session WHERE session_date <> '2026-01-02'"
"$DJRUN" populate "$S.Analysis" --reserve-jobs --where 'session_date <= "2026-01-02"' \
	--fetch Extra.w "${fetch[@]}" -- "$tmp/make.py" >x.json 2>x.err
rc=$?
check "missing input: exit 1 (got $rc)" "[ $rc -eq 1 ]"
check "missing input: named on stderr" "grep -q 'InputError: Extra has no row for this key' x.err || { cat x.err >&2; false; }"
check "missing input: an error job for session 2, a row for session 1" 'jobs | grep -q "InputError" && [ "$(db "SELECT COUNT(*) FROM __analysis")" = 1 ]'

# --- the whole pipeline from djrun.json, parents first, in one process and under mpirun ---------
db "CREATE TABLE \`__summary\` (subject varchar(16) NOT NULL COMMENT ':varchar(16):', session_date date NOT NULL COMMENT ':date:', session_uuid binary(16) NOT NULL COMMENT ':uuid:', twice double NOT NULL COMMENT ':float64:', PRIMARY KEY (subject, session_date, session_uuid), CONSTRAINT \`__summary_ibfk_1\` FOREIGN KEY (subject, session_date, session_uuid) REFERENCES \`__analysis\` (subject, session_date, session_uuid)) COMMENT='from the analysis'"
cat >twice.py <<'PY'
#!/usr/bin/env python3
import json, os
total = json.load(open("inputs/Analysis.total.json"))
json.dump({"twice": 2 * total}, open(os.path.join(os.environ["DJRUN_OUTPUT_DIR"], "row.json"), "w"))
PY
chmod +x twice.py
cat >djrun.json <<JSON
{"populate": {"Summary": {"make": ["$tmp/twice.py"], "fetch": ["Analysis.total"]},
              "$S.Analysis": {"make": "$tmp/make.py", "where": "session_date <> '2026-01-07'",
                              "fetch": ["Session.trace", "Session.note"]}}}
JSON
for mode in one mpi; do
	db 'DELETE FROM `__summary`; DELETE FROM `__analysis__unit`; DELETE FROM `__analysis`; DELETE FROM `~~analysis`'
	if [ $mode = one ]; then
		"$DJRUN" populate "$S" --json >w.json 2>w.err
	else
		"$MPIEXEC" --oversubscribe -n 2 "$DJRUN" populate "$S" --json >w.json 2>w.err
	fi
	rc=$?
	check "pipeline ($mode): exit 0 (got $rc)" "[ $rc -eq 0 ] || { tail -5 w.err >&2; false; }"
	check "pipeline ($mode): Analysis then Summary, 18 keys each" 'python3 - <<PY
import json
sums = [json.loads(l) for l in open("w.json") if "\"job\"" in l]
assert [d["table"].split(".")[-1] for d in sums] == ["Analysis", "Summary"], sums
assert all(d["done"] == 18 and d["failed"] == 0 for d in sums), sums
PY'
	check "pipeline ($mode): rows and parts right, Summary twice the total" \
		"verify 3 7 && [ \"\$(db 'SELECT COUNT(*) FROM __summary s JOIN __analysis a USING (subject, session_date, session_uuid) WHERE s.twice = 2 * a.total')\" = 18 ]"
done
"$DJRUN" populate "$S" --make true >/dev/null 2>u.err
check "pipeline: a make on the command line is refused (exit 2)" "[ \$? -eq 2 ] && grep -q 'from djrun.json' u.err"

echo "populate pipeline checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
