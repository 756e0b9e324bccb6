#!/usr/bin/env bash
# djrun status on the fixture pipeline datajoint-python wrote, restored on MariaDB and on
# PostgreSQL: every Imported/Computed table of the schema in dependency order, with key_source
# progress and the jobs table by status equal to the fixture's progress() and jobs.progress();
# keys without a job (Recording has one); the reservation Python's killed worker left behind,
# shown with its host and pid (no Slurm job: that pid never ran under Slurm); one table; usage
# errors exit 2, an unreachable server 3, a Manual table 1. Slurm itself: tests/e2e/slurm_*.sh.
set -uo pipefail
. "$(dirname "$0")/../lib/fixture_env.sh"

"$DJRUN" status 2>err >/dev/null
check "no arguments exits 2" "[ $? -eq 2 ] && grep -q 'expected SCHEMA' err"
"$DJRUN" status x --frob 2>err >/dev/null
check "unknown option exits 2" "[ $? -eq 2 ] && grep -q 'unknown option' err"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DJ_HOST=127.0.0.1:$port DJ_USER=u DJ_PASS=p "$DJRUN" status x 2>err >out
check "closed port exits 3" "[ $? -eq 3 ] && [ ! -s out ]"

status_fixture() { # NAME
	local name=$1
	"$DJRUN" status "$ephys" --json >st.json 2>err
	check "$name: --json exits 0" "[ $? -eq 0 ] || { cat err >&2; false; }"
	"$DJRUN" fetch "$ephys.~~spikes" --where "status = 'reserved'" >held.jsonl 2>err
	check "$name: the schema's tables, counts, holders" 'python3 - <<PY
import json
d = json.load(open("st.json"))
held = [json.loads(l) for l in open("held.jsonl")]
assert d["format"] == 1 and d["schema"] == "$ephys", d
t = {x["table"]: x for x in d["tables"]}
assert [x["table"] for x in d["tables"]] == ["Recording", "Spikes", "Summary"], list(t)
s = t["Spikes"]
assert (s["total"], s["remaining"], s["unqueued"]) == (9, 5, 0), s
assert s["jobs"] == {"pending": 3, "reserved": 1, "success": 8, "error": 1, "ignore": 0, "total": 13}, s
assert len(held) == 1 and len(s["reserved_by"]) == 1, (held, s)
h, r = s["reserved_by"][0], held[0]
assert (h["host"], h["pid"], h["connection_id"], h["keys"]) == (r["host"], r["pid"], r["connection_id"], 1), (h, r)
assert h["since"].startswith(r["reserved_time"][:19].replace("T", " ")), (h, r)
assert h["slurm_job"] is None and h["slurm_match"] is None, h
assert t["Recording"]["unqueued"] == 1 and t["Recording"]["jobs"]["error"] == 2, t["Recording"]
assert (t["Summary"]["remaining"], t["Summary"]["unqueued"]) == (1, 0), t["Summary"]
PY'
	"$DJRUN" status "$ephys.Spikes" --no-slurm >st.txt 2>err
	check "$name: one table as text" "[ $? -eq 0 ] && [ \$(grep -c '^$ephys\.' st.txt) = 1 ] &&
		grep -q 'keys: 9 in key_source, 4 done, 5 remaining (0 without a job)' st.txt &&
		grep -q 'jobs: pending 3  reserved 1  error 1  ignore 0  success 8' st.txt &&
		grep -q 'reserved by [^ ]*:[0-9]*  1 key since 2026-' st.txt || { cat st.txt err >&2; false; }"
	"$DJRUN" status "$ephys.Session" 2>err >/dev/null
	check "$name: a Manual table exits 1" "[ $? -eq 1 ] && grep -q 'not Imported or Computed' err"
	"$DJRUN" status "$lab" 2>err >out
	check "$name: a schema without auto-populated tables says so" \
		"[ $? -eq 0 ] && grep -q 'no Imported or Computed tables' out"
	"$DJRUN" status nosuchschema_$$ 2>err >/dev/null
	check "$name: a missing schema exits 1" "[ $? -eq 1 ]"
}

if need DJ_TEST_MYSQL_HOST; then
	my -e "DROP DATABASE IF EXISTS $ephys; DROP DATABASE IF EXISTS $lab"
	rename "$F/mariadb.sql" | my
	check "mariadb: fixture restored" "[ $? -eq 0 ]"
	(
		export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
		status_fixture mariadb
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

if need DJ_TEST_PG_HOST; then
	pg -c "DROP SCHEMA IF EXISTS $ephys CASCADE" -c "DROP SCHEMA IF EXISTS $lab CASCADE" 2>/dev/null
	rename "$F/postgres.sql" | pg >/dev/null
	check "postgresql: fixture restored" "[ $? -eq 0 ]"
	(
		export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
			DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
		status_fixture postgresql
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

echo "status checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
