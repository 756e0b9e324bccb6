#!/usr/bin/env bash
# djrun populate with the long-lived make forms, end to end on MariaDB: a tiny pipeline in a
# fresh djt_<pid>_forms schema (datajoint-python's layout: Manual `item`, Computed `__square`
# with int, double and <blob> columns) made by
#  --make-server: tests/plugins/square_server.py (python3, stdlib only)
#  --make-plugin: tests/plugins/square.c (built by CMake as plugins/square.so)
# For each form: one process with --reserve-jobs and a make failing every 4th key (exit 1, the
# rows and their Detail part rows right, error jobs with the "Kind: message" and the stack), a
# direct run for the rest, then mpirun -n 2 and -n 4 with --fetch Item.x (the makes check the
# input; every row and part row once; one server started per rank that worked). Also: a
# server that dies on one key (that key fails with its exit status, the server is restarted
# for the others), a server replying garbage (OutputError, no row), a server that cannot run,
# a plugin built for another ABI, and a plugin refusing its arguments (exit 2 for the three).
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"
need DJ_TEST_MYSQL_HOST || exit $([ $fails -eq 0 ] && echo 77 || echo 1)
tmp=$(mktemp -d)
S=djt_$$_forms
server="python3 $here/../plugins/square_server.py"
plugins=$(dirname "$DJRUN")/plugins
[ -f "$plugins/square.so" ] || { echo "FAIL: $plugins/square.so not built" >&2; exit 1; }
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
db() { my -N "$S" -e "$1"; }
drop() { my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; }
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
export DJ_IGNORE_CONFIG_FILE=1 DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT \
	DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
trap 'drop; if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi' EXIT
cd "$tmp" || exit 1

# Open MPI's own allocations are never freed: keep LeakSanitizer on for our code only.
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
mpi() { timeout 120 "$MPIEXEC" --oversubscribe "$@"; }

N=12
values=$(for i in $(seq 1 $N); do printf '(%d,%d.5)' $i $i; done | sed 's/)(/),(/g')
drop
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
CREATE TABLE \`__square__detail\` (
  \`item_id\` int(11) NOT NULL COMMENT ':int32:',
  \`k\` int(11) NOT NULL COMMENT ':int32:',
  \`val\` bigint(20) NOT NULL COMMENT ':int64:',
  \`vec\` longblob DEFAULT NULL COMMENT ':<blob>:',
  PRIMARY KEY (\`item_id\`,\`k\`),
  CONSTRAINT \`__square__detail_ibfk_1\` FOREIGN KEY (\`item_id\`) REFERENCES \`__square\` (\`item_id\`) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='';
INSERT INTO \`item\` VALUES $values;
SQL
check "pipeline declared" "[ $? -eq 0 ]"

# verify [FAILMOD]: every row once with the right values; items i % FAILMOD == 0 absent
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
    assert r["_job_start_time"] and r["_job_duration"] >= 0, r
PY
}
# verify_parts FORM: 3 Detail rows of every Square row (vec: the plugin's 0-d int32 at k = 2)
verify_parts() {
	"$DJRUN" fetch "$S.Square.Detail" >parts.jsonl 2>fetch.err || { cat fetch.err >&2; return 1; }
	python3 - "$1" <<'PY'
import json, sys
form = sys.argv[1]
ids = sorted(json.loads(l)["item_id"] for l in open("rows.jsonl"))
parts = [json.loads(l) for l in open("parts.jsonl")]
assert sorted((p["item_id"], p["k"]) for p in parts) == [(i, k) for i in ids for k in range(3)], parts
for p in parts:
    i, k = p["item_id"], p["k"]
    assert p["val"] == i * k, p
    if form == "plugin" and k == 2:
        assert p["vec"] == {"dtype": "int32", "shape": [], "data": [2 * i]}, p
    else:
        assert p["vec"] is None, p
PY
}
jobs_json() { "$DJRUN" fetch "$S.~~square" 2>/dev/null; }
reset() { db 'DELETE FROM `__square__detail`; DELETE FROM `__square`' && db 'DELETE FROM `~~square`' 2>/dev/null; }

# form NAME OPTION FAILING-MAKE GOOD-MAKE STACK-PYTHON-TEST
form() {
	local name=$1 opt=$2 failing=$3 good=$4 stack=$5
	reset
	"$DJRUN" populate "$S.Square" "$opt" "$failing" --reserve-jobs >$name.1.json 2>$name.1.err
	local rc=$?
	check "$name, 1 process, failing make: exit 1 (got $rc)" "[ $rc -eq 1 ] || { cat $name.1.err >&2; false; }"
	check "$name: 9 rows with the right values, none for failed keys" "verify 4"
	check "$name: their part rows" "verify_parts $name"
	jobs_json >$name.jobs
	check "$name: 3 error jobs with the make's own message and its stack" "python3 - $name.jobs <<PY
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(r['item_id'] for r in rows) == [4, 8, 12], rows
for r in rows:
    i = r['item_id']
    assert r['status'] == 'error', r
    assert r['error_message'] == 'ValueError: boom for item %d' % i, r
    $stack
PY"
	"$DJRUN" populate "$S.Square" "$opt" "$good" >$name.2.json 2>$name.2.err
	check "$name, direct: the 3 failed keys done" "[ $? -eq 0 ] && grep -q '3 keys planned, 3 done' $name.2.err && verify && verify_parts $name"
	for n in 2 4; do
		reset
		rm -f servers.log
		mpi -n $n "$DJRUN" populate "$S.Square" "$opt" "$good" --fetch Item.x --json >$name.m$n.json 2>$name.m$n.err
		rc=$?
		check "$name, -n $n: exit 0 (got $rc)" "[ $rc -eq 0 ] || { tail -5 $name.m$n.err >&2; false; }"
		check "$name, -n $n: every row exactly once with the right values, parts too" "verify && verify_parts $name"
		check "$name, -n $n: no jobs left" "[ -z \"\$(jobs_json)\" ]"
		if [ "$opt" = --make-server ]; then
			ranks=$(python3 -c 'import json, sys; print(len({json.loads(l).get("rank") for l in open(sys.argv[1]).readlines()[:-1]}))' $name.m$n.json)
			check "$name, -n $n: one server per rank that worked ($ranks)" "[ \$(wc -l <servers.log) -eq $ranks ] && [ $ranks -ge $((n - 1)) ]"
		fi
	done
}

form server --make-server "$server --fail 4 --parts" "$server --parts --log $tmp/servers.log" \
	"assert r['error_stack'].startswith('Traceback (most recent call last)') and r['error_stack'].endswith('ValueError: boom for item %d\\n' % i), r"
form plugin --make-plugin "$plugins/square.so fail=4 parts" "$plugins/square.so parts" \
	"assert r['error_stack'].startswith('square.c: djrun_make\\nitem %d of call ' % i), r"

# --- a server that dies on one key: that key fails, the server is restarted for the rest -------
reset
rm -f servers.log
"$DJRUN" populate "$S.Square" --make-server "$server --die-at 5 --log $tmp/servers.log" --reserve-jobs \
	>die.json 2>die.err
rc=$?
check "dying server: exit 1 (got $rc)" "[ $rc -eq 1 ] || { cat die.err >&2; false; }"
check "dying server: the other 11 rows" "[ \$(db 'SELECT COUNT(*) FROM \`__square\` WHERE item_id <> 5') -eq 11 ]"
check "dying server: error job with its exit status and last stderr line" \
	"jobs_json | grep '\"item_id\":5,' | grep -q 'MakeError: make server exited with status 5: about to die on item 5'"
check "dying server: started twice (restarted once)" "[ \$(wc -l <servers.log) -eq 2 ]"

# --- a server replying garbage: OutputError, no row ----------------------------------------------
reset
printf 'while read l; do echo "not json at all"; done\n' >garbage.sh
"$DJRUN" populate "$S.Square" --make-server "/bin/sh $tmp/garbage.sh" --reserve-jobs --where 'item_id = 5' \
	>garb.json 2>garb.err
rc=$?
check "garbage server: exit 1 (got $rc)" "[ $rc -eq 1 ]"
check "garbage server: no row" "[ \$(db 'SELECT COUNT(*) FROM \`__square\`') -eq 0 ]"
check "garbage server: error job" \
	"jobs_json | grep -q \"OutputError: make server reply is not JSON: 'not json at all'\""

# --- makes that cannot start: usage errors, nothing done -----------------------------------------
reset
"$DJRUN" populate "$S.Square" --make-server "djrun-no-such-server" >/dev/null 2>ns.err
rc=$?
check "missing server program: exit 2 (got $rc), named" "[ $rc -eq 2 ] && grep -q \"cannot execute make server 'djrun-no-such-server'\" ns.err || { cat ns.err >&2; false; }"
"$DJRUN" populate "$S.Square" --make-plugin "$plugins/wrong_abi.so" >/dev/null 2>abi.err
rc=$?
check "plugin of another ABI: exit 2 (got $rc), refused" "[ $rc -eq 2 ] && grep -q 'was built for djrun make ABI 2, this djrun has ABI 1' abi.err || { cat abi.err >&2; false; }"
"$DJRUN" populate "$S.Square" --make-plugin "$plugins/square.so bogus" >/dev/null 2>ref.err
rc=$?
check "plugin refusing its arguments: exit 2 (got $rc)" "[ $rc -eq 2 ] && grep -q \"refused to start: unknown argument 'bogus'\" ref.err || { cat ref.err >&2; false; }"
check "nothing done by makes that could not start" "[ \$(db 'SELECT COUNT(*) FROM \`__square\`') -eq 0 ]"
"$DJRUN" populate "$S.Square" --make true --make-plugin x >/dev/null 2>two.err
check "two make forms: exit 2" "[ \$? -eq 2 ] && grep -q 'one of --make' two.err"
"$DJRUN" populate --help >help.txt && grep -q '"output_dir"' help.txt
check "--help documents the server protocol" "[ $? -eq 0 ]"

echo "populate forms checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
