#!/usr/bin/env bash
# djrun populate end to end on MariaDB (and PostgreSQL: populate_postgres.sh runs this script
# with POP_BACKEND=postgresql): a tiny pipeline in a fresh djt_<pid>_pop schema (SQL in
# datajoint-python's layout: Manual `item`, Computed `__square` with int, double and <blob>
# columns) and a python3 make script (stdlib only) that writes row.json and an .npy file.
#  - single process with --reserve-jobs and a make failing for every 4th key: exit 1, the other
#    rows with the right values, error jobs with "MakeError: ..." and the stderr tail, no rows for
#    them; a second run has nothing to do (exit 0; error jobs are not retried)
#  - direct mode (no jobs table): the failed keys computed; then nothing to do
#  - a make whose row.json names an unknown attribute: error job (OutputError), no row
#  - mpirun -n 2 and -n 4 --oversubscribe (reserve by default): every row exactly once, right
#    values, no jobs left (complete deletes them), a second run has nothing to do
#  - --max-calls 5 computes 5 keys
#  - SIGTERM mid-run: exit 75, reserved keys back to pending, a rerun finishes
#  - a worker rank SIGKILLed under mpirun -n 3 (mpirun aborts the job): rank 0 drains, no key
#    left reserved, a rerun finishes
#  - makes that ignore SIGTERM under mpirun -n 2: by --drain-timeout both ranks kill their
#    make and rank 0 exits 75 with every key back to pending
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
backend=${POP_BACKEND:-mysql} # populate_postgres.sh runs this script with POP_BACKEND=postgresql
tmp=$(mktemp -d)
S=djt_$$_pop
fails=0 passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1" >&2; fails=$((fails + 1)); fi; }
need=DJ_TEST_MYSQL_HOST
[ "$backend" = postgresql ] && need=DJ_TEST_PG_HOST
if [ -z "${!need:-}" ]; then
	rm -rf "$tmp"
	if [ -n "${DJ_TEST_REQUIRE_SERVICES:-}" ]; then
		echo "FAIL: $need is not set but DJ_TEST_REQUIRE_SERVICES is" >&2
		exit 1
	fi
	echo "SKIP: $need not set (no test server)"
	exit 77
fi
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
pg() { PGPASSWORD=$DJ_TEST_PG_PASS psql -X -q -v ON_ERROR_STOP=1 -h "$DJ_TEST_PG_HOST" -p "$DJ_TEST_PG_PORT" -U "$DJ_TEST_PG_USER" -d "${DJ_TEST_PG_DB:-postgres}" "$@"; }
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
export DJ_IGNORE_CONFIG_FILE=1
if [ "$backend" = postgresql ]; then
	# db SQL: run in the test schema (identifiers in "double quotes"); prints rows unaligned
	db() { pg -tA -c "SET search_path TO $S" -c "$1"; }
	drop() { pg -c "DROP SCHEMA IF EXISTS $S CASCADE" 2>/dev/null; }
	export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
		DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
else
	db() { my -N "$S" -e "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'); $1"; }
	drop() { my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; }
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
mpi() { timeout 120 "$MPIEXEC" --oversubscribe "$@"; }

# --- usage and connection errors -------------------------------------------------------------
"$DJRUN" populate "$S.Square" >/dev/null 2>err; rc=$?
check "no make command: exit 2" "[ $rc -eq 2 ] && grep -q 'give the make command' err"
"$DJRUN" populate --help >help.txt && grep -q 'outputs/row.json' help.txt
check "--help documents the make protocol" "[ $? -eq 0 ]"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DJ_HOST=127.0.0.1:$port DJ_PORT=$port "$DJRUN" populate "$S.Square" --make true >/dev/null 2>err; rc=$?
check "closed port: exit 3" "[ $rc -eq 3 ] || { cat err >&2; false; }"

N=12
values=$(for i in $(seq 1 $N); do printf '(%d,%d.5)' $i $i; done | sed 's/)(/),(/g')
drop
if [ "$backend" = postgresql ]; then
	pg -c "CREATE SCHEMA $S" && pg <<SQL
CREATE TABLE $S.item (
    item_id integer NOT NULL,
    x double precision NOT NULL,
    CONSTRAINT item_pkey PRIMARY KEY (item_id)
);
COMMENT ON TABLE $S.item IS 'an input item';
COMMENT ON COLUMN $S.item.item_id IS ':int32:';
COMMENT ON COLUMN $S.item.x IS ':float64:input value';
CREATE TABLE $S.__square (
    item_id integer NOT NULL,
    sq integer NOT NULL,
    root double precision NOT NULL,
    arr bytea NOT NULL,
    _job_start_time timestamp without time zone,
    _job_duration real,
    _job_version character varying(64) DEFAULT ''::character varying,
    CONSTRAINT __square_pkey PRIMARY KEY (item_id),
    CONSTRAINT __square_item_id_fkey FOREIGN KEY (item_id) REFERENCES $S.item(item_id) ON UPDATE CASCADE ON DELETE RESTRICT
);
COMMENT ON TABLE $S.__square IS 'item squared';
COMMENT ON COLUMN $S.__square.sq IS ':int32:item_id squared';
COMMENT ON COLUMN $S.__square.root IS ':float64:';
COMMENT ON COLUMN $S.__square.arr IS ':<blob>:three numbers';
INSERT INTO $S.item VALUES $values;
SQL
else
	my -e "CREATE DATABASE $S" && my "$S" <<SQL
CREATE TABLE \`item\` (
  \`item_id\` int(11) NOT NULL COMMENT ':int32:',
  \`x\` double NOT NULL COMMENT ':float64:input value',
  PRIMARY KEY (\`item_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='an input item';
CREATE TABLE \`__square\` (
  \`item_id\` int(11) NOT NULL COMMENT ':int32:',
  \`sq\` int(11) NOT NULL COMMENT ':int32:item_id squared',
  \`root\` double NOT NULL COMMENT ':float64:',
  \`arr\` longblob NOT NULL COMMENT ':<blob>:three numbers',
  \`_job_start_time\` datetime(3) DEFAULT NULL,
  \`_job_duration\` float DEFAULT NULL,
  \`_job_version\` varchar(64) DEFAULT '',
  PRIMARY KEY (\`item_id\`),
  CONSTRAINT \`__square_ibfk_1\` FOREIGN KEY (\`item_id\`) REFERENCES \`item\` (\`item_id\`) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='item squared';
INSERT INTO \`item\` VALUES $values;
SQL
fi
check "pipeline declared" "[ $? -eq 0 ]"

cat >make.py <<'PY'
#!/usr/bin/env python3
import json, os, struct, sys, time
key = json.load(open(os.environ["DJRUN_KEY_JSON"]))
assert os.path.samefile(os.getcwd(), os.environ["DJRUN_SCRATCH"])
i = key["item_id"]
mod = int(os.environ.get("POP_FAIL_MOD", "0"))
time.sleep(float(os.environ.get("POP_SLEEP", "0")))
if mod and i % mod == 0:
    sys.stderr.write("computing item %d\nboom for item %d\n" % (i, i))
    sys.exit(3)
out = os.environ["DJRUN_OUTPUT_DIR"]
if os.environ.get("POP_GARBAGE"):
    open(os.path.join(out, "row.json"), "w").write('{"sq": 1, "nope": 2}')
    sys.exit(0)
vals = [float(i), i + 1.0, i + 2.0]
hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % len(vals)
hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
with open(os.path.join(out, "arr.npy"), "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode()
            + struct.pack("<%dd" % len(vals), *vals))
with open(os.path.join(out, "row.json"), "w") as f:
    json.dump({"sq": i * i, "root": i * 0.5, "arr": {"npy": "arr.npy"}}, f)
PY
chmod +x make.py

# verify [FAILMOD]: every row once with the right values and its hidden _job_* columns filled;
# items i % FAILMOD == 0 absent
verify() {
	"$DJRUN" fetch "$S.Square" --hidden >rows.jsonl 2>fetch.err || { cat fetch.err >&2; return 1; }
	python3 - "$N" "${1:-0}" <<'PY'
import json, sys
n, mod = int(sys.argv[1]), int(sys.argv[2])
rows = [json.loads(l) for l in open("rows.jsonl")]
ids = [r["item_id"] for r in rows]
want = [i for i in range(1, n + 1) if not (mod and i % mod == 0)]
assert sorted(ids) == want, (ids, want)
for r in rows:
    i = r["item_id"]
    assert r["sq"] == i * i and r["root"] == i * 0.5, r
    assert r["arr"] == {"dtype": "float64", "shape": [3], "data": [i, i + 1.0, i + 2.0]}, r
    assert r["_job_start_time"] and r["_job_duration"] >= 0 and r["_job_version"] == "", r
PY
}
jobs_json() { "$DJRUN" fetch "$S.~~square" 2>/dev/null; }

# --- single process, jobs table, a make that fails for some keys ------------------------------
POP_FAIL_MOD=4 "$DJRUN" populate "$S.Square" --make "$tmp/make.py" --reserve-jobs --json \
	>p1.json 2>p1.err
rc=$?
check "1 process, failing make: exit 1 (got $rc)" "[ $rc -eq 1 ] || { cat p1.err >&2; false; }"
check "1 process: 9 rows with the right values, none for failed keys" "verify 4"
jobs_json >jobs1.jsonl
check "1 process: 3 error jobs with the message and stderr tail, no other jobs" 'python3 - <<PY
import json
rows = [json.loads(l) for l in open("jobs1.jsonl")]
assert sorted(r["item_id"] for r in rows) == [4, 8, 12], rows
for r in rows:
    i = r["item_id"]
    assert r["status"] == "error", r
    assert r["error_message"] == "MakeError: $tmp/make.py exited with status 3: boom for item %d" % i, r
    assert r["error_stack"] == "computing item %d\nboom for item %d\n" % (i, i), r
PY'
check "1 process: JSON summary" 'python3 -c "
import json; d = json.loads(open(\"p1.json\").read().splitlines()[-1])
assert (d[\"planned\"], d[\"done\"], d[\"failed\"], d[\"exit\"]) == (12, 9, 3, 1), d"'
"$DJRUN" populate "$S.Square" --make "$tmp/make.py" --reserve-jobs >p2.json 2>p2.err
rc=$?
check "1 process again: nothing to do, exit 0 (error jobs are not retried)" \
	"[ $rc -eq 0 ] && grep -q '0 keys planned' p2.err || { cat p2.err >&2; false; }"

# --- direct mode: the failed keys, then nothing ------------------------------------------------
"$DJRUN" populate "$S.Square" --make "$tmp/make.py" >d1.json 2>d1.err
rc=$?
check "direct: exit 0, the 3 keys done" "[ $rc -eq 0 ] && grep -q '3 keys planned, 3 done' d1.err || { cat d1.err >&2; false; }"
check "direct: all rows" "verify"
"$DJRUN" populate "$S.Square" --make "$tmp/make.py" >d2.json 2>d2.err
check "direct again: nothing to do" "[ $? -eq 0 ] && grep -q '0 keys planned' d2.err"

# --- a make whose output does not fit the table: an error job, no row --------------------------
db 'DELETE FROM "__square" WHERE item_id = 5'
POP_GARBAGE=1 "$DJRUN" populate "$S.Square" --make "$tmp/make.py" --reserve-jobs --where 'item_id = 5' \
	>g1.json 2>g1.err
rc=$?
check "bad output: exit 1 (got $rc)" "[ $rc -eq 1 ]"
left=$(db 'SELECT item_id FROM "__square" WHERE item_id = 5')
check "bad output: no row for the key" '[ -z "$left" ]'
check "bad output: error job naming the attribute" \
	"jobs_json | grep '\"item_id\":5,' | grep -q \"OutputError: __square {item_id=5}: 'nope' is not an attribute\""
db 'DELETE FROM "~~square" WHERE item_id = 5'
"$DJRUN" populate "$S.Square" --make "$tmp/make.py" --where 'item_id = 5' >/dev/null 2>&1
check "bad output: fixed by a good make" "verify"

# --- under mpirun, 2 and 4 ranks -----------------------------------------------------------------
for n in 2 4; do
	db 'DELETE FROM "__square"' && db 'DELETE FROM "~~square"'
	mpi -n $n "$DJRUN" populate "$S.Square" --json -- "$tmp/make.py" >m$n.json 2>m$n.err
	rc=$?
	check "-n $n: exit 0 (got $rc)" "[ $rc -eq 0 ] || { tail -5 m$n.err >&2; false; }"
	check "-n $n: every row exactly once with the right values" "verify"
	check "-n $n: $N done, each once, by ranks of the run (rank 0's thread included)" 'python3 - m$n.json $N $n <<PY
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
items, summ = lines[:-1], lines[-1]
assert summ["done"] == int(sys.argv[2]) and summ["failed"] == 0, summ
assert len(items) == int(sys.argv[2]) and len({json.dumps(x["key"]) for x in items}) == len(items)
assert all(0 <= x["rank"] < int(sys.argv[3]) and x["outcome"] == "done" for x in items), items
PY'
	jobs_json >jobs$n.jsonl
	check "-n $n: no jobs left (complete deletes them)" "[ ! -s jobs$n.jsonl ]"
	mpi -n $n "$DJRUN" populate "$S.Square" -- "$tmp/make.py" >m${n}b.json 2>m${n}b.err
	rc=$?
	check "-n $n again: nothing to do, exit 0" "[ $rc -eq 0 ] && grep -q '0 keys planned' m${n}b.err"
done

# --- --max-calls ---------------------------------------------------------------------------------
db 'DELETE FROM "__square"' && db 'DELETE FROM "~~square"'
"$DJRUN" populate "$S.Square" --make "$tmp/make.py" --max-calls 5 >c1.json 2>c1.err
rc=$?
check "--max-calls 5: exit 0, 5 rows" "[ $rc -eq 0 ] && [ \$(db 'SELECT COUNT(*) FROM \"__square\"') -eq 5 ]"

# --- a make named by a relative path (the make runs in its scratch directory) ------------------
db 'DELETE FROM "__square" WHERE item_id = 2'
"$DJRUN" populate "$S.Square" --make ./make.py --where 'item_id = 2' >r.json 2>r.err
check "relative make path: exit 0, the row back" \
	"[ \$? -eq 0 ] && [ \"\$(db 'SELECT sq FROM \"__square\" WHERE item_id = 2')\" = 4 ] || { cat r.err >&2; false; }"

# --- SIGTERM drains: exit 75, finished keys committed, reserved keys back to pending ------------
db 'DELETE FROM "__square"' && db 'DELETE FROM "~~square"'
POP_SLEEP=0.3 "$DJRUN" populate "$S.Square" --make "$tmp/make.py" --reserve-jobs --batch 1 \
	>s1.json 2>s1.err &
pid=$!
for _ in $(seq 1 100); do # until the first row is in
	[ -n "$(db 'SELECT item_id FROM "__square" LIMIT 1')" ] && break
	sleep 0.1
done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: exit 75 (got $rc)" "[ $rc -eq 75 ] || { cat s1.err >&2; false; }"
rows=$(db 'SELECT COUNT(*) FROM "__square"')
pend=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status = 'pending'")
other=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status <> 'pending'")
check "SIGTERM: rows ($rows) + pending jobs ($pend) = $N, none reserved ($other)" \
	"[ $rows -ge 1 ] && [ $rows -lt $N ] && [ \$(($rows + $pend)) -eq $N ] && [ $other -eq 0 ]"
"$DJRUN" populate "$S.Square" --make "$tmp/make.py" --reserve-jobs >s2.json 2>s2.err
check "SIGTERM: a rerun finishes the rest" "[ $? -eq 0 ] && verify"

# --- the same under mpirun -n 2, SIGTERM to the ranks: rank 0's own worker thread drains too ----
db 'DELETE FROM "__square"' && db 'DELETE FROM "~~square"'
POP_SLEEP=0.3 "$MPIEXEC" --oversubscribe -n 2 "$DJRUN" populate "$S.Square" \
	--make "$tmp/make.py" --batch 1 --json >s3.json 2>s3.err &
pid=$!
for _ in $(seq 1 100); do
	[ -n "$(db 'SELECT item_id FROM "__square" LIMIT 1')" ] && break
	sleep 0.1
done
# SIGTERM to every rank, as scancel and Slurm preemption do (a signal to mpirun is forwarded,
# but mpirun kills the ranks 1 s later whatever they are doing: tests/e2e/run_signal.sh)
pkill -TERM -P $pid
wait $pid
rc=$?
rows=$(db 'SELECT COUNT(*) FROM "__square"')
pend=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status = 'pending'")
other=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status <> 'pending'")
check "SIGTERM -n 2: rank 0 drained, its summary says exit 75 (mpirun: $rc)" \
	"tail -1 s3.json | grep -q '\"exit\":75' || { tail -5 s3.err s3.json >&2; false; }"
check "SIGTERM -n 2: rows ($rows) + pending jobs ($pend) = $N, none reserved ($other)" \
	"[ $rows -ge 1 ] && [ $rows -lt $N ] && [ \$(($rows + $pend)) -eq $N ] && [ $other -eq 0 ]"
mpi -n 2 "$DJRUN" populate "$S.Square" --make "$tmp/make.py" >s4.json 2>s4.err
check "SIGTERM -n 2: a rerun finishes the rest" "[ $? -eq 0 ] && verify"

# --- a worker rank killed with SIGKILL mid-run: mpirun aborts the job, rank 0 drains -----------
db 'DELETE FROM "__square"' && db 'DELETE FROM "~~square"'
cat >rankmake.sh <<'SH'
#!/bin/sh
echo $PPID >"$POP_DIR/rank.$OMPI_COMM_WORLD_RANK"
exec "$POP_MAKE"
SH
chmod +x rankmake.sh
mkdir -p ranks && rm -f ranks/*
POP_DIR=$tmp/ranks POP_MAKE=$tmp/make.py POP_SLEEP=0.2 "$MPIEXEC" --oversubscribe -n 3 \
	"$DJRUN" populate "$S.Square" --make "$tmp/rankmake.sh" --batch 1 --json >k1.json 2>k1.err &
pid=$!
for _ in $(seq 1 200); do # until rank 2 has made a key
	[ -s ranks/rank.2 ] && [ "$(db 'SELECT COUNT(*) FROM "__square"')" -ge 2 ] && break
	sleep 0.1
done
kill -KILL "$(cat ranks/rank.2)"
wait $pid
rows=$(db 'SELECT COUNT(*) FROM "__square"')
pend=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status = 'pending'")
other=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status <> 'pending'")
check "worker SIGKILLed: rows ($rows) + pending jobs ($pend) = $N, none reserved or failed ($other)" \
	"[ $rows -ge 2 ] && [ \$(($rows + $pend)) -eq $N ] && [ $other -eq 0 ] || { tail -3 k1.err >&2; false; }"
mpi -n 2 "$DJRUN" populate "$S.Square" --make "$tmp/make.py" >k2.json 2>k2.err
check "worker SIGKILLed: a rerun finishes the rest, every value right" "[ $? -eq 0 ] && verify"

# --- makes that ignore SIGTERM: by --drain-timeout every rank stops its make ------------------
db 'DELETE FROM "__square"' && db 'DELETE FROM "~~square"'
cat >stubborn.sh <<'SH'
#!/bin/sh
trap '' TERM
echo $$ >"$POP_DIR/stubborn.$$"
exec sleep 60
SH
chmod +x stubborn.sh
mkdir -p stub && rm -f stub/*
start=$(date +%s)
POP_DIR=$tmp/stub "$MPIEXEC" --oversubscribe -n 2 "$DJRUN" populate "$S.Square" \
	--make "$tmp/stubborn.sh" --batch 1 --drain-timeout 2 --json >s5.json 2>s5.err &
pid=$!
for _ in $(seq 1 200); do # until both ranks run a make
	[ "$(ls stub | wc -l)" -ge 2 ] && break
	sleep 0.1
done
pkill -TERM -P $pid
wait $pid
took=$(($(date +%s) - start))
pend=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status = 'pending'")
other=$(db "SELECT COUNT(*) FROM \"~~square\" WHERE status <> 'pending'")
check "stubborn makes: rank 0 stopped its own at the drain deadline, exit 75 within ${took}s" \
	"[ $took -lt 30 ] && tail -1 s5.json | grep -q '\"exit\":75' || { tail -5 s5.err s5.json >&2; false; }"
check "stubborn makes: no row, every job pending ($pend), none reserved ($other)" \
	"[ \$(db 'SELECT COUNT(*) FROM \"__square\"') -eq 0 ] && [ $pend -eq $N ] && [ $other -eq 0 ]"
alive=0
for f in stub/stubborn.*; do kill -0 "$(cat "$f")" 2>/dev/null && alive=$((alive + 1)); done
check "stubborn makes: both ranks stopped theirs, none outlives the job ($alive left)" "[ $alive -eq 0 ]"
for f in stub/stubborn.*; do kill -KILL "$(cat "$f")" 2>/dev/null; done

echo "populate ($backend) checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
